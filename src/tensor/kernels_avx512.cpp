// Tile kernels for AVX-512 F/BW/VL + VNNI (Ice Lake, Zen 4 and later): kernels_x86.inc compiled
// with 512-bit float vectors and vpdpbusd for int8 dot products.
#include <immintrin.h>

#include <type_traits>

#include "tensor/half.h"
#include "tensor/kernels_matmul.h"
#include "tensor/quant_blocks.h"

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

// ---- 4-bit weights with float activations through 16-entry tables ----------------------------
// A 32-element block of Q4_0 (or sub-block of Q4_K) has at most 16 distinct weights, one per
// nibble value n. The table holds them as the generic loads compute them (Q4_0: (n - 8) d, an
// exact product; Q4_K: fms(n, d sc, dmin mn)), and vpermps picks 16 weights by their nibbles:
// three instructions per 16 weights instead of seven, with the same bits as LoadQ4_0 /
// LoadQ45_K and the same FMA order as tile_float_rows.

inline __m512 iota16() {
  return _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}

struct TableQ4_0 {
  // Table and nibble indices of block s (elements 32 s ..); half h = elements 16 h .. 16 h + 15.
  static __m512 table(const uint8_t* row, int64_t s) {
    const auto* b = reinterpret_cast<const quant::BlockQ4_0*>(row) + s;
    return _mm512_mul_ps(_mm512_sub_ps(iota16(), _mm512_set1_ps(8.0f)), _mm512_set1_ps(h2f(b->d)));
  }
  static __m512i index(const uint8_t* row, int64_t s, int h) {
    const auto* b = reinterpret_cast<const quant::BlockQ4_0*>(row) + s;
    const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b->qs)));
    return h == 0 ? v : _mm512_srli_epi32(v, 4);  // vpermps reads the low 4 bits only
  }
};

struct TableQ4_K {
  // Sub-block s: super-block s / 8, sub-block j = s % 8 (low nibbles of bytes 32 (j / 2) .. for
  // even j, high nibbles for odd j).
  static __m512 table(const uint8_t* row, int64_t s) {
    const auto* b = reinterpret_cast<const quant::BlockQ4_K*>(row) + s / 8;
    uint8_t sc = 0, mn = 0;
    quant::scale_min_k4(static_cast<int>(s % 8), b->scales, sc, mn);
    const float d = h2f(b->d) * static_cast<float>(sc), m = h2f(b->dmin) * static_cast<float>(mn);
    return _mm512_fmsub_ps(iota16(), _mm512_set1_ps(d), _mm512_set1_ps(m));
  }
  static __m512i index(const uint8_t* row, int64_t s, int h) {
    const auto* b = reinterpret_cast<const quant::BlockQ4_K*>(row) + s / 8;
    const int j = static_cast<int>(s % 8);
    const __m512i v =
        _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b->qs + 32 * (j / 2) + 16 * h)));
    return j % 2 == 0 ? v : _mm512_srli_epi32(v, 4);
  }
};

template <class Tab, int NM>
void tile_table_rows(const Tile& t, const uint8_t* const* w, const float* const* x, float* y) {
  constexpr int NR = kTileRows;
  __m512 acc[NM][NR];
  for (int i = 0; i < NM; ++i)
    for (int r = 0; r < NR; ++r) acc[i][r] = _mm512_setzero_ps();
  const int64_t n_sub = t.k / 32;  // block types: rows are whole blocks
  for (int64_t s = 0; s < n_sub; ++s) {
    // Both formats store 18 bytes per 32 weights: a prefetch every 3 (sub-)blocks touches
    // every 64-byte line ahead.
    static_assert(sizeof(quant::BlockQ4_0) == 18 && sizeof(quant::BlockQ4_K) == 8 * 18);
    if (s % 3 == 0)
      for (int r = 0; r < NR; ++r) prefetch_ahead(w[r] + s * 18);
    __m512 table[NR];
    for (int r = 0; r < NR; ++r) table[r] = Tab::table(w[r], s);
    for (int h = 0; h < 2; ++h) {
      __m512 wv[NR];
      for (int r = 0; r < NR; ++r) wv[r] = _mm512_permutexvar_ps(Tab::index(w[r], s, h), table[r]);
      for (int i = 0; i < NM; ++i) {
        const __m512 xv = _mm512_loadu_ps(x[i] + 32 * s + 16 * h);
        for (int r = 0; r < NR; ++r) acc[i][r] = _mm512_fmadd_ps(xv, wv[r], acc[i][r]);
      }
    }
  }
  for (int i = 0; i < NM; ++i)
    for (int r = 0; r < t.nr; ++r) y[i * t.y_stride + r] = VecF::hsum(acc[i][r]);
}

template <class Tab>
void tile_table(const Tile& t) {
  const uint8_t* w[kTileRows];
  tile_rows(t, w);
  for (int i0 = 0; i0 < t.nm; i0 += kMaxActRows) {
    const float* x[kMaxActRows];
    const int nm = t.nm - i0 < kMaxActRows ? t.nm - i0 : kMaxActRows;
    for (int i = 0; i < nm; ++i)
      x[i] = reinterpret_cast<const float*>(static_cast<const uint8_t*>(t.x) + (i0 + i) * t.x_stride);
    float* y = t.y + i0 * t.y_stride;
    switch (nm) {
      case 1: tile_table_rows<Tab, 1>(t, w, x, y); break;
      case 2: tile_table_rows<Tab, 2>(t, w, x, y); break;
      case 3: tile_table_rows<Tab, 3>(t, w, x, y); break;
      default: tile_table_rows<Tab, kMaxActRows>(t, w, x, y); break;
    }
  }
}

}  // namespace avx512

RowFn row_to_f32_avx512(DType type) {
  return avx512::row_table(type);
}

TileFn tile_kernel_avx512(DType type, bool q8_acts) {
  if (!q8_acts && type == DType::Q4_0) return avx512::tile_table<avx512::TableQ4_0>;
  if (!q8_acts && type == DType::Q4_K) return avx512::tile_table<avx512::TableQ4_K>;
  return q8_acts ? avx512::table(type) : avx512::table_float_acts(type);
}

}  // namespace loupe::kernels

#pragma GCC pop_options
