#include "perf/peaks.h"

#if LOUPE_X86
#include <immintrin.h>
#endif
#if LOUPE_ARM
#include <arm_neon.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstring>

#include "tensor/kernels_matmul.h"  // cpu_has_avx_vnni

namespace loupe::perf {
namespace {

// Each loop runs `iters` steps of kChains independent chains (enough to cover the latency of
// the instruction at two per cycle) and returns a value the caller keeps, so nothing folds.
constexpr int kChains = 12;

float fma_loop_scalar(int64_t iters) {
  float a[kChains];
  for (int c = 0; c < kChains; ++c) a[c] = 1.0f + 0.01f * static_cast<float>(c);
  const float m = 0.9999999f, k = 1e-7f;
  // Float arithmetic does not reassociate: the steps stay as written (the compiler may pack
  // the chains into SSE registers, as it does the scalar kernels' loops).
  for (int64_t i = 0; i < iters; ++i)
    for (float& v : a) v = v * m + k;
  float s = 0;
  for (float v : a) s += v;
  return s;
}

int32_t int8_loop_scalar(int64_t iters) {
  uint32_t a[kChains];  // unsigned: the products wrap, defined
  for (int c = 0; c < kChains; ++c) a[c] = static_cast<uint32_t>(c);
  uint32_t x = 3, y = 5;
  for (int64_t i = 0; i < iters; ++i) {
    for (uint32_t& v : a) v = v * x + y;
    __asm__ volatile("" : "+r"(x), "+r"(y));  // unknown each step: no closed form
  }
  uint32_t s = 0;
  for (uint32_t v : a) s += v;
  return static_cast<int32_t>(s & 0x7fffffff);
}

#if LOUPE_X86
__attribute__((target("avx2,fma"))) float fma_loop_avx2(int64_t iters) {
  __m256 a[kChains];
  for (int c = 0; c < kChains; ++c) a[c] = _mm256_set1_ps(1.0f + 0.01f * static_cast<float>(c));
  const __m256 m = _mm256_set1_ps(0.9999999f), k = _mm256_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i)
    for (auto& v : a) v = _mm256_fmadd_ps(v, m, k);
  __m256 s = a[0];
  for (int c = 1; c < kChains; ++c) s = _mm256_add_ps(s, a[c]);
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0];
}

__attribute__((target("avx2,fma"))) int32_t int8_loop_avx2(int64_t iters) {
  __m256i a[kChains];
  for (int c = 0; c < kChains; ++c) a[c] = _mm256_set1_epi32(c);
  const __m256i u = _mm256_set1_epi8(3), s8 = _mm256_set1_epi8(-2), ones = _mm256_set1_epi16(1);
  for (int64_t i = 0; i < iters; ++i)
    for (auto& v : a) v = _mm256_add_epi32(v, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s8), ones));
  __m256i s = a[0];
  for (int c = 1; c < kChains; ++c) s = _mm256_add_epi32(s, a[c]);
  return _mm256_extract_epi32(s, 0);
}

// vpdpbusd on 256-bit registers, VEX (AVX-VNNI) and EVEX (AVX-512 VNNI + VL) encoded.
__attribute__((target("avx2,avxvnni"))) int32_t int8_loop_avxvnni(int64_t iters) {
  __m256i a[kChains];
  for (int c = 0; c < kChains; ++c) a[c] = _mm256_set1_epi32(c);
  const __m256i u = _mm256_set1_epi8(3), s8 = _mm256_set1_epi8(-2);
  for (int64_t i = 0; i < iters; ++i)
    for (auto& v : a) v = _mm256_dpbusd_avx_epi32(v, u, s8);
  __m256i s = a[0];
  for (int c = 1; c < kChains; ++c) s = _mm256_add_epi32(s, a[c]);
  return _mm256_extract_epi32(s, 0);
}

__attribute__((target("avx2,avx512f,avx512vl,avx512vnni"))) int32_t int8_loop_vnni256_evex(int64_t iters) {
  __m256i a[kChains];
  for (int c = 0; c < kChains; ++c) a[c] = _mm256_set1_epi32(c);
  const __m256i u = _mm256_set1_epi8(3), s8 = _mm256_set1_epi8(-2);
  for (int64_t i = 0; i < iters; ++i)
    for (auto& v : a) v = _mm256_dpbusd_epi32(v, u, s8);
  __m256i s = a[0];
  for (int c = 1; c < kChains; ++c) s = _mm256_add_epi32(s, a[c]);
  return _mm256_extract_epi32(s, 0);
}

__attribute__((target("avx512f"))) float fma_loop_avx512(int64_t iters) {
  __m512 a[kChains];
  for (int c = 0; c < kChains; ++c) a[c] = _mm512_set1_ps(1.0f + 0.01f * static_cast<float>(c));
  const __m512 m = _mm512_set1_ps(0.9999999f), k = _mm512_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i)
    for (auto& v : a) v = _mm512_fmadd_ps(v, m, k);
  __m512 s = a[0];
  for (int c = 1; c < kChains; ++c) s = _mm512_add_ps(s, a[c]);
  float out[16];  // stored, not _mm512_reduce_add_ps: GCC 12 warns inside it (bug 105593)
  _mm512_storeu_ps(out, s);
  return out[0];
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) int32_t int8_loop_avx512(int64_t iters) {
  __m512i a[kChains];
  for (int c = 0; c < kChains; ++c) a[c] = _mm512_set1_epi32(c);
  const __m512i u = _mm512_set1_epi8(3), s8 = _mm512_set1_epi8(-2);
  for (int64_t i = 0; i < iters; ++i)
    for (auto& v : a) v = _mm512_dpbusd_epi32(v, u, s8);
  __m512i s = a[0];
  for (int c = 1; c < kChains; ++c) s = _mm512_add_epi32(s, a[c]);
  int32_t out[16];
  _mm512_storeu_si512(out, s);
  return out[0];
}
#endif  // LOUPE_X86

#if LOUPE_ARM
float fma_loop_neon(int64_t iters) {
  float32x4_t a[kChains];
  for (int c = 0; c < kChains; ++c) a[c] = vdupq_n_f32(1.0f + 0.01f * static_cast<float>(c));
  const float32x4_t m = vdupq_n_f32(0.9999999f), k = vdupq_n_f32(1e-7f);
  for (int64_t i = 0; i < iters; ++i)
    for (auto& v : a) v = vfmaq_f32(k, v, m);
  float32x4_t s = a[0];
  for (int c = 1; c < kChains; ++c) s = vaddq_f32(s, a[c]);
  return vgetq_lane_f32(s, 0);
}

// The ARMv8-A int8 product of kernels_neon.cpp: smull, smlal2, sadalp for 16 products.
int32_t int8_loop_neon(int64_t iters) {
  int32x4_t a[kChains];
  for (int c = 0; c < kChains; ++c) a[c] = vdupq_n_s32(c);
  const int8x16_t u = vdupq_n_s8(3), s8 = vdupq_n_s8(-2);
  for (int64_t i = 0; i < iters; ++i)
    for (auto& v : a) v = vpadalq_s16(v, vmlal_high_s8(vmull_s8(vget_low_s8(u), vget_low_s8(s8)), u, s8));
  int32x4_t s = a[0];
  for (int c = 1; c < kChains; ++c) s = vaddq_s32(s, a[c]);
  return vgetq_lane_s32(s, 0);
}

__attribute__((target("arch=armv8.2-a+dotprod"))) int32_t int8_loop_neon_dot(int64_t iters) {
  int32x4_t a[kChains];
  for (int c = 0; c < kChains; ++c) a[c] = vdupq_n_s32(c);
  const int8x16_t u = vdupq_n_s8(3), s8 = vdupq_n_s8(-2);
  for (int64_t i = 0; i < iters; ++i)
    for (auto& v : a) v = vdotq_s32(v, u, s8);
  int32x4_t s = a[0];
  for (int c = 1; c < kChains; ++c) s = vaddq_s32(s, a[c]);
  return vgetq_lane_s32(s, 0);
}
#endif  // LOUPE_ARM

// Operations per step of each loop (all chains): 2 per multiply-add.
double ops_per_step(Isa isa, bool int8) {
  double lanes = 1;
  switch (isa) {
    case Isa::Avx512: lanes = int8 ? 64 : 16; break;
    case Isa::Avx2:
    case Isa::Avx2Vnni: lanes = int8 ? 32 : 8; break;
    case Isa::Neon:
    case Isa::NeonDot:
    case Isa::NeonI8mm: lanes = int8 ? 16 : 4; break;
    case Isa::Scalar: break;
  }
  return 2.0 * lanes * kChains;
}

double run_loop(ThreadPool& pool, Isa isa, bool int8) {
  volatile float sink_f = 0;
  volatile int32_t sink_i = 0;
  auto step = [&](int64_t iters) {
#if LOUPE_X86
    if (isa == Isa::Avx512) {
      if (int8)
        sink_i = int8_loop_avx512(iters);
      else
        sink_f = fma_loop_avx512(iters);
      return;
    }
    if (isa == Isa::Avx2Vnni) {
      if (!int8)
        sink_f = fma_loop_avx2(iters);
      else if (kernels::cpu_has_avx_vnni())
        sink_i = int8_loop_avxvnni(iters);
      else
        sink_i = int8_loop_vnni256_evex(iters);
      return;
    }
    if (isa == Isa::Avx2) {
      if (int8)
        sink_i = int8_loop_avx2(iters);
      else
        sink_f = fma_loop_avx2(iters);
      return;
    }
#elif LOUPE_ARM
    if (isa == Isa::Neon || isa == Isa::NeonDot || isa == Isa::NeonI8mm) {
      if (!int8)
        sink_f = fma_loop_neon(iters);
      else if (isa != Isa::Neon)  // the sdot loop (smmla's peak is not measured separately)
        sink_i = int8_loop_neon_dot(iters);
      else
        sink_i = int8_loop_neon(iters);
      return;
    }
#endif
    if (int8)
      sink_i = int8_loop_scalar(iters);
    else
      sink_f = fma_loop_scalar(iters);
  };
  const int n = pool.n_threads();
  constexpr int64_t kIters = 16'000'000;                               // ~30 ms a run at two instructions per cycle
  pool.parallel_for(n, [&](int64_t, int64_t) { step(kIters / 10); });  // warm up, clocks up
  double best = 0;
  for (int r = 0; r < 3; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    pool.parallel_for(n, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) step(kIters);
    });
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, static_cast<double>(n) * static_cast<double>(kIters) * ops_per_step(isa, int8) / s);
  }
  return best;
}

}  // namespace

double fma_peak(ThreadPool& pool, Isa isa) {
  return cpu_supports(isa) ? run_loop(pool, isa, false) : 0.0;
}

double int8_peak(ThreadPool& pool, Isa isa) {
  return cpu_supports(isa) ? run_loop(pool, isa, true) : 0.0;
}

}  // namespace loupe::perf
