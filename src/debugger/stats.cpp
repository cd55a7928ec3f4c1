#include "debugger/stats.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace loupe::dbg {

TensorStats compute_stats(const std::vector<float>& values, int histogram_bins) {
  TensorStats s;
  s.numel = static_cast<int64_t>(values.size());
  double sum = 0, sumsq = 0;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (size_t i = 0; i < values.size(); ++i) {
    const float v = values[i];
    if (std::isnan(v)) {
      ++s.n_nan;
      continue;
    }
    if (std::isinf(v)) {
      ++s.n_inf;
      continue;
    }
    ++s.n_finite;
    const double d = v;
    sum += d;
    sumsq += d * d;
    lo = std::min(lo, d);
    hi = std::max(hi, d);
    if (s.absmax_at < 0 || std::fabs(d) > s.absmax) {
      s.absmax = std::fabs(d);
      s.absmax_at = static_cast<int64_t>(i);
    }
  }
  if (s.n_finite == 0) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    s.min = s.max = s.mean = s.std = s.rms = s.absmax = nan;
    return s;
  }
  const double n = static_cast<double>(s.n_finite);
  s.min = lo;
  s.max = hi;
  s.mean = sum / n;
  s.rms = std::sqrt(sumsq / n);
  double var = 0;  // second pass: exact for large means
  for (float v : values)
    if (std::isfinite(v)) var += (v - s.mean) * (v - s.mean);
  s.std = std::sqrt(var / n);
  if (histogram_bins > 0) {
    s.histo.assign(static_cast<size_t>(histogram_bins), 0);
    const double width = (hi - lo) / histogram_bins;
    for (float v : values) {
      if (!std::isfinite(v)) continue;
      int64_t b = width > 0 ? static_cast<int64_t>((v - lo) / width) : 0;
      b = std::clamp<int64_t>(b, 0, histogram_bins - 1);  // the maximum falls in the last bin
      ++s.histo[static_cast<size_t>(b)];
    }
  }
  return s;
}

std::vector<std::string> histogram_lines(const TensorStats& s, int width) {
  std::vector<std::string> lines;
  if (s.histo.empty() || s.n_finite == 0) return lines;
  const int64_t top = *std::max_element(s.histo.begin(), s.histo.end());
  const double step = (s.max - s.min) / static_cast<double>(s.histo.size());
  for (size_t b = 0; b < s.histo.size(); ++b) {
    const double lo = s.min + step * static_cast<double>(b);
    const double hi = b + 1 == s.histo.size() ? s.max : lo + step;
    const int bar = top > 0 ? static_cast<int>((s.histo[b] * width + top - 1) / top) : 0;
    char head[96];
    std::snprintf(head, sizeof head, "  [%11.4g, %11.4g%c %8lld ", lo, hi, b + 1 == s.histo.size() ? ']' : ')',
                  static_cast<long long>(s.histo[b]));
    lines.push_back(std::string(head) + std::string(static_cast<size_t>(bar), '#'));
  }
  return lines;
}

double mean_row_entropy(const std::vector<float>& values, int64_t row_len) {
  if (row_len <= 0 || values.empty()) return 0;
  const int64_t rows = static_cast<int64_t>(values.size()) / row_len;
  double total = 0;
  for (int64_t r = 0; r < rows; ++r) {
    double h = 0;
    for (int64_t j = 0; j < row_len; ++j) {
      const double p = values[static_cast<size_t>(r * row_len + j)];
      if (p > 0) h -= p * std::log(p);
    }
    total += h;
  }
  return total / static_cast<double>(rows);
}

std::vector<std::pair<int64_t, float>> top_k(const std::vector<float>& values, int64_t k) {
  std::vector<std::pair<int64_t, float>> all;
  for (size_t i = 0; i < values.size(); ++i)
    if (std::isfinite(values[i])) all.emplace_back(static_cast<int64_t>(i), values[i]);
  k = std::min<int64_t>(k, static_cast<int64_t>(all.size()));
  std::partial_sort(all.begin(), all.begin() + k, all.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  all.resize(static_cast<size_t>(k));
  return all;
}

std::vector<double> softmax(const std::vector<float>& logits) {
  double mx = -std::numeric_limits<double>::infinity();
  for (float v : logits) mx = std::max(mx, static_cast<double>(v));
  std::vector<double> p(logits.size());
  double sum = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    p[i] = std::exp(static_cast<double>(logits[i]) - mx);
    sum += p[i];
  }
  for (double& v : p) v /= sum;
  return p;
}

std::vector<int64_t> unflatten(int64_t flat, const std::vector<int64_t>& shape) {
  std::vector<int64_t> ix(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    ix[d] = shape[d] > 0 ? flat % shape[d] : 0;
    flat = shape[d] > 0 ? flat / shape[d] : 0;
  }
  return ix;
}

}  // namespace loupe::dbg
