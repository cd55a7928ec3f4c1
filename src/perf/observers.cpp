#include "perf/observers.h"

#include <algorithm>
#include <cstring>

namespace loupe::perf {

void CopyTracer::on_hook(const HookEvent& event) {
  const auto id = static_cast<size_t>(event.hook);
  if (copies_.size() <= id) copies_.resize(id + 1);
  const int64_t n = event.shape.numel();
  std::vector<float>& c = copies_[id];
  if (static_cast<int64_t>(c.size()) < n) c.resize(static_cast<size_t>(n));
  std::copy_n(event.data, n, c.data());
  bytes_ += n * static_cast<int64_t>(sizeof(float));
}

int64_t count_non_finite(const float* x, int64_t n) {
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, x + i, 4);
    count += (bits & 0x7f800000u) == 0x7f800000u;
  }
  return count;
}

void NanCheck::on_hook(const HookEvent& event) {
  const int64_t bad = count_non_finite(event.data, event.shape.numel());
  if (bad > 0 && first_hook_ < 0) first_hook_ = event.hook;
  non_finite_ += bad;
}

}  // namespace loupe::perf
