// Tile kernels for AVX2 + FMA + F16C (Haswell, Zen 1 and later): kernels_x86.inc compiled with
// 256-bit float vectors and the maddubs / madd pair for int8 dot products.
#include "tensor/kernels.h"  // LOUPE_X86

#if LOUPE_X86
#include <immintrin.h>

#include <type_traits>

#include "tensor/half.h"
#include "tensor/kernels_matmul.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_iq_grids.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

namespace loupe::kernels {
namespace avx2 {

struct VecF {
  using V = __m256;
  static constexpr int kWidth = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V load_f16(const uint8_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static V load_bf16(const uint8_t* p) {
    const __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
  }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V fms(V a, V b, V c) { return _mm256_fmsub_ps(a, b, c); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V set1(float f) { return _mm256_set1_ps(f); }
  static V from_i8(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)); }
  static float hsum(V v) {
    const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
  }
};

// |a| <= 128 and |b| <= 127, so the pairwise int16 sums of maddubs cannot saturate.
inline __m256i dot_u8s8(__m256i a, __m256i b) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1));
}

// 16 vector registers: two activation rows per tile keep the accumulators in registers.
constexpr int kMaxActRows = 2;

#include "tensor/kernels_x86.inc"

}  // namespace avx2

RowFn row_to_f32_avx2(DType type) {
  return avx2::row_table(type);
}

TileFn tile_kernel_avx2(DType type, bool q8_acts) {
  return q8_acts ? avx2::table(type) : avx2::table_float_acts(type);
}

}  // namespace loupe::kernels

#pragma GCC pop_options
#else  // not x86: no AVX2 kernels (active_isa() never picks them)

#include "tensor/kernels_matmul.h"

namespace loupe::kernels {
RowFn row_to_f32_avx2(DType) {
  return nullptr;
}
TileFn tile_kernel_avx2(DType, bool) {
  return nullptr;
}
}  // namespace loupe::kernels
#endif  // LOUPE_X86
