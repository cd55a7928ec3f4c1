// loupe attribute: why the model gives a target token the logit it does at one position.
//  - Direct logit attribution: the final residual is the sum of the embedding and every
//    layer's attention and MLP outputs; with the final norm's scale frozen at its value for
//    this position, each part's share of the target logit is part . (gamma * W_U[target]) / scale
//    (centred first for LayerNorm; a LayerNorm bias is its own part). The parts sum to the logit.
//    Attention is split further per head through W_O (the output bias is a separate part).
//  - Occlusion: the logit and log-probability of the target when one input token's embedding
//    is zeroed, for every input position up to the target position.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "analysis/pass.h"
#include "engine/interpreter.h"

namespace loupe::analysis {

struct Part {
  std::string name;  // "embed", "blocks.3.attn", "blocks.3.mlp", "ln_final.bias"
  int layer = -1;
  double logit = 0;  // contribution to the target logit
};

struct HeadPart {
  int layer = 0;
  int head = 0;
  double logit = 0;
};

struct Occlusion {
  int64_t pos = 0;
  int32_t token = 0;
  double logit = 0;    // target logit with this token's embedding zeroed
  double logprob = 0;  // target log-probability
  double delta_logit = 0;
  double delta_logprob = 0;
};

struct AttributionResult {
  std::vector<int32_t> tokens;
  int32_t target = 0;
  int64_t pos = 0;  // position whose prediction is explained
  double logit = 0;
  double logprob = 0;
  double parts_sum = 0;  // sum of parts (equals logit up to rounding)
  std::vector<Part> parts;
  std::vector<HeadPart> heads;
  std::vector<double> attn_bias;  // per layer: attention output minus the sum of its heads
  std::vector<Occlusion> occlusion;
};

struct AttributionOptions {
  RunOptions run;
  int32_t target = 0;
  int64_t pos = -1;  // -1: the last position
  bool occlusion = true;
};

// Attribution as a pass analysis: attached to a pass over tokens from position 0 (at least up to
// pos; later positions change nothing at pos), it keeps the target position's parts; finish()
// computes them and, with options.occlusion, runs the occlusion passes of its own.
class AttributionAnalysis : public PassAnalysis {
 public:
  AttributionAnalysis(const Model& model, std::vector<int32_t> tokens, const AttributionOptions& options);
  ~AttributionAnalysis() override;
  std::string_view name() const override { return "attribution"; }
  void attach(Interpreter& interp) override;
  nlohmann::ordered_json finish() override;
  const AttributionResult& result();
  int64_t result_pos() const { return pos_; }  // the position explained

 private:
  struct Capture;
  const Model& model_;
  AttributionOptions opt_;
  std::vector<int32_t> tokens_;
  int64_t pos_ = 0;
  std::unique_ptr<Capture> cap_;
  std::optional<AttributionResult> result_;
};

AttributionResult run_attribution(const Model& model, const std::vector<int32_t>& tokens,
                                  const AttributionOptions& options);

nlohmann::ordered_json to_json(const AttributionResult& r, const Model& model);

}  // namespace loupe::analysis
