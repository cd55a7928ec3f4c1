// loupe activations: streamed statistics of hook tensors over a data file. Per hook: moments
// (mean, std, kurtosis), a histogram, NaN / Inf counts, the mean L2 norm of a position's vector
// (norm growth across layers), the largest dimensions relative to the typical magnitude
// (massive activations); per MLP neuron (from mlp.hook_pre): how often it is positive, giving
// dead (never) and always-on neurons. Memory is fixed by the model, not the data.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "analysis/data.h"
#include "analysis/pass.h"
#include "analysis/stats.h"
#include "engine/interpreter.h"

namespace loupe::analysis {

struct MassiveDim {
  int64_t dim = 0;
  double max_abs = 0;
  double ratio = 0;  // max |x| of the dimension / mean |x| of the hook
};

struct HookActivations {
  std::string name;
  int layer = -1;
  HookKind kind = HookKind::Embed;
  int64_t width = 0;  // values per position
  int64_t rows = 0;   // positions seen
  Moments moments;    // std, kurtosis, extremes, NaN / Inf counts
  double mean = 0;    // from an exact sum (the same for any split of the data)
  double mean_abs = 0;
  double mean_norm = 0;  // mean L2 norm of a position's vector
  StreamHistogram histogram;
  std::vector<MassiveDim> massive;  // largest dimensions by max |x|, above the threshold
  // mlp.hook_pre only: neurons never / always positive.
  std::vector<int64_t> dead;
  std::vector<int64_t> always_on;
};

struct ActivationsOptions {
  SequencerOptions seq;
  RunOptions run;
  std::vector<std::string> hooks;  // names / globs / short forms; empty: every [pos, ...] hook
  double massive_factor = 20;      // a dimension is massive when max |x| > factor x mean |x|
  size_t max_massive = 5;
  std::function<void(int64_t docs, int64_t tokens)> progress;
  // A share of a job over processes: part 0 returns the statistics of all parts (histograms,
  // counts, extremes, norms and mean |x| exactly as one process; mean / std / kurtosis merged
  // within rounding, see docs/ci.md); the others return an empty result.
  JobSplit split;
};

// Mixture-of-experts models: how often each expert of a layer was chosen (from
// mlp.hook_expert_ids), the routing balance a MoE debugger looks at first.
struct ExpertLoad {
  int layer = -1;
  std::vector<int64_t> counts;  // [n_experts] selections over all positions
  int64_t positions = 0;
};

struct ActivationsResult {
  std::string model;
  int64_t n_docs = 0;
  int64_t n_tokens = 0;
  std::vector<HookActivations> hooks;   // program order
  std::vector<ExpertLoad> expert_load;  // MoE models: one per layer
};

// Activation statistics as an analysis: attach to an interpreter, run any number of passes,
// then collect (or finish: the passes' positions as one document).
class ActivationsAnalysis : public PassAnalysis {
 public:
  ActivationsAnalysis(const Model& model, const ActivationsOptions& options);
  ~ActivationsAnalysis() override;
  std::string_view name() const override { return "activations"; }
  void attach(Interpreter& interp) override;
  void on_logits(const float* logits, int64_t rows, int64_t first_pos) override;
  nlohmann::ordered_json finish() override;
  ActivationsResult collect(int64_t n_docs, int64_t n_tokens);
  // The statistics so far as bytes, and the statistics of another process's passes added in.
  void pack(ByteWriter& out) const;
  void merge(ByteReader& in);
  int64_t n_tokens() const { return n_tokens_; }

 private:
  struct Observers;
  const Model& model_;
  ActivationsOptions opt_;
  std::unique_ptr<Observers> observers_;
  const HookTable* hooks_ = nullptr;
  std::vector<int> ids_;
  int64_t n_tokens_ = 0;
};

ActivationsResult run_activations(const Model& model, const std::string& data_path, const std::string& field,
                                  const ActivationsOptions& options);

nlohmann::ordered_json to_json(const ActivationsResult& r);

}  // namespace loupe::analysis
