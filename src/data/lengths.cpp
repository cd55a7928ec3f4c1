// LengthDistribution: exact counts of lengths, percentiles and histograms.
#include "data/lengths.h"

#include <algorithm>
#include <cmath>

namespace loupe::data {

void LengthDistribution::add(uint64_t value, uint64_t n) {
  if (n == 0) return;
  values_[value] += n;
  count_ += n;
  sum_ += value * n;
}

void LengthDistribution::merge(const LengthDistribution& other) {
  for (const auto& [v, n] : other.values_) add(v, n);
}

uint64_t LengthDistribution::min() const {
  return values_.empty() ? 0 : values_.begin()->first;
}
uint64_t LengthDistribution::max() const {
  return values_.empty() ? 0 : values_.rbegin()->first;
}
double LengthDistribution::mean() const {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(count_);
}

uint64_t LengthDistribution::percentile(double p) const {
  if (values_.empty()) return 0;
  if (p <= 0) return min();
  // rank = ceil(p/100 * n), at least 1; computed in integers where p is a whole percent.
  const double exact = p / 100.0 * static_cast<double>(count_);
  uint64_t rank = static_cast<uint64_t>(std::ceil(exact - 1e-9));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (const auto& [v, n] : values_) {
    seen += n;
    if (seen >= rank) return v;
  }
  return max();
}

void LengthDistribution::histogram(int bins, std::vector<double>& edges, std::vector<double>& counts) const {
  edges.clear();
  counts.clear();
  if (values_.empty() || bins <= 0) return;
  const uint64_t top = max() + 1;  // bins cover [0, max] with integer edges
  const uint64_t width = std::max<uint64_t>(1, (top + static_cast<uint64_t>(bins) - 1) / static_cast<uint64_t>(bins));
  const uint64_t n_bins = (top + width - 1) / width;
  for (uint64_t i = 0; i <= n_bins; ++i) edges.push_back(static_cast<double>(i * width));
  counts.assign(n_bins, 0.0);
  for (const auto& [v, n] : values_) counts[v / width] += static_cast<double>(n);
}

}  // namespace loupe::data
