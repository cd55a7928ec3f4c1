// Phi-3 / Phi-4-mini: the llama block with one fused qkv projection (Q rows, then K, then V)
// and one fused gate+up projection (gate rows first), both used in place as row slices; NEOX
// RoPE, optionally partial (Phi-4-mini rotates 3/4 of each head) and with LongRoPE's short
// factors (rope_factors_short) for contexts within the original length.
#include "model/arch/family.h"

#include "core/error.h"

namespace loupe::arch {
namespace {

void read_gguf(const GgufMeta& m, ModelConfig& c) {
  c.rope = RopeStyle::Halves;
  c.rope_attn_factor = m.number_or("rope.scaling.attn_factor", 1.0f);
}

void read_hf(const HfMeta& m, ModelConfig& c) {
  read_hf_common(m, c);
  c.rope = RopeStyle::Halves;
  const float partial = m.number_or("partial_rotary_factor", 1.0f);
  if (!(partial > 0.0f && partial <= 1.0f)) fail(m.path(), ": partial_rotary_factor ", partial, " is not in (0, 1]");
  c.rope_dims = static_cast<int64_t>(static_cast<float>(c.d_head) * partial);
  if (m.has("rope_scaling")) fail(m.path(), ": rope_scaling (LongRoPE) is not supported for HF phi3 folders; use GGUF");
  const std::string act = m.text_or("hidden_act", "silu");
  if (act != "silu") fail(m.path(), ": hidden_act '", act, "' is not supported (silu)");
}

}  // namespace

extern const Family kPhi3{Arch::Phi3,
                          "phi3",
                          {"phi3"},
                          {"phi3"},
                          read_gguf,
                          read_hf,
                          HfLayout{{{WeightId::FfnUp, "mlp.gate_up_proj"}}, false, false, false, "model.layers.", ""},
                          WeightId::FfnNorm,
                          false};

}  // namespace loupe::arch
