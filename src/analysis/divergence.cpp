#include "analysis/divergence.h"

#include <algorithm>
#include <cmath>

#include "analysis/stats.h"
#include "core/error.h"

namespace loupe::analysis {

OutputDivergence::OutputDivergence(int64_t d_vocab)
    : d_vocab_(d_vocab), lp_ref_(static_cast<size_t>(d_vocab)), lp_cand_(static_cast<size_t>(d_vocab)) {}

TokenDivergence OutputDivergence::add(const float* ref_logits, const float* cand_logits, int32_t next_token) {
  LOUPE_ASSERT(next_token >= 0 && next_token < d_vocab_, "token ", next_token, " out of range");
  log_softmax(ref_logits, d_vocab_, lp_ref_.data());
  log_softmax(cand_logits, d_vocab_, lp_cand_.data());
  TokenDivergence t;
  t.kld = kl_divergence(lp_ref_.data(), lp_cand_.data(), d_vocab_);
  t.nll_ref = -lp_ref_[static_cast<size_t>(next_token)];
  t.nll_cand = -lp_cand_[static_cast<size_t>(next_token)];
  t.p_ref = std::exp(-t.nll_ref);
  t.p_cand = std::exp(-t.nll_cand);
  t.top_ref = argmax(ref_logits, d_vocab_);
  t.top_cand = argmax(cand_logits, d_vocab_);
  add(t);
  return t;
}

void OutputDivergence::add(const TokenDivergence& t) {
  sum_nll_ += t.nll_cand;
  sum_nll2_ += t.nll_cand * t.nll_cand;
  sum_nll_ref_ += t.nll_ref;
  sum_nll_ref2_ += t.nll_ref * t.nll_ref;
  sum_nll_nll_ref_ += t.nll_cand * t.nll_ref;
  sum_kld_ += t.kld;
  sum_kld2_ += t.kld * t.kld;
  const double dp = t.p_cand - t.p_ref;
  sum_dp_ += dp;
  sum_dp2_ += dp * dp;
  sum_dp4_ += dp * dp * dp * dp;
  if (t.top_ref == t.top_cand) ++same_top_;
  ++count_;
  kld_values_.push_back(static_cast<float>(t.kld));
  dp_values_.push_back(static_cast<float>(dp));
}

OutputStats OutputDivergence::stats() const {
  LOUPE_ASSERT(count_ > 0, "divergence statistics of no tokens");
  OutputStats s;
  s.count = count_;
  const auto n = static_cast<double>(count_);

  const MeanError log_ppl = mean_and_error(sum_nll_, sum_nll2_, count_);
  const MeanError log_ppl_ref = mean_and_error(sum_nll_ref_, sum_nll_ref2_, count_);
  s.ppl_cand = {std::exp(log_ppl.mean), std::exp(log_ppl.mean) * log_ppl.error};
  s.ppl_ref = {std::exp(log_ppl_ref.mean), std::exp(log_ppl_ref.mean) * log_ppl_ref.error};
  const double cov = covariance_of_means(sum_nll_, sum_nll_ref_, sum_nll_nll_ref_, count_);
  if (log_ppl.error > 0 && log_ppl_ref.error > 0) s.ln_ppl_correlation = cov / (log_ppl.error * log_ppl_ref.error);
  const double ratio_var = log_ppl.error * log_ppl.error + log_ppl_ref.error * log_ppl_ref.error - 2.0 * cov;
  s.ln_ppl_ratio = {log_ppl.mean - log_ppl_ref.mean, std::sqrt(std::max(0.0, ratio_var))};
  s.ppl_ratio = {std::exp(s.ln_ppl_ratio.value), std::exp(s.ln_ppl_ratio.value) * s.ln_ppl_ratio.error};
  const double ppl_cov = s.ppl_cand.value * s.ppl_ref.value * cov;
  const double diff_var = s.ppl_cand.error * s.ppl_cand.error + s.ppl_ref.error * s.ppl_ref.error - 2.0 * ppl_cov;
  s.ppl_difference = {s.ppl_cand.value - s.ppl_ref.value, std::sqrt(std::max(0.0, diff_var))};

  const MeanError kld = mean_and_error(sum_kld_, sum_kld2_, count_);
  s.kld = {kld.mean, kld.error};
  std::vector<float> sorted = kld_values_;
  std::sort(sorted.begin(), sorted.end());
  s.kld_max = sorted.back();
  s.kld_min = sorted.front();
  s.kld_median = percentile(sorted, 0.5);
  for (double pct : {99.9, 99.0, 95.0, 90.0, 50.0, 10.0, 5.0, 1.0, 0.1})
    s.kld_percentiles.emplace_back(pct, percentile(sorted, pct / 100.0));

  const MeanError dp = mean_and_error(sum_dp_, sum_dp2_, count_);
  s.delta_p = {dp.mean, dp.error};
  sorted = dp_values_;
  std::sort(sorted.begin(), sorted.end());
  s.delta_p_max = sorted.back();
  s.delta_p_min = sorted.front();
  for (double pct : {99.9, 99.0, 95.0, 90.0, 75.0, 50.0, 25.0, 10.0, 5.0, 1.0, 0.1})
    s.delta_p_percentiles.emplace_back(pct, percentile(sorted, pct / 100.0));
  const MeanError mse = mean_and_error(sum_dp2_, sum_dp4_, count_);
  const double rms = std::sqrt(mse.mean);
  s.delta_p_rms = {rms, rms > 0 ? 0.5 / rms * mse.error : 0.0};

  const double top = static_cast<double>(same_top_) / n;
  s.same_top_p = {top, count_ > 1 ? std::sqrt(top * (1 - top) / (n - 1)) : 0.0};
  return s;
}

}  // namespace loupe::analysis
