// llama.cpp's dot products, operation for operation: what ggml's x86 CPU backend (its AVX2 build)
// computes for one weight row and one activation row converted to the weight type's vec_dot type
// (numerics.h). The integer sums are exact whatever their order; what these functions reproduce
// is ggml's float arithmetic: which integer partial sums become floats (8 lanes of 4 adjacent
// products per 32 values, or one sum per block), the products of scales, fused or separate
// multiply-adds, and the order of the final horizontal sum. Matching it bit for bit matters
// because the next product rounds its input again: a last-bit difference flips a rounding now and
// then, and the flip moves the logits by ~1e-2 (measured on ../shared/reference/numerics).
//
// Written from ggml's sources as facts (which lanes, which order); scalar code, the reference the
// faster paths must equal.
#pragma once

#include <cstdint>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/kernels_matmul.h"
#include "tensor/numerics.h"

namespace loupe::ggml {

// One activation row in a vec_dot type.
struct Acts {
  ActFormat fmt = ActFormat::F32;
  int64_t k = 0;
  std::vector<float> f;             // F16 / BF16: the rounded values (exact); F32: the values
  std::vector<kernels::BlockQ8> q;  // Q8_0 / Q8_1: one per 32; Q8_K: 8 per 256 sharing its scale
  std::vector<float> s;             // Q8_1: per block, fp16(amax / 127 * sum(q)) as a float
};

// Converts k activations to `fmt` (the quantisers of kernels_matmul.h).
void convert(ActFormat fmt, const float* x, int64_t k, Acts& out);

// Whether dot() reproduces ggml's kernel for this weight type (every type loupe reads: the grid
// i-quants, TQ1_0 and TQ2_0 through ggml_rows.inc's portable backend).
bool has_dot(DType type);

// The product of weight row `row` (k elements of `type`, in place) with converted activations.
// repacked: whether ggml's AVX2 build would hold the matrix in its 8-row repacked buffer (Q4_0,
// IQ4_NL, MXFP4, Q4_K with rows a multiple of 8, not shared with the embedding): its gemv's order
// then, else ggml_vec_dot's (IQ4_NL and MXFP4 have only the gemv's here).
float dot(DType type, const uint8_t* row, const Acts& a, bool repacked = true);

// Weight row `row` against m activation rows converted for it: y[i * y_stride] = dot(type, row,
// acts[i], repacked), plus *bias when given. The same bits as dot(); the row is decoded once and
// the products run in vector code on the tier in use (ggml_rows.inc).
void dot_rows(DType type, const uint8_t* row, const Acts* acts, int64_t m, float* y, int64_t y_stride, bool repacked,
              const float* bias = nullptr);

// ---- ggml's float operations around the products (ggml-cpu's vec.h / ops.cpp, AVX2 build) ----

// ggml_vec_dot_f32: four accumulators of 8 lanes over steps of 32 (fused multiply-adds), reduced
// as GGML_F32x8_REDUCE, the rest (n mod 32) added one by one. Zero products past n (a padded KV
// view) change nothing and are left out.
float dot_f32(const float* x, const float* y, int64_t n);
// z[t] = dot_f32 of p[0..n) with column t of the rows v + j * v_stride (ggml's product of the
// transposed V cache with the attention weights), for t < d.
void mix_f32(const float* p, int64_t n, const float* v, int64_t v_stride, int64_t d, float* z);
// ggml_v_expf, one lane: its range reduction, polynomial and the special cases past |n| > 126.
float expf_v(float x);
// ggml_vec_swiglu_f32: y = x / (1 + expf_v(-x)) * u eight at a time, the rest with libm's expf.
void swiglu(const float* g, const float* u, float* y, int64_t n);
// ggml_soft_max_f32 on a row whose entries past n are masked (-inf): the max, expf_v(s - max) in
// groups of 8 from index 0 each summed by hsum_float_8 into a double, then p *= float(1 / sum).
// With an attention sink (gpt-oss): the max includes it and libm's expf(sink - max) joins the sum.
// padded: the row goes on with masked entries to a multiple of 8 (an attention row of ggml's
// padded KV view); else the last n mod 8 entries take libm's expf one at a time, as ggml's
// leftovers (a router's k weights).
void softmax(const float* s, int64_t n, float* p, const float* sink = nullptr, bool padded = true);
// RMSNorm's root: sqrtf(float(sum of float(x * x) in double / n) + eps); ggml multiplies x by
// 1.0f / it.
float rms_root(const float* x, int64_t n, float eps);
// ggml_norm's mean of a row: the sum in double (ggml_vec_sum_f32), rounded to float, then divided by
// n in float.
float layer_norm_mean(const float* x, int64_t n);
// ggml_norm's root: sqrtf(variance + eps), the variance from ggml_vec_cvar_f32 (AVX2): per 8
// values the squares of (x - mean) summed as hsum_float_8 into a double, the rest one by one, over
// n, rounded to float. ggml multiplies x - mean by 1.0f / it.
float layer_norm_root(const float* x, int64_t n, float mean, float eps);
// YaRN's part of ggml's RoPE cache (rope_yarn): ext_factor 0 leaves it out.
struct RopeYarn {
  float ext_factor = 0.0f;               // 1 for YaRN models
  float corr_lo = 0.0f, corr_hi = 0.0f;  // ggml_rope_yarn_corr_dims
  float mscale = 1.0f;                   // the attention factor, times 1 + 0.1 ln(1 / freq_scale) under YaRN
};
// ggml_rope_yarn_corr_dims: the pairs [lo, hi] between which YaRN ramps from interpolation to
// extrapolation (floorf / ceilf of n_rot ln(n_ctx_orig / (beta 2 pi)) / (2 ln base), clamped).
void rope_yarn_corr_dims(int64_t n_rot, int64_t n_ctx_orig, float base, float beta_fast, float beta_slow, float& lo,
                         float& hi);
// ggml_norm / ggml_rms_norm then ggml_mul and ggml_add: y = (x - mean) * scale, then times gamma,
// then plus beta (when given), three roundings.
void norm_apply(const float* x, int64_t n, float mean, float scale, const float* gamma, const float* beta, float* y);
// llama.cpp's MoE output: the k expert rows each times its weight (ggml_mul), added in order
// (ggml_add): ((w0 y0 + w1 y1) + w2 y2) ...; ys[s] is row s (d values).
void weighted_sum(const float* ys, const float* w, int64_t k, int64_t d, float* out);
// RoPE as ggml's cache builds it: theta = p, then theta *= theta_scale from pair to pair, with
// theta_scale = powf(base, -2 / n_rot), each angle divided by its frequency factor (null: 1) and
// multiplied by freq_scale (linear scaling: 1 / factor); under YaRN mixed with the unscaled angle
// by pair (the ramp between corr_lo and corr_hi) and the magnitude scaled; cosf / sinf of it
// times mscale. cs / sn: [n_pos, n_rot / 2].
void rope_table(int64_t n_pos, int64_t n_rot, float base, const float* factors, float freq_scale, float* cs, float* sn,
                const RopeYarn& yarn = {});
// ggml's rotation of pairs (x0, x1): x0 cos - x1 sin and x0 sin + x1 cos with the first product
// of each fused (as GCC contracts rotate_pairs).
void rope(const float* x, float* y, const float* cs, const float* sn, int64_t half, bool adjacent);

}  // namespace loupe::ggml
