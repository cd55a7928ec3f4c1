// The AVX2 panel kernels (kernels_panels_256.inc with vpmaddubsw + vpmaddwd: Haswell, Zen 1-3)
// and the AVX2 activation quantiser.
#include "tensor/kernels.h"  // LOUPE_X86

#include "tensor/kernels_matmul.h"

#if LOUPE_X86
#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "tensor/half.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_iq_grids.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

namespace loupe::kernels {
namespace {

constexpr bool kVnni = false;
// Never called: the .inc uses it only when kVnni.
inline __m256i dpbusd256(__m256i acc, __m256i, __m256i) {
  return acc;
}

#include "tensor/kernels_panels_256.inc"

// Round to nearest even on 8 lanes; then NaN to 0 and the clamp of the scalar path.
inline __m256i quant8(__m256 v, __m256 id) {
  __m256 q = _mm256_round_ps(_mm256_mul_ps(v, id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  q = _mm256_and_ps(q, _mm256_cmp_ps(q, q, _CMP_ORD_Q));
  q = _mm256_min_ps(_mm256_max_ps(q, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
  return _mm256_cvtps_epi32(q);
}

inline int32_t hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

// Eight int32 lanes (each in [-127, 127]) to 8 bytes.
inline void store8(__m256i q, int8_t* out) {
  const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
  _mm_storel_epi64(reinterpret_cast<__m128i*>(out), _mm_packs_epi16(w, w));
}

}  // namespace

PanelFn panel_kernel_avx2(DType type) {
  return panel_table<PanelOf>(type);
}

void quantize_act_q8_avx2(const float* x, BlockQ8* y, int64_t n_blocks) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(INT32_MAX));
  for (int64_t b = 0; b < n_blocks; ++b) {
    __m256 v[4];
    // The largest magnitude, NaNs skipped as std::fmax does (vmaxps returns its second operand
    // when either is NaN).
    __m256 m = _mm256_setzero_ps(), nan = _mm256_setzero_ps();
    for (int j = 0; j < 4; ++j) {
      v[j] = _mm256_loadu_ps(x + 32 * b + 8 * j);
      m = _mm256_max_ps(_mm256_and_ps(v[j], abs_mask), m);
      nan = _mm256_or_ps(nan, _mm256_cmp_ps(v[j], v[j], _CMP_UNORD_Q));
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
    const float amax = _mm_cvtss_f32(m4);
    // As the scalar quantiser: ggml's fp16 scale, the multiplier 127 / amax.
    const bool has_nan = _mm256_movemask_ps(nan) != 0;
    const float d = has_nan ? NAN : round_to_f16(amax / 127.0f);
    const __m256 id = _mm256_set1_ps(has_nan ? NAN : (amax != 0.0f ? 127.0f / amax : 0.0f));
    __m256i q[4];
    for (int j = 0; j < 4; ++j) {
      q[j] = quant8(v[j], id);
      store8(q[j], y[b].qs + 8 * j);
    }
    y[b].d = d;
    y[b].half_sum[0] = static_cast<int16_t>(hsum_epi32(_mm256_add_epi32(q[0], q[1])));
    y[b].half_sum[1] = static_cast<int16_t>(hsum_epi32(_mm256_add_epi32(q[2], q[3])));
  }
}

}  // namespace loupe::kernels

#pragma GCC pop_options
#else   // not x86

namespace loupe::kernels {
PanelFn panel_kernel_avx2(DType) {
  return nullptr;
}
void quantize_act_q8_avx2(const float* x, BlockQ8* y, int64_t n_blocks) {
  quantize_act_q8_scalar(x, y, n_blocks);
}
}  // namespace loupe::kernels
#endif  // LOUPE_X86
