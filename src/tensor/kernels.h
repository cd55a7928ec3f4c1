// Vector kernels with run-time instruction-set dispatch. The library is compiled for baseline
// x86-64 (or ARMv8-A); the fast paths live in kernels_avx2.cpp, kernels_avx512.cpp and
// kernels_neon*.cpp, whose functions carry their own target, and are chosen once at start-up
// from what the CPU reports. The scalar path is always built and tested, and LOUPE_ISA=scalar
// (or avx2, neon) forces a lower level. Results are deterministic for a given path.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

// x86-64 builds carry the AVX2 / AVX-512 kernels, AArch64 builds the NEON ones
// (kernels_neon.cpp, kernels_neon_dot.cpp); every build has the scalar path, and a build with
// LOUPE_NO_SIMD (cmake -DLOUPE_SIMD=OFF: the clang fuzz build) has only that.
#if defined(__x86_64__) && !defined(LOUPE_NO_SIMD)
#define LOUPE_X86 1
#else
#define LOUPE_X86 0
#endif
#if defined(__aarch64__) && !defined(LOUPE_NO_SIMD)
#define LOUPE_ARM 1
#else
#define LOUPE_ARM 0
#endif

namespace loupe {

// The x86 levels are ordered (each implies the ones below it), and so are the ARM ones; a CPU
// supports Scalar and the levels of its own architecture only.
enum class Isa : uint8_t {
  Scalar,
  Avx2,      // AVX2 + FMA + F16C
  Avx2Vnni,  // + vpdpbusd on 256-bit registers: AVX-VNNI (Alder Lake and later), or AVX-512 VNNI + VL
  Avx512,    // AVX-512 F/BW/VL with VNNI (Ice Lake, Zen 4 and later)
  Neon,      // AArch64 Advanced SIMD (every ARMv8-A core)
  NeonDot,   // + the dot-product extension, sdot (Cortex-A76, Neoverse N1, Apple M1 and later)
  NeonI8mm,  // + the int8 matrix-multiply extension, smmla (Neoverse V1 / N2, Graviton 3, Apple M2)
};
// Every level, for lists and tests (cpu_supports says which run here).
inline constexpr Isa kAllIsas[] = {Isa::Scalar, Isa::Avx2,    Isa::Avx2Vnni, Isa::Avx512,
                                   Isa::Neon,   Isa::NeonDot, Isa::NeonI8mm};
// The instruction set the kernels use: the best the CPU supports, lowered by the environment
// variable LOUPE_ISA=scalar|avx2|avx2-vnni|avx512|neon|neon-dot|neon-i8mm (a level the CPU cannot run is ignored)
// or by set_active_isa (the --isa flag).
Isa active_isa();
// Forces a tier before the first kernel runs (weights are packed for the tier at load, so call
// it before loading a model). False, and nothing changed, when the CPU cannot run it.
bool set_active_isa(Isa isa);
std::optional<Isa> isa_from_name(std::string_view name);
// Whether the CPU can run kernels of this level (independent of LOUPE_ISA); on AArch64 the
// dot-product and i8mm extensions are read from getauxval(AT_HWCAP / AT_HWCAP2).
bool cpu_supports(Isa isa);
// The best level the CPU supports.
Isa best_isa();
const char* isa_name(Isa isa);

float dot_f32(const float* a, const float* b, int64_t n);
// y += a * x
void axpy_f32(float a, const float* x, float* y, int64_t n);
// y[j] = exp(x[j] - shift) for j < n; returns the sum of the y (softmax's numerators and their
// normaliser). -inf gives 0 and NaN stays NaN. The vector paths use a polynomial exp within
// 4e-7 relative of the exact value (tested; kernels_elementwise.cpp).
float exp_shift_sum(const float* x, float shift, float* y, int64_t n);
// One attention row's softmax: out[j] = exp(in[j] - max) / sum for the row up to its last
// finite entry (trailing -inf entries, the causal mask, give 0 and stay out of the sum, so a row
// sums the same elements whatever the batch); a row with no finite entry gives zeros. NaN
// entries are skipped by the max and propagate through the sum.
void softmax_row(const float* in, float* out, int64_t n);
// The norms' arithmetic (engine/norm.cpp): the sum of x, and of (x - mean)^2, in double (the
// vector paths add in another order: equal to ~1e-16 relative); y = (x - mean) * inv * gamma +
// beta (beta may be null: + 0), the same operations on every path.
double sum_f64(const float* x, int64_t n);
double sum_sq_dev_f64(const float* x, int64_t n, double mean);
void norm_apply_f32(const float* x, int64_t n, float mean, float inv, const float* gamma, const float* beta, float* y);
// RoPE of one head: pairs (2k, 2k + 1) when adjacent, else (k, k + half), rotated by cs[k], sn[k]:
// y_a = x_a cs - x_b sn, y_b = x_a sn + x_b cs (same operations on every path). y may be x.
void rope_f32(const float* x, float* y, const float* cs, const float* sn, int64_t half, bool adjacent);
// y[j] = silu(g[j]) * u[j] = g[j] / (1 + exp(-g[j])) * u[j]
void silu_mul_f32(const float* g, const float* u, float* y, int64_t n);
// y[j] = gelu_tanh(g[j]) * u[j] (u null: * 1), computed as g / (1 + exp(-2 t)), t = sqrt(2/pi)
// (g + 0.044715 g^3), equal to 0.5 g (1 + tanh t); the vector path's exp is within 2 ulp of std::exp.
void gelu_mul_f32(const float* g, const float* u, float* y, int64_t n);
// The same as llama.cpp computes it (numerics.h): 0 at g <= -10, g at g >= 10, else ggml's table
// of GELU values at every fp16 input (each rounded to fp16) read at fp16(g); times u (u null: 1).
void gelu_mul_f32_ggml(const float* g, const float* u, float* y, int64_t n);

// Attention for one query row. out[j] = dot_f32(q, k + j k_stride, d) * scale for j < n_keys;
// z = sum over j < n of p[j] (v + j v_stride), positions with p[j] == 0 skipped, each element
// accumulated as axpy_f32 does. Same bits as those loops (kernels_attention.cpp).
void attn_scores(const float* q, const float* k, int64_t k_stride, int64_t n_keys, int64_t d, float scale, float* out);
void attn_mix(const float* p, int64_t n, const float* v, int64_t v_stride, int64_t d, float* z);
// attn_scores for n_rows causal query rows (queries q_stride apart, scores out_stride apart):
// row t sees keys [0, first_keys + t). The bits of attn_scores row by row, two rows at a time
// where the level allows.
void attn_scores_rows(const float* q, int64_t q_stride, int64_t n_rows, const float* k, int64_t k_stride,
                      int64_t first_keys, int64_t d, float scale, float* out, int64_t out_stride);
// attn_mix for n_rows query rows (weights p_stride apart, outputs z_stride apart) over the same
// positions: the bits of attn_mix row by row, several rows at a time where the level allows.
void attn_mix_rows(const float* p, int64_t p_stride, int64_t n_rows, int64_t n, const float* v, int64_t v_stride,
                   int64_t d, float* z, int64_t z_stride);

namespace kernels {
void attn_scores_scalar(const float* q, const float* k, int64_t k_stride, int64_t n_keys, int64_t d, float scale,
                        float* out);
void attn_scores_avx2(const float* q, const float* k, int64_t k_stride, int64_t n_keys, int64_t d, float scale,
                      float* out);
void attn_mix_scalar(const float* p, int64_t n, const float* v, int64_t v_stride, int64_t d, float* z);
void attn_mix_avx2(const float* p, int64_t n, const float* v, int64_t v_stride, int64_t d, float* z);
void attn_mix_avx512(const float* p, int64_t n, const float* v, int64_t v_stride, int64_t d, float* z);
float dot_f32_scalar(const float* a, const float* b, int64_t n);
float dot_f32_avx2(const float* a, const float* b, int64_t n);
void axpy_f32_scalar(float a, const float* x, float* y, int64_t n);
void axpy_f32_avx2(float a, const float* x, float* y, int64_t n);
float dot_f32_neon(const float* a, const float* b, int64_t n);
void axpy_f32_neon(float a, const float* x, float* y, int64_t n);
void softmax_row_scalar(const float* in, float* out, int64_t n);
void softmax_row_avx2(const float* in, float* out, int64_t n);
double sum_f64_scalar(const float* x, int64_t n);
double sum_f64_avx2(const float* x, int64_t n);
double sum_sq_dev_f64_scalar(const float* x, int64_t n, double mean);
double sum_sq_dev_f64_avx2(const float* x, int64_t n, double mean);
void norm_apply_f32_scalar(const float* x, int64_t n, float mean, float inv, const float* gamma, const float* beta,
                           float* y);
void norm_apply_f32_avx2(const float* x, int64_t n, float mean, float inv, const float* gamma, const float* beta,
                         float* y);
void rope_f32_scalar(const float* x, float* y, const float* cs, const float* sn, int64_t half, bool adjacent);
void rope_f32_avx2(const float* x, float* y, const float* cs, const float* sn, int64_t half, bool adjacent);
float exp_shift_sum_scalar(const float* x, float shift, float* y, int64_t n);
float exp_shift_sum_avx2(const float* x, float shift, float* y, int64_t n);
void silu_mul_f32_scalar(const float* g, const float* u, float* y, int64_t n);
void silu_mul_f32_avx2(const float* g, const float* u, float* y, int64_t n);
void gelu_mul_f32_scalar(const float* g, const float* u, float* y, int64_t n);
void gelu_mul_f32_avx2(const float* g, const float* u, float* y, int64_t n);
}  // namespace kernels

}  // namespace loupe
