// Qwen2 / Qwen2.5: the llama block with q/k/v biases and NEOX (half-split) RoPE.
#include "model/arch/family.h"

#include "core/error.h"

namespace loupe::arch {
namespace {

void read_gguf(const GgufMeta&, ModelConfig& c) {
  c.rope = RopeStyle::Halves;
  c.qkv_bias = true;
}

void read_hf(const HfMeta& m, ModelConfig& c) {
  read_hf_common(m, c);
  c.rope = RopeStyle::Halves;
  c.qkv_bias = true;
  const std::string act = m.text_or("hidden_act", "silu");
  if (act != "silu") fail(m.path(), ": hidden_act '", act, "' is not supported (silu)");
}

}  // namespace

extern const Family kQwen2{Arch::Qwen2, "qwen2",    {"qwen2"},         {"qwen2"}, read_gguf,
                           read_hf,     HfLayout{}, WeightId::FfnNorm, false};

}  // namespace loupe::arch
