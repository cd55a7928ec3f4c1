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

void Moments::pack(ByteWriter& out) const {
  out.put(n_);
  for (double v : {mean_, m2_, m3_, m4_, min_, max_}) out.put(v);
  out.put(nan_);
  out.put(inf_);
}

Moments Moments::unpack(ByteReader& in) {
  Moments m;
  m.n_ = in.read<int64_t>("moments count");
  for (double* v : {&m.mean_, &m.m2_, &m.m3_, &m.m4_, &m.min_, &m.max_}) *v = in.read<double>("moments");
  m.nan_ = in.read<int64_t>("moments NaN count");
  m.inf_ = in.read<int64_t>("moments Inf count");
  return m;
}

void ExactSum::add(double x) {
  if (x == 0) return;
  LOUPE_ASSERT(std::isfinite(x), "an exact sum of a non-finite value");
  int e = 0;
  const double f = std::frexp(x, &e);  // x = f 2^e, 0.5 <= |f| < 1
  auto m = static_cast<int64_t>(std::ldexp(f, 53));
  int pos = e - 53 + 1074;  // the bit of m's lowest digit, counted from 2^-1074
  if (pos < 0) {            // a subnormal: the bits shifted out are zero
    m /= int64_t{1} << -pos;
    pos = 0;
  }
  const bool negative = m < 0;
  const unsigned __int128 v = static_cast<unsigned __int128>(negative ? -m : m) << (pos % 32);
  const int d = pos / 32;
  const auto part = [&v](int k) { return static_cast<int64_t>((v >> (32 * k)) & 0xffffffffu); };
  for (int k = 0; k < 3; ++k) digit_[static_cast<size_t>(d) + static_cast<size_t>(k)] += negative ? -part(k) : part(k);
  if (++pending_ >= (int64_t{1} << 29)) normalize();
}

void ExactSum::add(const ExactSum& other) {
  ExactSum o = other;
  o.normalize();
  normalize();
  for (size_t i = 0; i < digit_.size(); ++i) digit_[i] += o.digit_[i];
  pending_ = 2;
}

void ExactSum::normalize() {
  // Carries up: every digit but the top one in [0, 2^32); the top one carries the sign.
  for (size_t i = 0; i + 1 < digit_.size(); ++i) {
    const int64_t carry = digit_[i] >> 32;  // floor division
    digit_[i] -= carry * (int64_t{1} << 32);
    digit_[i + 1] += carry;
  }
  pending_ = 0;
}

double ExactSum::value() const {
  ExactSum s = *this;
  s.normalize();
  const bool negative = s.digit_.back() < 0;
  if (negative) {
    for (int64_t& d : s.digit_) d = -d;
    s.normalize();
  }
  int top = kDigits - 1;
  while (top > 0 && s.digit_[static_cast<size_t>(top)] == 0) --top;
  const auto at = [&s](int i) { return i >= 0 ? s.digit_[static_cast<size_t>(i)] : int64_t{0}; };
  // The top 64 bits (one rounding), then the next digit (a second rounding): a fixed rule, so
  // the same sum always gives the same double.
  const auto high = (static_cast<uint64_t>(at(top)) << 32) | static_cast<uint64_t>(at(top - 1));
  const double r = std::ldexp(static_cast<double>(high), 32 * (top - 1) - 1074) +
                   std::ldexp(static_cast<double>(at(top - 2)), 32 * (top - 2) - 1074);
  return negative ? -r : r;
}

void ExactSum::pack(ByteWriter& out) const {
  ExactSum s = *this;
  s.normalize();
  for (int64_t d : s.digit_) out.put(d);
}

ExactSum ExactSum::unpack(ByteReader& in) {
  ExactSum s;
  for (int64_t& d : s.digit_) {
    d = in.read<int64_t>("exact sum");
    if (&d != &s.digit_.back() && (d < 0 || d >= (int64_t{1} << 32))) fail(in.source(), ": a malformed exact sum");
  }
  return s;
}

namespace {

// No bin finer than 2^-50 of the value: indices stay within 2^52.
int finest_exp(double x) {
  return x == 0 ? -1074 : std::max(-1074, std::ilogb(x) - 50);
}

}  // namespace

StreamHistogram::StreamHistogram(int n_bins) : counts_(static_cast<size_t>(std::max(2, n_bins + (n_bins & 1))), 0) {}

void StreamHistogram::set_range(double lo, double hi) {
  LOUPE_ASSERT(std::isfinite(lo) && std::isfinite(hi) && hi > lo, "histogram range [", lo, ", ", hi, "]");
  LOUPE_ASSERT(!started_, "a histogram's range is pinned before values are added");
  const double w = (hi - lo) / static_cast<double>(counts_.size());
  int e = 0;
  LOUPE_ASSERT(std::frexp(w, &e) == 0.5, "histogram bin width ", w, " is not a power of two");
  exp_ = e - 1;
  const double first = std::ldexp(lo, -exp_);
  LOUPE_ASSERT(first == std::floor(first), "histogram range starts at ", lo, ", not a multiple of ", w);
  first_ = static_cast<int64_t>(first);
  last_ = first_ + static_cast<int64_t>(counts_.size()) - 1;
  started_ = true;
}

int64_t StreamHistogram::index(double x) const {
  return static_cast<int64_t>(std::floor(std::ldexp(x, -exp_)));
}

bool StreamHistogram::fits(int64_t a, int64_t b) const {
  return b - a < static_cast<int64_t>(counts_.size());
}

void StreamHistogram::coarsen(int to_exp) {
  if (to_exp <= exp_) return;
  const int s = std::min(62, to_exp - exp_);
  const int64_t first = first_ >> s;  // floor division by 2^s
  std::vector<int64_t> merged(counts_.size(), 0);
  for (size_t i = 0; i < counts_.size(); ++i)
    if (counts_[i] != 0) merged[static_cast<size_t>(((first_ + static_cast<int64_t>(i)) >> s) - first)] += counts_[i];
  counts_ = std::move(merged);
  first_ = first;
  last_ >>= s;
  exp_ = to_exp;
}

void StreamHistogram::rebase(int64_t first) {
  if (first >= first_) return;
  const auto shift = static_cast<size_t>(first_ - first);
  std::vector<int64_t> moved(counts_.size(), 0);
  for (size_t i = 0; i + shift < counts_.size(); ++i) moved[i + shift] = counts_[i];
  counts_ = std::move(moved);
  first_ = first;
}

void StreamHistogram::add(double x) {
  if (!std::isfinite(x)) return;
  if (!started_) {
    exp_ = finest_exp(x);
    first_ = last_ = index(x);
    started_ = true;
  }
  coarsen(finest_exp(x));
  int64_t i = index(x);
  while (!fits(std::min(first_, i), std::max(last_, i))) {
    coarsen(exp_ + 1);
    i = index(x);
  }
  rebase(std::min(first_, i));
  last_ = std::max(last_, i);
  ++counts_[static_cast<size_t>(i - first_)];
}

void StreamHistogram::merge(const StreamHistogram& other) {
  LOUPE_ASSERT(other.counts_.size() == counts_.size(), "merging histograms of ", counts_.size(), " and ",
               other.counts_.size(), " bins");
  if (!other.started_) return;
  if (!started_) {
    *this = other;
    return;
  }
  StreamHistogram o = other;
  const int e = std::max(exp_, o.exp_);
  coarsen(e);
  o.coarsen(e);
  while (!fits(std::min(first_, o.first_), std::max(last_, o.last_))) {
    coarsen(exp_ + 1);
    o.coarsen(exp_);
  }
  rebase(std::min(first_, o.first_));
  o.rebase(first_);
  last_ = std::max(last_, o.last_);
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
}

double StreamHistogram::width() const {
  return started_ ? std::ldexp(1.0, exp_) : 0.0;
}

double StreamHistogram::lo() const {
  return started_ ? std::ldexp(static_cast<double>(first_), exp_) : 0.0;
}

double StreamHistogram::hi() const {
  return started_ ? std::ldexp(static_cast<double>(first_ + static_cast<int64_t>(counts_.size())), exp_) : 0.0;
}

int64_t StreamHistogram::total() const {
  int64_t t = 0;
  for (int64_t c : counts_) t += c;
  return t;
}

void StreamHistogram::pack(ByteWriter& out) const {
  out.put(static_cast<uint8_t>(started_));
  out.put(static_cast<int32_t>(exp_));
  out.put(first_);
  out.put(last_);
  out.put_span(std::span<const int64_t>(counts_));
}

StreamHistogram StreamHistogram::unpack(ByteReader& in) {
  StreamHistogram h;
  h.started_ = in.read<uint8_t>("histogram") != 0;
  h.exp_ = in.read<int32_t>("histogram width");
  h.first_ = in.read<int64_t>("histogram first bin");
  h.last_ = in.read<int64_t>("histogram last bin");
  const auto n = in.read<uint64_t>("histogram bins");
  if (n < 2 || n > (uint64_t{1} << 20) || h.last_ < h.first_ || h.last_ - h.first_ >= static_cast<int64_t>(n) ||
      h.exp_ < -1074 || h.exp_ > 1100)
    fail(in.source(), ": a malformed histogram");
  h.counts_.resize(static_cast<size_t>(n));
  for (int64_t& c : h.counts_) c = in.read<int64_t>("histogram count");
  return h;
}

}  // namespace loupe::analysis
