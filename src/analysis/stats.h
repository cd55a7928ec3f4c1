// Small statistics shared by the analysis commands: log-softmax in double precision, the
// mean-with-standard-error rule llama-perplexity prints, interpolated percentiles, streamed
// moments (for kurtosis) and a bounded "worst K" list. All reductions run in a fixed order.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "core/byte_reader.h"
#include "core/byte_writer.h"

namespace loupe::analysis {

// out[i] = logits[i] - max - log(sum_j exp(logits[j] - max)), in double. out: [n].
void log_softmax(const float* logits, int64_t n, double* out);

// Index of the largest logit (the first one on ties).
int64_t argmax(const float* logits, int64_t n);

// KL(p || q) = sum_i p_i (log p_i - log q_i) from two log-probability vectors.
double kl_divergence(const double* log_p, const double* log_q, int64_t n);

// Entropy -sum p log p of a log-probability vector, in nats.
double entropy(const double* log_p, int64_t n);

// The mean of count values and its standard error, from their sum and sum of squares, exactly
// as llama-perplexity reports it: the error is sqrt(var / (count - 1)) and is 0 for count <= 10.
struct MeanError {
  double mean = 0;
  double error = 0;
};
MeanError mean_and_error(double sum, double sum2, int64_t count);

// The covariance of the means of a and b (llama-perplexity's rule; 0 for count < 10).
double covariance_of_means(double sum_a, double sum_b, double sum_ab, int64_t count);

// Linear interpolation between the two nearest ranks of sorted values: fraction * (n - 1).
// fraction <= 0 gives the minimum, >= 1 the maximum. values must be sorted and non-empty.
double percentile(std::span<const float> sorted, double fraction);

// Streamed mean, variance, skewness and kurtosis (Welford / Pébay single-pass update), plus
// min, max and counts of NaN and infinities (those are left out of the moments).
class Moments {
 public:
  void add(double x);
  void merge(const Moments& other);
  int64_t count() const { return n_; }
  double mean() const { return mean_; }
  double variance() const { return n_ > 0 ? m2_ / static_cast<double>(n_) : 0.0; }  // population
  double std_dev() const { return std::sqrt(variance()); }
  // Pearson kurtosis (3 for a normal distribution); 0 when the variance is 0.
  double kurtosis() const;
  double min() const { return min_; }
  double max() const { return max_; }
  int64_t n_nan() const { return nan_; }
  int64_t n_inf() const { return inf_; }
  void pack(ByteWriter& out) const;
  static Moments unpack(ByteReader& in);

 private:
  int64_t n_ = 0;
  double mean_ = 0, m2_ = 0, m3_ = 0, m4_ = 0;
  double min_ = INFINITY, max_ = -INFINITY;
  int64_t nan_ = 0, inf_ = 0;
};

// Keeps the k items with the largest score seen so far (ties keep the earlier item).
template <class T>
class TopK {
 public:
  explicit TopK(size_t k) : k_(k) {}
  void add(double score, T item) {
    if (k_ == 0) return;
    if (items_.size() < k_) {
      items_.push_back({score, seq_++, std::move(item)});
      std::push_heap(items_.begin(), items_.end(), worse);
      return;
    }
    if (score <= items_.front().score) return;
    std::pop_heap(items_.begin(), items_.end(), worse);
    items_.back() = {score, seq_++, std::move(item)};
    std::push_heap(items_.begin(), items_.end(), worse);
  }
  // Largest first.
  std::vector<std::pair<double, T>> sorted() const {
    std::vector<Entry> e = items_;
    std::sort(e.begin(), e.end(), worse);
    std::vector<std::pair<double, T>> out;
    out.reserve(e.size());
    for (auto& x : e) out.emplace_back(x.score, x.item);
    return out;
  }
  // Whether a score would enter the list (lets callers skip building the item).
  bool would_enter(double score) const { return k_ > 0 && (items_.size() < k_ || score > items_.front().score); }

 private:
  struct Entry {
    double score;
    uint64_t seq;
    T item;
  };
  // Heap order: the "smallest" (lowest score, later on ties) on top.
  static bool worse(const Entry& a, const Entry& b) {
    if (a.score != b.score) return a.score > b.score;
    return a.seq < b.seq;
  }
  size_t k_;
  uint64_t seq_ = 0;
  std::vector<Entry> items_;
};

// An exact sum of doubles: a fixed-point accumulator that covers every finite double, so the
// sum does not depend on the order of the additions (or on how a job split them over
// processes). value() rounds once, the same way for the same sum. Non-finite values must be
// kept out by the caller. 0.5 KiB; an addition is a few integer operations.
class ExactSum {
 public:
  void add(double x);
  void add(const ExactSum& other);
  double value() const;
  void pack(ByteWriter& out) const;
  static ExactSum unpack(ByteReader& in);

 private:
  static constexpr int kDigits = 70;  // 32-bit digits from 2^-1074 up, past the largest double
  void normalize();
  std::array<int64_t, kDigits> digit_{};
  int64_t pending_ = 0;  // additions since the carries were last propagated
};

// A streamed histogram that covers every finite value it is given, on a grid anchored at zero:
// bins [i w, (i + 1) w) with w a power of two. The width is the smallest that puts the lowest and
// highest values' bins within n_bins (and no finer than 2^-50 of the largest magnitude); the
// first bin is the lowest one in use. Each count is exact for its bin, and the result depends
// only on the values given, not their order: two histograms of parts of the data merge into
// the histogram of all of it (a job split over processes gets the same counts).
class StreamHistogram {
 public:
  explicit StreamHistogram(int n_bins = 60);
  bool ranged() const { return started_; }
  // Pins [lo, hi) into the range: (hi - lo) / n_bins must be a power of two and lo a multiple.
  void set_range(double lo, double hi);
  // Adds a value (non-finite values are not counted).
  void add(double x);
  // Adds the counts of another histogram with the same number of bins.
  void merge(const StreamHistogram& other);
  double lo() const;
  double hi() const;
  double width() const;
  const std::vector<int64_t>& counts() const { return counts_; }
  int64_t total() const;
  void pack(ByteWriter& out) const;
  static StreamHistogram unpack(ByteReader& in);

 private:
  int64_t index(double x) const;
  void coarsen(int to_exp);               // doubles the width up to 2^to_exp
  void rebase(int64_t first);             // moves the first bin to index first
  bool fits(int64_t a, int64_t b) const;  // indices a..b within n_bins
  std::vector<int64_t> counts_;           // [n_bins], bin i is index first_ + i
  bool started_ = false;
  int exp_ = 0;                   // w = 2^exp_
  int64_t first_ = 0, last_ = 0;  // lowest and highest index in use (or pinned)
};

}  // namespace loupe::analysis
