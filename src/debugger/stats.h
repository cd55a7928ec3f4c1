// Statistics the debugger shows and breakpoint conditions test: summary statistics with a
// text histogram, attention entropy, top-k. Reductions run in double, in element order.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace loupe::dbg {

struct TensorStats {
  int64_t numel = 0;
  int64_t n_nan = 0;
  int64_t n_inf = 0;
  int64_t n_finite = 0;
  // Over the finite elements (NaN when there are none). std is the population std (ddof 0).
  double min = 0, max = 0, mean = 0, std = 0, rms = 0, absmax = 0;
  int64_t absmax_at = -1;      // flat index of the first element with |x| = absmax
  std::vector<int64_t> histo;  // counts of finite values in equal bins over [min, max]
};

// values: the elements in C order.
TensorStats compute_stats(const std::vector<float>& values, int histogram_bins = 10);

// The histogram as lines "[lo, hi) count ####" scaled to `width` characters for the largest bin.
std::vector<std::string> histogram_lines(const TensorStats& stats, int width = 40);

// Mean over rows of the Shannon entropy (nats) of the last dimension, treating each row as a
// probability distribution (zeros contribute nothing). rows = numel / row_len.
double mean_row_entropy(const std::vector<float>& values, int64_t row_len);

// The k largest finite values, (flat index, value), largest first; ties by lower index.
std::vector<std::pair<int64_t, float>> top_k(const std::vector<float>& values, int64_t k);

// softmax(logits) evaluated in double, for probabilities beside top-k logits.
std::vector<double> softmax(const std::vector<float>& logits);

// The multi-index of flat index `flat` in shape.
std::vector<int64_t> unflatten(int64_t flat, const std::vector<int64_t>& shape);

}  // namespace loupe::dbg
