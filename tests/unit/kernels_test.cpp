#include "tensor/kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/thread_pool.h"
#include "tensor/matmul.h"

namespace loupe {
namespace {

std::vector<float> random_vec(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// The AVX2 kernels against their scalar twins, on lengths that are not multiples of the width.
TEST(Kernels, Avx2DotMatchesScalar) {
  if (!cpu_supports(Isa::Avx2)) GTEST_SKIP() << "no AVX2 on this CPU";
  for (int64_t n : {0, 1, 7, 8, 15, 16, 17, 63, 64, 172, 1000}) {
    auto a = random_vec(static_cast<size_t>(n), 1), b = random_vec(static_cast<size_t>(n), 2);
    double exact = 0;
    for (int64_t i = 0; i < n; ++i) exact += static_cast<double>(a[static_cast<size_t>(i)]) * b[static_cast<size_t>(i)];
    const float s = kernels::dot_f32_scalar(a.data(), b.data(), n);
    const float v = kernels::dot_f32_avx2(a.data(), b.data(), n);
    EXPECT_NEAR(s, exact, 1e-4 * (1 + std::sqrt(static_cast<double>(n)))) << n;
    EXPECT_NEAR(v, exact, 1e-4 * (1 + std::sqrt(static_cast<double>(n)))) << n;
  }
}

TEST(Kernels, Avx2AxpyMatchesScalar) {
  if (!cpu_supports(Isa::Avx2)) GTEST_SKIP() << "no AVX2 on this CPU";
  for (int64_t n : {1, 9, 33, 172}) {
    auto x = random_vec(static_cast<size_t>(n), 3);
    auto y1 = random_vec(static_cast<size_t>(n), 4);
    auto y2 = y1;
    kernels::axpy_f32_scalar(0.37f, x.data(), y1.data(), n);
    kernels::axpy_f32_avx2(0.37f, x.data(), y2.data(), n);
    for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(y1[static_cast<size_t>(i)], y2[static_cast<size_t>(i)], 1e-6);
  }
}

TEST(ThreadPool, FixedSplitCoversEveryIndexOnce) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 5, 100}) {
      std::vector<int> hits(static_cast<size_t>(n), 0);
      pool.parallel_for(n, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) ++hits[static_cast<size_t>(i)];
      });
      for (int h : hits) EXPECT_EQ(h, 1);
    }
  }
}

// matmul over f32 rows, with a row map and a transposed layout, against a plain loop.
TEST(Matmul, AllStoragesMatchPlainLoop) {
  const int64_t rows = 37, cols = 29, m = 5;
  auto w = random_vec(static_cast<size_t>(rows * cols), 5);
  auto x = random_vec(static_cast<size_t>(m * cols), 6);
  auto bias = random_vec(static_cast<size_t>(rows), 7);
  std::vector<float> wt(w.size());  // [cols, rows]
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) wt[static_cast<size_t>(c * rows + r)] = w[static_cast<size_t>(r * cols + c)];
  std::vector<int32_t> perm(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) perm[static_cast<size_t>(r)] = static_cast<int32_t>((r * 7) % rows);

  ThreadPool pool(2);
  for (int variant = 0; variant < 3; ++variant) {
    Weight W;
    W.name = "w";
    W.rows = rows;
    W.cols = cols;
    W.data = reinterpret_cast<const uint8_t*>(variant == 2 ? wt.data() : w.data());
    if (variant == 1) W.row_map = perm;
    if (variant == 2) {
      W.storage = Storage::Transposed;
      W.ld = rows;
    }
    std::vector<float> y(static_cast<size_t>(m * rows));
    matmul(pool, W, x.data(), m, y.data(), bias.data());
    for (int64_t i = 0; i < m; ++i)
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t src = variant == 1 ? perm[static_cast<size_t>(r)] : r;
        double want = bias[static_cast<size_t>(r)];
        for (int64_t c = 0; c < cols; ++c)
          want += static_cast<double>(x[static_cast<size_t>(i * cols + c)]) * w[static_cast<size_t>(src * cols + c)];
        EXPECT_NEAR(y[static_cast<size_t>(i * rows + r)], want, 1e-4) << "variant " << variant;
      }
  }
}

}  // namespace
}  // namespace loupe
