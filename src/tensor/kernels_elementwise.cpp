// Element-wise kernels of the attention and MLP: softmax rows and their exponentials, SiLU;
// scalar and AVX2 (8 lanes) with run-time dispatch.
//
// The vector exp reduces x = k ln 2 + r with |r| <= ln(2) / 2 (ln 2 split in two parts so k ln 2
// is exact), evaluates e^r with the degree-6 minimax polynomial of the Cephes library's expf,
// and scales by 2^k through the exponent bits. Inputs below -87.3 (including -inf) give 0; above
// 88.37 they are clamped (e^88.37 ~ 2.4e38, still finite); NaN propagates.
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "tensor/kernels.h"

namespace loupe {
namespace kernels {

float exp_shift_sum_scalar(const float* x, float shift, float* y, int64_t n) {
  float sum = 0.0f;
  for (int64_t j = 0; j < n; ++j) {
    y[j] = std::exp(x[j] - shift);
    sum += y[j];
  }
  return sum;
}

void silu_mul_f32_scalar(const float* g, const float* u, float* y, int64_t n) {
  for (int64_t j = 0; j < n; ++j) y[j] = g[j] / (1.0f + std::exp(-g[j])) * u[j];
}

namespace {

// softmax_row on given pieces (the same steps at every level).
template <class Max, class ExpSum, class Scale>
void softmax_row_with(const float* in, float* out, int64_t n, Max max_of, ExpSum exp_sum, Scale scale) {
  // Masked (-inf) entries at the end of the row are left out of the sum, so a row sums the same
  // elements in the same order however many positions its batch holds.
  int64_t len = n;
  while (len > 0 && in[len - 1] == -INFINITY) out[--len] = 0.0f;
  const float mx = max_of(in, len);
  if (mx == -INFINITY) {  // fully masked (only after an edit)
    std::fill_n(out, len, 0.0f);
    return;
  }
  const float sum = exp_sum(in, mx, out, len);
  scale(out, 1.0f / sum, len);
}

__attribute__((target("avx2,fma"))) inline __m256 exp_avx2(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-87.33654f), hi = _mm256_set1_ps(88.3762626647949f);
  const __m256 zero_mask = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);  // false for NaN
  // max / min return their second operand when either is NaN: the NaN is kept.
  x = _mm256_min_ps(hi, _mm256_max_ps(lo, x));
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  // 2^k from its exponent bits: k in [-126, 127], a normal float.
  const __m256i ki = _mm256_cvtps_epi32(k);
  const __m256 pow2k = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(ki, _mm256_set1_epi32(127)), 23));
  return _mm256_andnot_ps(zero_mask, _mm256_mul_ps(p, pow2k));
}

}  // namespace

__attribute__((target("avx2,fma"))) float exp_shift_sum_avx2(const float* x, float shift, float* y, int64_t n) {
  const __m256 s = _mm256_set1_ps(shift);
  __m256 acc = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 e = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + j), s));
    _mm256_storeu_ps(y + j, e);
    acc = _mm256_add_ps(acc, e);
  }
  float lanes[8];
  _mm256_storeu_ps(lanes, acc);
  float sum = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
  if (j < n) {
    // The tail through the same vector exp, on a zero-padded copy.
    float in[8], out[8];
    for (int l = 0; l < 8; ++l) in[l] = j + l < n ? x[j + l] - shift : -INFINITY;
    _mm256_storeu_ps(out, exp_avx2(_mm256_loadu_ps(in)));
    for (int l = 0; j + l < n; ++l) {
      y[j + l] = out[l];
      sum += out[l];
    }
  }
  return sum;
}

__attribute__((target("avx2,fma"))) void silu_mul_f32_avx2(const float* g, const float* u, float* y, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), neg = _mm256_set1_ps(-0.0f);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 gv = _mm256_loadu_ps(g + j);
    const __m256 e = exp_avx2(_mm256_xor_ps(gv, neg));
    _mm256_storeu_ps(y + j, _mm256_mul_ps(_mm256_div_ps(gv, _mm256_add_ps(one, e)), _mm256_loadu_ps(u + j)));
  }
  if (j < n) {
    float gi[8] = {}, ui[8] = {}, out[8];
    for (int l = 0; j + l < n; ++l) gi[l] = g[j + l], ui[l] = u[j + l];
    silu_mul_f32_avx2(gi, ui, out, 8);
    for (int l = 0; j + l < n; ++l) y[j + l] = out[l];
  }
}

namespace {

// The largest of x[0..n), NaNs skipped (as `m = std::max(m, x[j])` from -inf skips them): vmaxps
// returns its second operand, the running maximum, when the element is NaN.
__attribute__((target("avx2,fma"))) float max_f32_avx2(const float* x, int64_t n) {
  __m256 m = _mm256_set1_ps(-INFINITY);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) m = _mm256_max_ps(_mm256_loadu_ps(x + j), m);
  float lanes[8];
  _mm256_storeu_ps(lanes, m);
  float r = -INFINITY;
  for (float v : lanes) r = std::max(r, v);
  for (; j < n; ++j) r = std::max(r, x[j]);
  return r;
}

__attribute__((target("avx2,fma"))) void scale_f32_avx2(float* x, float a, int64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) _mm256_storeu_ps(x + j, _mm256_mul_ps(_mm256_loadu_ps(x + j), va));
  for (; j < n; ++j) x[j] *= a;
}

float max_f32_scalar(const float* x, int64_t n) {
  float r = -INFINITY;
  for (int64_t j = 0; j < n; ++j) r = std::max(r, x[j]);
  return r;
}

void scale_f32_scalar(float* x, float a, int64_t n) {
  for (int64_t j = 0; j < n; ++j) x[j] *= a;
}

}  // namespace

void softmax_row_scalar(const float* in, float* out, int64_t n) {
  softmax_row_with(in, out, n, max_f32_scalar, exp_shift_sum_scalar, scale_f32_scalar);
}

void softmax_row_avx2(const float* in, float* out, int64_t n) {
  softmax_row_with(in, out, n, max_f32_avx2, exp_shift_sum_avx2, scale_f32_avx2);
}

}  // namespace kernels

void softmax_row(const float* in, float* out, int64_t n) {
  if (active_isa() >= Isa::Avx2)
    kernels::softmax_row_avx2(in, out, n);
  else
    kernels::softmax_row_scalar(in, out, n);
}

float exp_shift_sum(const float* x, float shift, float* y, int64_t n) {
  return active_isa() >= Isa::Avx2 ? kernels::exp_shift_sum_avx2(x, shift, y, n)
                                   : kernels::exp_shift_sum_scalar(x, shift, y, n);
}

void silu_mul_f32(const float* g, const float* u, float* y, int64_t n) {
  if (active_isa() >= Isa::Avx2)
    kernels::silu_mul_f32_avx2(g, u, y, n);
  else
    kernels::silu_mul_f32_scalar(g, u, y, n);
}

}  // namespace loupe
