// loupe diff: two models run in lockstep on the same tokens. An observer pair compares every
// hook tensor as it is produced (NMSE, cosine, max |difference|, and the logit-lens KL at the
// residual-stream hooks), and the final logits give llama-perplexity's KL-divergence statistics.
// Nothing is cached beyond one hook tensor and the per-token KLD / Δp values for percentiles.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "analysis/data.h"
#include "analysis/divergence.h"
#include "engine/interpreter.h"

namespace loupe::analysis {

struct HookDivergence {
  int hook = -1;
  std::string name;  // "blocks.3.hook_resid_post"
  std::string op;    // the op that writes it, as `list` shows it
  int layer = -1;
  int64_t n_values = 0;
  double nmse = 0;                 // sum (c - r)^2 / sum r^2 over every element
  double cosine = 0;               // mean over rows (positions; head x query for attention) of cos(r, c)
  double max_abs_diff = 0;         // max |c - r|
  std::optional<double> lens_kl;   // mean KL(lens_ref || lens_cand) over positions, resid hooks only
  int64_t nonfinite_mismatch = 0;  // elements where one side is NaN / inf and the other differs
  bool shape_mismatch = false;
};

struct WorstToken {
  int64_t doc = 0;
  int64_t doc_line = 0;
  int64_t pos = 0;  // position of the predicted token in its document (or chunk stream)
  int32_t token = 0;
  std::string context;  // the text before it (a few tokens)
  std::string text;     // the token
  TokenDivergence div;
};

struct FirstDivergence {
  int hook = -1;
  std::string name;
  std::string op;
  double nmse = 0;
  double before = 0;  // largest NMSE of the hooks before it
};

struct DiffOptions {
  SequencerOptions seq;
  RunOptions run;  // the reference's; the candidate's the same but for its numerics
  Numerics candidate_numerics = Numerics::Exact;
  bool layers = true;        // compare hook tensors
  bool lens = true;          // logit-lens KL at resid hooks
  size_t n_worst = 10;       // worst tokens to keep
  double jump_factor = 10;   // a hook "jumps" when its NMSE exceeds factor x every earlier one
  double jump_floor = 1e-7;  // ... and this floor (float32 rounding noise)
  std::function<void(int64_t docs, int64_t tokens)> progress;
  // A share of a job over processes: part 0 returns the comparison of all parts, equal to one
  // process's (output statistics and worst tokens bit for bit, hook sums exact); the others
  // return an empty result.
  JobSplit split;
};

struct DiffResult {
  std::string reference, candidate;
  int64_t n_docs = 0;
  int64_t n_sequences = 0;
  int64_t n_tokens = 0;  // tokens run through each model
  OutputStats output;
  bool layers_compared = false;
  std::string layers_note;  // why layers were not compared
  std::vector<HookDivergence> layers;
  std::optional<FirstDivergence> first_divergence;
  std::optional<FirstDivergence> largest_jump;
  std::vector<WorstToken> worst;
};

DiffResult run_diff(const Model& reference, const Model& candidate, const std::string& data_path,
                    const std::string& field, const DiffOptions& options);

// Picks the first hook whose NMSE exceeds factor x the largest NMSE before it (and floor), and
// the hook with the largest such ratio. Hooks in program order.
std::optional<FirstDivergence> first_jump(const std::vector<HookDivergence>& layers, double factor, double floor);
std::optional<FirstDivergence> largest_jump(const std::vector<HookDivergence>& layers, double floor);

nlohmann::ordered_json to_json(const OutputStats& s);
nlohmann::ordered_json to_json(const DiffResult& r);

}  // namespace loupe::analysis
