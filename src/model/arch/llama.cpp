// Llama 1/2/3, Mistral, SmolLM (and llama2.c checkpoints): the reference block every other
// family is described against. RoPE on adjacent pairs (GGUF's layout; HF stores rotate-half
// rows, read back through a row map); Mistral's sliding window when the file gives one.
#include "model/arch/family.h"

#include "core/error.h"

namespace loupe::arch {
namespace {

bool all_layers(int64_t) {
  return true;
}

void read_gguf(const GgufMeta& m, ModelConfig& c) {
  c.rope = RopeStyle::Adjacent;
  if (const int64_t w = m.count_or("attention.sliding_window", 0); w > 0) set_windows(c, w, all_layers);
}

void read_hf(const HfMeta& m, ModelConfig& c) {
  read_hf_common(m, c);
  c.rope = RopeStyle::Adjacent;
  c.qkv_bias = m.flag_or("attention_bias", false);
  const std::string act = m.text_or("hidden_act", "silu");
  if (act != "silu") fail(m.path(), ": hidden_act '", act, "' is not supported (silu)");
  if (const int64_t w = m.count_or("sliding_window", 0); w > 0 && w < c.n_ctx) set_windows(c, w, all_layers);
}

}  // namespace

extern const Family kLlama{Arch::Llama,
                           "llama",
                           {"llama", "mistral"},
                           {"llama", "mistral"},
                           read_gguf,
                           read_hf,
                           HfLayout{{}, true, false, false, "model.layers.", ""}};

}  // namespace loupe::arch
