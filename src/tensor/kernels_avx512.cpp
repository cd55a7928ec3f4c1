// Tile kernels for AVX-512 F/BW/VL + VNNI (Ice Lake, Zen 4 and later): kernels_x86.inc compiled
// with 512-bit float vectors and vpdpbusd for int8 dot products.
#include "tensor/kernels.h"  // LOUPE_X86

#if LOUPE_X86
#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "tensor/half.h"
#include "tensor/kernels_matmul.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_iq_grids.h"

#pragma GCC push_options
// GCC 12's AVX-512 intrinsics pass an undefined vector as the unused merge source and then warn
// about it (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")

namespace loupe::kernels {
namespace avx512 {

struct VecF {
  using V = __m512;
  static constexpr int kWidth = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V load_f16(const uint8_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static V load_bf16(const uint8_t* p) {
    const __m512i u = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(u, 16));
  }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V fms(V a, V b, V c) { return _mm512_fmsub_ps(a, b, c); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V set1(float f) { return _mm512_set1_ps(f); }
  static V from_i8(__m128i v) { return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(v)); }
  static float hsum(V v) {
    const __m256 s8 =
        _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_castps512_ps256(_mm512_shuffle_f32x4(v, v, 0x4e)));
    const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
  }
};

inline __m256i dot_u8s8(__m256i a, __m256i b) {
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), a, b);
}

// 32 vector registers: four activation rows by four weight rows of accumulators.
constexpr int kMaxActRows = 4;

#include "tensor/kernels_x86.inc"

// ---- Block formats with float activations, 32 weights at a time ------------------------------
// Each format gives a per-block state and the 16 weights of each half as the generic loads
// (LoadQ8_0, LoadQ4_0, LoadQ45_K) compute them, so results keep the same bits and the same FMA
// order as tile_float_rows; the state is computed once per block instead of once per 16.
// 4- and 5-bit formats have at most 16 or 32 distinct weights per block, one per quant value n:
// the state is a table of them and vpermps / vpermt2ps pick 16 weights by their quants, three
// or four instructions per 16 weights instead of seven or more.

inline __m512 iota16(float offset) {
  return _mm512_add_ps(_mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_ps(offset));
}
inline __m512i bytes16(const uint8_t* p) {
  return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// Each format works on its storage block `blk` (32 weights, or a 256-weight super-block of kSub
// sub-blocks of 32) and sub-block j of it.
struct Block32Q8_0 {
  static constexpr int64_t kBlockBytes = sizeof(quant::BlockQ8_0), kSub = 1;
  struct Super {};  // nothing shared across blocks
  static Super super(const uint8_t*) { return {}; }
  using State = __m512;  // d
  static State state(const Super&, const uint8_t* blk, int) {
    return _mm512_set1_ps(h2f(reinterpret_cast<const quant::BlockQ8_0*>(blk)->d));
  }
  static __m512 weights(const State& d, const uint8_t* blk, int, int h) {
    const auto* b = reinterpret_cast<const quant::BlockQ8_0*>(blk);
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b->qs + 16 * h));
    return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)), d);
  }
};

struct Block32Q4_0 {
  static constexpr int64_t kBlockBytes = sizeof(quant::BlockQ4_0), kSub = 1;
  struct Super {};  // nothing shared across blocks
  static Super super(const uint8_t*) { return {}; }
  using State = __m512;  // table: (n - 8) d, an exact product
  static State state(const Super&, const uint8_t* blk, int) {
    return _mm512_mul_ps(iota16(-8.0f), _mm512_set1_ps(h2f(reinterpret_cast<const quant::BlockQ4_0*>(blk)->d)));
  }
  static __m512 weights(const State& table, const uint8_t* blk, int, int h) {
    const __m512i v = bytes16(reinterpret_cast<const quant::BlockQ4_0*>(blk)->qs);
    // vpermps reads the low 4 bits of each index: the low nibbles as they are, the high ones shifted.
    return _mm512_permutexvar_ps(h == 0 ? v : _mm512_srli_epi32(v, 4), table);
  }
};

// Q4_K / Q5_K sub-block s: super-block s / 8, sub-block j = s % 8, whose quants are the low
// nibbles of bytes 32 (j / 2) .. for even j, the high ones for odd j (and bit j of qh for Q5_K).
template <bool kFifthBit>
struct Block32K {
  using Block = std::conditional_t<kFifthBit, quant::BlockQ5_K, quant::BlockQ4_K>;
  static constexpr int64_t kBlockBytes = sizeof(Block), kSub = 8;
  // The eight sub-block scales and mins of a super-block, as LoadQ45_K computes them.
  struct Super {
    float dm[16];  // d sc of sub-blocks 0-7, then dmin mn
  };
  // quant::scale_min_k4 for the eight sub-blocks at once, on the 12 scale bytes as three
  // little-endian words: scales 0-3 and mins 0-3 are the low 6 bits of words 0 and 1; scales and
  // mins 4-7 take their low 4 bits from word 2 (low and high nibbles) and their top 2 bits from
  // the top bits of words 0 and 1.
  static Super super(const uint8_t* blk) {
    const Block& b = *reinterpret_cast<const Block*>(blk);
    uint32_t u[3];
    std::memcpy(u, b.scales, sizeof(u));
    const uint32_t sc_lo = u[0] & 0x3f3f3f3fu, mn_lo = u[1] & 0x3f3f3f3fu;
    const uint32_t sc_hi = (u[2] & 0x0f0f0f0fu) | ((u[0] >> 6) & 0x03030303u) << 4;
    const uint32_t mn_hi = ((u[2] >> 4) & 0x0f0f0f0fu) | ((u[1] >> 6) & 0x03030303u) << 4;
    const __m128i q = _mm_setr_epi32(static_cast<int>(sc_lo), static_cast<int>(sc_hi), static_cast<int>(mn_lo),
                                     static_cast<int>(mn_hi));
    const __m512 v = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(q));  // 8 scales, then 8 mins
    const __m512 dd = _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_set1_ps(h2f(b.d))),
                                                          _mm256_castps_pd(_mm256_set1_ps(h2f(b.dmin))), 1));
    Super sup;
    _mm512_storeu_ps(sup.dm, _mm512_mul_ps(v, dd));
    return sup;
  }
  struct State {
    __m512 lo, hi;  // fms(n, d sc, dmin mn) for n = 0..15 and (Q5_K) 16..31
  };
  static State state(const Super& sup, const uint8_t*, int j) {
    const __m512 d = _mm512_set1_ps(sup.dm[j]);
    const __m512 m = _mm512_set1_ps(sup.dm[8 + j]);
    State st{_mm512_fmsub_ps(iota16(0.0f), d, m), _mm512_setzero_ps()};
    if constexpr (kFifthBit) st.hi = _mm512_fmsub_ps(iota16(16.0f), d, m);
    return st;
  }
  static __m512 weights(const State& st, const uint8_t* blk, int j, int h) {
    const Block& b = *reinterpret_cast<const Block*>(blk);
    __m512i q = bytes16(b.qs + 32 * (j / 2) + 16 * h);
    if (j % 2 == 1) q = _mm512_srli_epi32(q, 4);
    if constexpr (kFifthBit) {
      const __m512i bit = _mm512_and_si512(_mm512_srli_epi32(bytes16(b.qh + 16 * h), j), _mm512_set1_epi32(1));
      q = _mm512_or_si512(_mm512_and_si512(q, _mm512_set1_epi32(15)), _mm512_slli_epi32(bit, 4));
      return _mm512_permutex2var_ps(st.lo, q, st.hi);  // 5-bit index: 0-15 lo, 16-31 hi
    } else {
      return _mm512_permutexvar_ps(q, st.lo);
    }
  }
};

// Q6_K sub-block s of 32: super-block s / 8, j = s % 8 in half j / 4 (128 elements) at quarter
// j % 4; elements 16 h .. 16 h + 15 share the scale scales[2 j + h]. Quants: the low (quarters 0,
// 1) or high (2, 3) nibbles of ql, two bits of qh, minus 32.
struct Block32Q6_K {
  static constexpr int64_t kBlockBytes = sizeof(quant::BlockQ6_K), kSub = 8;
  struct Super {};  // nothing shared across sub-blocks
  static Super super(const uint8_t*) { return {}; }
  struct State {
    __m512 scale[2];  // d * scales[2 j + h], rounded as LoadQ6_K does
  };
  static State state(const Super&, const uint8_t* blk, int j) {
    const quant::BlockQ6_K& b = *reinterpret_cast<const quant::BlockQ6_K*>(blk);
    const float d = h2f(b.d);
    return {{_mm512_set1_ps(d * static_cast<float>(b.scales[2 * j])),
             _mm512_set1_ps(d * static_cast<float>(b.scales[2 * j + 1]))}};
  }
  static __m512 weights(const State& st, const uint8_t* blk, int j, int h) {
    const quant::BlockQ6_K& b = *reinterpret_cast<const quant::BlockQ6_K*>(blk);
    const int half = j / 4, quarter = j % 4;
    // Bit work on 16 bytes (more ports than 512-bit integer ops), then widened once.
    const __m128i l4 =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.ql + 64 * half + 32 * (quarter % 2) + 16 * h));
    const __m128i h2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qh + 32 * half + 16 * h));
    const __m128i lo = nib(l4, quarter >= 2);
    const __m128i hi = _mm_and_si128(_mm_srl_epi16(h2, _mm_cvtsi32_si128(2 * quarter)), _mm_set1_epi8(3));
    const __m128i q8 = _mm_sub_epi8(_mm_or_si128(lo, _mm_slli_epi16(hi, 4)), _mm_set1_epi8(32));
    const __m512i q = _mm512_cvtepi8_epi32(q8);
    return _mm512_mul_ps(_mm512_cvtepi32_ps(q), st.scale[h]);
  }
};

// IQ4_NL, IQ4_XS and MXFP4: the 16 values of a block are table value * scale (the products
// LoadIQ4_NL, LoadIQ4_XS and LoadMXFP4 take), picked by vpermps as for Q4_0.
inline __m512 values16(const int8_t (&table)[16]) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(table))));
}
inline __m512 pick16(__m512 table, const uint8_t* qs, int h) {
  const __m512i v = bytes16(qs);
  return _mm512_permutexvar_ps(h == 0 ? v : _mm512_srli_epi32(v, 4), table);
}

struct Block32IQ4_NL {
  static constexpr int64_t kBlockBytes = sizeof(quant::BlockIQ4_NL), kSub = 1;
  struct Super {};  // nothing shared across blocks
  static Super super(const uint8_t*) { return {}; }
  using State = __m512;  // table: kIq4nlValues[n] d
  static State state(const Super&, const uint8_t* blk, int) {
    return _mm512_mul_ps(values16(quant::kIq4nlValues),
                         _mm512_set1_ps(h2f(reinterpret_cast<const quant::BlockIQ4_NL*>(blk)->d)));
  }
  static __m512 weights(const State& table, const uint8_t* blk, int, int h) {
    return pick16(table, reinterpret_cast<const quant::BlockIQ4_NL*>(blk)->qs, h);
  }
};

struct Block32MXFP4 {
  static constexpr int64_t kBlockBytes = sizeof(quant::BlockMXFP4), kSub = 1;
  struct Super {};  // nothing shared across blocks
  static Super super(const uint8_t*) { return {}; }
  using State = __m512;  // table: kFp4Values[n] 2^(e - 128)
  static State state(const Super&, const uint8_t* blk, int) {
    return _mm512_mul_ps(values16(quant::kFp4Values),
                         _mm512_set1_ps(quant::e8m0_half(reinterpret_cast<const quant::BlockMXFP4*>(blk)->e)));
  }
  static __m512 weights(const State& table, const uint8_t* blk, int, int h) {
    return pick16(table, reinterpret_cast<const quant::BlockMXFP4*>(blk)->qs, h);
  }
};

// IQ4_XS group j of a super-block: ordered as an IQ4_NL block at qs + 16 j, scale d (ls_j - 32).
struct Block32IQ4_XS {
  static constexpr int64_t kBlockBytes = sizeof(quant::BlockIQ4_XS), kSub = 8;
  struct Super {
    float dl[8];  // the group scales, as LoadIQ4_XS computes them
  };
  static Super super(const uint8_t* blk) {
    const auto& b = *reinterpret_cast<const quant::BlockIQ4_XS*>(blk);
    Super sup;
    for (int g = 0; g < 8; ++g) sup.dl[g] = LoadIQ4_XS::scale(b, g);
    return sup;
  }
  using State = __m512;  // table: kIq4nlValues[n] dl_j
  static State state(const Super& sup, const uint8_t*, int j) {
    return _mm512_mul_ps(values16(quant::kIq4nlValues), _mm512_set1_ps(sup.dl[j]));
  }
  static __m512 weights(const State& table, const uint8_t* blk, int j, int h) {
    return pick16(table, reinterpret_cast<const quant::BlockIQ4_XS*>(blk)->qs + 16 * j, h);
  }
};

template <class Fmt, int NM, int NR>
void tile_block32_rows(const Tile& t, const uint8_t* const* w, const float* const* x, float* y) {
  // Rows in place: a prefetch every kEvery sub-blocks touches every 64-byte line ahead. Tiles
  // interleaved block by block (Tile::w_step) are one sequential stream and need none.
  constexpr int64_t kBytesPer32 = Fmt::kBlockBytes / Fmt::kSub;
  constexpr int64_t kEvery = kBytesPer32 >= 64 ? 1 : 64 / kBytesPer32;
  const bool prefetch = NR > 1 && t.w_step == 0;
  const int64_t step = t.w_step != 0 ? t.w_step : Fmt::kBlockBytes;
  __m512 acc[NM][NR];
  for (int i = 0; i < NM; ++i)
    for (int r = 0; r < NR; ++r) acc[i][r] = _mm512_setzero_ps();
  const int64_t n_blocks = t.k / 32;  // block formats: rows are whole blocks
  typename Fmt::Super sup[NR];
  for (int64_t s = 0; s < n_blocks; ++s) {
    if (prefetch && s % kEvery == 0)
      for (int r = 0; r < NR; ++r) prefetch_ahead(w[r] + s * kBytesPer32);
    const int64_t b = s / Fmt::kSub;
    const int j = static_cast<int>(s % Fmt::kSub);
    const uint8_t* blk[NR];
    for (int r = 0; r < NR; ++r) blk[r] = w[r] + b * step;
    if (j == 0)
      for (int r = 0; r < NR; ++r) sup[r] = Fmt::super(blk[r]);
    typename Fmt::State st[NR];
    for (int r = 0; r < NR; ++r) st[r] = Fmt::state(sup[r], blk[r], j);
    for (int h = 0; h < 2; ++h) {
      __m512 wv[NR];
      for (int r = 0; r < NR; ++r) wv[r] = Fmt::weights(st[r], blk[r], j, h);
      for (int i = 0; i < NM; ++i) {
        const __m512 xv = _mm512_loadu_ps(x[i] + 32 * s + 16 * h);
        for (int r = 0; r < NR; ++r) acc[i][r] = _mm512_fmadd_ps(xv, wv[r], acc[i][r]);
      }
    }
  }
  for (int i = 0; i < NM; ++i)
    for (int r = 0; r < t.nr; ++r) y[i * t.y_stride + r] = VecF::hsum(acc[i][r]);
}

template <class Fmt, int NR>
void tile_block32_nr(const Tile& t) {
  const uint8_t* w[NR];
  tile_rows<NR>(t, w);
  for (int i0 = 0; i0 < t.nm; i0 += kMaxActRows) {
    const float* x[kMaxActRows];
    const int nm = t.nm - i0 < kMaxActRows ? t.nm - i0 : kMaxActRows;
    for (int i = 0; i < nm; ++i)
      x[i] = reinterpret_cast<const float*>(static_cast<const uint8_t*>(t.x) + (i0 + i) * t.x_stride);
    float* y = t.y + i0 * t.y_stride;
    switch (nm) {
      case 1: tile_block32_rows<Fmt, 1, NR>(t, w, x, y); break;
      case 2: tile_block32_rows<Fmt, 2, NR>(t, w, x, y); break;
      case 3: tile_block32_rows<Fmt, 3, NR>(t, w, x, y); break;
      default: tile_block32_rows<Fmt, kMaxActRows, NR>(t, w, x, y); break;
    }
  }
}

template <class Fmt>
void tile_block32(const Tile& t) {
  if (t.nr == 1)
    tile_block32_nr<Fmt, 1>(t);
  else
    tile_block32_nr<Fmt, kTileRows>(t);
}

}  // namespace avx512

RowFn row_to_f32_avx512(DType type) {
  return avx512::row_table(type);
}

bool tile_kernel_takes_step_avx512(DType type, bool q8_acts) {
  switch (type) {
    case DType::Q8_0:
    case DType::Q4_0:
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K:
    case DType::IQ4_NL:
    case DType::IQ4_XS:
    case DType::MXFP4: return !q8_acts;
    default: return false;
  }
}

TileFn tile_kernel_avx512(DType type, bool q8_acts) {
  if (!q8_acts) switch (type) {
      case DType::Q8_0: return avx512::tile_block32<avx512::Block32Q8_0>;
      case DType::Q4_0: return avx512::tile_block32<avx512::Block32Q4_0>;
      case DType::Q4_K: return avx512::tile_block32<avx512::Block32K<false>>;
      case DType::Q5_K: return avx512::tile_block32<avx512::Block32K<true>>;
      case DType::Q6_K: return avx512::tile_block32<avx512::Block32Q6_K>;
      case DType::IQ4_NL: return avx512::tile_block32<avx512::Block32IQ4_NL>;
      case DType::IQ4_XS: return avx512::tile_block32<avx512::Block32IQ4_XS>;
      case DType::MXFP4: return avx512::tile_block32<avx512::Block32MXFP4>;
      default: break;
    }
  return q8_acts ? avx512::table(type) : avx512::table_float_acts(type);
}

}  // namespace loupe::kernels

#pragma GCC pop_options
#else  // not x86: no AVX-512 kernels (active_isa() never picks them)

#include "tensor/kernels_matmul.h"

namespace loupe::kernels {
RowFn row_to_f32_avx512(DType) {
  return nullptr;
}
bool tile_kernel_takes_step_avx512(DType, bool) {
  return false;
}
TileFn tile_kernel_avx512(DType, bool) {
  return nullptr;
}
}  // namespace loupe::kernels
#endif  // LOUPE_X86
