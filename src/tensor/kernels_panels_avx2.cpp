// Panels (kernels_matmul.h) read with AVX2 integer products, and the AVX2 activation quantiser.
//
// A panel's 64-byte vector j holds 4 bytes of each of its 16 rows; here it is two 256-bit
// halves of 8 rows, read one half at a time. vpmaddubsw multiplies unsigned weight bytes by
// signed activation bytes and adds neighbouring pairs into int16; vpmaddwd with ones adds the
// int16 pairs into one int32 per row. The int16 sums must not saturate, which bounds how many
// vpmaddubsw results are added in int16 before vpmaddwd: with |x| <= 127, a 4-bit weight (<= 15)
// gives pairs of at most 3810 (8 may be added), a 5-bit one (<= 31) 7874 (4), a 6-bit one (<= 63)
// 16002 (2). Full-byte weights (Q8_0, and the table formats' signed values) cannot take an
// unsigned offset of 128 (pairs up to 64770 saturate); they take the sign trick instead:
// |w| times x with w's sign, pairs at most 2 * 128 * 127 = 32512, and no offset. Integer sums are
// exact whichever way they are formed, so these kernels give the bits of the scalar q8 twins and
// of the VNNI panels: per 32-element block the exact integer dot product s, then
// acc = fma(dw * dx, float(s), acc) block after block (and the K-quants' min terms).
#include "tensor/kernels.h"  // LOUPE_X86

#include "tensor/kernels_matmul.h"

#if LOUPE_X86
#include <immintrin.h>

#include <cstring>

#include "tensor/quant_blocks.h"
#include "tensor/quant_iq_grids.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

namespace loupe::kernels {
namespace {

// Byte offsets in a panel block, as kernels_panels.cpp lays them out.
constexpr size_t kScaleBytes = 2 * kPanelRows;
constexpr size_t kK4Dmin = kScaleBytes, kK4Words = 2 * kScaleBytes, kK4Quants = kK4Words + 3 * 64;
constexpr size_t kK5Qh = kK4Quants, kK5Quants = kK5Qh + 8 * 64;
constexpr size_t kK6Scales = kScaleBytes, kK6Ql = kK6Scales + 4 * 64, kK6Qh = kK6Ql + 32 * 64;
constexpr size_t kXsScalesL = kScaleBytes, kXsScalesH = kXsScalesL + 64, kXsQuants = kXsScalesH + 32;

inline __m256i load256(const uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}
// Group g of half h (rows 8 h .. 8 h + 7) of the 64-byte vectors at q.
inline __m256i half_vec(const uint8_t* q, int g, int h) {
  return load256(q + 64 * static_cast<size_t>(g) + 32 * static_cast<size_t>(h));
}
inline __m256i bcast4(const int8_t* p) {
  int32_t v = 0;
  std::memcpy(&v, p, sizeof(v));
  return _mm256_set1_epi32(v);
}
// The 8 rows' fp16 values of half h at p.
inline __m256 halves8(const uint8_t* p, int h) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * h)));
}

// sum over groups g < kN of unsigned wv[g] times the activation bytes 4 g0 + 4 g.. of xq, as one
// int32 per row; kPerSum vpmaddubsw results are added in int16 before each vpmaddwd.
template <int kN, int kPerSum>
inline __m256i dot_unsigned(const __m256i* wv, const int8_t* xq) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i s = _mm256_setzero_si256();
  for (int g0 = 0; g0 < kN; g0 += kPerSum) {
    __m256i p = _mm256_maddubs_epi16(wv[g0], bcast4(xq + 4 * g0));
    for (int g = g0 + 1; g < g0 + kPerSum; ++g)
      p = _mm256_add_epi16(p, _mm256_maddubs_epi16(wv[g], bcast4(xq + 4 * g)));
    s = _mm256_add_epi32(s, _mm256_madd_epi16(p, ones));
  }
  return s;
}

// The same for signed weights: wa = |w|, ws = w (the sign source).
inline __m256i dot_signed(const __m256i (&wa)[8], const __m256i (&ws)[8], const int8_t* xq) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i s = _mm256_setzero_si256();
  for (int g = 0; g < 8; ++g)
    s = _mm256_add_epi32(
        s, _mm256_madd_epi16(_mm256_maddubs_epi16(wa[g], _mm256_sign_epi8(bcast4(xq + 4 * g), ws[g])), ones));
  return s;
}

// The activation rows of a call and their accumulators, two halves of 8 rows each.
template <int NM>
struct Outputs {
  const BlockQ8* x[NM];
  __m256 acc[NM][2];
  explicit Outputs(const PanelTask& t) {
    for (int i = 0; i < NM; ++i) {
      x[i] =
          reinterpret_cast<const BlockQ8*>(reinterpret_cast<const uint8_t*>(t.x) + static_cast<size_t>(i) * t.x_stride);
      acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    }
  }
  void add(int i, int h, __m256 dw, float dx, __m256i s) {
    acc[i][h] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(dx)), _mm256_cvtepi32_ps(s), acc[i][h]);
  }
  void store(const PanelTask& t) const {
    for (int i = 0; i < NM; ++i)
      for (int h = 0; h < 2; ++h) _mm256_storeu_ps(t.y + static_cast<int64_t>(i) * t.y_stride + 8 * h, acc[i][h]);
  }
};

// Q4_0: stored nibbles n = q + 8; the offset 8 times the block's activation sum comes off s.
template <int NM>
void panel_q4_0(const PanelTask& t) {
  const size_t bb = panel_block_bytes(DType::Q4_0);
  const __m256i low = _mm256_set1_epi8(15);
  Outputs<NM> out(t);
  const uint8_t* p = t.panel;
  for (int64_t b = 0; b < t.k / 32; ++b, p += bb) {
    for (int h = 0; h < 2; ++h) {
      const __m256 dw = halves8(p, h);
      __m256i wv[8];
      for (int j = 0; j < 4; ++j) {
        const __m256i v = half_vec(p + kScaleBytes, j, h);
        wv[j] = _mm256_and_si256(v, low);
        wv[j + 4] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
      }
      for (int i = 0; i < NM; ++i) {
        const BlockQ8& xb = out.x[i][b];
        const __m256i s = _mm256_sub_epi32(dot_unsigned<8, 8>(wv, xb.qs), _mm256_set1_epi32(8 * xb.sum()));
        out.add(i, h, dw, xb.d, s);
      }
    }
  }
  out.store(t);
}

// Q8_0 (stored q + 128) and the table formats: signed weights and the sign trick.
template <DType T>
inline __m256i signed_table() {
  const int8_t* values = T == DType::MXFP4 ? quant::kFp4Values : quant::kIq4nlValues;
  return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(values)));
}

template <DType T, int NM>
void panel_signed(const PanelTask& t) {
  const size_t bb = panel_block_bytes(T);
  Outputs<NM> out(t);
  const __m256i low = _mm256_set1_epi8(15);
  [[maybe_unused]] const __m256i table = T == DType::Q8_0 ? _mm256_setzero_si256() : signed_table<T>();
  // Block b's 8 weight vectors of half h (the quants at q) into wa / ws.
  auto weights = [&](const uint8_t* q, int h, __m256i(&wa)[8], __m256i(&ws)[8]) {
    if constexpr (T == DType::Q8_0) {
      for (int j = 0; j < 8; ++j) ws[j] = _mm256_xor_si256(half_vec(q, j, h), _mm256_set1_epi8(-128));
    } else {
      for (int j = 0; j < 4; ++j) {
        const __m256i v = half_vec(q, j, h);
        ws[j] = _mm256_shuffle_epi8(table, _mm256_and_si256(v, low));
        ws[j + 4] = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(v, 4), low));
      }
    }
    for (int j = 0; j < 8; ++j) wa[j] = _mm256_sign_epi8(ws[j], ws[j]);
  };
  auto blocks = [&](const uint8_t* q, const __m256(&dw)[2], int64_t xb_index) {
    for (int h = 0; h < 2; ++h) {
      __m256i wa[8], ws[8];
      weights(q, h, wa, ws);
      for (int i = 0; i < NM; ++i) {
        const BlockQ8& xb = out.x[i][xb_index];
        out.add(i, h, dw[h], xb.d, dot_signed(wa, ws, xb.qs));
      }
    }
  };
  const uint8_t* p = t.panel;
  if constexpr (T == DType::IQ4_XS) {
    const __m256i m4 = _mm256_set1_epi32(0xf), m2 = _mm256_set1_epi32(3), bias = _mm256_set1_epi32(32);
    for (int64_t sb = 0; sb < t.k / 256; ++sb, p += bb) {
      __m256 d[2];
      __m256i sl[2], sh[2];
      for (int h = 0; h < 2; ++h) {
        d[h] = halves8(p, h);
        sl[h] = load256(p + kXsScalesL + 32 * h);
        sh[h] = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + kXsScalesH + 16 * h)));
      }
      for (int j = 0; j < 8; ++j) {
        __m256 dw[2];
        for (int h = 0; h < 2; ++h) {
          const __m256i lo = _mm256_and_si256(_mm256_srli_epi32(sl[h], 4 * j), m4);
          const __m256i hi = _mm256_and_si256(_mm256_srli_epi32(sh[h], 2 * j), m2);
          dw[h] = _mm256_mul_ps(
              d[h], _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_or_si256(lo, _mm256_slli_epi32(hi, 4)), bias)));
        }
        blocks(p + kXsQuants + 256 * static_cast<size_t>(j), dw, sb * 8 + j);
      }
    }
  } else {
    for (int64_t b = 0; b < t.k / 32; ++b, p += bb) {
      __m256 dw[2];
      if constexpr (T == DType::MXFP4) {
        alignas(32) float e[kPanelRows];
        for (int r = 0; r < kPanelRows; ++r) e[r] = quant::e8m0_half(p[r]);
        dw[0] = _mm256_load_ps(e);
        dw[1] = _mm256_load_ps(e + 8);
        blocks(p + kPanelRows, dw, b);
      } else {
        dw[0] = halves8(p, 0);
        dw[1] = halves8(p, 1);
        blocks(p + kScaleBytes, dw, b);
      }
    }
  }
  out.store(t);
}

// Q4_K / Q5_K: the scale and min unpacking of kernels_panels.cpp on 8 rows, then per 32-element
// sub-block the unsigned product and the min term acc = fma(-dmin mn_j, dx sum(x), acc).
template <bool kFifthBit, int NM>
void panel_k(const PanelTask& t) {
  constexpr size_t kQuants = kFifthBit ? kK5Quants : kK4Quants;
  constexpr int kPerSum = kFifthBit ? 4 : 8;
  const size_t bb = panel_block_bytes(kFifthBit ? DType::Q5_K : DType::Q4_K);
  const __m256i low = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1), byte = _mm256_set1_epi32(0xff);
  const __m256i m6 = _mm256_set1_epi32(0x3f3f3f3f), m4 = _mm256_set1_epi32(0x0f0f0f0f),
                m2 = _mm256_set1_epi32(0x03030303);
  Outputs<NM> out(t);
  const uint8_t* p = t.panel;
  for (int64_t sb = 0; sb < t.k / 256; ++sb, p += bb) {
    for (int h = 0; h < 2; ++h) {
      const __m256 d = halves8(p, h), dmin = halves8(p + kK4Dmin, h);
      const __m256i u0 = half_vec(p + kK4Words, 0, h), u1 = half_vec(p + kK4Words, 1, h),
                    u2 = half_vec(p + kK4Words, 2, h);
      const __m256i sc[2] = {_mm256_and_si256(u0, m6),
                             _mm256_or_si256(_mm256_and_si256(u2, m4),
                                             _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(u0, 6), m2), 4))};
      const __m256i mn[2] = {_mm256_and_si256(u1, m6),
                             _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(u2, 4), m4),
                                             _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(u1, 6), m2), 4))};
      for (int j = 0; j < 8; ++j) {
        const int shift = 8 * (j % 4);
        const __m256 dsc =
            _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(sc[j / 4], shift), byte)));
        const __m256 dmn =
            _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(mn[j / 4], shift), byte)));
        const uint8_t* q = p + kQuants + 512 * static_cast<size_t>(j / 2);
        __m256i wv[8];
        for (int g = 0; g < 8; ++g) {
          const __m256i v = half_vec(q, g, h);
          wv[g] = _mm256_and_si256(j % 2 == 0 ? v : _mm256_srli_epi16(v, 4), low);
          if constexpr (kFifthBit) {
            const __m256i bit = _mm256_and_si256(_mm256_srli_epi16(half_vec(p + kK5Qh, g, h), j), one);
            wv[g] = _mm256_or_si256(wv[g], _mm256_slli_epi16(bit, 4));
          }
        }
        for (int i = 0; i < NM; ++i) {
          const BlockQ8& xb = out.x[i][sb * 8 + j];
          out.add(i, h, dsc, xb.d, dot_unsigned<8, kPerSum>(wv, xb.qs));
          out.acc[i][h] = _mm256_fnmadd_ps(dmn, _mm256_set1_ps(xb.d * static_cast<float>(xb.sum())), out.acc[i][h]);
        }
      }
    }
  }
  out.store(t);
}

// Q6_K: unsigned 6-bit q + 32 per 16-element half with its own signed scale; 32 times the
// activations' half sum comes off each half's integer sum.
template <int NM>
void panel_q6_k(const PanelTask& t) {
  const __m256i low = _mm256_set1_epi8(15), two = _mm256_set1_epi8(3);
  Outputs<NM> out(t);
  for (int64_t sb = 0; sb < t.k / 256; ++sb) {
    const uint8_t* p = t.panel + panel_block_bytes(DType::Q6_K) * static_cast<size_t>(sb);
    for (int h = 0; h < 2; ++h) {
      const __m256 d = halves8(p, h);
      for (int j = 0; j < 8; ++j) {
        const int half = j / 4, quarter = j % 4;
        const __m256i sw = half_vec(p + kK6Scales, j / 2, h);
        const int b0 = 2 * (j % 2);
        const __m256 dsc0 =
            _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_srai_epi32(_mm256_slli_epi32(sw, 24 - 8 * b0), 24)));
        const __m256 dsc1 =
            _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_srai_epi32(_mm256_slli_epi32(sw, 16 - 8 * b0), 24)));
        const uint8_t* ql = p + kK6Ql + 64 * static_cast<size_t>(16 * half + 8 * (quarter % 2));
        const uint8_t* qh = p + kK6Qh + 64 * static_cast<size_t>(8 * half);
        __m256i wv[8];
        for (int g = 0; g < 8; ++g) {
          const __m256i l4 = half_vec(ql, g, h);
          const __m256i lo = _mm256_and_si256(quarter < 2 ? l4 : _mm256_srli_epi16(l4, 4), low);
          const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(half_vec(qh, g, h), 2 * quarter), two);
          wv[g] = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
        }
        for (int i = 0; i < NM; ++i) {
          const BlockQ8& xb = out.x[i][sb * 8 + j];
          const __m256i s0 = _mm256_sub_epi32(dot_unsigned<4, 2>(wv, xb.qs), _mm256_set1_epi32(32 * xb.half_sum[0]));
          const __m256i s1 =
              _mm256_sub_epi32(dot_unsigned<4, 2>(wv + 4, xb.qs + 16), _mm256_set1_epi32(32 * xb.half_sum[1]));
          out.add(i, h, dsc0, xb.d, s0);
          out.add(i, h, dsc1, xb.d, s1);
        }
      }
    }
  }
  out.store(t);
}

template <DType T, int NM>
void panel_nm(const PanelTask& t) {
  if constexpr (T == DType::Q4_K || T == DType::Q5_K)
    panel_k<T == DType::Q5_K, NM>(t);
  else if constexpr (T == DType::Q6_K)
    panel_q6_k<NM>(t);
  else if constexpr (T == DType::Q4_0)
    panel_q4_0<NM>(t);
  else
    panel_signed<T, NM>(t);
}

// Up to 4 activation rows per pass over the panel's unpacked weights: 8 accumulators beside the
// 8 weight vectors of a half fill the 16 registers.
template <DType T>
void panel(const PanelTask& t) {
  for (int i0 = 0; i0 < t.nm; i0 += 4) {
    PanelTask s = t;
    s.nm = t.nm - i0 < 4 ? t.nm - i0 : 4;
    s.x =
        reinterpret_cast<const BlockQ8*>(reinterpret_cast<const uint8_t*>(t.x) + static_cast<size_t>(i0) * t.x_stride);
    s.y = t.y + static_cast<int64_t>(i0) * t.y_stride;
    switch (s.nm) {
      case 1: panel_nm<T, 1>(s); break;
      case 2: panel_nm<T, 2>(s); break;
      case 3: panel_nm<T, 3>(s); break;
      default: panel_nm<T, 4>(s); break;
    }
  }
}

// std::round (halves away from zero) on 8 lanes; then NaN to 0 and the clamp of the scalar path.
inline __m256i quant8(__m256 v, __m256 id) {
  const __m256 x = _mm256_mul_ps(v, id);
  const __m256 tr = _mm256_round_ps(x, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 sign_mask = _mm256_castsi256_ps(_mm256_set1_epi32(INT32_MIN));
  const __m256 frac = _mm256_andnot_ps(sign_mask, _mm256_sub_ps(x, tr));
  const __m256 up = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
  const __m256 one = _mm256_or_ps(_mm256_and_ps(x, sign_mask), _mm256_set1_ps(1.0f));
  __m256 q = _mm256_add_ps(tr, _mm256_and_ps(up, one));
  q = _mm256_and_ps(q, _mm256_cmp_ps(q, q, _CMP_ORD_Q));
  q = _mm256_min_ps(_mm256_max_ps(q, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
  return _mm256_cvtps_epi32(q);
}

inline int32_t hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

// Eight int32 lanes (each in [-127, 127]) to 8 bytes.
inline void store8(__m256i q, int8_t* out) {
  const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
  _mm_storel_epi64(reinterpret_cast<__m128i*>(out), _mm_packs_epi16(w, w));
}

template <DType T>
struct PanelOf {
  static void run(const PanelTask& t) { panel<T>(t); }
};

}  // namespace

PanelFn panel_kernel_avx2(DType type) {
  return panel_table<PanelOf>(type);
}

void quantize_act_q8_avx2(const float* x, BlockQ8* y, int64_t n_blocks) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(INT32_MAX));
  for (int64_t b = 0; b < n_blocks; ++b) {
    __m256 v[4];
    // The largest magnitude, NaNs skipped as std::fmax does (vmaxps returns its second operand
    // when either is NaN).
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < 4; ++j) {
      v[j] = _mm256_loadu_ps(x + 32 * b + 8 * j);
      m = _mm256_max_ps(_mm256_and_ps(v[j], abs_mask), m);
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
    const float amax = _mm_cvtss_f32(m4);
    const float d = amax / 127.0f;
    const __m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
    __m256i q[4];
    for (int j = 0; j < 4; ++j) {
      q[j] = quant8(v[j], id);
      store8(q[j], y[b].qs + 8 * j);
    }
    y[b].d = d;
    y[b].half_sum[0] = static_cast<int16_t>(hsum_epi32(_mm256_add_epi32(q[0], q[1])));
    y[b].half_sum[1] = static_cast<int16_t>(hsum_epi32(_mm256_add_epi32(q[2], q[3])));
  }
}

}  // namespace loupe::kernels

#pragma GCC pop_options
#else   // not x86

namespace loupe::kernels {
PanelFn panel_kernel_avx2(DType) {
  return nullptr;
}
void quantize_act_q8_avx2(const float* x, BlockQ8* y, int64_t n_blocks) {
  quantize_act_q8_scalar(x, y, n_blocks);
}
}  // namespace loupe::kernels
#endif  // LOUPE_X86
