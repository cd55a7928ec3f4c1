// The i-quants (IQ1_S .. IQ4_XS), the ternary TQ1_0 / TQ2_0 and MXFP4: dequantisers with ggml's
// arithmetic (the same float operations in the same order as ggml's dequantize_row_*, so the
// same bits), and the reference quantisers of the types that have a simple one (IQ4_NL, IQ4_XS,
// MXFP4, TQ1_0, TQ2_0: ggml's quantize_row_*_ref without an importance matrix). Block layouts
// are described in quant_blocks.h, the grids in quant_iq_grids.h.
#include <cmath>
#include <cstring>

#include "tensor/quant_iq_grids.h"
#include "tensor/quant_round.h"
#include "tensor/quant_rows.h"

namespace loupe::quant {

namespace {

uint16_t u16_at(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] | p[1] << 8);
}
uint32_t u32_at(const uint8_t* p) {
  uint32_t v = 0;
  std::memcpy(&v, p, sizeof(v));  // little-endian host (x86-64)
  return v;
}

// -1 or 1: multiplying by it (rather than negating) keeps ggml's bits, including -0 for a zero
// magnitude with its sign bit set.
float sign_of(uint32_t signs, int j) {
  return (signs >> j & 1) != 0 ? -1.f : 1.f;
}

// Eight elements of an IQ2 group: db * grid byte * sign, in ggml's order.
void grid8(uint64_t grid, uint32_t signs, float db, float* y) {
  for (int j = 0; j < 8; ++j) y[j] = db * static_cast<float>(grid_byte(grid, j)) * sign_of(signs, j);
}

// Four elements of an IQ3 grid entry, signs bits `first` ...
void grid4(uint32_t grid, uint32_t signs, int first, float db, float* y) {
  for (int j = 0; j < 4; ++j) y[j] = db * static_cast<float>(grid_byte(grid, j)) * sign_of(signs, first + j);
}

// Eight elements of an IQ1 grid entry (signed bytes), shifted by delta, times dl.
void grid8_shifted(uint64_t grid, float delta, float dl, float* y) {
  for (int j = 0; j < 8; ++j) y[j] = dl * (static_cast<float>(static_cast<int8_t>(grid_byte(grid, j))) + delta);
}

// The IQ2_XS / IQ2_S scale of a 16-element half: d (0.5 + s) 0.25.
float half_scale(float d, int s) {
  return d * (0.5f + static_cast<float>(s)) * 0.25f;
}

}  // namespace

void dequantize_iq2_xxs(const BlockIQ2_XXS* __restrict x, float* __restrict y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const float d = half_at(x[b].d);
    for (int g = 0; g < 8; ++g) {
      const uint8_t* q = x[b].qs + 8 * g;
      const uint32_t signs_scale = u32_at(q + 4);
      const float db = d * (0.5f + static_cast<float>(signs_scale >> 28)) * 0.25f;
      for (int l = 0; l < 4; ++l, y += 8) grid8(kIq2xxsGrid[q[l]], ksigns(signs_scale >> (7 * l)), db, y);
    }
  }
}

void dequantize_iq2_xs(const BlockIQ2_XS* __restrict x, float* __restrict y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const float d = half_at(x[b].d);
    for (int g = 0; g < 8; ++g) {
      const float db[2] = {half_scale(d, x[b].scales[g] & 0xf), half_scale(d, x[b].scales[g] >> 4)};
      for (int l = 0; l < 4; ++l, y += 8) {
        const uint16_t w = u16_at(x[b].qs + 2 * (4 * g + l));
        grid8(kIq2xsGrid[w & 511], ksigns(w >> 9), db[l / 2], y);
      }
    }
  }
}

void dequantize_iq2_s(const BlockIQ2_S* __restrict x, float* __restrict y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const float d = half_at(x[b].d);
    const uint8_t* qs = x[b].qs;
    const uint8_t* signs = x[b].qs + kQK_K / 8;
    for (int g = 0; g < 8; ++g) {
      const float db[2] = {half_scale(d, x[b].scales[g] & 0xf), half_scale(d, x[b].scales[g] >> 4)};
      for (int l = 0; l < 4; ++l, y += 8) {
        const int idx = qs[4 * g + l] | (x[b].qh[g] << (8 - 2 * l) & 0x300);
        grid8(kIq2sGrid[idx], signs[4 * g + l], db[l / 2], y);
      }
    }
  }
}

void dequantize_iq3_xxs(const BlockIQ3_XXS* __restrict x, float* __restrict y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const float d = half_at(x[b].d);
    const uint8_t* qs = x[b].qs;
    const uint8_t* scales_and_signs = x[b].qs + kQK_K / 4;
    for (int g = 0; g < 8; ++g) {
      const uint32_t aux = u32_at(scales_and_signs + 4 * g);
      const float db = d * (0.5f + static_cast<float>(aux >> 28)) * 0.5f;
      for (int l = 0; l < 4; ++l, y += 8) {
        const uint8_t signs = ksigns(aux >> (7 * l));
        grid4(kIq3xxsGrid[qs[8 * g + 2 * l]], signs, 0, db, y);
        grid4(kIq3xxsGrid[qs[8 * g + 2 * l + 1]], signs, 4, db, y + 4);
      }
    }
  }
}

void dequantize_iq3_s(const BlockIQ3_S* __restrict x, float* __restrict y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const float d = half_at(x[b].d);
    for (int g = 0; g < 8; ++g) {
      const float db = d * static_cast<float>(1 + 2 * (x[b].scales[g / 2] >> (4 * (g % 2)) & 0xf));
      const uint8_t* qs = x[b].qs + 8 * g;
      const int qh = x[b].qh[g];
      for (int l = 0; l < 4; ++l, y += 8) {
        const uint8_t signs = x[b].signs[4 * g + l];
        grid4(kIq3sGrid[qs[2 * l] | (qh << (8 - 2 * l) & 256)], signs, 0, db, y);
        grid4(kIq3sGrid[qs[2 * l + 1] | (qh << (7 - 2 * l) & 256)], signs, 4, db, y + 4);
      }
    }
  }
}

void dequantize_iq1_s(const BlockIQ1_S* __restrict x, float* __restrict y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const float d = half_at(x[b].d);
    for (int g = 0; g < 8; ++g) {
      const uint16_t qh = u16_at(x[b].qh + 2 * g);
      const float dl = d * static_cast<float>(2 * (qh >> 12 & 7) + 1);
      const float delta = (qh & 0x8000) != 0 ? -kIq1Delta : kIq1Delta;
      for (int l = 0; l < 4; ++l, y += 8)
        grid8_shifted(kIq1sGrid[x[b].qs[4 * g + l] | (qh >> (3 * l) & 7) << 8], delta, dl, y);
    }
  }
}

void dequantize_iq1_m(const BlockIQ1_M* __restrict x, float* __restrict y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    uint16_t sc[4];
    for (int w = 0; w < 4; ++w) sc[w] = u16_at(x[b].scales + 2 * w);
    const uint16_t d16 =
        static_cast<uint16_t>((sc[0] >> 12) | (sc[1] >> 8 & 0x00f0) | (sc[2] >> 4 & 0x0f00) | (sc[3] & 0xf000));
    const float d = f16_to_f32(d16);
    for (int g = 0; g < 8; ++g) {
      const int shift = 6 * (g % 2);
      const float dl[2] = {d * static_cast<float>(2 * (sc[g / 2] >> shift & 7) + 1),
                           d * static_cast<float>(2 * (sc[g / 2] >> (shift + 3) & 7) + 1)};
      for (int l = 0; l < 4; ++l, y += 8) {
        // The nibble of the l-th 8 elements: 3 high index bits, then the sign of the shift.
        const int nibble = x[b].qh[2 * g + l / 2] >> (4 * (l % 2)) & 0xf;
        const int idx = x[b].qs[4 * g + l] | (nibble & 7) << 8;
        grid8_shifted(kIq1sGrid[idx], (nibble & 8) != 0 ? -kIq1Delta : kIq1Delta, dl[l / 2], y);
      }
    }
  }
}

void dequantize_iq4_nl(const BlockIQ4_NL* __restrict x, float* __restrict y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b, y += kQK) {
    const float d = half_at(x[b].d);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = d * static_cast<float>(kIq4nlValues[x[b].qs[j] & 0xf]);
      y[j + kQK / 2] = d * static_cast<float>(kIq4nlValues[x[b].qs[j] >> 4]);
    }
  }
}

void dequantize_iq4_xs(const BlockIQ4_XS* __restrict x, float* __restrict y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const float d = half_at(x[b].d);
    const uint16_t scales_h = u16_at(x[b].scales_h);
    for (int g = 0; g < 8; ++g, y += 32) {
      const int ls = (x[b].scales_l[g / 2] >> (4 * (g % 2)) & 0xf) | (scales_h >> (2 * g) & 3) << 4;
      const float dl = d * static_cast<float>(ls - 32);
      const uint8_t* qs = x[b].qs + 16 * g;
      for (int j = 0; j < 16; ++j) {
        y[j] = dl * static_cast<float>(kIq4nlValues[qs[j] & 0xf]);
        y[j + 16] = dl * static_cast<float>(kIq4nlValues[qs[j] >> 4]);
      }
    }
  }
}

namespace {

// Trit n (0 = most significant) of a TQ1_0 byte: the fraction q / 256 times 3^n, its first
// base-3 digit after the point.
int trit(uint8_t q, int n) {
  constexpr uint8_t kPow3[5] = {1, 3, 9, 27, 81};
  const auto shifted = static_cast<uint8_t>(q * kPow3[n]);
  return static_cast<int>(static_cast<uint16_t>(shifted) * 3) >> 8;
}

}  // namespace

void dequantize_tq1_0(const BlockTQ1_0* __restrict x, float* __restrict y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const float d = half_at(x[b].d);
    const uint8_t* qs = x[b].qs;
    for (int n = 0; n < 5; ++n)
      for (int m = 0; m < 32; ++m) *y++ = static_cast<float>(trit(qs[m], n) - 1) * d;
    for (int n = 0; n < 5; ++n)
      for (int m = 0; m < 16; ++m) *y++ = static_cast<float>(trit(qs[32 + m], n) - 1) * d;
    for (int n = 0; n < 4; ++n)
      for (int j = 0; j < 4; ++j) *y++ = static_cast<float>(trit(x[b].qh[j], n) - 1) * d;
  }
}

void dequantize_tq2_0(const BlockTQ2_0* __restrict x, float* __restrict y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const float d = half_at(x[b].d);
    for (int h = 0; h < 2; ++h)
      for (int l = 0; l < 4; ++l)
        for (int m = 0; m < 32; ++m) *y++ = static_cast<float>((x[b].qs[32 * h + m] >> (2 * l) & 3) - 1) * d;
  }
}

void dequantize_mxfp4(const BlockMXFP4* __restrict x, float* __restrict y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b, y += kQK) {
    const float d = e8m0_half(x[b].e);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = static_cast<float>(kFp4Values[x[b].qs[j] & 0xf]) * d;
      y[j + kQK / 2] = static_cast<float>(kFp4Values[x[b].qs[j] >> 4]) * d;
    }
  }
}

// ---- Quantisers ---------------------------------------------------------------------------------

namespace {

// The index of the value nearest x in the 16 ascending kIq4nlValues (ties to the lower one);
// NaN gives a valid index.
int nearest_iq4(float x) {
  const int8_t* v = kIq4nlValues;
  if (x <= v[0]) return 0;
  if (x >= v[15]) return 15;
  int lo = 0, hi = 15;
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (x < v[mid])
      hi = mid;
    else
      lo = mid;
  }
  return x - static_cast<float>(v[hi - 1]) < static_cast<float>(v[hi]) - x ? hi - 1 : hi;
}

// ggml's quantize_row_iq4_nl_impl without an importance matrix (weights x^2): per 32-element
// block the scale of the signed absmax, refined by weighted least squares and, for ntry > 0,
// 2 ntry + 1 other starting scales; IQ4_XS (n_sub = 8) then quantises the block scales to 6 bits
// of a super-block scale and requantises each block with its rounded scale.
void quantize_iq4_impl(const float* x, int n_sub, int ntry, uint8_t (&dh)[2], uint8_t* q4, uint8_t* scales_h,
                       uint8_t* scales_l) {
  const int8_t* values = kIq4nlValues;
  uint8_t L[kQK_K];
  float scales[8];
  float max_scale = 0, amax_scale = 0;
  for (int ib = 0; ib < n_sub; ++ib) {
    const float* xb = x + 32 * ib;
    uint8_t* Lb = L + 32 * ib;
    float weight[32];
    float amax = 0, max = 0;
    for (int j = 0; j < 32; ++j) {
      weight[j] = xb[j] * xb[j];
      const float ax = std::fabs(xb[j]);
      if (ax > amax) {
        amax = ax;
        max = xb[j];
      }
    }
    if (amax < 1e-15f) {  // GROUP_MAX_EPS: an all-zero block
      scales[ib] = 0;
      for (int j = 0; j < 32; ++j) Lb[j] = static_cast<uint8_t>(nearest_iq4(0.f));
      continue;
    }
    float d = ntry > 0 ? -max / static_cast<float>(values[0]) : max / static_cast<float>(values[0]);
    float id = 1 / d;
    float sumqx = 0, sumq2 = 0;
    for (int j = 0; j < 32; ++j) {
      const int l = nearest_iq4(id * xb[j]);
      Lb[j] = static_cast<uint8_t>(l);
      const auto q = static_cast<float>(values[l]);
      sumqx += weight[j] * q * xb[j];
      sumq2 += weight[j] * q * q;
    }
    d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
    float best = d * sumqx;
    for (int itry = -ntry; itry <= ntry; ++itry) {
      id = static_cast<float>(itry + values[0]) / max;
      sumqx = sumq2 = 0;
      for (int j = 0; j < 32; ++j) {
        const auto q = static_cast<float>(values[nearest_iq4(id * xb[j])]);
        sumqx += weight[j] * q * xb[j];
        sumq2 += weight[j] * q * q;
      }
      if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
        d = sumqx / sumq2;
        best = d * sumqx;
      }
    }
    scales[ib] = d;
    if (std::fabs(d) > amax_scale) {
      amax_scale = std::fabs(d);
      max_scale = d;
    }
  }
  if (n_sub > 1) {
    uint16_t sh = 0;
    const float d = -max_scale / 32;
    set_half(dh, d);
    const float id = d != 0 ? 1 / d : 0.f;
    for (int ib = 0; ib < n_sub; ++ib) {
      const int l = clamp_int(nearest_int(id * scales[ib]), -32, 31);
      const float dl = d * static_cast<float>(l);
      const float idl = dl != 0 ? 1 / dl : 0.f;
      for (int j = 0; j < 32; ++j) L[32 * ib + j] = static_cast<uint8_t>(nearest_iq4(idl * x[32 * ib + j]));
      const int biased = l + 32;
      if (ib % 2 == 0)
        scales_l[ib / 2] = static_cast<uint8_t>(biased & 0xf);
      else
        scales_l[ib / 2] = static_cast<uint8_t>(scales_l[ib / 2] | (biased & 0xf) << 4);
      sh = static_cast<uint16_t>(sh | (biased >> 4) << (2 * ib));
    }
    scales_h[0] = static_cast<uint8_t>(sh & 0xff);
    scales_h[1] = static_cast<uint8_t>(sh >> 8);
  } else {
    set_half(dh, scales[0]);
  }
  for (int i = 0; i < n_sub; ++i)
    for (int j = 0; j < 16; ++j) q4[16 * i + j] = static_cast<uint8_t>(L[32 * i + j] | L[32 * i + 16 + j] << 4);
}

// The index of the kFp4Values entry nearest x at scale d (first on ties).
int nearest_fp4(float x, float d) {
  int best = 0;
  float best_err = std::fabs(static_cast<float>(kFp4Values[0]) * d - x);
  for (int i = 1; i < 16; ++i) {
    const float err = std::fabs(static_cast<float>(kFp4Values[i]) * d - x);
    if (err < best_err) {
      best = i;
      best_err = err;
    }
  }
  return best;
}

// The ternary digit of x / d as ggml rounds it (lroundf, then + 1): 0, 1 or 2.
int ternary(float x, float id) {
  return round_away_clamp(x * id, 1) + 1;
}

// The TQ scale: the largest magnitude of the 256 elements (NaN-free max as ggml's MAX macro).
float tq_scale(const float* x) {
  float amax = 0.0f;
  for (int j = 0; j < kQK_K; ++j) amax = amax > std::fabs(x[j]) ? amax : std::fabs(x[j]);
  return amax;
}

}  // namespace

void quantize_iq4_nl(const float* x, BlockIQ4_NL* y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b, x += kQK) quantize_iq4_impl(x, 1, -1, y[b].d, y[b].qs, nullptr, nullptr);
}

void quantize_iq4_xs(const float* x, BlockIQ4_XS* y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b, x += kQK_K)
    quantize_iq4_impl(x, kQK_K / 32, 7, y[b].d, y[b].qs, y[b].scales_h, y[b].scales_l);
}

void quantize_mxfp4(const float* x, BlockMXFP4* y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b, x += kQK) {
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j)
      if (amax < std::fabs(x[j])) amax = std::fabs(x[j]);
    // The exponent that puts amax in [4, 8) times the unit, so the largest E2M1 value 6 (12
    // doubled) covers it; clamped to the E8M0 range (ggml's cast is undefined outside it).
    const uint8_t e =
        amax > 0.0f ? static_cast<uint8_t>(trunc_clamp(std::floor(std::log2(amax)) - 2 + 127, 0, 255)) : 0;
    const float d = e8m0_half(e);
    y[b].e = e;
    for (int j = 0; j < kQK / 2; ++j)
      y[b].qs[j] = static_cast<uint8_t>(nearest_fp4(x[j], d) | nearest_fp4(x[j + kQK / 2], d) << 4);
  }
}

void quantize_tq1_0(const float* x, BlockTQ1_0* y, int64_t n_blocks) {
  // Five (or four) trits t_n as the byte ceil(t 256 / 243), t = sum of t_n 3^(4 - n).
  auto pack = [](const float* xs, int stride, int n, float id) {
    int q = 0;
    for (int k = 0; k < n; ++k) q = q * 3 + ternary(xs[k * stride], id);
    for (int k = n; k < 5; ++k) q *= 3;
    return static_cast<uint8_t>((q * 256 + 242) / 243);
  };
  for (int64_t b = 0; b < n_blocks; ++b, x += kQK_K) {
    const float d = tq_scale(x);
    const float id = d != 0 ? 1.0f / d : 0.0f;
    set_half(y[b].d, d);
    for (int m = 0; m < 32; ++m) y[b].qs[m] = pack(x + m, 32, 5, id);
    for (int m = 0; m < 16; ++m) y[b].qs[32 + m] = pack(x + 160 + m, 16, 5, id);
    for (int j = 0; j < 4; ++j) y[b].qh[j] = pack(x + 240 + j, 4, 4, id);
  }
}

void quantize_tq2_0(const float* x, BlockTQ2_0* y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b, x += kQK_K) {
    const float d = tq_scale(x);
    const float id = d != 0 ? 1.0f / d : 0.0f;
    set_half(y[b].d, d);
    for (int h = 0; h < 2; ++h)
      for (int m = 0; m < 32; ++m) {
        int q = 0;
        for (int l = 0; l < 4; ++l) q |= ternary(x[128 * h + 32 * l + m], id) << (2 * l);
        y[b].qs[32 * h + m] = static_cast<uint8_t>(q);
      }
  }
}

}  // namespace loupe::quant
