// An exact distribution of non-negative integers (document lengths): value -> how many. Merging
// two is exact, so percentiles of merged shards equal those of one run over all the data.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

namespace loupe::data {

class LengthDistribution {
 public:
  void add(uint64_t value, uint64_t n = 1);
  void merge(const LengthDistribution& other);

  uint64_t count() const { return count_; }
  uint64_t sum() const { return sum_; }
  uint64_t min() const;  // 0 when empty
  uint64_t max() const;
  double mean() const;
  // Nearest-rank percentile: the smallest value v with at least p% of the values <= v
  // (p in (0, 100]; p = 0 gives the minimum). 0 when empty.
  uint64_t percentile(double p) const;
  // Equal-width bins over [0, max]: edges has bins + 1 entries (integers), counts bins entries.
  void histogram(int bins, std::vector<double>& edges, std::vector<double>& counts) const;
  const std::map<uint64_t, uint64_t>& values() const { return values_; }

 private:
  std::map<uint64_t, uint64_t> values_;
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
};

}  // namespace loupe::data
