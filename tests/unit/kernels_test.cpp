#include "tensor/kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "core/thread_pool.h"
#include "perf/observers.h"
#include "tensor/matmul.h"
#include "test_support.h"

namespace loupe {
namespace {

std::vector<float> random_vec(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

#if LOUPE_X86  // the x86 vector kernels against their scalar twins
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

// The attention kernels give, bit for bit, what the one-key-at-a-time loops of the same level
// give (dot_f32 / axpy_f32), on head sizes with and without the fast paths, key counts around
// the 8-key step, a key stride wider than the head, and zero weights (skipped positions).
TEST(Kernels, AttentionKernelsMatchOneKeyLoops) {
  const int64_t stride = 200;
  for (int64_t d : {64, 128, 80, 48, 24, 12, 7}) {
    for (int64_t n : {0, 1, 7, 8, 9, 16, 31, 67}) {
      const auto q = random_vec(static_cast<size_t>(d), 5);
      const auto kv = random_vec(static_cast<size_t>(std::max<int64_t>(n, 1) * stride), 6);
      auto p = random_vec(static_cast<size_t>(n), 7);
      for (int64_t j = 0; j < n; j += 3) p[static_cast<size_t>(j)] = 0.0f;
      std::vector<float> want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
      std::vector<float> zwant(static_cast<size_t>(d)), zgot(static_cast<size_t>(d), 99.0f);
      for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
        if (!cpu_supports(isa)) continue;
        const bool vec = isa != Isa::Scalar;
        for (int64_t j = 0; j < n; ++j)
          want[static_cast<size_t>(j)] = (vec ? kernels::dot_f32_avx2(q.data(), kv.data() + j * stride, d)
                                              : kernels::dot_f32_scalar(q.data(), kv.data() + j * stride, d)) *
                                         0.125f;
        std::fill(zwant.begin(), zwant.end(), 0.0f);
        for (int64_t j = 0; j < n; ++j) {
          const float pj = p[static_cast<size_t>(j)];
          if (pj == 0.0f) continue;
          if (vec)
            kernels::axpy_f32_avx2(pj, kv.data() + j * stride, zwant.data(), d);
          else
            kernels::axpy_f32_scalar(pj, kv.data() + j * stride, zwant.data(), d);
        }
        if (vec)
          kernels::attn_scores_avx2(q.data(), kv.data(), stride, n, d, 0.125f, got.data());
        else
          kernels::attn_scores_scalar(q.data(), kv.data(), stride, n, d, 0.125f, got.data());
        switch (isa) {
          case Isa::Scalar: kernels::attn_mix_scalar(p.data(), n, kv.data(), stride, d, zgot.data()); break;
          case Isa::Avx2:
          case Isa::Avx2Vnni: kernels::attn_mix_avx2(p.data(), n, kv.data(), stride, d, zgot.data()); break;
          case Isa::Avx512: kernels::attn_mix_avx512(p.data(), n, kv.data(), stride, d, zgot.data()); break;
          case Isa::Neon:
          case Isa::NeonDot:
          case Isa::NeonI8mm: break;  // not on x86
        }
        for (int64_t j = 0; j < n; ++j)
          ASSERT_EQ(want[static_cast<size_t>(j)], got[static_cast<size_t>(j)])
              << isa_name(isa) << " d " << d << " n " << n << " key " << j;
        for (int64_t i = 0; i < d; ++i)
          ASSERT_EQ(zwant[static_cast<size_t>(i)], zgot[static_cast<size_t>(i)])
              << isa_name(isa) << " d " << d << " n " << n << " element " << i;
      }
    }
  }
}
#endif  // LOUPE_X86

#if LOUPE_ARM
// The NEON dot product keeps the scalar loop's eight partial sums and their order (on AArch64
// the compiler fuses the scalar multiply-adds too): the same bits. axpy within rounding.
TEST(Kernels, NeonDotAndAxpyMatchScalar) {
  for (int64_t n : {1, 7, 8, 9, 33, 172, 4096}) {
    const auto a = random_vec(static_cast<size_t>(n), 11);
    const auto b = random_vec(static_cast<size_t>(n), 12);
    EXPECT_EQ(kernels::dot_f32_neon(a.data(), b.data(), n), kernels::dot_f32_scalar(a.data(), b.data(), n))
        << "n " << n;
    auto y1 = b, y2 = b;
    kernels::axpy_f32_scalar(0.37f, a.data(), y1.data(), n);
    kernels::axpy_f32_neon(0.37f, a.data(), y2.data(), n);
    for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(y1[static_cast<size_t>(i)], y2[static_cast<size_t>(i)], 1e-6);
  }
}
#endif  // LOUPE_ARM

// The vector exp against std::exp in double: within a few ulp over the whole finite range, 0 for
// -inf and below the normal range, NaN kept; the returned sum is the sum of the outputs.
// Four query rows at a time (attn_mix_rows, the AVX-512 path for 64-wide heads) give each row
// the bits of attn_mix: causal rows (zeros after the diagonal), zeros inside, -0.0, a NaN
// weight, row counts around the group of four, positions with every weight zero.
TEST(Kernels, AttentionMixRowsMatchesOneRow) {
  const int64_t stride = 200, d = 64, n = 37;
  const auto v = random_vec(static_cast<size_t>(n * stride), 8);
  for (int64_t rows : {1, 3, 4, 5, 9}) {
    auto p = random_vec(static_cast<size_t>(rows * n), 9);
    for (int64_t t = 0; t < rows; ++t)
      for (int64_t j = 0; j < n; ++j) {
        float& w = p[static_cast<size_t>(t * n + j)];
        if (j > 20 + t || j % 5 == 0) w = 0.0f;
        if (j == 7) w = -0.0f;
      }
    if (rows > 2) p[static_cast<size_t>(2 * n + 3)] = NAN;
    std::vector<float> want(static_cast<size_t>(rows * d)), got(want.size(), 5.0f);
    for (int64_t t = 0; t < rows; ++t) attn_mix(p.data() + t * n, n, v.data(), stride, d, want.data() + t * d);
    attn_mix_rows(p.data(), n, rows, n, v.data(), stride, d, got.data(), d);
    ASSERT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float))) << "rows " << rows;
    if (rows > 2) {
      EXPECT_TRUE(std::isnan(got[static_cast<size_t>(2 * d)]));
    }
  }
}

// Causal query rows two at a time (attn_scores_rows, the AVX-512 path for 64-wide heads) give
// each row the bits of attn_scores, for first rows seeing 1 to 17 keys (shared keys in steps of
// 8 and each row's rest), odd row counts, and a head size without the fast path.
TEST(Kernels, AttentionScoresRowsMatchesOneRow) {
  const int64_t stride = 200;
  for (int64_t d : {64, 48})
    for (int64_t rows : {1, 2, 3, 6})
      for (int64_t first : {1, 7, 8, 9, 17}) {
        const int64_t n_keys = first + rows - 1, out_stride = n_keys + 3;
        const auto q = random_vec(static_cast<size_t>(rows * stride), 10);
        const auto k = random_vec(static_cast<size_t>(n_keys * stride), 11);
        std::vector<float> want(static_cast<size_t>(rows * out_stride), 3.0f), got(want);
        for (int64_t t = 0; t < rows; ++t)
          attn_scores(q.data() + t * stride, k.data(), stride, first + t, d, 0.125f, want.data() + t * out_stride);
        attn_scores_rows(q.data(), stride, rows, k.data(), stride, first, d, 0.125f, got.data(), out_stride);
        ASSERT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float)))
            << "d " << d << " rows " << rows << " first " << first;
      }
}

#if LOUPE_X86  // the x86 vector kernels against their scalar twins
TEST(Kernels, Avx2ExpShiftSumMatchesStdExp) {
  if (!cpu_supports(Isa::Avx2)) GTEST_SKIP() << "no AVX2 on this CPU";
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-87.0f, 88.0f);
  for (int64_t n : {1, 7, 8, 9, 31, 1000, 4099}) {
    std::vector<float> x(static_cast<size_t>(n)), y(x.size()), ys(x.size());
    for (auto& v : x) v = u(rng);
    const float shift = 0.25f;
    kernels::exp_shift_sum_avx2(x.data(), shift, y.data(), n);
    kernels::exp_shift_sum_scalar(x.data(), shift, ys.data(), n);
    for (int64_t j = 0; j < n; ++j) {
      const double want = std::exp(static_cast<double>(x[static_cast<size_t>(j)] - shift));
      EXPECT_NEAR(y[static_cast<size_t>(j)], want, 4e-7 * want) << x[static_cast<size_t>(j)];
      EXPECT_NEAR(ys[static_cast<size_t>(j)], want, 2e-7 * want);
    }
  }
  // Sums, on a range where they stay finite.
  std::uniform_real_distribution<float> small(-30.0f, 30.0f);
  for (int64_t n : {1, 9, 1000, 4099}) {
    std::vector<float> x(static_cast<size_t>(n)), y(x.size());
    for (auto& v : x) v = small(rng);
    double total = 0;
    for (float v : x) total += std::exp(static_cast<double>(v) - 2.0);
    EXPECT_NEAR(kernels::exp_shift_sum_avx2(x.data(), 2.0f, y.data(), n), total, 1e-5 * total) << n;
    EXPECT_NEAR(kernels::exp_shift_sum_scalar(x.data(), 2.0f, y.data(), n), total, 1e-5 * total) << n;
  }
  const float special[] = {-INFINITY, -1000.0f, -88.0f, 0.0f, NAN, 1.0f, -87.3f, 88.3f, 5.0f};
  float out[9];
  kernels::exp_shift_sum_avx2(special, 0.0f, out, 9);
  EXPECT_EQ(out[0], 0.0f);
  EXPECT_EQ(out[1], 0.0f);
  EXPECT_LE(out[2], 1e-38f);
  EXPECT_EQ(out[3], 1.0f);
  EXPECT_TRUE(std::isnan(out[4]));
  EXPECT_NEAR(out[5], std::exp(1.0), 4e-7 * std::exp(1.0));
  EXPECT_NEAR(out[6], std::exp(double{-87.3f}), 4e-7 * std::exp(double{-87.3f}));
  EXPECT_TRUE(std::isfinite(out[7]));
  EXPECT_NEAR(out[8], std::exp(5.0), 4e-7 * std::exp(5.0));  // the tail lane
}
#endif  // LOUPE_X86

// softmax_row at each level against the same steps written out with plain loops (the max, the
// level's exp_shift_sum, one multiply): same bits, on causal rows (trailing -inf), a NaN, -inf in
// the middle, a fully masked row, odd lengths.
TEST(Kernels, SoftmaxRowMatchesPlainSteps) {
  using ExpSum = float (*)(const float*, float, float*, int64_t);
  struct Level {
    Isa isa;
    void (*row)(const float*, float*, int64_t);
    ExpSum exp_sum;
  };
  const Level levels[] = {
    {Isa::Scalar, kernels::softmax_row_scalar, kernels::exp_shift_sum_scalar},
#if LOUPE_X86
    {Isa::Avx2, kernels::softmax_row_avx2, kernels::exp_shift_sum_avx2}
#endif
  };
  for (const Level& lv : levels) {
    if (!cpu_supports(lv.isa)) continue;
    for (int64_t n : {1, 7, 8, 17, 310}) {
      for (int variant = 0; variant < 4; ++variant) {
        auto x = random_vec(static_cast<size_t>(n), 9 + static_cast<uint32_t>(n));
        for (auto& v : x) v *= 6.0f;
        const int64_t live = variant == 3 ? 0 : std::max<int64_t>(1, n * 2 / 3);  // causal: the rest is -inf
        for (int64_t j = live; j < n; ++j) x[static_cast<size_t>(j)] = -INFINITY;
        if (variant == 1 && live > 2) x[1] = -INFINITY;
        if (variant == 2 && live > 2) x[static_cast<size_t>(live / 2)] = NAN;
        std::vector<float> got(x.size(), 7.0f), want(x.size(), 7.0f);
        lv.row(x.data(), got.data(), n);
        int64_t len = n;
        while (len > 0 && x[static_cast<size_t>(len - 1)] == -INFINITY) want[static_cast<size_t>(--len)] = 0.0f;
        float mx = -INFINITY;
        for (int64_t j = 0; j < len; ++j) mx = std::max(mx, x[static_cast<size_t>(j)]);
        if (len > 0) {
          const float inv = 1.0f / lv.exp_sum(x.data(), mx, want.data(), len);
          for (int64_t j = 0; j < len; ++j) want[static_cast<size_t>(j)] *= inv;
        }
        ASSERT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * sizeof(float)))
            << isa_name(lv.isa) << " n " << n << " variant " << variant;
        if (variant == 0) {
          double total = 0;
          for (float v : got) total += v;
          EXPECT_NEAR(total, 1.0, 1e-5);
        }
      }
    }
  }
}

#if LOUPE_X86  // the x86 vector kernels against their scalar twins
// Norms and RoPE: the AVX2 paths give the scalar bits for the element-wise steps (norm scaling
// with and without beta, both RoPE pair layouts, head sizes around the vector width, in place
// too) and the scalar double sums to 1e-12 relative.
TEST(Kernels, Avx2NormsAndRopeMatchScalar) {
  if (!cpu_supports(Isa::Avx2)) GTEST_SKIP() << "no AVX2 on this CPU";
  for (int64_t n : {1, 7, 8, 13, 64, 768, 1001}) {
    const auto x = random_vec(static_cast<size_t>(2 * n), 12), gamma = random_vec(static_cast<size_t>(n), 13),
               beta = random_vec(static_cast<size_t>(n), 14);
    const double s = kernels::sum_f64_scalar(x.data(), n), mean = s / static_cast<double>(n);
    EXPECT_NEAR(kernels::sum_f64_avx2(x.data(), n), s, 1e-12 * std::max(1.0, std::fabs(s)));
    const double ss = kernels::sum_sq_dev_f64_scalar(x.data(), n, mean);
    EXPECT_NEAR(kernels::sum_sq_dev_f64_avx2(x.data(), n, mean), ss, 1e-12 * ss);
    for (const float* b : {beta.data(), static_cast<const float*>(nullptr)}) {
      std::vector<float> want(static_cast<size_t>(n)), got(want.size());
      kernels::norm_apply_f32_scalar(x.data(), n, 0.25f, 1.5f, gamma.data(), b, want.data());
      kernels::norm_apply_f32_avx2(x.data(), n, 0.25f, 1.5f, gamma.data(), b, got.data());
      ASSERT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float))) << "norm n " << n;
    }
    const int64_t half = n;  // a head of 2 n
    const auto cs = random_vec(static_cast<size_t>(half), 15), sn = random_vec(static_cast<size_t>(half), 16);
    for (bool adjacent : {true, false}) {
      std::vector<float> want(x.size()), got(x.size()), in_place = x;
      kernels::rope_f32_scalar(x.data(), want.data(), cs.data(), sn.data(), half, adjacent);
      kernels::rope_f32_avx2(x.data(), got.data(), cs.data(), sn.data(), half, adjacent);
      kernels::rope_f32_avx2(in_place.data(), in_place.data(), cs.data(), sn.data(), half, adjacent);
      ASSERT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float))) << "rope half " << half;
      ASSERT_EQ(0, std::memcmp(want.data(), in_place.data(), want.size() * sizeof(float))) << "in place " << half;
    }
  }
}

// The NaN watch's count (perf::NanCheck): AVX2 and scalar agree with a direct count, on NaNs and
// infinities at the ends, inside and in the tail, and on none.
TEST(Kernels, Avx2NonFiniteCountMatchesScalar) {
  if (!cpu_supports(Isa::Avx2)) GTEST_SKIP() << "no AVX2 on this CPU";
  for (int64_t n : {0, 1, 7, 8, 9, 100, 1027}) {
    auto x = random_vec(static_cast<size_t>(n), 17);
    int64_t want = 0, neg_inf = 0;
    for (int64_t i = 0; i < n; i += 5) {
      x[static_cast<size_t>(i)] = i % 3 == 0 ? NAN : (i % 3 == 1 ? INFINITY : -INFINITY);
      ++want;
      neg_inf += i % 3 == 2 && i != n - 1;
    }
    if (n > 0) x.back() = std::numeric_limits<float>::max();  // finite, exponent not all ones
    if (n > 0 && (n - 1) % 5 == 0) --want;
    if (n > 3) x[3] = -NAN;  // a NaN with the sign bit: counted, also when -inf is skipped
    want += n > 3;
    EXPECT_EQ(perf::count_non_finite_scalar(x.data(), n), want) << n;
    EXPECT_EQ(perf::count_non_finite_avx2(x.data(), n), want) << n;
    EXPECT_EQ(perf::count_non_finite_scalar(x.data(), n, true), want - neg_inf) << n;
    EXPECT_EQ(perf::count_non_finite_avx2(x.data(), n, true), want - neg_inf) << n;
  }
}

// The fast first look (any non-finite at all) at each x86 tier and count_non_finite at every
// tier: one bad value anywhere (every position of lengths around the vector widths) is seen, a
// -inf is seen unless skipped, nothing is seen in finite data.
TEST(Kernels, AnyNonFiniteSeesEveryPosition) {
  for (int64_t n : {1, 15, 16, 17, 31, 32, 33, 64, 100}) {
    for (int64_t at = 0; at < n; ++at)
      for (const float bad : {NAN, -NAN, INFINITY, -INFINITY}) {
        auto x = random_vec(static_cast<size_t>(n), 23);
        x[static_cast<size_t>(at)] = bad;
        const bool want_skip = !(bad == -INFINITY);
        for (Isa tier : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
          if (!cpu_supports(tier)) continue;
          const test::IsaScope scope(tier);
          EXPECT_EQ(perf::count_non_finite(x.data(), n), 1) << n << " " << at << " " << isa_name(tier);
          EXPECT_EQ(perf::count_non_finite(x.data(), n, true), want_skip ? 1 : 0) << n << " " << at;
        }
        if (cpu_supports(Isa::Avx2)) {
          EXPECT_TRUE(perf::any_non_finite_avx2(x.data(), n)) << n << " " << at;
          EXPECT_EQ(perf::any_non_finite_avx2(x.data(), n, true), want_skip) << n << " " << at;
        }
        if (cpu_supports(Isa::Avx512)) {
          EXPECT_TRUE(perf::any_non_finite_avx512(x.data(), n)) << n << " " << at;
          EXPECT_EQ(perf::any_non_finite_avx512(x.data(), n, true), want_skip) << n << " " << at;
        }
      }
    auto x = random_vec(static_cast<size_t>(n), 29);
    x.back() = std::numeric_limits<float>::max();
    if (cpu_supports(Isa::Avx2)) {
      EXPECT_FALSE(perf::any_non_finite_avx2(x.data(), n, true)) << n;
    }
    if (cpu_supports(Isa::Avx512)) {
      EXPECT_FALSE(perf::any_non_finite_avx512(x.data(), n, true)) << n;
    }
  }
}

// The NaN watch leaves the attention mask (-inf in the scores) alone and counts everything else:
// NaN and +inf in the scores, -inf in any other hook; the first hook with a fault is kept.
TEST(Kernels, NanCheckIsMaskAware) {
  std::vector<float> scores = {1.0f, -INFINITY, -INFINITY, 0.5f, 2.0f, -INFINITY};
  std::vector<float> other = {1.0f, -INFINITY};
  const HookPoint s{"blocks.0.attn.hook_attn_scores", HookKind::AttnScores, 0};
  const HookPoint r{"blocks.0.hook_resid_post", HookKind::ResidPost, 0};
  auto event = [](const HookPoint& p, int hook, std::vector<float>& v) {
    HookEvent e;
    e.hook = hook;
    e.point = &p;
    e.data = v.data();
    e.shape = {1, {static_cast<int64_t>(v.size()), 0, 0, 0}};
    return e;
  };
  perf::NanCheck nan;
  nan.on_hook(event(s, 3, scores));
  EXPECT_EQ(nan.non_finite(), 0);
  EXPECT_EQ(nan.first_hook(), -1);
  scores[3] = NAN;
  scores[4] = INFINITY;
  nan.on_hook(event(s, 3, scores));
  EXPECT_EQ(nan.non_finite(), 2);
  EXPECT_EQ(nan.first_hook(), 3);
  nan.on_hook(event(r, 7, other));
  EXPECT_EQ(nan.non_finite(), 3);
  EXPECT_EQ(nan.first_hook(), 3);
}

TEST(Kernels, Avx2SiluMulMatchesScalar) {
  if (!cpu_supports(Isa::Avx2)) GTEST_SKIP() << "no AVX2 on this CPU";
  for (int64_t n : {1, 8, 13, 2048}) {
    auto g = random_vec(static_cast<size_t>(n), 6), u = random_vec(static_cast<size_t>(n), 7);
    for (auto& v : g) v *= 8.0f;
    std::vector<float> y(g.size()), ys(g.size());
    kernels::silu_mul_f32_avx2(g.data(), u.data(), y.data(), n);
    kernels::silu_mul_f32_scalar(g.data(), u.data(), ys.data(), n);
    for (size_t j = 0; j < g.size(); ++j) {
      const double want = g[j] / (1.0 + std::exp(-static_cast<double>(g[j]))) * u[j];
      EXPECT_NEAR(y[j], want, 1e-6 * std::fabs(want) + 1e-30) << g[j];
      EXPECT_NEAR(ys[j], want, 1e-6 * std::fabs(want) + 1e-30) << g[j];
    }
  }
  const float g[3] = {NAN, 100.0f, -100.0f}, u[3] = {1.0f, 2.0f, 2.0f};
  float y[3];
  kernels::silu_mul_f32_avx2(g, u, y, 3);
  EXPECT_TRUE(std::isnan(y[0]));
  EXPECT_EQ(y[1], 200.0f);
  EXPECT_NEAR(y[2], 0.0f, 1e-30);
}

// GeGLU's GELU (Gemma): x sigmoid(2t) on both paths against 0.5 x (1 + tanh t) in double.
TEST(Kernels, Avx2GeluMulMatchesScalarAndTanhForm) {
  for (int64_t n : {1, 8, 13, 2048}) {
    auto g = random_vec(static_cast<size_t>(n), 8), u = random_vec(static_cast<size_t>(n), 9);
    for (auto& v : g) v *= 6.0f;
    std::vector<float> y(g.size()), ys(g.size());
    kernels::gelu_mul_f32_scalar(g.data(), u.data(), ys.data(), n);
    if (cpu_supports(Isa::Avx2)) kernels::gelu_mul_f32_avx2(g.data(), u.data(), y.data(), n);
    for (size_t j = 0; j < g.size(); ++j) {
      const double x = g[j];
      const double want = 0.5 * x * (1.0 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))) * u[j];
      const double tol = 1e-6 * std::fabs(want) + 1e-7 * std::fabs(x * u[j]) + 1e-30;
      EXPECT_NEAR(ys[j], want, tol) << x;
      if (cpu_supports(Isa::Avx2)) {
        EXPECT_NEAR(y[j], want, tol) << x;
      }
    }
  }
  const float g[3] = {NAN, 30.0f, -30.0f}, u[3] = {1.0f, 2.0f, 2.0f};
  float y[3];
  kernels::gelu_mul_f32_scalar(g, u, y, 3);
  EXPECT_TRUE(std::isnan(y[0]));
  EXPECT_EQ(y[1], 60.0f);
  EXPECT_NEAR(y[2], 0.0f, 1e-30);
  if (!cpu_supports(Isa::Avx2)) return;
  kernels::gelu_mul_f32_avx2(g, u, y, 3);
  EXPECT_TRUE(std::isnan(y[0]));
  EXPECT_EQ(y[1], 60.0f);
  EXPECT_NEAR(y[2], 0.0f, 1e-30);
}
#endif  // LOUPE_X86

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
