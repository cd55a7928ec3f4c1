// loupe attention: attention patterns of a prompt per layer and head, and a per-head summary:
//  - entropy: mean over query positions of the entropy of the attention row (nats);
//  - sink: mean attention to the first position;
//  - previous token: mean attention from position i to i - 1 (i >= 1);
//  - induction: on BOS + R random tokens + the same R tokens again, the mean attention from a
//    token in the second copy to the token after its first occurrence (i -> i - R + 1).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "analysis/pass.h"
#include "engine/interpreter.h"

namespace loupe::analysis {

struct HeadScores {
  int layer = 0;
  int head = 0;
  double entropy = 0;
  double sink = 0;
  double prev_token = 0;
  double induction = 0;
};

struct AttentionResult {
  std::vector<int32_t> tokens;
  int64_t n_layers = 0, n_heads = 0;
  std::vector<std::vector<float>> patterns;  // per layer: [n_heads, n, n] of the prompt
  std::vector<HeadScores> heads;             // layer-major
  // Per layer (head -1): what each score would be with uniform attention over the keys a query
  // sees (causal, and the layer's sliding window): the chance baseline a head's score means
  // something against (entropy: its maximum).
  std::vector<HeadScores> chance;
  std::vector<int32_t> induction_tokens;  // the repeated random sequence
};

struct AttentionOptions {
  RunOptions run;
  int64_t induction_len = 20;  // R
  uint64_t seed = 1;
};

// Scores of one pattern tensor [n_heads, n, n] (the prompt starting at position 0).
void pattern_scores(const float* pattern, int64_t n_heads, int64_t n, std::vector<double>& entropy,
                    std::vector<double>& sink, std::vector<double>& prev);
// Mean attention i -> i - period + 1 over the second copy (i >= 1 + period) of a [n_heads, n, n] pattern.
std::vector<double> induction_scores(const float* pattern, int64_t n_heads, int64_t n, int64_t period);
// The scores of uniform attention: a prompt of n positions, the induction sequence of n_induction
// positions with that period, keys limited to a window (0: all earlier positions).
HeadScores chance_scores(int64_t n, int64_t window, int64_t n_induction, int64_t period);

// The attention analysis of a pass over `tokens` from position 0: the patterns are taken from
// that pass; the induction scores need a pass of their own over the repeated random sequence,
// run at finish.
class AttentionAnalysis : public PassAnalysis {
 public:
  AttentionAnalysis(const Model& model, std::vector<int32_t> tokens, const AttentionOptions& options);
  ~AttentionAnalysis() override;
  std::string_view name() const override { return "attention"; }
  void attach(Interpreter& interp) override;
  nlohmann::ordered_json finish() override;
  const AttentionResult& result();

 private:
  struct Capture;
  const Model& model_;
  AttentionOptions opt_;
  std::unique_ptr<Capture> capture_;
  AttentionResult result_;
  bool finished_ = false;
};

AttentionResult run_attention(const Model& model, const std::vector<int32_t>& tokens, const AttentionOptions& options);

nlohmann::ordered_json to_json(const AttentionResult& r);

}  // namespace loupe::analysis
