// The K-quant super-block formats Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (256 elements per super-block).
// Dequantisers use ggml's arithmetic in ggml's order (sub-block scale = d * int first, then times
// the quant, minus the sub-block min), so they give ggml's float bits. Quantisers follow the
// method of ggml's quantize_row_*_ref: fit a scale (and min) per sub-block, quantise the scales
// against the largest one, then requantise the elements with the scales as stored.
#include <cmath>
#include <cstring>

#include "tensor/quant_round.h"
#include "tensor/quant_rows.h"

namespace loupe::quant {

namespace {

constexpr float kGroupMaxEps = 1e-15f;  // a sub-block below this magnitude counts as all zero

// ---- shared fitting helpers (n <= 32 elements of one sub-block) ----

// Fits x[i] ~ scale * L[i] + lo with L[i] in [0, nmax] and lo <= 0, weighting element i by w[i]
// and measuring error as squared (or, with use_mad, absolute) difference. Tries the plain
// min/max scale, then nstep + 1 scales (nmax + rmin + rdelta * k) / range, solving weighted least
// squares for (scale, lo) at each. Writes the best L, sets neg_min = -lo, returns scale.
float fit_scale_min(int n, int nmax, const float* x, const float* w, uint8_t* L, uint8_t* L_try, float rmin,
                    float rdelta, int nstep, bool use_mad, float& neg_min) {
  float lo = x[0];
  float hi = x[0];
  float sum_w = w[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < lo) lo = x[i];
    if (x[i] > hi) hi = x[i];
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (lo > 0) lo = 0;
  if (hi == lo) {
    std::memset(L, 0, static_cast<size_t>(n));
    neg_min = -lo;
    return 0.f;
  }
  auto error_of = [&](const uint8_t* q, float s, float m) {
    float err = 0;
    for (int i = 0; i < n; ++i) {
      float diff = s * q[i] + m - x[i];
      diff = use_mad ? std::fabs(diff) : diff * diff;
      err += w[i] * diff;
    }
    return err;
  };
  float iscale = nmax / (hi - lo);
  float scale = iscale != 0 ? 1 / iscale : 0.f;  // iscale is 0 only for infinite input
  for (int i = 0; i < n; ++i) L[i] = static_cast<uint8_t>(clamp_int(nearest_int(iscale * (x[i] - lo)), 0, nmax));
  float best_error = error_of(L, scale, lo);
  for (int step = 0; step <= nstep; ++step) {
    iscale = (rmin + rdelta * step + nmax) / (hi - lo);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = clamp_int(nearest_int(iscale * (x[i] - lo)), 0, nmax);
      L_try[i] = static_cast<uint8_t>(l);
      const float wl = w[i] * l;
      sum_l += wl;
      sum_l2 += wl * l;
      sum_xl += wl * x[i];
    }
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (det > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      const float err = error_of(L_try, this_scale, this_min);
      if (err < best_error) {
        std::memcpy(L, L_try, static_cast<size_t>(n));
        best_error = err;
        scale = this_scale;
        lo = this_min;
      }
    }
  }
  neg_min = -lo;
  return scale;
}

// The element of largest magnitude, with its sign (the first one on ties); amax its magnitude.
float signed_absmax(int n, const float* x, float& amax) {
  float max = 0;
  amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  return max;
}

// Fits x[i] ~ scale * (L[i] - nmax), L[i] in [0, 2 nmax - 1], minimising the error weighted by
// x[i]^2 over 19 candidate scales around nmax / absmax (ggml's make_qx_quants, rmse_type 1).
float fit_scale_symmetric(int n, int nmax, const float* x, int8_t* L) {
  float amax;
  const float max = signed_absmax(n, x, amax);
  if (amax < kGroupMaxEps) {
    std::memset(L, 0, static_cast<size_t>(n));
    return 0.f;
  }
  float iscale = -nmax / max;
  float sum_lx = 0, sum_l2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
    L[i] = static_cast<int8_t>(l + nmax);
    const float w = x[i] * x[i];
    sum_lx += w * x[i] * l;
    sum_l2 += w * l * l;
  }
  float scale = sum_l2 != 0 ? sum_lx / sum_l2 : 0.0f;
  float best = scale * sum_lx;
  for (int k = -9; k <= 9; ++k) {
    if (k == 0) continue;
    iscale = -(nmax + 0.1f * k) / max;
    sum_lx = sum_l2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
      const float w = x[i] * x[i];
      sum_lx += w * x[i] * l;
      sum_l2 += w * l * l;
    }
    if (sum_l2 > 0 && sum_lx * sum_lx > best * sum_l2) {
      for (int i = 0; i < n; ++i) {
        L[i] = static_cast<int8_t>(nmax + clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1));
      }
      scale = sum_lx / sum_l2;
      best = scale * sum_lx;
    }
  }
  return scale;
}

// As fit_scale_symmetric, but refines the quants one at a time (up to 5 sweeps) instead of
// trying candidate scales (ggml's make_q3_quants with do_rmse).
float fit_scale_refined(int n, int nmax, const float* x, int8_t* L) {
  float amax;
  const float max = signed_absmax(n, x, amax);
  if (amax < kGroupMaxEps) {
    std::memset(L, 0, static_cast<size_t>(n));
    return 0.f;
  }
  const float iscale = -nmax / max;
  float sum_lx = 0, sum_l2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
    L[i] = static_cast<int8_t>(l);
    const float w = x[i] * x[i];
    sum_lx += w * x[i] * l;
    sum_l2 += w * l * l;
  }
  for (int sweep = 0; sweep < 5; ++sweep) {
    int n_changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      float slx = sum_lx - w * x[i] * L[i];
      if (slx <= 0) continue;
      float sl2 = sum_l2 - w * L[i] * L[i];
      const int new_l = clamp_int(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
      if (new_l == L[i]) continue;
      slx += w * x[i] * new_l;
      sl2 += w * new_l * new_l;
      if (sl2 > 0 && slx * slx * sum_l2 > sum_lx * sum_lx * sl2) {
        L[i] = static_cast<int8_t>(new_l);
        sum_lx = slx;
        sum_l2 = sl2;
        ++n_changed;
      }
    }
    if (n_changed == 0) break;
  }
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
  return sum_l2 > 0.0f ? sum_lx / sum_l2 : 0.0f;
}

// Packs 256 2-bit values: element 128 h + 32 k + l goes to bits 2k of qs[32 h + l].
void pack_2bit(const uint8_t* L, uint8_t* qs) {
  for (int h = 0; h < 2; ++h) {
    const uint8_t* Lh = L + 128 * h;
    for (int l = 0; l < 32; ++l) {
      qs[32 * h + l] = static_cast<uint8_t>(Lh[l] | Lh[l + 32] << 2 | Lh[l + 64] << 4 | Lh[l + 96] << 6);
    }
  }
}

// Writes 8 6-bit scales and mins into the 12 bytes of a Q4_K / Q5_K block (inverse of scale_min_k4).
void pack_scale_min_k4(const uint8_t* ls, const uint8_t* lm, uint8_t* scales) {
  for (int j = 0; j < 4; ++j) {
    scales[j] = static_cast<uint8_t>(ls[j] | (ls[j + 4] >> 4) << 6);
    scales[j + 4] = static_cast<uint8_t>(lm[j] | (lm[j + 4] >> 4) << 6);
    scales[j + 8] = static_cast<uint8_t>((ls[j + 4] & 0xf) | (lm[j + 4] & 0xf) << 4);
  }
}

// The 6-bit scale s (s < 16) of a Q3_K block, before subtracting 32.
int q3k_scale(const uint8_t* scales, int s) {
  const int low = s < 8 ? scales[s] & 0xf : scales[s - 8] >> 4;
  const int high = (scales[8 + s % 4] >> (2 * (s / 4))) & 3;
  return low | high << 4;
}

// Common part of the Q4_K and Q5_K quantisers: fits the 8 sub-blocks of 32, stores d, dmin and
// the packed scales, and returns the requantised elements in L (values in [0, nmax]).
template <class Block>
void quantize_k_scale_min(const float* x, Block& y, int nmax, float rmin, float rdelta, int nstep,
                          uint8_t* L /* (256) */, const float* importance /* (256) or null */) {
  float scales[8];  // (8) sub-block scales
  float mins[8];    // (8) sub-block mins (as positive amounts to subtract)
  float weights[32];
  uint8_t L_try[32];
  float max_scale = 0, max_min = 0;
  float sigma2 = 0;  // with an importance: twice the super-block's mean square
  if (importance != nullptr) {
    for (int l = 0; l < 256; ++l) sigma2 += x[l] * x[l];
    sigma2 = 2 * sigma2 / 256;
  }
  for (int j = 0; j < 8; ++j) {
    const float* xj = x + 32 * j;
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += xj[l] * xj[l];
    const float av_x = std::sqrt(sum_x2 / 32);
    float sum_imp = 0;  // a sub-block no input reached keeps the plain weights
    if (importance != nullptr)
      for (int l = 0; l < 32; ++l) sum_imp += importance[32 * j + l];
    for (int l = 0; l < 32; ++l)
      weights[l] = sum_imp > 0 ? importance[32 * j + l] * std::sqrt(sigma2 + xj[l] * xj[l]) : av_x + std::fabs(xj[l]);
    scales[j] = fit_scale_min(32, nmax, xj, weights, L + 32 * j, L_try, rmin, rdelta, nstep, false, mins[j]);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  uint8_t ls[8], lm[8];
  for (int j = 0; j < 8; ++j) {
    ls[j] = static_cast<uint8_t>(clamp_int(nearest_int(inv_scale * scales[j]), 0, 63));
    lm[j] = static_cast<uint8_t>(clamp_int(nearest_int(inv_min * mins[j]), 0, 63));
  }
  pack_scale_min_k4(ls, lm, y.scales);
  set_half(y.d, max_scale / 63.f);
  set_half(y.dmin, max_min / 63.f);
  const float d_all = half_at(y.d);
  const float dmin_all = half_at(y.dmin);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, mn;
    scale_min_k4(j, y.scales, sc, mn);
    const float d = d_all * sc;
    if (d == 0) continue;
    const float dm = dmin_all * mn;
    for (int l = 0; l < 32; ++l) {
      L[32 * j + l] = static_cast<uint8_t>(clamp_int(nearest_int((x[32 * j + l] + dm) / d), 0, nmax));
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Dequantisers

void dequantize_q2_k(const BlockQ2_K* __restrict x, float* __restrict y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const float d = half_at(x[b].d);
    const float dmin = half_at(x[b].dmin);
    const uint8_t* scales = x[b].scales;
    for (int h = 0; h < 2; ++h) {
      const uint8_t* q = x[b].qs + 32 * h;
      for (int k = 0; k < 4; ++k) {
        const int shift = 2 * k;
        for (int part = 0; part < 2; ++part, y += 16) {  // two sub-blocks of 16 per shift
          const uint8_t sc = scales[8 * h + 2 * k + part];
          const float dl = d * (sc & 0xf);
          const float ml = dmin * (sc >> 4);
          const uint8_t* qp = q + 16 * part;
          for (int l = 0; l < 16; ++l) y[l] = dl * ((qp[l] >> shift) & 3) - ml;
        }
      }
    }
  }
}

void dequantize_q3_k(const BlockQ3_K* __restrict x, float* __restrict y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const float d_all = half_at(x[b].d);
    const uint8_t* hmask = x[b].hmask;
    for (int h = 0; h < 2; ++h) {
      const uint8_t* q = x[b].qs + 32 * h;
      for (int k = 0; k < 4; ++k) {
        const int shift = 2 * k;
        const uint8_t hbit = static_cast<uint8_t>(1u << (4 * h + k));
        for (int part = 0; part < 2; ++part, y += 16) {
          const float dl = d_all * (q3k_scale(x[b].scales, 8 * h + 2 * k + part) - 32);
          const uint8_t* qp = q + 16 * part;
          const uint8_t* hp = hmask + 16 * part;
          for (int l = 0; l < 16; ++l) {
            const int v = ((qp[l] >> shift) & 3) - ((hp[l] & hbit) ? 0 : 4);
            y[l] = dl * v;
          }
        }
      }
    }
  }
}

void dequantize_q4_k(const BlockQ4_K* __restrict x, float* __restrict y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const float d = half_at(x[b].d);
    const float dmin = half_at(x[b].dmin);
    for (int c = 0; c < 4; ++c, y += 64) {
      uint8_t sc, mn;
      scale_min_k4(2 * c, x[b].scales, sc, mn);
      const float d1 = d * sc, m1 = dmin * mn;
      scale_min_k4(2 * c + 1, x[b].scales, sc, mn);
      const float d2 = d * sc, m2 = dmin * mn;
      const uint8_t* q = x[b].qs + 32 * c;
      for (int l = 0; l < 32; ++l) y[l] = d1 * (q[l] & 0xf) - m1;
      for (int l = 0; l < 32; ++l) y[l + 32] = d2 * (q[l] >> 4) - m2;
    }
  }
}

void dequantize_q5_k(const BlockQ5_K* __restrict x, float* __restrict y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const float d = half_at(x[b].d);
    const float dmin = half_at(x[b].dmin);
    const uint8_t* qh = x[b].qh;
    for (int c = 0; c < 4; ++c, y += 64) {
      uint8_t sc, mn;
      scale_min_k4(2 * c, x[b].scales, sc, mn);
      const float d1 = d * sc, m1 = dmin * mn;
      scale_min_k4(2 * c + 1, x[b].scales, sc, mn);
      const float d2 = d * sc, m2 = dmin * mn;
      const uint8_t* q = x[b].qs + 32 * c;
      const int s1 = 2 * c, s2 = 2 * c + 1;  // bit of qh holding the fifth bit
      for (int l = 0; l < 32; ++l) y[l] = d1 * ((q[l] & 0xf) | ((qh[l] >> s1) & 1) << 4) - m1;
      for (int l = 0; l < 32; ++l) y[l + 32] = d2 * ((q[l] >> 4) | ((qh[l] >> s2) & 1) << 4) - m2;
    }
  }
}

void dequantize_q6_k(const BlockQ6_K* __restrict x, float* __restrict y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const float d = half_at(x[b].d);
    for (int h = 0; h < 2; ++h, y += 128) {
      const uint8_t* ql = x[b].ql + 64 * h;
      const uint8_t* qh = x[b].qh + 32 * h;
      const int8_t* sc = x[b].scales + 8 * h;
      for (int half = 0; half < 2; ++half) {  // l in [0, 16) uses scales sc[0, 2, 4, 6], then sc[1, 3, 5, 7]
        const float d1 = d * sc[half + 0], d2 = d * sc[half + 2];
        const float d3 = d * sc[half + 4], d4 = d * sc[half + 6];
        for (int l = 16 * half; l < 16 * half + 16; ++l) {
          const int q1 = ((ql[l] & 0xf) | ((qh[l] >> 0) & 3) << 4) - 32;
          const int q2 = ((ql[l + 32] & 0xf) | ((qh[l] >> 2) & 3) << 4) - 32;
          const int q3 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
          const int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
          y[l] = d1 * q1;
          y[l + 32] = d2 * q2;
          y[l + 64] = d3 * q3;
          y[l + 96] = d4 * q4;
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Quantisers

void quantize_q2_k(const float* x, BlockQ2_K* y, int64_t n_blocks) {
  constexpr float kQ4Scale = 15.f;
  for (int64_t b = 0; b < n_blocks; ++b, x += kQK_K) {
    uint8_t L[kQK_K];  // (256) quants in [0, 3]
    uint8_t L_try[16];
    float weights[16];
    float scales[16], mins[16];  // (16) per sub-block of 16
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 16; ++j) {
      for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
      scales[j] = fit_scale_min(16, 3, x + 16 * j, weights, L + 16 * j, L_try, -0.5f, 0.1f, 15, true, mins[j]);
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    BlockQ2_K& blk = y[b];
    if (max_scale > 0) {
      const float iscale = kQ4Scale / max_scale;
      for (int j = 0; j < 16; ++j)
        blk.scales[j] = static_cast<uint8_t>(clamp_int(nearest_int(iscale * scales[j]), 0, 15));
      set_half(blk.d, max_scale / kQ4Scale);
    } else {
      for (int j = 0; j < 16; ++j) blk.scales[j] = 0;
      set_half(blk.d, 0.f);
    }
    if (max_min > 0) {
      const float iscale = kQ4Scale / max_min;
      for (int j = 0; j < 16; ++j) {
        blk.scales[j] = static_cast<uint8_t>(blk.scales[j] | clamp_int(nearest_int(iscale * mins[j]), 0, 15) << 4);
      }
      set_half(blk.dmin, max_min / kQ4Scale);
    } else {
      set_half(blk.dmin, 0.f);
    }
    const float d_all = half_at(blk.d);
    const float dmin_all = half_at(blk.dmin);
    for (int j = 0; j < 16; ++j) {
      const float d = d_all * (blk.scales[j] & 0xf);
      if (d == 0) continue;
      const float dm = dmin_all * (blk.scales[j] >> 4);
      for (int l = 0; l < 16; ++l) {
        L[16 * j + l] = static_cast<uint8_t>(clamp_int(nearest_int((x[16 * j + l] + dm) / d), 0, 3));
      }
    }
    pack_2bit(L, blk.qs);
  }
}

void quantize_q3_k(const float* x, BlockQ3_K* y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b, x += kQK_K) {
    int8_t L[kQK_K];   // (256) quants in [0, 7] (signed value + 4)
    float scales[16];  // (16) per sub-block of 16, signed
    float max_scale = 0, amax = 0;
    for (int j = 0; j < 16; ++j) {
      scales[j] = fit_scale_refined(16, 4, x + 16 * j, L + 16 * j);
      if (std::fabs(scales[j]) > amax) {
        amax = std::fabs(scales[j]);
        max_scale = scales[j];
      }
    }
    BlockQ3_K& blk = y[b];
    std::memset(blk.scales, 0, sizeof blk.scales);
    if (max_scale != 0) {
      const float iscale = -32.f / max_scale;
      for (int j = 0; j < 16; ++j) {
        const int l = clamp_int(nearest_int(iscale * scales[j]), -32, 31) + 32;
        if (j < 8) {
          blk.scales[j] = static_cast<uint8_t>(l & 0xf);
        } else {
          blk.scales[j - 8] = static_cast<uint8_t>(blk.scales[j - 8] | (l & 0xf) << 4);
        }
        blk.scales[8 + j % 4] = static_cast<uint8_t>(blk.scales[8 + j % 4] | (l >> 4) << (2 * (j / 4)));
      }
      set_half(blk.d, 1 / iscale);
    } else {
      set_half(blk.d, 0.f);
    }
    const float d_all = half_at(blk.d);
    for (int j = 0; j < 16; ++j) {
      const float d = d_all * (q3k_scale(blk.scales, j) - 32);
      if (d == 0) continue;
      for (int l = 0; l < 16; ++l) {
        L[16 * j + l] = static_cast<int8_t>(clamp_int(nearest_int(x[16 * j + l] / d), -4, 3) + 4);
      }
    }
    // High bit of element i -> bit i / 32 of hmask[i % 32]; low 2 bits packed as Q2_K.
    std::memset(blk.hmask, 0, sizeof blk.hmask);
    uint8_t low[kQK_K];  // (256) low 2 bits
    for (int i = 0; i < kQK_K; ++i) {
      if (L[i] > 3) blk.hmask[i % 32] = static_cast<uint8_t>(blk.hmask[i % 32] | 1u << (i / 32));
      low[i] = static_cast<uint8_t>(L[i] & 3);
    }
    pack_2bit(low, blk.qs);
  }
}

void quantize_q4_k(const float* x, BlockQ4_K* y, int64_t n_blocks, const float* importance) {
  for (int64_t b = 0; b < n_blocks; ++b, x += kQK_K) {
    uint8_t L[kQK_K];  // (256) quants in [0, 15]
    quantize_k_scale_min(x, y[b], 15, -1.f, 0.1f, 20, L, importance != nullptr ? importance + b * kQK_K : nullptr);
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) y[b].qs[32 * c + l] = static_cast<uint8_t>(L[64 * c + l] | L[64 * c + 32 + l] << 4);
    }
  }
}

void quantize_q5_k(const float* x, BlockQ5_K* y, int64_t n_blocks, const float* importance) {
  for (int64_t b = 0; b < n_blocks; ++b, x += kQK_K) {
    uint8_t L[kQK_K];  // (256) quants in [0, 31]
    quantize_k_scale_min(x, y[b], 31, -0.5f, 0.1f, 15, L, importance != nullptr ? importance + b * kQK_K : nullptr);
    std::memset(y[b].qh, 0, sizeof y[b].qh);
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        const int q1 = L[64 * c + l], q2 = L[64 * c + 32 + l];
        y[b].qs[32 * c + l] = static_cast<uint8_t>((q1 & 0xf) | (q2 & 0xf) << 4);
        y[b].qh[l] = static_cast<uint8_t>(y[b].qh[l] | (q1 >> 4) << (2 * c) | (q2 >> 4) << (2 * c + 1));
      }
    }
  }
}

void quantize_q6_k(const float* x, BlockQ6_K* y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b, x += kQK_K) {
    int8_t L[kQK_K];   // (256) quants in [0, 63] (signed value + 32)
    float scales[16];  // (16) per sub-block of 16, signed
    float max_scale = 0, max_abs_scale = 0;
    for (int j = 0; j < 16; ++j) {
      scales[j] = fit_scale_symmetric(16, 32, x + 16 * j, L + 16 * j);
      if (std::fabs(scales[j]) > max_abs_scale) {
        max_abs_scale = std::fabs(scales[j]);
        max_scale = scales[j];
      }
    }
    BlockQ6_K& blk = y[b];
    if (max_abs_scale < kGroupMaxEps) {  // all (near) zero: d = 0 and every byte zero
      std::memset(&blk, 0, sizeof blk);
      continue;
    }
    const float iscale = -128.f / max_scale;
    set_half(blk.d, 1 / iscale);
    for (int j = 0; j < 16; ++j)
      blk.scales[j] = static_cast<int8_t>(clamp_int(nearest_int(iscale * scales[j]), -128, 127));
    const float d_all = half_at(blk.d);
    for (int j = 0; j < 16; ++j) {
      const float d = d_all * blk.scales[j];
      if (d == 0) continue;
      for (int l = 0; l < 16; ++l) {
        L[16 * j + l] = static_cast<int8_t>(clamp_int(nearest_int(x[16 * j + l] / d), -32, 31) + 32);
      }
    }
    for (int h = 0; h < 2; ++h) {
      const int8_t* Lh = L + 128 * h;
      uint8_t* ql = blk.ql + 64 * h;
      uint8_t* qh = blk.qh + 32 * h;
      for (int l = 0; l < 32; ++l) {
        ql[l] = static_cast<uint8_t>((Lh[l] & 0xf) | (Lh[l + 64] & 0xf) << 4);
        ql[l + 32] = static_cast<uint8_t>((Lh[l + 32] & 0xf) | (Lh[l + 96] & 0xf) << 4);
        qh[l] =
            static_cast<uint8_t>(Lh[l] >> 4 | (Lh[l + 32] >> 4) << 2 | (Lh[l + 64] >> 4) << 4 | (Lh[l + 96] >> 4) << 6);
      }
    }
  }
}

}  // namespace loupe::quant
