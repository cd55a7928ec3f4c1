// gpt-oss: q/k/v/o with biases, NEOX RoPE (YaRN-scaled in real files), attention sinks (one
// logit per head in the softmax denominator), sliding window on even layers; the MLP is a MoE
// whose router (with bias) takes the top k logits and a softmax over those k; each expert a
// clamped SwiGLU with biases (min(g, 7) sigmoid(1.702 min(g, 7)) (clamp(u, -7, 7) + 1)). The
// pre-MLP norm is stored as post_attention_norm. Experts are MXFP4 in released files.
#include "model/arch/family.h"

#include "core/error.h"

namespace loupe::arch {
namespace {

bool even(int64_t l) {
  return l % 2 == 0;
}

void read_gguf(const GgufMeta& m, ModelConfig& c) {
  c.rope = RopeStyle::Halves;
  c.qkv_bias = true;
  c.attn_sinks = true;
  c.mlp = MlpKind::SwigluOai;
  c.n_experts = m.positive("expert_count");
  c.n_experts_used = m.positive("expert_used_count");
  c.d_mlp = m.positive("expert_feed_forward_length");
  c.moe_gating = MoeGating::TopKSoftmax;
  c.moe_bias = true;
  set_windows(c, m.positive("attention.sliding_window"), even);
}

}  // namespace

extern const Family kGptOss{Arch::GptOss, "gpt-oss",  {"gpt-oss", "gpt_oss"}, {"gpt_oss"}, read_gguf,
                            nullptr,      HfLayout{}, WeightId::AttnPostNorm};

}  // namespace loupe::arch
