// Element-wise kernels: softmax rows and their exponentials, SiLU, the norms' sums and scaling,
// RoPE; scalar and AVX2 (8 lanes) with run-time dispatch.
//
// The vector exp reduces x = k ln 2 + r with |r| <= ln(2) / 2 (ln 2 split in two parts so k ln 2
// is exact), evaluates e^r with the degree-6 minimax polynomial of the Cephes library's expf,
// and scales by 2^k through the exponent bits. Inputs below -87.3 (including -inf) give 0; above
// 88.37 they are clamped (e^88.37 ~ 2.4e38, still finite); NaN propagates.
#include "tensor/kernels.h"  // LOUPE_X86
#if LOUPE_X86
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/half.h"
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

// GELU (tanh form) as x sigmoid(2 t), t = sqrt(2/pi) (x + 0.044715 x^3): the identity
// 0.5 (1 + tanh t) = 1 / (1 + e^-2t) lets it share the vector exp.
void gelu_mul_f32_scalar(const float* g, const float* u, float* y, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    const float x = g[j];
    const float t2 = 1.5957691216057308f * (x + 0.044715f * x * x * x);
    y[j] = x / (1.0f + std::exp(-t2)) * (u != nullptr ? u[j] : 1.0f);
  }
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
  if (mx == -INFINITY) {
    // Every score -inf (fully masked, only after an edit) or NaN (the maximum skips NaNs): the
    // masked row is zeros, a NaN anywhere makes the row NaN, as exp(NaN - max) would.
    const bool nan = std::any_of(in, in + len, [](float v) { return std::isnan(v); });
    std::fill_n(out, len, nan ? NAN : 0.0f);
    return;
  }
  const float sum = exp_sum(in, mx, out, len);
  scale(out, 1.0f / sum, len);
}

#if LOUPE_X86
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
#endif  // LOUPE_X86

}  // namespace

#if LOUPE_X86
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

__attribute__((target("avx2,fma"))) void gelu_mul_f32_avx2(const float* g, const float* u, float* y, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), k = _mm256_set1_ps(-1.5957691216057308f), c = _mm256_set1_ps(0.044715f);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 x = _mm256_loadu_ps(g + j);
    // -2 t = -2 sqrt(2/pi) (x + 0.044715 x^3), the scalar path's operations
    const __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
    const __m256 e = exp_avx2(_mm256_mul_ps(k, _mm256_add_ps(x, _mm256_mul_ps(c, x3))));
    const __m256 v = _mm256_div_ps(x, _mm256_add_ps(one, e));
    _mm256_storeu_ps(y + j, u != nullptr ? _mm256_mul_ps(v, _mm256_loadu_ps(u + j)) : v);
  }
  if (j < n) {
    float gi[8] = {}, ui[8] = {}, out[8];
    for (int l = 0; j + l < n; ++l) gi[l] = g[j + l], ui[l] = u != nullptr ? u[j + l] : 1.0f;
    gelu_mul_f32_avx2(gi, ui, out, 8);
    for (int l = 0; j + l < n; ++l) y[j + l] = out[l];
  }
}
#endif  // LOUPE_X86

namespace {

// The largest of x[0..n), NaNs skipped (as `m = std::max(m, x[j])` from -inf skips them): vmaxps
// returns its second operand, the running maximum, when the element is NaN.
#if LOUPE_X86
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
#endif  // LOUPE_X86

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

#if LOUPE_X86
void softmax_row_avx2(const float* in, float* out, int64_t n) {
  softmax_row_with(in, out, n, max_f32_avx2, exp_shift_sum_avx2, scale_f32_avx2);
}
#endif  // LOUPE_X86

double sum_f64_scalar(const float* x, int64_t n) {
  double s = 0.0;
  for (int64_t k = 0; k < n; ++k) s += x[k];
  return s;
}

double sum_sq_dev_f64_scalar(const float* x, int64_t n, double mean) {
  double s = 0.0;
  for (int64_t k = 0; k < n; ++k) {
    const double v = x[k] - mean;
    s += v * v;
  }
  return s;
}

void norm_apply_f32_scalar(const float* x, int64_t n, float mean, float inv, const float* gamma, const float* beta,
                           float* y) {
  for (int64_t k = 0; k < n; ++k) y[k] = (x[k] - mean) * inv * gamma[k] + (beta ? beta[k] : 0.0f);
}

void rope_f32_scalar(const float* x, float* y, const float* cs, const float* sn, int64_t half, bool adjacent) {
  for (int64_t k = 0; k < half; ++k) {
    const int64_t a = adjacent ? 2 * k : k;
    const int64_t b = adjacent ? 2 * k + 1 : k + half;
    const float x0 = x[a], x1 = x[b];
    y[a] = x0 * cs[k] - x1 * sn[k];
    y[b] = x0 * sn[k] + x1 * cs[k];
  }
}

namespace {

#if LOUPE_X86
__attribute__((target("avx2,fma"))) double hsum_pd(__m256d v) {
  const __m128d s2 = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s2, _mm_unpackhi_pd(s2, s2)));
}
#endif  // LOUPE_X86

}  // namespace

// Four double lanes twice over (8 floats per step), then the tail in order: the same sums as the
// scalar loops up to the order of the additions.
#if LOUPE_X86
__attribute__((target("avx2,fma"))) double sum_f64_avx2(const float* x, int64_t n) {
  __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm_loadu_ps(x + k)));
    a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm_loadu_ps(x + k + 4)));
  }
  double s = hsum_pd(_mm256_add_pd(a0, a1));
  for (; k < n; ++k) s += x[k];
  return s;
}

__attribute__((target("avx2,fma"))) double sum_sq_dev_f64_avx2(const float* x, int64_t n, double mean) {
  const __m256d m = _mm256_set1_pd(mean);
  __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    const __m256d v0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + k)), m);
    const __m256d v1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + k + 4)), m);
    a0 = _mm256_fmadd_pd(v0, v0, a0);
    a1 = _mm256_fmadd_pd(v1, v1, a1);
  }
  double s = hsum_pd(_mm256_add_pd(a0, a1));
  for (; k < n; ++k) {
    const double v = x[k] - mean;
    s += v * v;
  }
  return s;
}
#endif  // LOUPE_X86

// The scalar loop's operations in the same order, 8 lanes at a time (same bits). Compiled
// without FMA, so that no multiply and add are fused (the scalar code has none either).
#if LOUPE_X86
__attribute__((target("avx2"))) void norm_apply_f32_avx2(const float* x, int64_t n, float mean, float inv,
                                                         const float* gamma, const float* beta, float* y) {
  const __m256 vm = _mm256_set1_ps(mean), vi = _mm256_set1_ps(inv);
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    const __m256 t =
        _mm256_mul_ps(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + k), vm), vi), _mm256_loadu_ps(gamma + k));
    _mm256_storeu_ps(y + k, _mm256_add_ps(t, beta ? _mm256_loadu_ps(beta + k) : _mm256_setzero_ps()));
  }
  norm_apply_f32_scalar(x + k, n - k, mean, inv, gamma + k, beta ? beta + k : nullptr, y + k);
}
#endif  // LOUPE_X86

// The scalar rotation's products and sums, 4 pairs at a time (same bits; compiled without FMA,
// as norm_apply_f32_avx2). Adjacent pairs: the pair-swapped vector times the sines, then addsub
// (even lanes a c - b s, odd lanes b c + a s).
#if LOUPE_X86
__attribute__((target("avx2"))) void rope_f32_avx2(const float* x, float* y, const float* cs, const float* sn,
                                                   int64_t half, bool adjacent) {
  int64_t k = 0;
  if (adjacent) {
    for (; k + 4 <= half; k += 4) {
      const __m128 c4 = _mm_loadu_ps(cs + k), s4 = _mm_loadu_ps(sn + k);
      const __m256 c = _mm256_set_m128(_mm_unpackhi_ps(c4, c4), _mm_unpacklo_ps(c4, c4));
      const __m256 s = _mm256_set_m128(_mm_unpackhi_ps(s4, s4), _mm_unpacklo_ps(s4, s4));
      const __m256 v = _mm256_loadu_ps(x + 2 * k);
      const __m256 swapped = _mm256_permute_ps(v, 0xb1);
      _mm256_storeu_ps(y + 2 * k, _mm256_addsub_ps(_mm256_mul_ps(v, c), _mm256_mul_ps(swapped, s)));
    }
  } else {
    for (; k + 8 <= half; k += 8) {
      const __m256 c = _mm256_loadu_ps(cs + k), s = _mm256_loadu_ps(sn + k);
      const __m256 x0 = _mm256_loadu_ps(x + k), x1 = _mm256_loadu_ps(x + k + half);
      const __m256 y0 = _mm256_sub_ps(_mm256_mul_ps(x0, c), _mm256_mul_ps(x1, s));
      const __m256 y1 = _mm256_add_ps(_mm256_mul_ps(x0, s), _mm256_mul_ps(x1, c));
      _mm256_storeu_ps(y + k, y0);
      _mm256_storeu_ps(y + k + half, y1);
    }
  }
  for (; k < half; ++k) {
    const int64_t a = adjacent ? 2 * k : k;
    const int64_t b = adjacent ? 2 * k + 1 : k + half;
    const float x0 = x[a], x1 = x[b];
    y[a] = x0 * cs[k] - x1 * sn[k];
    y[b] = x0 * sn[k] + x1 * cs[k];
  }
}
#endif  // LOUPE_X86

}  // namespace kernels

double sum_f64(const float* x, int64_t n) {
#if LOUPE_X86
  if (active_isa() >= Isa::Avx2) return kernels::sum_f64_avx2(x, n);
#endif
  return kernels::sum_f64_scalar(x, n);
}

double sum_sq_dev_f64(const float* x, int64_t n, double mean) {
#if LOUPE_X86
  if (active_isa() >= Isa::Avx2) return kernels::sum_sq_dev_f64_avx2(x, n, mean);
#endif
  return kernels::sum_sq_dev_f64_scalar(x, n, mean);
}

void norm_apply_f32(const float* x, int64_t n, float mean, float inv, const float* gamma, const float* beta, float* y) {
#if LOUPE_X86
  if (active_isa() >= Isa::Avx2) {
    kernels::norm_apply_f32_avx2(x, n, mean, inv, gamma, beta, y);
    return;
  }
#endif
  kernels::norm_apply_f32_scalar(x, n, mean, inv, gamma, beta, y);
}

void rope_f32(const float* x, float* y, const float* cs, const float* sn, int64_t half, bool adjacent) {
#if LOUPE_X86
  if (active_isa() >= Isa::Avx2) {
    kernels::rope_f32_avx2(x, y, cs, sn, half, adjacent);
    return;
  }
#endif
  kernels::rope_f32_scalar(x, y, cs, sn, half, adjacent);
}

void softmax_row(const float* in, float* out, int64_t n) {
#if LOUPE_X86
  if (active_isa() >= Isa::Avx2) {
    kernels::softmax_row_avx2(in, out, n);
    return;
  }
#endif
  kernels::softmax_row_scalar(in, out, n);
}

float exp_shift_sum(const float* x, float shift, float* y, int64_t n) {
#if LOUPE_X86
  if (active_isa() >= Isa::Avx2) return kernels::exp_shift_sum_avx2(x, shift, y, n);
#endif
  return kernels::exp_shift_sum_scalar(x, shift, y, n);
}

void gelu_mul_f32(const float* g, const float* u, float* y, int64_t n) {
#if LOUPE_X86
  if (active_isa() >= Isa::Avx2) {
    kernels::gelu_mul_f32_avx2(g, u, y, n);
    return;
  }
#endif
  kernels::gelu_mul_f32_scalar(g, u, y, n);
}

namespace {

// ggml's GELU table: the fp16 of 0.5 x (1 + tanh(sqrt(2/pi) x (1 + 0.044715 x^2))), in its order of
// float operations, at each of the 65536 fp16 values x.
const std::vector<uint16_t>& gelu_f16_table() {
  static const std::vector<uint16_t> table = [] {
    std::vector<uint16_t> t(1 << 16);
    for (uint32_t h = 0; h < t.size(); ++h) {
      const float x = f16_to_f32(static_cast<uint16_t>(h));
      // ggml_gelu_f32 as GCC compiles ggml-cpu.c (-ffp-contract=fast with FMA): 1 + A x x is one
      // fused multiply-add. Unfused, one of the 63488 finite entries differs (checked against the
      // table of the prebuilt AVX2 ggml); Gemma's logits then move by up to 2e-4.
      const float inner = std::fma(0.044715f * x, x, 1.0f);
      t[h] = f32_to_f16(0.5f * x * (1.0f + std::tanh(0.79788456080286535587989211986876f * x * inner)));
    }
    return t;
  }();
  return table;
}

}  // namespace

void gelu_mul_f32_ggml(const float* g, const float* u, float* y, int64_t n) {
  const std::vector<uint16_t>& table = gelu_f16_table();
  for (int64_t j = 0; j < n; ++j) {
    const float x = g[j];
    const float v = x <= -10.0f ? 0.0f : (x >= 10.0f ? x : f16_to_f32(table[f32_to_f16(x)]));
    y[j] = u != nullptr ? v * u[j] : v;
  }
}

void silu_mul_f32(const float* g, const float* u, float* y, int64_t n) {
#if LOUPE_X86
  if (active_isa() >= Isa::Avx2) {
    kernels::silu_mul_f32_avx2(g, u, y, n);
    return;
  }
#endif
  kernels::silu_mul_f32_scalar(g, u, y, n);
}

}  // namespace loupe
