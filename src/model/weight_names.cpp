#include "model/weight_names.h"

#include <array>

#include "core/error.h"

namespace loupe {
namespace {

constexpr std::array<WeightName, kWeightIdCount> kNames = {{
    {WeightId::TokenEmbd, false, "token_embd", "model.embed_tokens"},
    {WeightId::PositionEmbd, false, "position_embd", ""},
    {WeightId::OutputNorm, false, "output_norm", "model.norm"},
    {WeightId::Output, false, "output", "lm_head"},
    {WeightId::RopeFreqs, false, "rope_freqs", ""},
    {WeightId::AttnNorm, true, "attn_norm", "input_layernorm"},
    {WeightId::AttnQ, true, "attn_q", "self_attn.q_proj"},
    {WeightId::AttnK, true, "attn_k", "self_attn.k_proj"},
    {WeightId::AttnV, true, "attn_v", "self_attn.v_proj"},
    {WeightId::AttnQkv, true, "attn_qkv", "self_attn.qkv_proj"},
    {WeightId::AttnOutput, true, "attn_output", "self_attn.o_proj"},
    {WeightId::AttnQNorm, true, "attn_q_norm", "self_attn.q_norm"},
    {WeightId::AttnKNorm, true, "attn_k_norm", "self_attn.k_norm"},
    {WeightId::AttnPostNorm, true, "post_attention_norm", ""},
    {WeightId::AttnSinks, true, "attn_sinks", "self_attn.sinks"},
    {WeightId::FfnNorm, true, "ffn_norm", "post_attention_layernorm"},
    {WeightId::FfnGate, true, "ffn_gate", "mlp.gate_proj"},
    {WeightId::FfnUp, true, "ffn_up", "mlp.up_proj"},
    {WeightId::FfnDown, true, "ffn_down", "mlp.down_proj"},
    {WeightId::FfnPostNorm, true, "post_ffw_norm", "post_feedforward_layernorm"},
    {WeightId::FfnGateInp, true, "ffn_gate_inp", "mlp.gate"},
    {WeightId::FfnGateExps, true, "ffn_gate_exps", "mlp.experts.gate_proj"},
    {WeightId::FfnUpExps, true, "ffn_up_exps", "mlp.experts.up_proj"},
    {WeightId::FfnDownExps, true, "ffn_down_exps", "mlp.experts.down_proj"},
}};

constexpr bool table_in_enum_order() {
  for (size_t i = 0; i < kNames.size(); ++i)
    if (static_cast<size_t>(kNames[i].id) != i) return false;
  return true;
}
static_assert(table_in_enum_order());

}  // namespace

const WeightName& weight_name(WeightId id) {
  return kNames[static_cast<size_t>(id)];
}

std::string gguf_tensor_name(WeightId id, int64_t layer, std::string_view suffix) {
  const WeightName& n = weight_name(id);
  if (!n.per_layer) return cat(n.gguf, ".", suffix);
  return cat("blk.", layer, ".", n.gguf, ".", suffix);
}

std::string hf_tensor_name(WeightId id, int64_t layer, std::string_view suffix, std::string_view hf,
                           std::string_view layer_prefix) {
  const WeightName& n = weight_name(id);
  const std::string_view base = hf.empty() ? n.hf : hf;
  if (base.empty()) return {};
  if (!n.per_layer) return cat(base, ".", suffix);
  return cat(layer_prefix, layer, ".", base, ".", suffix);
}

}  // namespace loupe
