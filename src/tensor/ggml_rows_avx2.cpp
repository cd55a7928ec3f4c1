// ggml's dot products (ggml_rows.inc) with AVX2 + FMA: 8 float lanes in one register and the
// integer lanes from maddubs / madd (exact: |weight| <= 128 and |activation| <= 127, so the
// pairwise int16 sums cannot saturate). Also the backend of the AVX-VNNI and AVX-512 tiers.
#include "tensor/kernels.h"  // LOUPE_X86

#if LOUPE_X86
#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "tensor/ggml_dot.h"
#include "tensor/half.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_iq_grids.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

namespace loupe::ggml::avx2 {
namespace {

struct B {
  using F8 = __m256;
  using I8 = __m256i;
  static F8 fzero() { return _mm256_setzero_ps(); }
  static F8 fload(const float* p) { return _mm256_loadu_ps(p); }
  static void fstore(float* p, F8 a) { _mm256_storeu_ps(p, a); }
  static F8 set1(float f) { return _mm256_set1_ps(f); }
  static F8 fma(F8 a, F8 b, F8 c) { return _mm256_fmadd_ps(a, b, c); }
  static F8 add(F8 a, F8 b) { return _mm256_add_ps(a, b); }
  static F8 mul(F8 a, F8 b) { return _mm256_mul_ps(a, b); }
  static F8 cvt(I8 a) { return _mm256_cvtepi32_ps(a); }
  static I8 iload(const int* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  static I8 iadd(I8 a, I8 b) { return _mm256_add_epi32(a, b); }
  static I8 isub(I8 a, I8 b) { return _mm256_sub_epi32(a, b); }
  static int isum(I8 a) {
    const __m128i s = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
    const __m128i s2 = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    return _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 1)));
  }
  static __m256i pairs(const int8_t* q, const int8_t* y) {
    const __m256i qv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
    const __m256i yv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y));
    return _mm256_maddubs_epi16(_mm256_sign_epi8(qv, qv), _mm256_sign_epi8(yv, qv));
  }
  static I8 lanes(const int8_t* q, const int8_t* y) { return _mm256_madd_epi16(pairs(q, y), _mm256_set1_epi16(1)); }
  // With the chunk's two 16-scales at p (broadcast, then each spread over its half by a byte
  // shuffle); kUnsigned: the weights are in 0 .. 127 and meet maddubs as they are.
  template <bool kUnsigned>
  static I8 lanes_p(const int8_t* q, const int8_t* y, const int16_t* p) {
    int32_t both;
    std::memcpy(&both, p, 4);
    const __m256i spread = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2,
                                            3, 2, 3, 2, 3, 2, 3);
    const __m256i s = _mm256_shuffle_epi8(_mm256_set1_epi32(both), spread);
    if constexpr (kUnsigned)
      return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q)),
                                                    _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y))),
                               s);
    return _mm256_madd_epi16(pairs(q, y), s);
  }
  static I8 lanes_scaled(const int8_t* q, const int8_t* y, int s0, int s1) {
    const __m256i s =
        _mm256_setr_m128i(_mm_set1_epi16(static_cast<int16_t>(s0)), _mm_set1_epi16(static_cast<int16_t>(s1)));
    return _mm256_madd_epi16(pairs(q, y), s);
  }
  static float h(const uint8_t (&b)[2]) { return _cvtsh_ss(static_cast<uint16_t>(b[0] | b[1] << 8)); }
  // k fp16 (or bf16) values as floats (vcvtph2ps is exact; NaNs stay NaN).
  static void halves(const uint8_t* p, int64_t k, bool bf16, std::vector<float>& out) {
    out.resize(static_cast<size_t>(k));
    float* o = out.data();
    int64_t j = 0;
    for (; j + 8 <= k; j += 8) {
      const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * j));
      const __m256 f = bf16 ? _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)) : _mm256_cvtph_ps(h);
      _mm256_storeu_ps(o + j, f);
    }
    for (; j < k; ++j) {
      const auto h = static_cast<uint16_t>(p[2 * j] | p[2 * j + 1] << 8);
      o[j] = bf16 ? bf16_to_f32(h) : f16_to_f32(h);
    }
  }
};

#include "tensor/ggml_rows.inc"

}  // namespace

#include "tensor/ggml_rows_entry.inc"

}  // namespace loupe::ggml::avx2

#pragma GCC pop_options
#endif
