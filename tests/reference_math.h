// Plain float64 building blocks for the hand-written reference forwards of the model tests
// (GPT-2 and Llama on synthetic weights), and the comparisons they report.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/driver.h"
#include "model/synth.h"

namespace loupe::test {

// The float data of a synth model's tensor by its GGUF name.
inline const std::vector<float>& synth_tensor(const SynthModel& m, const std::string& name) {
  for (const auto& t : m.tensors)
    if (t.name == name) return t.data;
  throw std::runtime_error("synth model has no tensor " + name);
}

// y[r] = W[r] . x (+ b[r]); W [rows, cols] row-major, b may be null.
inline std::vector<double> linear(const std::vector<float>& W, const float* b, const std::vector<double>& x,
                                  int64_t rows, int64_t cols) {
  std::vector<double> y(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    double s = b != nullptr ? b[r] : 0.0;
    for (int64_t c = 0; c < cols; ++c)
      s += static_cast<double>(W[static_cast<size_t>(r * cols + c)]) * x[static_cast<size_t>(c)];
    y[static_cast<size_t>(r)] = s;
  }
  return y;
}

// Softmax attention of position i over key positions 0..last: z [heads * dh], query head hh
// reading the key/value head kv_head(hh) of k[j] and v[j] (each [kv_heads * dh]).
inline std::vector<double> attention_row(const std::vector<std::vector<double>>& q,
                                         const std::vector<std::vector<double>>& k,
                                         const std::vector<std::vector<double>>& v, int64_t i, int64_t last,
                                         int64_t heads, int64_t dh, const std::function<int64_t(int64_t)>& kv_head) {
  std::vector<double> z(static_cast<size_t>(heads * dh), 0.0);
  for (int64_t hh = 0; hh < heads; ++hh) {
    const int64_t kvh = kv_head(hh);
    std::vector<double> s(static_cast<size_t>(last + 1));
    double mx = -1e300;
    for (int64_t j = 0; j <= last; ++j) {
      double dot = 0.0;
      for (int64_t e = 0; e < dh; ++e) dot += q[i][hh * dh + e] * k[j][kvh * dh + e];
      s[j] = dot / std::sqrt(static_cast<double>(dh));
      mx = std::max(mx, s[j]);
    }
    double sum = 0.0;
    for (auto& e : s) sum += (e = std::exp(e - mx));
    for (int64_t j = 0; j <= last; ++j)
      for (int64_t e = 0; e < dh; ++e) z[hh * dh + e] += s[j] / sum * v[j][kvh * dh + e];
  }
  return z;
}

// Logits of every position [n, V] from the engine, checking the batches arrive in order.
inline std::vector<float> engine_logits(const Model& model, const std::vector<int32_t>& tokens, int threads = 1,
                                        int64_t max_batch = 256, Numerics numerics = Numerics::Exact) {
  RunOptions o;
  o.n_threads = threads;
  o.max_batch = max_batch;
  o.numerics = numerics;
  Interpreter interp(model, o);
  std::vector<float> out;
  forward(interp, tokens, true, [&](const float* l, int64_t rows, int64_t first) {
    EXPECT_EQ(first * model.config.d_vocab, static_cast<int64_t>(out.size()));
    out.insert(out.end(), l, l + rows * model.config.d_vocab);
  });
  return out;
}

template <class A, class B>
double max_abs_diff(const std::vector<A>& a, const std::vector<B>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0.0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    m = std::max(m, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
  return m;
}

inline std::string sci(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2e", v);
  return b;
}

}  // namespace loupe::test
