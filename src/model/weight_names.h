// The one table of weight names: every tensor a model of any family can have, with its GGUF
// name and its Hugging Face name (the llama-style `model.layers.N...` naming most families
// share; a family file overrides the entries its HF checkpoints name differently). The GGUF
// loader, the HF loader, bind and synth all name tensors through it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace loupe {

enum class WeightId : uint8_t {
  TokenEmbd,
  PositionEmbd,
  OutputNorm,
  Output,
  RopeFreqs,
  AttnNorm,
  AttnQ,
  AttnK,
  AttnV,
  AttnQkv,
  AttnOutput,
  AttnQNorm,
  AttnKNorm,
  AttnPostNorm,
  AttnSinks,
  FfnNorm,
  FfnGate,
  FfnUp,
  FfnDown,
  FfnPostNorm,
  FfnGateInp,   // MoE router [n_experts, d_model]
  FfnGateExps,  // [n_experts, d_expert, d_model]
  FfnUpExps,
  FfnDownExps,  // [n_experts, d_model, d_expert]
};
constexpr int kWeightIdCount = static_cast<int>(WeightId::FfnDownExps) + 1;

struct WeightName {
  WeightId id;
  bool per_layer;
  std::string_view gguf;  // "attn_q" -> blk.N.attn_q.weight; top level: "token_embd"
  // Per layer: "self_attn.q_proj" -> model.layers.N.self_attn.q_proj.weight; top level: the
  // whole name ("model.embed_tokens"); "" = HF checkpoints have no such tensor.
  std::string_view hf;
};

const WeightName& weight_name(WeightId id);

// "blk.3.attn_q.weight" (layer ignored for top-level tensors); suffix "weight" or "bias".
std::string gguf_tensor_name(WeightId id, int64_t layer, std::string_view suffix = "weight");
// "model.layers.3.self_attn.q_proj.weight" with the table's HF column, or `hf` when given (a
// family's own spelling); "" when the tensor has no HF name.
std::string hf_tensor_name(WeightId id, int64_t layer, std::string_view suffix = "weight", std::string_view hf = {},
                           std::string_view layer_prefix = "model.layers.");

}  // namespace loupe
