// ggml's dot products (ggml_rows.inc) with AArch64 Advanced SIMD: the 8 float lanes as two 4-lane
// registers (vfmaq_f32 is the same fused multiply-add), the integer lanes from widening products
// (smull: |weight| <= 128 and |activation| <= 127 fit 16 bits) added pairwise twice, or from sdot
// on cores with the dot-product extension (the neon-dot and neon-i8mm tiers). llama.cpp's x86 AVX2
// arithmetic on ARM, bit for bit (the order is the lanes', not the instruction set's).
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

struct I8 {
  int32x4_t lo, hi;
};

// Lane l of 32 products: elements 4 l .. 4 l + 3, the first 16 times s0, the rest times s1.
struct Lanes {
  using I8 = neon::I8;
  static I8 lanes_scaled(const int8_t* q, const int8_t* y, int s0, int s1) {
    const int8x16_t q0 = vld1q_s8(q), q1 = vld1q_s8(q + 16);
    const int8x16_t y0 = vld1q_s8(y), y1 = vld1q_s8(y + 16);
    const int32x4_t a0 = vpaddlq_s16(vmull_s8(vget_low_s8(q0), vget_low_s8(y0)));
    const int32x4_t a1 = vpaddlq_s16(vmull_high_s8(q0, y0));
    const int32x4_t a2 = vpaddlq_s16(vmull_s8(vget_low_s8(q1), vget_low_s8(y1)));
    const int32x4_t a3 = vpaddlq_s16(vmull_high_s8(q1, y1));
    return {vmulq_n_s32(vpaddq_s32(a0, a1), s0), vmulq_n_s32(vpaddq_s32(a2, a3), s1)};
  }
};

#include "tensor/ggml_rows_neon_b.inc"  // B, over Lanes

#include "tensor/ggml_rows.inc"  // the kernels, over B

}  // namespace

#include "tensor/ggml_rows_entry.inc"

}  // namespace loupe::ggml::neon

// The same with sdot, whose 32-bit lanes are exactly ggml's sums of 4 adjacent products.
#pragma GCC push_options
#pragma GCC target("arch=armv8.2-a+dotprod")

namespace loupe::ggml::neon_dot {
namespace {

struct Lanes {
  using I8 = neon::I8;
  static I8 lanes_scaled(const int8_t* q, const int8_t* y, int s0, int s1) {
    const int32x4_t zero = vdupq_n_s32(0);
    return {vmulq_n_s32(vdotq_s32(zero, vld1q_s8(q), vld1q_s8(y)), s0),
            vmulq_n_s32(vdotq_s32(zero, vld1q_s8(q + 16), vld1q_s8(y + 16)), s1)};
  }
};

#include "tensor/ggml_rows_neon_b.inc"  // B, over Lanes

#include "tensor/ggml_rows.inc"  // the kernels, over B

}  // namespace

#include "tensor/ggml_rows_entry.inc"

}  // namespace loupe::ggml::neon_dot

#pragma GCC pop_options
#endif
