#include "analysis/stats.h"

#include "core/error.h"

namespace loupe::analysis {

void log_softmax(const float* logits, int64_t n, double* out) {
  LOUPE_ASSERT(n > 0, "log_softmax of an empty vector");
  double mx = logits[0];
  for (int64_t i = 1; i < n; ++i) mx = std::max(mx, static_cast<double>(logits[i]));
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(logits[i]) - mx);
  const double lse = mx + std::log(sum);
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<double>(logits[i]) - lse;
}

int64_t argmax(const float* logits, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (logits[i] > logits[best]) best = i;
  return best;
}

double kl_divergence(const double* log_p, const double* log_q, int64_t n) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double p = std::exp(log_p[i]);
    if (p > 0) sum += p * (log_p[i] - log_q[i]);
  }
  return sum;
}

double entropy(const double* log_p, int64_t n) {
  double h = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double p = std::exp(log_p[i]);
    if (p > 0) h -= p * log_p[i];
  }
  return h;
}

MeanError mean_and_error(double sum, double sum2, int64_t count) {
  if (count < 1) return {};
  const double n = static_cast<double>(count);
  MeanError r;
  r.mean = sum / n;
  const double var = sum2 / n - r.mean * r.mean;
  r.error = var > 0 && count > 10 ? std::sqrt(var / (n - 1)) : 0.0;
  return r;
}

double covariance_of_means(double sum_a, double sum_b, double sum_ab, int64_t count) {
  if (count < 10) return 0.0;
  const double n = static_cast<double>(count);
  return (sum_ab / n - (sum_a / n) * (sum_b / n)) / (n - 1);
}

double percentile(std::span<const float> sorted, double fraction) {
  LOUPE_ASSERT(!sorted.empty(), "percentile of no values");
  if (fraction <= 0) return sorted.front();
  if (fraction >= 1) return sorted.back();
  const double p = fraction * static_cast<double>(sorted.size() - 1);
  const auto ip = static_cast<size_t>(p);
  const double frac = p - static_cast<double>(ip);
  const size_t next = std::min(ip + 1, sorted.size() - 1);
  return (1 - frac) * sorted[ip] + frac * sorted[next];
}

void Moments::add(double x) {
  if (std::isnan(x)) {
    ++nan_;
    return;
  }
  if (std::isinf(x)) {
    ++inf_;
    return;
  }
  min_ = std::min(min_, x);
  max_ = std::max(max_, x);
  const double n1 = static_cast<double>(n_);
  ++n_;
  const double n = static_cast<double>(n_);
  const double delta = x - mean_;
  const double dn = delta / n;
  const double dn2 = dn * dn;
  const double term1 = delta * dn * n1;
  mean_ += dn;
  m4_ += term1 * dn2 * (n * n - 3 * n + 3) + 6 * dn2 * m2_ - 4 * dn * m3_;
  m3_ += term1 * dn * (n - 2) - 3 * dn * m2_;
  m2_ += term1;
}

void Moments::merge(const Moments& o) {
  nan_ += o.nan_;
  inf_ += o.inf_;
  if (o.n_ == 0) return;
  if (n_ == 0) {
    const int64_t nan = nan_, inf = inf_;
    *this = o;
    nan_ = nan;
    inf_ = inf;
    return;
  }
  const double na = static_cast<double>(n_), nb = static_cast<double>(o.n_);
  const double n = na + nb;
  const double delta = o.mean_ - mean_;
  const double d2 = delta * delta, d3 = d2 * delta, d4 = d2 * d2;
  const double m2 = m2_ + o.m2_ + d2 * na * nb / n;
  const double m3 = m3_ + o.m3_ + d3 * na * nb * (na - nb) / (n * n) + 3 * delta * (na * o.m2_ - nb * m2_) / n;
  const double m4 = m4_ + o.m4_ + d4 * na * nb * (na * na - na * nb + nb * nb) / (n * n * n) +
                    6 * d2 * (na * na * o.m2_ + nb * nb * m2_) / (n * n) + 4 * delta * (na * o.m3_ - nb * m3_) / n;
  mean_ += delta * nb / n;
  m2_ = m2;
  m3_ = m3;
  m4_ = m4;
  n_ += o.n_;
  min_ = std::min(min_, o.min_);
  max_ = std::max(max_, o.max_);
}

double Moments::kurtosis() const {
  if (n_ == 0 || m2_ <= 0) return 0.0;
  const double n = static_cast<double>(n_);
  return n * m4_ / (m2_ * m2_);
}

StreamHistogram::StreamHistogram(int n_bins) : counts_(static_cast<size_t>(std::max(2, n_bins + (n_bins & 1))), 0) {}

void StreamHistogram::set_range(double lo, double hi) {
  LOUPE_ASSERT(std::isfinite(lo) && std::isfinite(hi) && hi > lo, "histogram range [", lo, ", ", hi, "]");
  lo_ = lo;
  hi_ = hi;
}

void StreamHistogram::start(const float* x, int64_t n) {
  double lo = INFINITY, hi = -INFINITY;
  for (int64_t i = 0; i < n; ++i)
    if (std::isfinite(x[i])) {
      lo = std::min<double>(lo, x[i]);
      hi = std::max<double>(hi, x[i]);
    }
  if (lo > hi) return;  // nothing finite yet
  // The maximum falls inside: the range ends a little past it.
  const double span = hi > lo ? hi - lo : std::max(1e-6, std::fabs(lo) * 1e-3);
  set_range(lo, hi + span / static_cast<double>(counts_.size()) * 1e-3 + (hi > lo ? 0.0 : span));
}

void StreamHistogram::widen(bool up) {
  // Neighbouring bins merge into one half; the range doubles toward the value.
  const size_t half = counts_.size() / 2;
  std::vector<int64_t> merged(counts_.size(), 0);
  for (size_t i = 0; i < half; ++i) merged[(up ? 0 : half) + i] = counts_[2 * i] + counts_[2 * i + 1];
  counts_ = std::move(merged);
  const double w = hi_ - lo_;
  if (up) {
    hi_ = lo_ + 2 * w;
  } else {
    lo_ = hi_ - 2 * w;
  }
}

void StreamHistogram::add(double x) {
  if (!std::isfinite(x)) return;
  if (!ranged()) {
    const float v = static_cast<float>(x);
    start(&v, 1);
  }
  while (x < lo_ || x >= hi_) widen(x >= hi_);
  const auto n = static_cast<int64_t>(counts_.size());
  const auto i = std::min<int64_t>(n - 1, static_cast<int64_t>((x - lo_) / (hi_ - lo_) * static_cast<double>(n)));
  ++counts_[static_cast<size_t>(i)];
}

int64_t StreamHistogram::total() const {
  int64_t t = 0;
  for (int64_t c : counts_) t += c;
  return t;
}

}  // namespace loupe::analysis
