// Qwen3: the Qwen2 block without biases, with an RMSNorm over each head of q and k (gains
// [d_head], shared by the heads) before RoPE; head_dim is its own key, not d_model / n_heads.
#include "model/arch/family.h"

#include "core/error.h"

namespace loupe::arch {
namespace {

void read_gguf(const GgufMeta&, ModelConfig& c) {
  c.rope = RopeStyle::Halves;
  c.qk_norm = true;
}

void read_hf(const HfMeta& m, ModelConfig& c) {
  read_hf_common(m, c);
  c.rope = RopeStyle::Halves;
  c.qk_norm = true;
  c.qkv_bias = m.flag_or("attention_bias", false);
  const std::string act = m.text_or("hidden_act", "silu");
  if (act != "silu") fail(m.path(), ": hidden_act '", act, "' is not supported (silu)");
}

}  // namespace

extern const Family kQwen3{Arch::Qwen3, "qwen3", {"qwen3"}, {"qwen3"}, read_gguf, read_hf, HfLayout{}};

}  // namespace loupe::arch
