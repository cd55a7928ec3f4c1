#include "tensor/kernels.h"

#include "tensor/kernels_matmul.h"  // cpu_has_avx_vnni

#if LOUPE_X86
#include <cpuid.h>
#include <immintrin.h>
#endif
#if LOUPE_ARM
#include <arm_neon.h>
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace loupe {

#if LOUPE_X86
namespace {

// F16C (CPUID leaf 1, ECX bit 29): asked of CPUID directly, as clang's __builtin_cpu_supports
// does not know the feature name.
bool has_f16c() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid(1, &a, &b, &c, &d) != 0 && (c & (1u << 29)) != 0;
}

}  // namespace

bool cpu_supports(Isa isa) {
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c();
  switch (isa) {
    case Isa::Scalar: return true;
    case Isa::Avx2: return avx2;
    case Isa::Avx2Vnni:
      return avx2 && (kernels::cpu_has_avx_vnni() ||
                      (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl")));
    case Isa::Avx512:
      return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
    case Isa::Neon:
    case Isa::NeonDot:
    case Isa::NeonI8mm: return false;
  }
  return false;
}
#elif LOUPE_ARM
bool cpu_supports(Isa isa) {
  switch (isa) {
    case Isa::Scalar:
    case Isa::Neon: return true;  // Advanced SIMD is part of every ARMv8-A core
    case Isa::NeonDot: return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
    case Isa::NeonI8mm: return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0 && (getauxval(AT_HWCAP2) & HWCAP2_I8MM) != 0;
    case Isa::Avx2:
    case Isa::Avx2Vnni:
    case Isa::Avx512: return false;
  }
  return false;
}
#else
bool cpu_supports(Isa isa) {
  return isa == Isa::Scalar;
}
#endif

namespace {

// The tier in use: -1 until the first call, which reads the CPU and LOUPE_ISA.
std::atomic<int> g_active_isa{-1};

}  // namespace

Isa best_isa() {
  for (Isa i : {Isa::Avx512, Isa::Avx2Vnni, Isa::Avx2, Isa::NeonI8mm, Isa::NeonDot, Isa::Neon})
    if (cpu_supports(i)) return i;
  return Isa::Scalar;
}

Isa active_isa() {
  int v = g_active_isa.load(std::memory_order_relaxed);
  if (v < 0) {
    Isa isa = best_isa();
    const char* env = std::getenv("LOUPE_ISA");
    if (env != nullptr) {
      const std::optional<Isa> want = isa_from_name(env);
      // Only a lower level of the same architecture (the levels of each are ordered).
      if (want && *want < isa && cpu_supports(*want)) isa = *want;
    }
    v = static_cast<int>(isa);
    int expected = -1;
    if (!g_active_isa.compare_exchange_strong(expected, v)) v = expected;
  }
  return static_cast<Isa>(v);
}

bool set_active_isa(Isa isa) {
  if (!cpu_supports(isa)) return false;
  g_active_isa.store(static_cast<int>(isa));
  return true;
}

std::optional<Isa> isa_from_name(std::string_view name) {
  for (Isa i : kAllIsas)
    if (name == isa_name(i)) return i;
  return std::nullopt;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx2Vnni: return "avx2-vnni";
    case Isa::Avx512: return "avx512";
    case Isa::Neon: return "neon";
    case Isa::NeonDot: return "neon-dot";
    case Isa::NeonI8mm: return "neon-i8mm";
  }
  return "?";
}

namespace kernels {

float dot_f32_scalar(const float* a, const float* b, int64_t n) {
  // Eight partial sums, combined pairwise: the same association as the AVX2 path.
  float acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += a[i + k] * b[i + k];
  float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

#if LOUPE_X86
__attribute__((target("avx2,fma"))) float dot_f32_avx2(const float* a, const float* b, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps();
  __m256 acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  __m256 acc = _mm256_add_ps(acc0, acc1);
  __m128 lo = _mm256_castps256_ps128(acc);
  __m128 hi = _mm256_extractf128_ps(acc, 1);
  __m128 s4 = _mm_add_ps(lo, hi);
  __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
  float s = _mm_cvtss_f32(s1);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}
#endif  // LOUPE_X86

void axpy_f32_scalar(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

#if LOUPE_X86
__attribute__((target("avx2,fma"))) void axpy_f32_avx2(float a, const float* x, float* y, int64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}
#endif  // LOUPE_X86

#if LOUPE_ARM
// The scalar path's eight partial sums (two 4-lane vectors, fused multiply-adds) combined in its
// order: ((0 + 4) + (1 + 5)) + ((2 + 6) + (3 + 7)).
float dot_f32_neon(const float* a, const float* b, int64_t n) {
  float32x4_t lo = vdupq_n_f32(0.0f), hi = vdupq_n_f32(0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    lo = vfmaq_f32(lo, vld1q_f32(a + i), vld1q_f32(b + i));
    hi = vfmaq_f32(hi, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
  }
  const float32x4_t p = vaddq_f32(lo, hi);
  float s = (vgetq_lane_f32(p, 0) + vgetq_lane_f32(p, 1)) + (vgetq_lane_f32(p, 2) + vgetq_lane_f32(p, 3));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

void axpy_f32_neon(float a, const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
  for (; i < n; ++i) y[i] += a * x[i];
}
#endif  // LOUPE_ARM

}  // namespace kernels

float dot_f32(const float* a, const float* b, int64_t n) {
#if LOUPE_X86
  if (active_isa() >= Isa::Avx2) return kernels::dot_f32_avx2(a, b, n);
#elif LOUPE_ARM
  if (active_isa() >= Isa::Neon) return kernels::dot_f32_neon(a, b, n);
#endif
  return kernels::dot_f32_scalar(a, b, n);
}

void axpy_f32(float a, const float* x, float* y, int64_t n) {
#if LOUPE_X86
  if (active_isa() >= Isa::Avx2) {
    kernels::axpy_f32_avx2(a, x, y, n);
    return;
  }
#elif LOUPE_ARM
  if (active_isa() >= Isa::Neon) {
    kernels::axpy_f32_neon(a, x, y, n);
    return;
  }
#endif
  kernels::axpy_f32_scalar(a, x, y, n);
}

}  // namespace loupe
