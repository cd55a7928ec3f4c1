#include "tensor/ggml_dot.h"

#include <bit>
#include <cmath>
#include <cstring>

#include "tensor/half.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_iq_grids.h"

namespace loupe::ggml {
namespace {

using kernels::BlockQ8;
using namespace loupe::quant;

// ggml's hsum_float_8: the upper four lanes added to the lower four, then (0 + 2) + (1 + 3).
float hsum8(const float (&a)[8]) {
  float r[4];
  for (int i = 0; i < 4; ++i) r[i] = a[4 + i] + a[i];
  return (r[0] + r[2]) + (r[1] + r[3]);
}

// GGML_F32x8_REDUCE of four 8-lane accumulators: (0 + 2) + (1 + 3) lane-wise, the 128-bit halves
// added, then two horizontal adds.
float reduce4x8(const float (&sum)[4][8]) {
  float v[8];
  for (int l = 0; l < 8; ++l) v[l] = (sum[0][l] + sum[2][l]) + (sum[1][l] + sum[3][l]);
  float t0[4];
  for (int l = 0; l < 4; ++l) t0[l] = v[l] + v[l + 4];
  return (t0[0] + t0[1]) + (t0[2] + t0[3]);
}

// ggml_vec_dot_f16 (AVX): four accumulators of 8 lanes over steps of 32 elements, fused
// multiply-adds of the fp16 values as floats; reduced as GGML_F32x8_REDUCE: (0 + 2) + (1 + 3)
// lane-wise, then the 128-bit halves added, then two horizontal adds; the rest of the row (n mod
// 32) in double. ggml_vec_dot_bf16 (AVX2): the same accumulators with separate multiply and add
// (the products of two 8-bit mantissas are exact either way), reduced (0 + 2) + (1 + 3) and by
// hsum_float_8.
template <bool kBf16>
float dot_half(const uint8_t* row, const float* x, int64_t k) {
  auto w = [row](int64_t j) {
    const auto h = static_cast<uint16_t>(row[2 * j] | row[2 * j + 1] << 8);
    return kBf16 ? bf16_to_f32(h) : f16_to_f32(h);
  };
  float sum[4][8] = {};
  const int64_t np = k - k % 32;
  for (int64_t i = 0; i < np; i += 32)
    for (int j = 0; j < 4; ++j)
      for (int l = 0; l < 8; ++l) {
        const int64_t e = i + 8 * j + l;
        sum[j][l] = kBf16 ? sum[j][l] + w(e) * x[e] : std::fma(w(e), x[e], sum[j][l]);
      }
  double total;
  if (kBf16) {
    float v[8];
    for (int l = 0; l < 8; ++l) v[l] = (sum[0][l] + sum[2][l]) + (sum[1][l] + sum[3][l]);
    total = hsum8(v);
  } else {
    total = reduce4x8(sum);
  }
  for (int64_t e = np; e < k; ++e) total += static_cast<double>(w(e) * x[e]);
  return static_cast<float>(total);
}

// Products of a 32-block's weight integers with an activation block: the 8 lanes of 4 adjacent
// products (maddubs + madd, or dpbusd) as ggml's 256-bit kernels hold them.
void lanes32(const int (&q)[32], const int8_t* y, int (&lane)[8]) {
  for (int l = 0; l < 8; ++l) {
    lane[l] = 0;
    for (int t = 4 * l; t < 4 * l + 4; ++t) lane[l] += q[t] * y[t];
  }
}

int block_sum(const int (&q)[32], const int8_t* y) {
  int s = 0;
  for (int t = 0; t < 32; ++t) s += q[t] * y[t];
  return s;
}

// ---- 32-element formats --------------------------------------------------------------------

void nibbles(const uint8_t* qs, int (&q)[32]) {
  for (int j = 0; j < 16; ++j) {
    q[j] = qs[j] & 15;
    q[j + 16] = qs[j] >> 4;
  }
}

void fifth_bits(const uint8_t (&qh)[4], int (&q)[32]) {
  uint32_t h;
  std::memcpy(&h, qh, 4);
  for (int j = 0; j < 32; ++j) q[j] |= static_cast<int>((h >> j) & 1) << 4;
}

// ggml_vec_dot_q8_0_q8_0 / q4_0_q8_0 / q5_0_q8_0 (AVX2): per block d = dw * dx, acc[lane] = fma(d, lane sum,
// acc[lane]); hsum_float_8. q4_1_q8_1 / q5_1_q8_1 the same plus summs += m * s (an exact product
// of two halves), added after the horizontal sum.
template <DType T>
float dot_legacy(const uint8_t* row, const Acts& a) {
  const int64_t nb = a.k / 32;
  float acc[8] = {};
  float summs = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    const BlockQ8& y = a.q[static_cast<size_t>(b)];
    int q[32];
    float dw = 0.0f, mw = 0.0f;
    if constexpr (T == DType::Q8_0) {
      const auto& blk = reinterpret_cast<const BlockQ8_0*>(row)[b];
      for (int j = 0; j < 32; ++j) q[j] = blk.qs[j];
      dw = half_at(blk.d);
    } else if constexpr (T == DType::Q4_0) {
      const auto& blk = reinterpret_cast<const BlockQ4_0*>(row)[b];
      nibbles(blk.qs, q);
      for (int& v : q) v -= 8;
      dw = half_at(blk.d);
    } else if constexpr (T == DType::Q5_0) {
      const auto& blk = reinterpret_cast<const BlockQ5_0*>(row)[b];
      nibbles(blk.qs, q);
      fifth_bits(blk.qh, q);
      for (int& v : q) v -= 16;
      dw = half_at(blk.d);
    } else if constexpr (T == DType::Q4_1) {
      const auto& blk = reinterpret_cast<const BlockQ4_1*>(row)[b];
      nibbles(blk.qs, q);
      dw = half_at(blk.d);
      mw = half_at(blk.m);
    } else {
      static_assert(T == DType::Q5_1);
      const auto& blk = reinterpret_cast<const BlockQ5_1*>(row)[b];
      nibbles(blk.qs, q);
      fifth_bits(blk.qh, q);
      dw = half_at(blk.d);
      mw = half_at(blk.m);
    }
    int lane[8];
    lanes32(q, y.qs, lane);
    const float d = dw * y.d;
    for (int l = 0; l < 8; ++l) acc[l] = std::fma(d, static_cast<float>(lane[l]), acc[l]);
    if constexpr (T == DType::Q4_1 || T == DType::Q5_1) summs += mw * a.s[static_cast<size_t>(b)];
  }
  return hsum8(acc) + summs;
}

// ggml's repacked 8-row kernels (gemv_q4_b32_8x8, Q4_0, IQ4_NL and MXFP4 on AVX2): one exact
// integer sum per block, acc = fma(sum, dw * dx, acc).
template <DType T>
float dot_gemv32(const uint8_t* row, const Acts& a) {
  const int64_t nb = a.k / 32;
  float acc = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    const BlockQ8& y = a.q[static_cast<size_t>(b)];
    int q[32];
    float dw = 0.0f;
    if constexpr (T == DType::Q4_0) {
      const auto& blk = reinterpret_cast<const BlockQ4_0*>(row)[b];
      nibbles(blk.qs, q);
      for (int& v : q) v -= 8;
      dw = half_at(blk.d);
    } else if constexpr (T == DType::IQ4_NL) {
      const auto& blk = reinterpret_cast<const BlockIQ4_NL*>(row)[b];
      nibbles(blk.qs, q);
      for (int& v : q) v = kIq4nlValues[v];
      dw = half_at(blk.d);
    } else {
      static_assert(T == DType::MXFP4);
      const auto& blk = reinterpret_cast<const BlockMXFP4*>(row)[b];
      nibbles(blk.qs, q);
      for (int& v : q) v = kFp4Values[v];
      dw = e8m0_half(blk.e);
    }
    acc = std::fma(static_cast<float>(block_sum(q, y.qs)), dw * y.d, acc);
  }
  return acc;
}

// ---- K-quants: super-blocks of 256 against Q8_K --------------------------------------------

// Element e of a Q2_K / Q3_K / Q6_K super-block sits at (half j, quarter k, byte t):
// e = 128 j + 32 k + t.
struct Super {
  int q[256];       // the integer each element multiplies
  int scale[256];   // its sub-block's integer scale
  float d = 0.0f;   // fp16 super-block scale
  float dm = 0.0f;  // fp16 scale of the mins (Q2_K, Q4_K, Q5_K)
  int mins[16] = {};
};

// The 8 lanes of a super-block: lane l holds the elements with (e mod 32) / 4 == l, each its
// scale times its integer times its activation (ggml's maddubs / madd layout).
void lanes256(const Super& s, const BlockQ8* y, int (&lane)[8]) {
  // Integer sums: exact in any order, so block by block (the loops vectorise).
  int acc[32] = {};
  for (int b = 0; b < 8; ++b) {
    const int* sc = s.scale + 32 * b;
    const int* q = s.q + 32 * b;
    const int8_t* yq = y[b].qs;
    for (int t = 0; t < 32; ++t) acc[t] += sc[t] * q[t] * yq[t];
  }
  for (int l = 0; l < 8; ++l) lane[l] = (acc[4 * l] + acc[4 * l + 1]) + (acc[4 * l + 2] + acc[4 * l + 3]);
}

// The 16 sums of 16 activations (Q8_K's bsums).
void bsums(const BlockQ8* y, int (&out)[16]) {
  for (int b = 0; b < 8; ++b) {
    out[2 * b] = y[b].half_sum[0];
    out[2 * b + 1] = y[b].half_sum[1];
  }
}

void decode_q2_k(const BlockQ2_K& blk, Super& s) {
  for (int j = 0; j < 2; ++j)
    for (int k = 0; k < 4; ++k) {
      int* q = s.q + 128 * j + 32 * k;
      for (int t = 0; t < 32; ++t) q[t] = (blk.qs[32 * j + t] >> (2 * k)) & 3;
    }
  for (int e = 0; e < 256; ++e) s.scale[e] = blk.scales[e / 16] & 15;
  for (int i = 0; i < 16; ++i) s.mins[i] = blk.scales[i] >> 4;
  s.d = half_at(blk.d);
  s.dm = half_at(blk.dmin);
}

void decode_q3_k(const BlockQ3_K& blk, Super& s) {
  uint32_t aux[4];
  std::memcpy(aux, blk.scales, 12);
  constexpr uint32_t kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
  const uint32_t tmp = aux[2];
  aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
  aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
  aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
  aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
  int8_t sc[16];
  std::memcpy(sc, aux, 16);
  for (int j = 0; j < 2; ++j)
    for (int k = 0; k < 4; ++k) {
      int* q = s.q + 128 * j + 32 * k;
      for (int t = 0; t < 32; ++t)
        q[t] = ((blk.qs[32 * j + t] >> (2 * k)) & 3) - (((blk.hmask[t] >> (4 * j + k)) & 1) != 0 ? 0 : 4);
    }
  for (int e = 0; e < 256; ++e) s.scale[e] = sc[e / 16] - 32;
  s.d = half_at(blk.d);
}

template <class Block>
void decode_q45_k(const Block& blk, bool fifth, Super& s) {
  uint8_t sc[8], mn[8];
  for (int j = 0; j < 8; ++j) scale_min_k4(j, blk.scales, sc[j], mn[j]);
  // Sub-block j (32 elements): nibble j % 2 of bytes 32 (j / 2) .., the fifth bit j of qh.
  for (int j = 0; j < 8; ++j) {
    const uint8_t* qs = blk.qs + 32 * (j / 2);
    const int shift = 4 * (j % 2);
    int* q = s.q + 32 * j;
    for (int t = 0; t < 32; ++t) q[t] = (qs[t] >> shift) & 15;
    if (fifth) {
      if constexpr (requires { blk.qh; })
        for (int t = 0; t < 32; ++t) q[t] |= ((blk.qh[t] >> j) & 1) << 4;
    }
    for (int t = 0; t < 32; ++t) s.scale[32 * j + t] = sc[j];
  }
  for (int j = 0; j < 8; ++j) s.mins[j] = mn[j];
  s.d = half_at(blk.d);
  s.dm = half_at(blk.dmin);
}

void decode_q6_k(const BlockQ6_K& blk, Super& s) {
  for (int j = 0; j < 2; ++j)
    for (int k = 0; k < 4; ++k) {
      const uint8_t* ql = blk.ql + 64 * j + 32 * (k % 2);
      const uint8_t* qh = blk.qh + 32 * j;
      const int shift = k < 2 ? 0 : 4;
      int* q = s.q + 128 * j + 32 * k;
      // unsigned: ggml takes 32 times the scaled sums off afterwards
      for (int t = 0; t < 32; ++t) q[t] = ((ql[t] >> shift) & 15) | ((qh[t] >> (2 * k)) & 3) << 4;
    }
  for (int e = 0; e < 256; ++e) s.scale[e] = blk.scales[e / 16];
  s.d = half_at(blk.d);
}

void decode_iq4_xs(const BlockIQ4_XS& blk, Super& s) {
  for (int e = 0; e < 256; ++e) {
    const int g = e / 32, j = e % 32;
    const uint8_t b = blk.qs[16 * g + j % 16];
    s.q[e] = kIq4nlValues[j < 16 ? b & 15 : b >> 4];
    s.scale[e] = iq4_xs_ls(blk, g) - 32;
  }
  s.d = half_at(blk.d);
}

// ggml_vec_dot_{q2,q3,q5,q6}_K_q8_K and iq4_xs_q8_K (AVX2): per super-block
// acc[lane] = fma(d, lane sum, acc[lane]) with d = dx * dw; Q2_K first adds
// fma(-dx * dmin, min_{2l} bsum_{2l} + min_{2l+1} bsum_{2l+1}, acc[lane]); Q6_K takes
// 32 (sc_{2l} bsum_{2l} + sc_{2l+1} bsum_{2l+1}) off lane l's sum; Q5_K adds
// fma(-dx * dmin, sum of min_j times the 32-sums, summs) after the horizontal sum.
template <DType T>
float dot_kquant(const uint8_t* row, const Acts& a) {
  const int64_t nb = a.k / 256;
  float acc[8] = {};
  float summs = 0.0f;
  float acc_m[4] = {};  // Q4_K's mins
  Super s;
  for (int64_t i = 0; i < nb; ++i) {
    const BlockQ8* y = a.q.data() + 8 * i;
    const float dy = y[0].d;
    if constexpr (T == DType::Q2_K) decode_q2_k(reinterpret_cast<const BlockQ2_K*>(row)[i], s);
    if constexpr (T == DType::Q3_K) decode_q3_k(reinterpret_cast<const BlockQ3_K*>(row)[i], s);
    if constexpr (T == DType::Q4_K) decode_q45_k(reinterpret_cast<const BlockQ4_K*>(row)[i], false, s);
    if constexpr (T == DType::Q5_K) decode_q45_k(reinterpret_cast<const BlockQ5_K*>(row)[i], true, s);
    if constexpr (T == DType::Q6_K) decode_q6_k(reinterpret_cast<const BlockQ6_K*>(row)[i], s);
    if constexpr (T == DType::IQ4_XS) decode_iq4_xs(reinterpret_cast<const BlockIQ4_XS*>(row)[i], s);
    int bs[16];
    bsums(y, bs);
    const float d = dy * s.d;
    if constexpr (T == DType::Q2_K) {
      const float dmin = -dy * s.dm;
      for (int l = 0; l < 8; ++l)
        acc[l] =
            std::fma(dmin, static_cast<float>(s.mins[2 * l] * bs[2 * l] + s.mins[2 * l + 1] * bs[2 * l + 1]), acc[l]);
    }
    if constexpr (T == DType::Q4_K) {
      // ggml_vec_dot_q4_K_q8_K: 4 lanes of min_{2m} bsum32_{2m} + min_{2m+1} bsum32_{2m+1}
      const float dmin = -dy * s.dm;
      for (int m = 0; m < 4; ++m)
        acc_m[m] = std::fma(dmin,
                            static_cast<float>(s.mins[2 * m] * (bs[4 * m] + bs[4 * m + 1]) +
                                               s.mins[2 * m + 1] * (bs[4 * m + 2] + bs[4 * m + 3])),
                            acc_m[m]);
    }
    if constexpr (T == DType::Q5_K) {
      const float dmin = -dy * s.dm;
      int m = 0;
      for (int j = 0; j < 8; ++j) m += s.mins[j] * (bs[2 * j] + bs[2 * j + 1]);
      summs = std::fma(dmin, static_cast<float>(m), summs);
    }
    int lane[8];
    lanes256(s, y, lane);
    if constexpr (T == DType::Q6_K) {
      const auto* blk = reinterpret_cast<const BlockQ6_K*>(row) + i;
      for (int l = 0; l < 8; ++l)
        lane[l] -= 32 * (bs[2 * l] * blk->scales[2 * l] + bs[2 * l + 1] * blk->scales[2 * l + 1]);
    }
    for (int l = 0; l < 8; ++l) acc[l] = std::fma(d, static_cast<float>(lane[l]), acc[l]);
  }
  if constexpr (T == DType::Q4_K) return hsum8(acc) + ((acc_m[0] + acc_m[2]) + (acc_m[1] + acc_m[3]));
  return hsum8(acc) + summs;
}

// ggml_gemv_q4_K_8x8_q8_K (AVX2, Q4_K repacked 8 rows at a time): per super-block the exact sums
// I = sum_j sc_j (q . y)_j and M = sum_j min_j bsum32_j; A = fma(I, dw * dx, A),
// B = fma(M, dmin * dx, B); the result A - B.
float dot_q4_k(const uint8_t* row, const Acts& a) {
  const int64_t nb = a.k / 256;
  float acc = 0.0f, acc_min = 0.0f;
  Super s;
  for (int64_t i = 0; i < nb; ++i) {
    const BlockQ8* y = a.q.data() + 8 * i;
    decode_q45_k(reinterpret_cast<const BlockQ4_K*>(row)[i], false, s);
    int lane[8];
    lanes256(s, y, lane);
    int sum = 0, mins = 0;
    for (int l : lane) sum += l;
    for (int j = 0; j < 8; ++j) mins += s.mins[j] * y[j].sum();
    acc = std::fma(static_cast<float>(sum), s.d * y[0].d, acc);
    acc_min = std::fma(static_cast<float>(mins), s.dm * y[0].d, acc_min);
  }
  return acc - acc_min;
}

}  // namespace

float expf_v(float x) {
  const float r = 0x1.8p23f;
  const float z = std::fma(x, 0x1.715476p+0f, r);
  const float n = z - r;
  const float b = std::fma(-n, 0x1.7f7d1cp-20f, std::fma(-n, 0x1.62e4p-1f, x));
  const uint32_t e = std::bit_cast<uint32_t>(z) << 23;
  const float k = std::bit_cast<float>(e + std::bit_cast<uint32_t>(1.0f));
  const float u = b * b;
  const float j =
      std::fma(std::fma(std::fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)), u,
               0x1.ffffecp-1f * b);
  if (!(std::fabs(n) > 126.0f)) return std::fma(j, k, k);
  const uint32_t g = n <= 0.0f ? 0x82000000u : 0u;
  const float s1 = std::bit_cast<float>(g + 0x7f000000u);
  const float s2 = std::bit_cast<float>(e - g);
  if (std::fabs(n) > 192.0f) return s1 * s1;
  return std::fma(s2, j, s2) * s1;
}

void swiglu(const float* g, const float* u, float* y, int64_t n) {
  const int64_t nv = n - n % 8;  // eight lanes of ggml_v_silu: x / (1 + expf_v(0 - x)), times u
  for (int64_t i = 0; i < nv; ++i) y[i] = g[i] / (1.0f + expf_v(0.0f - g[i])) * u[i];
  for (int64_t i = nv; i < n; ++i) y[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

void softmax(const float* s, int64_t n, float* p, const float* sink, bool padded) {
  float max = -INFINITY;
  for (int64_t j = 0; j < n; ++j) max = std::fmax(max, s[j]);
  if (sink != nullptr) max = std::fmax(max, *sink);
  double sum = 0.0;
  const int64_t groups = padded ? n : n - n % 8;
  for (int64_t i = 0; i < groups; i += 8) {
    float lanes[8];
    for (int l = 0; l < 8; ++l) lanes[l] = i + l < n ? expf_v(s[i + l] - max) : 0.0f;
    for (int l = 0; l < 8 && i + l < n; ++l) p[i + l] = lanes[l];
    sum += static_cast<double>(hsum8(lanes));
  }
  for (int64_t i = groups; i < n; ++i) {  // ggml's leftovers: libm's expf, one at a time
    p[i] = std::exp(s[i] - max);
    sum += static_cast<double>(p[i]);
  }
  if (sink != nullptr) sum += static_cast<double>(std::exp(*sink - max));
  const auto inv = static_cast<float>(1.0 / sum);
  for (int64_t j = 0; j < n; ++j) p[j] *= inv;
}

float rms_root(const float* x, int64_t n, float eps) {
  double sum = 0.0;
  for (int64_t j = 0; j < n; ++j) sum += static_cast<double>(x[j] * x[j]);
  const auto mean = static_cast<float>(sum / static_cast<double>(n));
  return std::sqrt(mean + eps);
}

float layer_norm_mean(const float* x, int64_t n) {
  double sum = 0.0;
  for (int64_t j = 0; j < n; ++j) sum += static_cast<double>(x[j]);
  return static_cast<float>(sum) / static_cast<float>(n);
}

float layer_norm_root(const float* x, int64_t n, float mean, float eps) {
  double sum = 0.0;
  int64_t i = 0;
  for (; i + 7 < n; i += 8) {
    float sq[8];
    for (int l = 0; l < 8; ++l) {
      const float v = x[i + l] - mean;
      sq[l] = v * v;
    }
    sum += static_cast<double>(hsum8(sq));
  }
  for (; i < n; ++i) {
    const float v = x[i] - mean;
    sum += static_cast<double>(v * v);
  }
  const auto variance = static_cast<float>(sum / static_cast<double>(n));
  return std::sqrt(variance + eps);
}

void norm_apply(const float* x, int64_t n, float mean, float scale, const float* gamma, const float* beta, float* y) {
  for (int64_t j = 0; j < n; ++j) {
    float v = (x[j] - mean) * scale;
    if (gamma != nullptr) v *= gamma[j];
    if (beta != nullptr) v += beta[j];
    y[j] = v;
  }
}

void weighted_sum(const float* ys, const float* w, int64_t k, int64_t d, float* out) {
  for (int64_t j = 0; j < d; ++j) out[j] = w[0] * ys[j];
  for (int64_t s = 1; s < k; ++s)
    for (int64_t j = 0; j < d; ++j) out[j] += w[s] * ys[s * d + j];
}

void rope_yarn_corr_dims(int64_t n_rot, int64_t n_ctx_orig, float base, float beta_fast, float beta_slow, float& lo,
                         float& hi) {
  auto corr_dim = [&](float beta) {
    return static_cast<float>(n_rot) *
           std::log(static_cast<float>(n_ctx_orig) / (beta * 2.0f * static_cast<float>(M_PI))) /
           (2.0f * std::log(base));
  };
  lo = std::fmax(0.0f, std::floor(corr_dim(beta_fast)));
  hi = std::fmin(static_cast<float>(n_rot - 1), std::ceil(corr_dim(beta_slow)));
}

void rope_table(int64_t n_pos, int64_t n_rot, float base, const float* factors, float freq_scale, float* cs, float* sn,
                const RopeYarn& yarn) {
  const int64_t half = n_rot / 2;
  const float theta_scale = std::pow(base, -2.0f / static_cast<float>(n_rot));
  float mscale = yarn.mscale;
  if (yarn.ext_factor != 0.0f) mscale *= 1.0f + 0.1f * std::log(1.0f / freq_scale);
  for (int64_t p = 0; p < n_pos; ++p) {
    float theta = static_cast<float>(p);
    for (int64_t i = 0; i < half; ++i) {
      const float extrap = factors != nullptr ? theta / factors[i] : theta;
      const float interp = freq_scale * extrap;
      float t = interp;
      if (yarn.ext_factor != 0.0f) {  // rope_yarn_ramp of pair i (ggml's i0 / 2)
        const float y = (static_cast<float>(i) - yarn.corr_lo) / std::fmax(0.001f, yarn.corr_hi - yarn.corr_lo);
        const float ramp = (1.0f - std::fmin(1.0f, std::fmax(0.0f, y))) * yarn.ext_factor;
        t = std::fma(interp, 1.0f - ramp, extrap * ramp);  // as GCC fuses rope_yarn (checked: Qwen3 + YaRN)
      }
      cs[p * half + i] = std::cos(t) * mscale;
      sn[p * half + i] = std::sin(t) * mscale;
      theta *= theta_scale;
    }
  }
}

void rope(const float* x, float* y, const float* cs, const float* sn, int64_t half, bool adjacent) {
  for (int64_t k = 0; k < half; ++k) {
    const int64_t a = adjacent ? 2 * k : k;
    const int64_t b = adjacent ? 2 * k + 1 : k + half;
    const float x0 = x[a], x1 = x[b];
    y[a] = std::fma(x0, cs[k], -(x1 * sn[k]));
    y[b] = std::fma(x0, sn[k], x1 * cs[k]);
  }
}

void convert(ActFormat fmt, const float* x, int64_t k, Acts& out) {
  out.fmt = fmt;
  out.k = k;
  switch (fmt) {
    case ActFormat::F32: out.f.assign(x, x + k); return;
    case ActFormat::F16:
      out.f.resize(static_cast<size_t>(k));
      for (int64_t j = 0; j < k; ++j) out.f[static_cast<size_t>(j)] = round_to_f16(x[j]);
      return;
    case ActFormat::BF16:
      out.f.resize(static_cast<size_t>(k));
      for (int64_t j = 0; j < k; ++j) out.f[static_cast<size_t>(j)] = round_to_bf16(x[j]);
      return;
    case ActFormat::Q8_0:
    case ActFormat::Q8_1:
    case ActFormat::Q8_K: break;
  }
  const int64_t blocks = k / 32;
  out.q.resize(static_cast<size_t>(blocks));
  if (fmt == ActFormat::Q8_K) {
    kernels::quantize_act_q8_k(x, out.q.data(), k / 256);
    return;
  }
  kernels::quantize_act_q8(x, out.q.data(), blocks);
  if (fmt != ActFormat::Q8_1) return;
  out.s.resize(static_cast<size_t>(blocks));
  for (int64_t b = 0; b < blocks; ++b) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(x[32 * b + j]));
    const BlockQ8& q = out.q[static_cast<size_t>(b)];
    out.s[static_cast<size_t>(b)] = std::isnan(q.d) ? NAN : round_to_f16(amax / 127.0f * static_cast<float>(q.sum()));
  }
}

namespace portable {
float dot_one(DType type, const uint8_t* row, const Acts& a, bool repacked);  // ggml_rows.cpp
}

bool has_dot(DType type) {
  return static_cast<int>(type) <= static_cast<int>(DType::MXFP4);  // every type loupe reads
}

float dot(DType type, const uint8_t* row, const Acts& a, bool repacked) {
  if (!repacked && type == DType::Q4_0) return dot_legacy<DType::Q4_0>(row, a);
  if (!repacked && type == DType::Q4_K) return dot_kquant<DType::Q4_K>(row, a);
  if (!repacked && (type == DType::IQ4_NL || type == DType::MXFP4)) return portable::dot_one(type, row, a, false);
  switch (type) {
    case DType::F32: return dot_f32(reinterpret_cast<const float*>(row), a.f.data(), a.k);
    case DType::F16: return dot_half<false>(row, a.f.data(), a.k);
    case DType::BF16: return dot_half<true>(row, a.f.data(), a.k);
    case DType::Q4_0: return dot_gemv32<DType::Q4_0>(row, a);
    case DType::IQ4_NL: return dot_gemv32<DType::IQ4_NL>(row, a);
    case DType::MXFP4: return dot_gemv32<DType::MXFP4>(row, a);
    case DType::Q4_1: return dot_legacy<DType::Q4_1>(row, a);
    case DType::Q5_0: return dot_legacy<DType::Q5_0>(row, a);
    case DType::Q5_1: return dot_legacy<DType::Q5_1>(row, a);
    case DType::Q8_0: return dot_legacy<DType::Q8_0>(row, a);
    case DType::Q2_K: return dot_kquant<DType::Q2_K>(row, a);
    case DType::Q3_K: return dot_kquant<DType::Q3_K>(row, a);
    case DType::Q4_K: return dot_q4_k(row, a);
    case DType::Q5_K: return dot_kquant<DType::Q5_K>(row, a);
    case DType::Q6_K: return dot_kquant<DType::Q6_K>(row, a);
    case DType::IQ4_XS: return dot_kquant<DType::IQ4_XS>(row, a);
    default: return has_dot(type) ? portable::dot_one(type, row, a, repacked) : NAN;  // the grid and ternary types
  }
}

}  // namespace loupe::ggml
