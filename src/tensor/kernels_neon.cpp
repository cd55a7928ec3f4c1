// Tile kernels for AArch64 Advanced SIMD (every ARMv8-A core): float activations against F32,
// F16, BF16 and the block formats converted in registers (the exact mode), q8 activations
// against the types with an int8 pairing (kernels_neon_q8.inc with smull / smlal2 products;
// kernels_neon_dot.cpp has the sdot ones), and the activation quantiser.
//
// Float tiles keep the scalar path's eight partial sums per output (two 4-lane vectors with
// fused multiply-adds) and combine them in its order, so on AArch64, where the compiler fuses
// the scalar loop's multiply-adds too, they give the scalar kernels' bits for F32, F16 and BF16.
#include "tensor/kernels.h"  // LOUPE_ARM

#include "tensor/kernels_matmul.h"

#if LOUPE_ARM
#include <arm_neon.h>

#include <cmath>
#include <type_traits>

#include "tensor/half.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_iq_grids.h"

namespace loupe::kernels {
namespace neon {

// Eight floats: elements k .. k + 3 in lo, k + 4 .. k + 7 in hi.
struct F8 {
  float32x4_t lo, hi;
};

inline F8 from_i8(int8x8_t q) {
  const int16x8_t w = vmovl_s8(q);
  return {vcvtq_f32_s32(vmovl_s16(vget_low_s16(w))), vcvtq_f32_s32(vmovl_high_s16(w))};
}
inline F8 scaled(int8x8_t q, float d) {
  const F8 f = from_i8(q);
  return {vmulq_n_f32(f.lo, d), vmulq_n_f32(f.hi, d)};
}
// q d - m, fused (as the x86 kernels' fms).
inline F8 scaled_min(int8x8_t q, float d, float m) {
  const F8 f = from_i8(q);
  const float32x4_t nm = vdupq_n_f32(-m);
  return {vfmaq_n_f32(nm, f.lo, d), vfmaq_n_f32(nm, f.hi, d)};
}
inline uint8x8_t nib8(uint8x8_t v, bool high) {
  return high ? vshr_n_u8(v, 4) : vand_u8(v, vdup_n_u8(15));
}

// Loads: eight weights at element k (a multiple of 8, so never straddling a 32-element block)
// as floats, and one weight (for tails, float types only in practice).
struct LoadF32 {
  static F8 vec(const uint8_t* p, int64_t k) {
    const float* f = reinterpret_cast<const float*>(p) + k;
    return {vld1q_f32(f), vld1q_f32(f + 4)};
  }
  static float one(const uint8_t* p, int64_t k) { return reinterpret_cast<const float*>(p)[k]; }
};
struct LoadF16 {
  static F8 vec(const uint8_t* p, int64_t k) {
    const float16x8_t h = vreinterpretq_f16_u8(vld1q_u8(p + 2 * k));
    return {vcvt_f32_f16(vget_low_f16(h)), vcvt_high_f32_f16(h)};
  }
  static float one(const uint8_t* p, int64_t k) {
    return f16_to_f32(static_cast<uint16_t>(p[2 * k] | p[2 * k + 1] << 8));
  }
};
struct LoadBF16 {
  static F8 vec(const uint8_t* p, int64_t k) {
    const uint16x8_t u = vreinterpretq_u16_u8(vld1q_u8(p + 2 * k));
    return {vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(u), 16)), vreinterpretq_f32_u32(vshll_high_n_u16(u, 16))};
  }
  static float one(const uint8_t* p, int64_t k) {
    return bf16_to_f32(static_cast<uint16_t>(p[2 * k] | p[2 * k + 1] << 8));
  }
};
struct LoadQ8_0 {
  static F8 vec(const uint8_t* p, int64_t k) {
    const auto* blk = reinterpret_cast<const quant::BlockQ8_0*>(p) + k / 32;
    return scaled(vld1_s8(blk->qs + k % 32), quant::half_at(blk->d));
  }
  static float one(const uint8_t* p, int64_t k) { return quant_element<DType::Q8_0>(p, k); }
};
struct LoadQ4_0 {
  static F8 vec(const uint8_t* p, int64_t k) {
    const auto* blk = reinterpret_cast<const quant::BlockQ4_0*>(p) + k / 32;
    const int64_t e = k % 32;
    const int8x8_t q = vsub_s8(vreinterpret_s8_u8(nib8(vld1_u8(blk->qs + e % 16), e >= 16)), vdup_n_s8(8));
    return scaled(q, quant::half_at(blk->d));
  }
  static float one(const uint8_t* p, int64_t k) { return quant_element<DType::Q4_0>(p, k); }
};
template <bool kFifthBit>
struct LoadQ45_K {
  using Block = std::conditional_t<kFifthBit, quant::BlockQ5_K, quant::BlockQ4_K>;
  static F8 vec(const uint8_t* p, int64_t k) {
    const auto* blk = reinterpret_cast<const Block*>(p) + k / 256;
    const int e = static_cast<int>(k % 256);
    const int c = e / 64, within = e % 64, j = 2 * c + within / 32, l = within % 32;
    uint8x8_t q = nib8(vld1_u8(blk->qs + 32 * c + l), within >= 32);
    if constexpr (kFifthBit) {
      const uint8x8_t bit = vand_u8(vshl_u8(vld1_u8(blk->qh + l), vdup_n_s8(static_cast<int8_t>(-j))), vdup_n_u8(1));
      q = vorr_u8(q, vshl_n_u8(bit, 4));
    }
    uint8_t sc = 0, mn = 0;
    quant::scale_min_k4(j, blk->scales, sc, mn);
    return scaled_min(vreinterpret_s8_u8(q), quant::half_at(blk->d) * static_cast<float>(sc),
                      quant::half_at(blk->dmin) * static_cast<float>(mn));
  }
  static float one(const uint8_t* p, int64_t k) {
    return quant_element < kFifthBit ? DType::Q5_K : DType::Q4_K > (p, k);
  }
};
struct LoadQ6_K {
  static F8 vec(const uint8_t* p, int64_t k) {
    const auto* blk = reinterpret_cast<const quant::BlockQ6_K*>(p) + k / 256;
    const int e = static_cast<int>(k % 256);
    const int h = e / 128, quarter = (e % 128) / 32, l = e % 32;
    const uint8x8_t lo = nib8(vld1_u8(blk->ql + 64 * h + (quarter % 2) * 32 + l), quarter >= 2);
    const uint8x8_t hi =
        vand_u8(vshl_u8(vld1_u8(blk->qh + 32 * h + l), vdup_n_s8(static_cast<int8_t>(-2 * quarter))), vdup_n_u8(3));
    const int8x8_t q = vsub_s8(vreinterpret_s8_u8(vorr_u8(lo, vshl_n_u8(hi, 4))), vdup_n_s8(32));
    return scaled(q, quant::half_at(blk->d) * static_cast<float>(blk->scales[e / 16]));
  }
  static float one(const uint8_t* p, int64_t k) { return quant_element<DType::Q6_K>(p, k); }
};
inline int8x8_t lookup16(const int8_t (&table)[16], uint8x8_t nibbles) {
  return vqtbl1_s8(vld1q_s8(table), nibbles);
}
struct LoadIQ4_NL {
  static F8 vec(const uint8_t* p, int64_t k) {
    const auto* blk = reinterpret_cast<const quant::BlockIQ4_NL*>(p) + k / 32;
    const int64_t e = k % 32;
    return scaled(lookup16(quant::kIq4nlValues, nib8(vld1_u8(blk->qs + e % 16), e >= 16)), quant::half_at(blk->d));
  }
  static float one(const uint8_t* p, int64_t k) { return quant_element<DType::IQ4_NL>(p, k); }
};
struct LoadIQ4_XS {
  static F8 vec(const uint8_t* p, int64_t k) {
    const auto* blk = reinterpret_cast<const quant::BlockIQ4_XS*>(p) + k / 256;
    const int e = static_cast<int>(k % 256), g = e / 32, w = e % 32;
    const float d = quant::half_at(blk->d) * static_cast<float>(quant::iq4_xs_ls(*blk, g) - 32);
    return scaled(lookup16(quant::kIq4nlValues, nib8(vld1_u8(blk->qs + 16 * g + w % 16), w >= 16)), d);
  }
  static float one(const uint8_t* p, int64_t k) { return quant_element<DType::IQ4_XS>(p, k); }
};
struct LoadMXFP4 {
  static F8 vec(const uint8_t* p, int64_t k) {
    const auto* blk = reinterpret_cast<const quant::BlockMXFP4*>(p) + k / 32;
    const int64_t e = k % 32;
    return scaled(lookup16(quant::kFp4Values, nib8(vld1_u8(blk->qs + e % 16), e >= 16)), quant::e8m0_half(blk->e));
  }
  static float one(const uint8_t* p, int64_t k) { return quant_element<DType::MXFP4>(p, k); }
};

// 32 vector registers: two activation rows of four weight rows keep 16 accumulators.
constexpr int kMaxActRows = 2;

template <class Load, int NM>
void tile_float_rows(const Tile& t, const uint8_t* const* w, const float* const* x, float* y) {
  float32x4_t lo[NM][kTileRows], hi[NM][kTileRows];
  for (int i = 0; i < NM; ++i)
    for (int r = 0; r < kTileRows; ++r) lo[i][r] = hi[i][r] = vdupq_n_f32(0.0f);
  int64_t k = 0;
  for (; k + 8 <= t.k; k += 8) {
    F8 wv[kTileRows];
    for (int r = 0; r < kTileRows; ++r) wv[r] = Load::vec(w[r], k);
    for (int i = 0; i < NM; ++i) {
      const float32x4_t xl = vld1q_f32(x[i] + k), xh = vld1q_f32(x[i] + k + 4);
      for (int r = 0; r < kTileRows; ++r) {
        lo[i][r] = vfmaq_f32(lo[i][r], xl, wv[r].lo);
        hi[i][r] = vfmaq_f32(hi[i][r], xh, wv[r].hi);
      }
    }
  }
  for (int i = 0; i < NM; ++i)
    for (int r = 0; r < t.nr; ++r) {
      const float32x4_t p = vaddq_f32(lo[i][r], hi[i][r]);
      float s = (vgetq_lane_f32(p, 0) + vgetq_lane_f32(p, 1)) + (vgetq_lane_f32(p, 2) + vgetq_lane_f32(p, 3));
      for (int64_t j = k; j < t.k; ++j) s += x[i][j] * Load::one(w[r], j);
      y[i * t.y_stride + r] = s;
    }
}

// Missing weight rows repeat the last one (computed, never stored).
template <class Load>
void tile_float(const Tile& t) {
  const uint8_t* w[kTileRows];
  for (int r = 0; r < kTileRows; ++r) w[r] = t.w[r < t.nr ? r : t.nr - 1];
  for (int i0 = 0; i0 < t.nm; i0 += kMaxActRows) {
    const float* x[kMaxActRows];
    const int nm = t.nm - i0 < kMaxActRows ? t.nm - i0 : kMaxActRows;
    for (int i = 0; i < nm; ++i)
      x[i] = reinterpret_cast<const float*>(static_cast<const uint8_t*>(t.x) + (i0 + i) * t.x_stride);
    if (nm == 1)
      tile_float_rows<Load, 1>(t, w, x, t.y + i0 * t.y_stride);
    else
      tile_float_rows<Load, 2>(t, w, x, t.y + i0 * t.y_stride);
  }
}

template <class Load>
void row_f32(const uint8_t* p, int64_t k, float* out) {
  int64_t j = 0;
  for (; j + 8 <= k; j += 8) {
    const F8 v = Load::vec(p, j);
    vst1q_f32(out + j, v.lo);
    vst1q_f32(out + j + 4, v.hi);
  }
  for (; j < k; ++j) out[j] = Load::one(p, j);
}

TileFn float_table(DType type) {
  switch (type) {
    case DType::F32: return tile_float<LoadF32>;
    case DType::F16: return tile_float<LoadF16>;
    case DType::BF16: return tile_float<LoadBF16>;
    case DType::Q8_0: return tile_float<LoadQ8_0>;
    case DType::Q4_0: return tile_float<LoadQ4_0>;
    case DType::Q4_K: return tile_float<LoadQ45_K<false>>;
    case DType::Q5_K: return tile_float<LoadQ45_K<true>>;
    case DType::Q6_K: return tile_float<LoadQ6_K>;
    case DType::IQ4_NL: return tile_float<LoadIQ4_NL>;
    case DType::IQ4_XS: return tile_float<LoadIQ4_XS>;
    case DType::MXFP4: return tile_float<LoadMXFP4>;
    default: return nullptr;
  }
}

RowFn row_table(DType type) {
  switch (type) {
    case DType::F16: return row_f32<LoadF16>;
    case DType::BF16: return row_f32<LoadBF16>;
    case DType::Q8_0: return row_f32<LoadQ8_0>;
    case DType::Q4_0: return row_f32<LoadQ4_0>;
    case DType::Q4_K: return row_f32<LoadQ45_K<false>>;
    case DType::Q5_K: return row_f32<LoadQ45_K<true>>;
    case DType::Q6_K: return row_f32<LoadQ6_K>;
    case DType::IQ4_NL: return row_f32<LoadIQ4_NL>;
    case DType::IQ4_XS: return row_f32<LoadIQ4_XS>;
    case DType::MXFP4: return row_f32<LoadMXFP4>;
    default: return nullptr;
  }
}

// ARMv8-A int8 products: smull of the low halves, smlal2 of the high ones into int16 (|a| <= 128
// and |b| <= 127, so two products never overflow), then a pairwise widening add.
inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
  const int16x8_t p = vmlal_high_s8(vmull_s8(vget_low_s8(a), vget_low_s8(b)), a, b);
  return vpadalq_s16(acc, p);
}

#define LOUPE_NEON_I8MM 0
#include "tensor/kernels_neon_q8.inc"
#undef LOUPE_NEON_I8MM

}  // namespace neon

// The scalar quantiser's bytes and scales: amax with maxNum (NaN ignored, as fmax), the
// multiplier 127 / amax, and fcvtns (round to nearest even; NaN to 0; saturating), clamped to
// +-127.
void quantize_act_q8_neon(const float* x, BlockQ8* y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const float* xb = x + b * 32;
    float32x4_t v[8];
    float32x4_t m = vdupq_n_f32(0.0f);
    uint32x4_t ordered = vdupq_n_u32(0xffffffffu);
    for (int j = 0; j < 8; ++j) {
      v[j] = vld1q_f32(xb + 4 * j);
      m = vmaxnmq_f32(m, vabsq_f32(v[j]));
      ordered = vandq_u32(ordered, vceqq_f32(v[j], v[j]));  // false for NaN
    }
    const float amax = vmaxnmvq_f32(m);
    const bool nan = vminvq_u32(ordered) == 0;
    const float d = nan ? NAN : round_to_f16(amax / 127.0f);  // as the scalar quantiser
    const float id = nan ? NAN : (amax != 0.0f ? 127.0f / amax : 0.0f);
    const int32x4_t lim = vdupq_n_s32(127), neg_lim = vdupq_n_s32(-127);
    int16x8_t h[4];
    for (int j = 0; j < 4; ++j) {
      const int32x4_t a = vmaxq_s32(vminq_s32(vcvtnq_s32_f32(vmulq_n_f32(v[2 * j], id)), lim), neg_lim);
      const int32x4_t c = vmaxq_s32(vminq_s32(vcvtnq_s32_f32(vmulq_n_f32(v[2 * j + 1], id)), lim), neg_lim);
      h[j] = vcombine_s16(vmovn_s32(a), vmovn_s32(c));
    }
    const int8x16_t q0 = vcombine_s8(vmovn_s16(h[0]), vmovn_s16(h[1]));
    const int8x16_t q1 = vcombine_s8(vmovn_s16(h[2]), vmovn_s16(h[3]));
    vst1q_s8(y[b].qs, q0);
    vst1q_s8(y[b].qs + 16, q1);
    y[b].d = d;
    y[b].half_sum[0] = static_cast<int16_t>(vaddlvq_s8(q0));
    y[b].half_sum[1] = static_cast<int16_t>(vaddlvq_s8(q1));
  }
}

TileFn tile_kernel_neon(DType type, bool q8_acts, Isa isa) {
  if (!q8_acts) return neon::float_table(type);
  if (isa == Isa::Neon) return neon::q8_table(type);
  return tile_kernel_neon_dot(type, isa == Isa::NeonI8mm);
}

RowFn row_to_f32_neon(DType type) {
  return neon::row_table(type);
}

}  // namespace loupe::kernels

#else   // not AArch64: no NEON kernels (active_isa() never picks them)

namespace loupe::kernels {
void quantize_act_q8_neon(const float* x, BlockQ8* y, int64_t n_blocks) {
  quantize_act_q8_scalar(x, y, n_blocks);
}
TileFn tile_kernel_neon(DType, bool, Isa) {
  return nullptr;
}
RowFn row_to_f32_neon(DType) {
  return nullptr;
}
}  // namespace loupe::kernels
#endif  // LOUPE_ARM
