// Qwen3-MoE: Qwen3 attention; the MLP is a router (no bias) whose softmax over all experts
// picks the top k, their probabilities renormalised to sum to one (norm_topk_prob), each expert
// a SwiGLU of width expert_feed_forward_length. The file's feed_forward_length is unused.
#include "model/arch/family.h"

#include "core/error.h"

namespace loupe::arch {
namespace {

void read_gguf(const GgufMeta& m, ModelConfig& c) {
  c.rope = RopeStyle::Halves;
  c.qk_norm = true;
  c.n_experts = m.positive("expert_count");
  c.n_experts_used = m.positive("expert_used_count");
  c.d_mlp = m.positive("expert_feed_forward_length");
  c.moe_gating = MoeGating::SoftmaxTopK;
  c.moe_norm_topk = m.flag_or("expert_weights_norm", true);
}

void read_hf(const HfMeta& m, ModelConfig& c) {
  read_hf_common(m, c);
  c.rope = RopeStyle::Halves;
  c.qk_norm = true;
  c.qkv_bias = m.flag_or("attention_bias", false);
  c.n_experts = m.positive("num_experts");
  c.n_experts_used = m.positive("num_experts_per_tok");
  c.d_mlp = m.positive("moe_intermediate_size");
  c.moe_gating = MoeGating::SoftmaxTopK;
  c.moe_norm_topk = m.flag_or("norm_topk_prob", true);
  if (m.count_or("decoder_sparse_step", 1) != 1)
    fail(m.path(), ": decoder_sparse_step ", m.count("decoder_sparse_step"), " is not supported (1: every layer MoE)");
  if (m.has("mlp_only_layers") && !m.json()["mlp_only_layers"].empty())
    fail(m.path(), ": mlp_only_layers (dense layers in a MoE model) is not supported");
}

}  // namespace

extern const Family kQwen3Moe{Arch::Qwen3Moe, "qwen3moe", {"qwen3moe"}, {"qwen3_moe"}, read_gguf, read_hf, HfLayout{}};

}  // namespace loupe::arch
