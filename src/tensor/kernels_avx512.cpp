// Tile kernels for AVX-512 F/BW/VL + VNNI (Ice Lake, Zen 4 and later): kernels_x86.inc compiled
// with 512-bit float vectors and vpdpbusd for int8 dot products.
#include <immintrin.h>

#include <type_traits>

#include "tensor/half.h"
#include "tensor/kernels_matmul.h"
#include "tensor/quant_blocks.h"

#pragma GCC push_options
// GCC 12's AVX-512 intrinsics pass an undefined vector as the unused merge source and then warn
// about it (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")

namespace loupe::kernels {
namespace avx512 {

struct VecF {
  using V = __m512;
  static constexpr int kWidth = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V load_f16(const uint8_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static V load_bf16(const uint8_t* p) {
    const __m512i u = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(u, 16));
  }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V fms(V a, V b, V c) { return _mm512_fmsub_ps(a, b, c); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V set1(float f) { return _mm512_set1_ps(f); }
  static V from_i8(__m128i v) { return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(v)); }
  static float hsum(V v) {
    const __m256 s8 =
        _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_castps512_ps256(_mm512_shuffle_f32x4(v, v, 0x4e)));
    const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
  }
};

inline __m256i dot_u8s8(__m256i a, __m256i b) {
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), a, b);
}

// 32 vector registers: four activation rows by four weight rows of accumulators.
constexpr int kMaxActRows = 4;

#include "tensor/kernels_x86.inc"

}  // namespace avx512

RowFn row_to_f32_avx512(DType type) {
  return avx512::row_table(type);
}

TileFn tile_kernel_avx512(DType type, bool q8_acts) {
  return q8_acts ? avx512::table(type) : avx512::table_float_acts(type);
}

}  // namespace loupe::kernels

#pragma GCC pop_options
