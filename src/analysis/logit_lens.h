// loupe lens: the logit lens over a prompt. For every residual-stream hook (resid_pre,
// resid_mid, resid_post of each layer) and position: the top tokens with probabilities, the
// rank and probability of a target token, and KL(final || lens) to the model's own output.
// Two passes: the first gives the final distributions, the second reduces each hook tensor as
// it is produced (nothing but the final log-probabilities is kept).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/interpreter.h"

namespace loupe::analysis {

struct LensCell {
  std::vector<std::pair<int32_t, double>> top;  // (token, probability), most likely first
  int64_t target_rank = -1;                     // 0 = most likely; -1 without a target
  double target_prob = 0;
  double kl_to_final = 0;  // KL(final || lens), nats
  double entropy = 0;
};

struct LensRow {
  std::string hook;  // "blocks.2.hook_resid_mid"
  int layer = -1;
  std::vector<LensCell> cells;  // one per position
};

struct LensResult {
  std::vector<int32_t> tokens;
  std::optional<int32_t> target;
  std::vector<LensRow> rows;  // program order
  LensRow final;              // the model's output distribution, as a row
};

struct LensOptions {
  RunOptions run;
  int64_t top_k = 5;
  std::optional<int32_t> target;
};

LensResult run_lens(const Model& model, const std::vector<int32_t>& tokens, const LensOptions& options);

// Fills a cell from a logits row [d_vocab] and the final log-probabilities (null for the final row).
LensCell lens_cell(const float* logits, int64_t d_vocab, const double* final_log_probs, int64_t top_k,
                   std::optional<int32_t> target);

nlohmann::ordered_json to_json(const LensResult& r, const Model& model);

}  // namespace loupe::analysis
