// Output-level divergence of a candidate model from a reference on the same tokens: the
// statistics llama-perplexity --kl-divergence prints (PPL of both with their ratio and the
// correlation of ln PPL, KL divergence, Δp = p_candidate(token) - p_reference(token), same top
// token), computed exactly in double precision from the two logit rows.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace loupe::analysis {

// What one scored position gave.
struct TokenDivergence {
  double kld = 0;       // KL(reference || candidate)
  double nll_ref = 0;   // -log p_reference(next token)
  double nll_cand = 0;  // -log p_candidate(next token)
  double p_ref = 0;
  double p_cand = 0;
  int64_t top_ref = 0;
  int64_t top_cand = 0;
};

struct ValueError {
  double value = 0;
  double error = 0;
};

// The percentiles llama-perplexity prints, as (percent, value), highest first.
using Percentiles = std::vector<std::pair<double, double>>;

struct OutputStats {
  int64_t count = 0;
  ValueError ppl_ref, ppl_cand;
  ValueError ln_ppl_ratio;  // mean ln(PPL(cand) / PPL(ref))
  ValueError ppl_ratio;
  ValueError ppl_difference;
  std::optional<double> ln_ppl_correlation;  // of the per-token ln PPL terms; unset when undefined
  ValueError kld;                            // mean ± error
  double kld_max = 0, kld_min = 0, kld_median = 0;
  Percentiles kld_percentiles;  // 99.9 99 95 90 50 10 5 1 0.1
  ValueError delta_p;           // mean ± error
  double delta_p_max = 0, delta_p_min = 0;
  Percentiles delta_p_percentiles;  // 99.9 99 95 90 75 50 25 10 5 1 0.1
  ValueError delta_p_rms;
  ValueError same_top_p;
};

class OutputDivergence {
 public:
  explicit OutputDivergence(int64_t d_vocab);
  // Scores one position: the two logit rows [d_vocab] and the token that followed.
  TokenDivergence add(const float* ref_logits, const float* cand_logits, int32_t next_token);
  // Adds a position scored elsewhere (another process of a job): the same sums as add() above.
  void add(const TokenDivergence& t);
  int64_t count() const { return count_; }
  // The statistics so far (count must be > 0).
  OutputStats stats() const;

 private:
  int64_t d_vocab_;
  std::vector<double> lp_ref_, lp_cand_;  // [d_vocab] scratch
  double sum_nll_ = 0, sum_nll2_ = 0, sum_nll_ref_ = 0, sum_nll_ref2_ = 0, sum_nll_nll_ref_ = 0;
  double sum_kld_ = 0, sum_kld2_ = 0;
  double sum_dp_ = 0, sum_dp2_ = 0, sum_dp4_ = 0;
  int64_t same_top_ = 0;
  int64_t count_ = 0;
  // Per-token values for exact percentiles, as llama-perplexity keeps them: 8 bytes a token.
  std::vector<float> kld_values_, dp_values_;
};

}  // namespace loupe::analysis
