// ggml's dot products (ggml_rows.inc) with AArch64 Advanced SIMD: the 8 float lanes as two 4-lane
// registers (vfmaq_f32 is the same fused multiply-add), the integer lanes from widening products
// (smull: |weight| <= 128 and |activation| <= 127 fit 16 bits) added pairwise twice. llama.cpp's
// x86 AVX2 arithmetic on ARM, bit for bit (the order is the lanes', not the instruction set's).
#include "tensor/kernels.h"  // LOUPE_ARM

#if LOUPE_ARM
#include <arm_neon.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "tensor/ggml_dot.h"
#include "tensor/half.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_iq_grids.h"

namespace loupe::ggml::neon {
namespace {

struct B {
  struct F8 {
    float32x4_t lo, hi;
  };
  struct I8 {
    int32x4_t lo, hi;
  };
  static F8 fzero() { return {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)}; }
  static F8 fload(const float* p) { return {vld1q_f32(p), vld1q_f32(p + 4)}; }
  static void fstore(float* p, F8 a) {
    vst1q_f32(p, a.lo);
    vst1q_f32(p + 4, a.hi);
  }
  static F8 set1(float f) { return {vdupq_n_f32(f), vdupq_n_f32(f)}; }
  static F8 fma(F8 a, F8 b, F8 c) { return {vfmaq_f32(c.lo, a.lo, b.lo), vfmaq_f32(c.hi, a.hi, b.hi)}; }
  static F8 add(F8 a, F8 b) { return {vaddq_f32(a.lo, b.lo), vaddq_f32(a.hi, b.hi)}; }
  static F8 mul(F8 a, F8 b) { return {vmulq_f32(a.lo, b.lo), vmulq_f32(a.hi, b.hi)}; }
  static F8 cvt(I8 a) { return {vcvtq_f32_s32(a.lo), vcvtq_f32_s32(a.hi)}; }
  static I8 iload(const int* p) { return {vld1q_s32(p), vld1q_s32(p + 4)}; }
  static I8 iadd(I8 a, I8 b) { return {vaddq_s32(a.lo, b.lo), vaddq_s32(a.hi, b.hi)}; }
  static I8 isub(I8 a, I8 b) { return {vsubq_s32(a.lo, b.lo), vsubq_s32(a.hi, b.hi)}; }
  static int isum(I8 a) { return vaddvq_s32(a.lo) + vaddvq_s32(a.hi); }
  static I8 lanes_scaled(const int8_t* q, const int8_t* y, int s0, int s1) {
    const int8x16_t q0 = vld1q_s8(q), q1 = vld1q_s8(q + 16);
    const int8x16_t y0 = vld1q_s8(y), y1 = vld1q_s8(y + 16);
    const int32x4_t a0 = vpaddlq_s16(vmull_s8(vget_low_s8(q0), vget_low_s8(y0)));
    const int32x4_t a1 = vpaddlq_s16(vmull_high_s8(q0, y0));
    const int32x4_t a2 = vpaddlq_s16(vmull_s8(vget_low_s8(q1), vget_low_s8(y1)));
    const int32x4_t a3 = vpaddlq_s16(vmull_high_s8(q1, y1));
    return {vmulq_n_s32(vpaddq_s32(a0, a1), s0), vmulq_n_s32(vpaddq_s32(a2, a3), s1)};
  }
  static I8 lanes(const int8_t* q, const int8_t* y) { return lanes_scaled(q, y, 1, 1); }
  template <bool kUnsigned>
  static I8 lanes_p(const int8_t* q, const int8_t* y, const int16_t* p) {
    return lanes_scaled(q, y, p[0], p[8]);
  }
  static float h(const uint8_t (&b)[2]) { return quant::half_at(b); }
  // k fp16 (or bf16) values as floats (fcvtl is exact).
  static void halves(const uint8_t* p, int64_t k, bool bf16, std::vector<float>& out) {
    out.resize(static_cast<size_t>(k));
    float* o = out.data();
    int64_t j = 0;
    for (; j + 4 <= k; j += 4) {
      const uint16x4_t u = vld1_u16(reinterpret_cast<const uint16_t*>(p + 2 * j));
      const float32x4_t f = bf16 ? vreinterpretq_f32_u32(vshll_n_u16(u, 16)) : vcvt_f32_f16(vreinterpret_f16_u16(u));
      vst1q_f32(o + j, f);
    }
    for (; j < k; ++j) {
      const auto hv = static_cast<uint16_t>(p[2 * j] | p[2 * j + 1] << 8);
      o[j] = bf16 ? bf16_to_f32(hv) : f16_to_f32(hv);
    }
  }
};

#include "tensor/ggml_rows.inc"

}  // namespace

#include "tensor/ggml_rows_entry.inc"

}  // namespace loupe::ggml::neon
#endif
