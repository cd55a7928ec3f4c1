// The 32-element block formats Q4_0, Q4_1, Q5_0, Q5_1, Q8_0: dequantisers with ggml's arithmetic
// (int quant converted to float, times d, plus m) and ggml's reference quantisers, bit for bit.
#include <algorithm>
#include <array>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "tensor/half.h"
#include "tensor/quant_round.h"
#include "tensor/quant_rows.h"

namespace loupe::quant {

namespace {

constexpr int kHalf = kQK / 2;  // elements j and j + 16 share a byte of qs

// 1 << j from a table: a mask test against a loaded constant vectorises, a shift by j does not.
constexpr auto kBit = [] {
  std::array<uint32_t, 32> bits{};
  for (int j = 0; j < 32; ++j) bits[j] = 1u << j;
  return bits;
}();

uint32_t load_qh(const uint8_t (&qh)[4]) {
  return static_cast<uint32_t>(qh[0]) | static_cast<uint32_t>(qh[1]) << 8 | static_cast<uint32_t>(qh[2]) << 16 |
         static_cast<uint32_t>(qh[3]) << 24;
}

void store_qh(uint8_t (&qh)[4], uint32_t v) {
  for (int i = 0; i < 4; ++i) qh[i] = static_cast<uint8_t>(v >> (8 * i));
}

// The value of largest magnitude (the first one on ties), with its sign.
float signed_absmax(const float* x) {
  float amax = 0.f;
  float max = 0.f;
  for (int j = 0; j < kQK; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

void min_max(const float* x, float& lo, float& hi) {
  lo = FLT_MAX;
  hi = -FLT_MAX;
  for (int j = 0; j < kQK; ++j) {
    if (x[j] < lo) lo = x[j];
    if (x[j] > hi) hi = x[j];
  }
}

}  // namespace

void dequantize_q4_0(const BlockQ4_0* __restrict x, float* __restrict y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b, y += kQK) {
    const float d = half_at(x[b].d);
    const uint8_t* qs = x[b].qs;
    for (int j = 0; j < kHalf; ++j) {
      y[j] = static_cast<float>((qs[j] & 0xf) - 8) * d;
      y[j + kHalf] = static_cast<float>((qs[j] >> 4) - 8) * d;
    }
  }
}

void dequantize_q4_1(const BlockQ4_1* __restrict x, float* __restrict y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b, y += kQK) {
    const float d = half_at(x[b].d);
    const float m = half_at(x[b].m);
    // Unpack first: written as one loop, GCC 12 converts the nibbles to float one at a time.
    int32_t q[kQK];
    for (int j = 0; j < kHalf; ++j) {
      q[j] = x[b].qs[j] & 0xf;
      q[j + kHalf] = x[b].qs[j] >> 4;
    }
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(q[j]) * d + m;
  }
}

void dequantize_q5_0(const BlockQ5_0* __restrict x, float* __restrict y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b, y += kQK) {
    const float d = half_at(x[b].d);
    const uint32_t qh = load_qh(x[b].qh);
    const uint8_t* qs = x[b].qs;
    for (int j = 0; j < kHalf; ++j) {
      const int hi0 = (qh & kBit[j]) != 0 ? 16 : 0;
      const int hi1 = (qh & kBit[j + kHalf]) != 0 ? 16 : 0;
      y[j] = static_cast<float>(((qs[j] & 0xf) | hi0) - 16) * d;
      y[j + kHalf] = static_cast<float>(((qs[j] >> 4) | hi1) - 16) * d;
    }
  }
}

void dequantize_q5_1(const BlockQ5_1* __restrict x, float* __restrict y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b, y += kQK) {
    const float d = half_at(x[b].d);
    const float m = half_at(x[b].m);
    const uint32_t qh = load_qh(x[b].qh);
    const uint8_t* qs = x[b].qs;
    for (int j = 0; j < kHalf; ++j) {
      const int hi0 = (qh & kBit[j]) != 0 ? 16 : 0;
      const int hi1 = (qh & kBit[j + kHalf]) != 0 ? 16 : 0;
      y[j] = static_cast<float>((qs[j] & 0xf) | hi0) * d + m;
      y[j + kHalf] = static_cast<float>((qs[j] >> 4) | hi1) * d + m;
    }
  }
}

void dequantize_q8_0(const BlockQ8_0* __restrict x, float* __restrict y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b, y += kQK) {
    const float d = half_at(x[b].d);
    const int8_t* qs = x[b].qs;
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(qs[j]) * d;
  }
}

// d = (signed absmax) / -8, so the extreme value maps to q = 0 and the others to round(x/d) + 8
// (ggml computes it as trunc(x/d + 8.5), capped at 15).
void quantize_q4_0(const float* x, BlockQ4_0* y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b, x += kQK) {
    const float d = signed_absmax(x) / -8;
    const float id = d != 0.f ? 1.0f / d : 0.0f;
    set_half(y[b].d, d);
    for (int j = 0; j < kHalf; ++j) {
      const int q0 = trunc_clamp(x[j] * id + 8.5f, 0, 15);
      const int q1 = trunc_clamp(x[j + kHalf] * id + 8.5f, 0, 15);
      y[b].qs[j] = static_cast<uint8_t>(q0 | q1 << 4);
    }
  }
}

void quantize_q4_0_weighted(const float* x, BlockQ4_0* y, int64_t n_blocks, const float* w) {
  for (int64_t b = 0; b < n_blocks; ++b, x += kQK, w += kQK) {
    float amax = 0.0f;
    const float max = signed_absmax(x);
    amax = std::fabs(max);
    double best_err = INFINITY, best_d = 0.0;
    int best_q[kQK] = {};
    for (int k = -16; k <= 16 && amax > 0.0f; ++k) {
      const double d0 = max / -8.0 * (1.0 + k / 32.0);
      int q[kQK];
      double num = 0, den = 0;
      for (int i = 0; i < kQK; ++i) {
        q[i] = std::clamp(static_cast<int>(std::lround(x[i] / d0)), -8, 7);
        num += static_cast<double>(w[i]) * x[i] * q[i];
        den += static_cast<double>(w[i]) * q[i] * q[i];
      }
      const double d = den > 0 ? num / den : d0;
      const double dh = f16_to_f32(f32_to_f16(static_cast<float>(d)));
      double err = 0;
      for (int i = 0; i < kQK; ++i) {
        const double e = x[i] - dh * q[i];
        err += w[i] * e * e;
      }
      if (err < best_err) {
        best_err = err, best_d = d;
        std::copy(q, q + kQK, best_q);
      }
    }
    set_half(y[b].d, static_cast<float>(best_d));
    for (int j = 0; j < kHalf; ++j) y[b].qs[j] = static_cast<uint8_t>((best_q[j] + 8) | (best_q[j + kHalf] + 8) << 4);
  }
}

// d = (max - min) / 15, m = min, q = trunc((x - min) / d + 0.5) capped at 15.
void quantize_q4_1(const float* x, BlockQ4_1* y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b, x += kQK) {
    float lo, hi;
    min_max(x, lo, hi);
    const float d = (hi - lo) / 15;
    const float id = d != 0.f ? 1.0f / d : 0.0f;
    set_half(y[b].d, d);
    set_half(y[b].m, lo);
    for (int j = 0; j < kHalf; ++j) {
      const int q0 = trunc_clamp((x[j] - lo) * id + 0.5f, 0, 15);
      const int q1 = trunc_clamp((x[j + kHalf] - lo) * id + 0.5f, 0, 15);
      y[b].qs[j] = static_cast<uint8_t>(q0 | q1 << 4);
    }
  }
}

// As Q4_0 with 5 bits: d = (signed absmax) / -16, q = trunc(x/d + 16.5) capped at 31.
void quantize_q5_0(const float* x, BlockQ5_0* y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b, x += kQK) {
    const float d = signed_absmax(x) / -16;
    const float id = d != 0.f ? 1.0f / d : 0.0f;
    set_half(y[b].d, d);
    uint32_t qh = 0;
    for (int j = 0; j < kHalf; ++j) {
      const int q0 = trunc_clamp(x[j] * id + 16.5f, 0, 31);
      const int q1 = trunc_clamp(x[j + kHalf] * id + 16.5f, 0, 31);
      y[b].qs[j] = static_cast<uint8_t>((q0 & 0xf) | (q1 & 0xf) << 4);
      qh |= static_cast<uint32_t>(q0 >> 4) << j;
      qh |= static_cast<uint32_t>(q1 >> 4) << (j + kHalf);
    }
    store_qh(y[b].qh, qh);
  }
}

// As Q4_1 with 5 bits: d = (max - min) / 31.
void quantize_q5_1(const float* x, BlockQ5_1* y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b, x += kQK) {
    float lo, hi;
    min_max(x, lo, hi);
    const float d = (hi - lo) / 31;
    const float id = d != 0.f ? 1.0f / d : 0.0f;
    set_half(y[b].d, d);
    set_half(y[b].m, lo);
    uint32_t qh = 0;
    for (int j = 0; j < kHalf; ++j) {
      const int q0 = trunc_clamp((x[j] - lo) * id + 0.5f, 0, 31);
      const int q1 = trunc_clamp((x[j + kHalf] - lo) * id + 0.5f, 0, 31);
      y[b].qs[j] = static_cast<uint8_t>((q0 & 0xf) | (q1 & 0xf) << 4);
      qh |= static_cast<uint32_t>(q0 >> 4) << j;
      qh |= static_cast<uint32_t>(q1 >> 4) << (j + kHalf);
    }
    store_qh(y[b].qh, qh);
  }
}

// d = absmax / 127, q = roundf(x / d) (computed as x * (1/d), as ggml does).
void quantize_q8_0(const float* x, BlockQ8_0* y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b, x += kQK) {
    float amax = 0.f;
    for (int j = 0; j < kQK; ++j) {
      const float a = std::fabs(x[j]);
      amax = amax > a ? amax : a;
    }
    const float d = amax / 127;
    const float id = d != 0.f ? 1.0f / d : 0.0f;
    set_half(y[b].d, d);
    for (int j = 0; j < kQK; ++j) y[b].qs[j] = static_cast<int8_t>(round_away_clamp(x[j] * id, 127));
  }
}

}  // namespace loupe::quant
