// loupe lens: the logit lens over a prompt. For every residual-stream hook (resid_pre,
// resid_mid, resid_post of each layer) and position: the top tokens with probabilities, the
// rank and probability of a target token, and KL(final || lens) to the model's own output.
// One pass: the residual hooks are cached (3 x n_layers x n x d_model floats) and read out
// through the final norm and unembedding once the pass's own logits are known.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "analysis/pass.h"
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

// The lens as an analysis of a pass over `tokens` from position 0 (every position's logits).
class LensAnalysis : public PassAnalysis {
 public:
  LensAnalysis(const Model& model, std::vector<int32_t> tokens, const LensOptions& options);
  std::string_view name() const override { return "lens"; }
  void attach(Interpreter& interp) override;
  void on_logits(const float* logits, int64_t rows, int64_t first_pos) override;
  nlohmann::ordered_json finish() override;
  const LensResult& result();

 private:
  const Model& model_;
  LensOptions opt_;
  TensorCache cache_;
  Interpreter* interp_ = nullptr;
  std::vector<double> final_lp_;  // [n, d_vocab]
  LensResult result_;
  bool finished_ = false;
};

LensResult run_lens(const Model& model, const std::vector<int32_t>& tokens, const LensOptions& options);

// Fills a cell from a logits row [d_vocab] and the final log-probabilities (null for the final row).
LensCell lens_cell(const float* logits, int64_t d_vocab, const double* final_log_probs, int64_t top_k,
                   std::optional<int32_t> target);

nlohmann::ordered_json to_json(const LensResult& r, const Model& model);

}  // namespace loupe::analysis
