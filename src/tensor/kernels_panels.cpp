// Panels (kernels_matmul.h): the layout, its packing, and the AVX-512 VNNI kernels that read it;
// also the AVX-512 activation quantiser that feeds them.
#include "tensor/kernels.h"  // LOUPE_X86
#if LOUPE_X86
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "tensor/half.h"
#include "tensor/kernels_matmul.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_iq_grids.h"

namespace loupe::kernels {

namespace {

constexpr size_t kScaleBytes = 2 * kPanelRows;  // 16 fp16 row scales at the head of each block

// Q4_K panel block (one super-block of 16 rows): d of each row (fp16), dmin, the 12 scale bytes
// as three words per row (word w of row r at kK4Words + 64 w + 4 r), then the quants. Q5_K: the
// same with the 32 qh bytes of each row transposed before the quants.
constexpr size_t kK4Dmin = kScaleBytes, kK4Words = 2 * kScaleBytes, kK4Quants = kK4Words + 3 * 64;
constexpr size_t kK5Qh = kK4Quants, kK5Quants = kK5Qh + 8 * 64;

// Q6_K panel block: d of each row, the 16 signed scale bytes, the 128 ql bytes and the 64 qh
// bytes of each row, each transposed into 4-byte groups.
constexpr size_t kK6Scales = kScaleBytes, kK6Ql = kK6Scales + 4 * 64, kK6Qh = kK6Ql + 32 * 64,
                 kK6Bytes = kK6Qh + 16 * 64;

// IQ4_NL and MXFP4 panel blocks: as Q4_0 (MXFP4's scales are 16 E8M0 bytes, not fp16). IQ4_XS
// (one super-block of 16 rows): d of each row, the 4 scales_l bytes of each row as one word, the
// 2 scales_h bytes of each row, then the 128 quant bytes transposed.
constexpr size_t kXsScalesL = kScaleBytes, kXsScalesH = kXsScalesL + 64, kXsQuants = kXsScalesH + 32;

// Quant bytes per block and row: 32 (Q8_0), 16 (Q4_0, IQ4_NL, MXFP4: two nibbles per byte), 128
// (Q4_K, Q5_K low nibbles; IQ4_XS).
size_t quant_bytes(DType type) {
  switch (type) {
    case DType::Q8_0: return 32;
    case DType::Q4_0:
    case DType::IQ4_NL:
    case DType::MXFP4: return 16;
    default: return 128;
  }
}

// The quant bytes of a row's block, 4 at a time: group j (64 bytes) of the panel gets bytes
// 4 j .. 4 j + 3 of each row, row after row.
void transpose_quants(const uint8_t* q, size_t n, int r, uint8_t flip, uint8_t* out) {
  const uint32_t f = flip * 0x01010101u;
  for (size_t j = 0; j < n / 4; ++j) {
    uint32_t v = 0;
    std::memcpy(&v, q + 4 * j, sizeof(v));
    v ^= f;
    std::memcpy(out + 64 * j + 4 * static_cast<size_t>(r), &v, sizeof(v));
  }
}

}  // namespace

// Every type with int8 pairing has a panel layout.
bool has_panels(DType type) {
  return takes_q8_activations(type);
}

size_t panel_block_bytes(DType type) {
  if (type == DType::Q4_K) return kK4Quants + quant_bytes(type) * kPanelRows;
  if (type == DType::Q5_K) return kK5Quants + quant_bytes(type) * kPanelRows;
  if (type == DType::Q6_K) return kK6Bytes;
  if (type == DType::IQ4_XS) return kXsQuants + quant_bytes(type) * kPanelRows;
  if (type == DType::MXFP4) return kPanelRows + quant_bytes(type) * kPanelRows;
  return has_panels(type) ? kScaleBytes + quant_bytes(type) * kPanelRows : 0;
}

void pack_panel(DType type, const uint8_t* rows, size_t row_stride, int64_t k, uint8_t* out) {
  const size_t bb = dtype_traits(type).block_bytes, qb = quant_bytes(type);
  const uint8_t flip = type == DType::Q8_0 ? 0x80 : 0x00;  // q + 128 as an unsigned byte
  const int64_t n_blocks = k / dtype_traits(type).block_elems;
  for (int64_t b = 0; b < n_blocks; ++b, out += panel_block_bytes(type)) {
    for (int r = 0; r < kPanelRows; ++r) {
      const uint8_t* blk = rows + row_stride * static_cast<size_t>(r) + bb * static_cast<size_t>(b);
      if (type == DType::Q6_K) {
        const auto& q = *reinterpret_cast<const quant::BlockQ6_K*>(blk);
        out[2 * r] = q.d[0];
        out[2 * r + 1] = q.d[1];
        transpose_quants(reinterpret_cast<const uint8_t*>(q.scales), sizeof(q.scales), r, 0, out + kK6Scales);
        transpose_quants(q.ql, sizeof(q.ql), r, 0, out + kK6Ql);
        transpose_quants(q.qh, sizeof(q.qh), r, 0, out + kK6Qh);
        continue;
      }
      if (type == DType::MXFP4) {
        const auto& q = *reinterpret_cast<const quant::BlockMXFP4*>(blk);
        out[r] = q.e;
        transpose_quants(q.qs, qb, r, 0, out + kPanelRows);
        continue;
      }
      // The other formats start with their fp16 d.
      out[2 * r] = blk[0];
      out[2 * r + 1] = blk[1];
      if (type == DType::Q4_K) {
        const auto& q = *reinterpret_cast<const quant::BlockQ4_K*>(blk);
        out[kK4Dmin + 2 * r] = q.dmin[0];
        out[kK4Dmin + 2 * r + 1] = q.dmin[1];
        transpose_quants(q.scales, sizeof(q.scales), r, 0, out + kK4Words);
        transpose_quants(q.qs, qb, r, 0, out + kK4Quants);
      } else if (type == DType::Q5_K) {
        const auto& q = *reinterpret_cast<const quant::BlockQ5_K*>(blk);
        out[kK4Dmin + 2 * r] = q.dmin[0];
        out[kK4Dmin + 2 * r + 1] = q.dmin[1];
        transpose_quants(q.scales, sizeof(q.scales), r, 0, out + kK4Words);
        transpose_quants(q.qh, sizeof(q.qh), r, 0, out + kK5Qh);
        transpose_quants(q.qs, qb, r, 0, out + kK5Quants);
      } else if (type == DType::IQ4_XS) {
        const auto& q = *reinterpret_cast<const quant::BlockIQ4_XS*>(blk);
        transpose_quants(q.scales_l, sizeof(q.scales_l), r, 0, out + kXsScalesL);
        out[kXsScalesH + 2 * r] = q.scales_h[0];
        out[kXsScalesH + 2 * r + 1] = q.scales_h[1];
        transpose_quants(q.qs, qb, r, 0, out + kXsQuants);
      } else {
        transpose_quants(blk + 2, qb, r, flip, out + kScaleBytes);
      }
    }
  }
}

PanelFn panel_kernel(DType type, Isa isa) {
  switch (isa) {
    case Isa::Avx512: return panel_kernel_avx512(type);
    case Isa::Avx2Vnni: return panel_kernel_avx2vnni(type);
    case Isa::Avx2: return panel_kernel_avx2(type);
    case Isa::Scalar:
    case Isa::Neon:  // NEON reads q8 tiles (kernels_neon_q8.inc)
    case Isa::NeonDot:
    case Isa::NeonI8mm: return nullptr;
  }
  return nullptr;
}

}  // namespace loupe::kernels

#if LOUPE_X86
#pragma GCC push_options
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC bug 105593, as kernels_avx512.cpp
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")

namespace loupe::kernels {
namespace {

inline int32_t load_i32(const int8_t* p) {
  int32_t v = 0;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// The 16 rows' fp16 values at p (scales) as floats.
inline __m512 halves16(const uint8_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// The activation rows of a kernel call and their accumulators (16 rows each).
template <int NM>
struct Outputs {
  const BlockQ8* x[NM];
  __m512 acc[NM];
  explicit Outputs(const PanelTask& t) {
    for (int i = 0; i < NM; ++i) {
      x[i] =
          reinterpret_cast<const BlockQ8*>(reinterpret_cast<const uint8_t*>(t.x) + static_cast<size_t>(i) * t.x_stride);
      acc[i] = _mm512_setzero_ps();
    }
  }
  void store(const PanelTask& t) const {
    for (int i = 0; i < NM; ++i) _mm512_storeu_ps(t.y + static_cast<int64_t>(i) * t.y_stride, acc[i]);
  }
};

// init + the 16 rows' integer dot products with one activation block: eight vpdpbusd, in one
// chain or two (integer sums: the order does not change the result).
template <int kChains>
inline __m512i block_dot(__m512i init, const __m512i (&wv)[8], const BlockQ8& xb) {
  __m512i s[kChains];
  s[0] = init;
  if constexpr (kChains == 2) s[1] = _mm512_setzero_si512();
  for (int j = 0; j < 8; ++j)
    s[j % kChains] = _mm512_dpbusd_epi32(s[j % kChains], wv[j], _mm512_set1_epi32(load_i32(xb.qs + 4 * j)));
  if constexpr (kChains == 2) s[0] = _mm512_add_epi32(s[0], s[1]);
  return s[0];
}

// NM activation rows against one panel. Each activation row's eight vpdpbusd form one chain;
// with fewer than four rows there are not enough chains to hide its latency, so each row runs
// two.
template <DType T, int NM>
void panel_rows(const PanelTask& t) {
  constexpr bool kQ8 = T == DType::Q8_0;
  constexpr int32_t kOffset = kQ8 ? 128 : 8;  // stored quant = q + kOffset
  constexpr int kChains = NM < 4 ? 2 : 1;
  const size_t block_bytes = panel_block_bytes(T);
  Outputs<NM> out(t);
  const BlockQ8* const* x = out.x;
  __m512* acc = out.acc;
  const int64_t n_blocks = t.k / 32;
  const uint8_t* p = t.panel;
  for (int64_t b = 0; b < n_blocks; ++b, p += block_bytes) {
    prefetch_panel(p, block_bytes);
    const __m512 dw = halves16(p);
    const uint8_t* q = p + kScaleBytes;
    __m512i wv[8];
    if constexpr (kQ8) {
      for (int j = 0; j < 8; ++j) wv[j] = _mm512_loadu_si512(q + 64 * j);
    } else {
      const __m512i low = _mm512_set1_epi8(15);
      for (int j = 0; j < 4; ++j) {
        const __m512i v = _mm512_loadu_si512(q + 64 * j);
        wv[j] = _mm512_and_si512(v, low);
        wv[j + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
      }
    }
    for (int i = 0; i < NM; ++i) {
      const BlockQ8& xb = x[i][b];
      const __m512i s = block_dot<kChains>(_mm512_set1_epi32(-kOffset * xb.sum()), wv, xb);
      acc[i] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(xb.d)), _mm512_cvtepi32_ps(s), acc[i]);
    }
  }
  out.store(t);
}

// Q4_K: per super-block the eight 6-bit scales and mins of all 16 rows are unpacked at once
// (quant::scale_min_k4 on the three scale words, as Block32K::super in kernels_avx512.cpp does
// for one row), then each 32-element sub-block j is a block of unsigned nibbles (the low ones of
// quant bytes 32 (j / 2).. for even j, the high ones for odd j) with scale d sc_j and min
// dmin mn_j: acc = fma(d sc_j dx, s, acc), then acc = fma(-dmin mn_j, dx sum(x), acc). Q5_K
// (kFifthBit): bit j of qh byte l is bit 4 of element l of sub-block j.
template <bool kFifthBit, int NM>
void panel_rows_k(const PanelTask& t) {
  constexpr int kChains = NM < 4 ? 2 : 1;
  constexpr size_t kQuants = kFifthBit ? kK5Quants : kK4Quants;
  const size_t block_bytes = panel_block_bytes(kFifthBit ? DType::Q5_K : DType::Q4_K);
  Outputs<NM> out(t);
  const BlockQ8* const* x = out.x;
  __m512* acc = out.acc;
  const int64_t n_super = t.k / 256;
  const __m512i low = _mm512_set1_epi8(15), one = _mm512_set1_epi8(1), byte = _mm512_set1_epi32(0xff);
  const uint8_t* p = t.panel;
  for (int64_t sb = 0; sb < n_super; ++sb, p += block_bytes) {
    const __m512 d = halves16(p);
    const __m512 dmin = halves16(p + kK4Dmin);
    const __m512i u0 = _mm512_loadu_si512(p + kK4Words), u1 = _mm512_loadu_si512(p + kK4Words + 64),
                  u2 = _mm512_loadu_si512(p + kK4Words + 128);
    const __m512i m6 = _mm512_set1_epi32(0x3f3f3f3f), m4 = _mm512_set1_epi32(0x0f0f0f0f),
                  m2 = _mm512_set1_epi32(0x03030303);
    // Bytes 0-3 of sc[0] are scales 0-3, of sc[1] scales 4-7; mn likewise for the mins.
    const __m512i sc[2] = {_mm512_and_si512(u0, m6),
                           _mm512_or_si512(_mm512_and_si512(u2, m4),
                                           _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(u0, 6), m2), 4))};
    const __m512i mn[2] = {_mm512_and_si512(u1, m6),
                           _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(u2, 4), m4),
                                           _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(u1, 6), m2), 4))};
    for (int j = 0; j < 8; ++j) {
      prefetch_panel(p + block_bytes / 8 * static_cast<size_t>(j), block_bytes / 8);
      const unsigned shift = 8 * static_cast<unsigned>(j % 4);
      const __m512 dsc =
          _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32(sc[j / 4], shift), byte)));
      const __m512 dmn =
          _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32(mn[j / 4], shift), byte)));
      const uint8_t* q = p + kQuants + 512 * static_cast<size_t>(j / 2);
      __m512i wv[8];
      for (int g = 0; g < 8; ++g) {
        const __m512i v = _mm512_loadu_si512(q + 64 * g);
        wv[g] = _mm512_and_si512(j % 2 == 0 ? v : _mm512_srli_epi16(v, 4), low);
        if constexpr (kFifthBit) {
          const __m512i h = _mm512_loadu_si512(p + kK5Qh + 64 * g);
          const __m512i bit = _mm512_and_si512(_mm512_srli_epi16(h, static_cast<unsigned>(j)), one);
          wv[g] = _mm512_or_si512(wv[g], _mm512_slli_epi16(bit, 4));
        }
      }
      for (int i = 0; i < NM; ++i) {
        const BlockQ8& xb = x[i][sb * 8 + j];
        const __m512i s = block_dot<kChains>(_mm512_setzero_si512(), wv, xb);
        acc[i] = _mm512_fmadd_ps(_mm512_mul_ps(dsc, _mm512_set1_ps(xb.d)), _mm512_cvtepi32_ps(s), acc[i]);
        acc[i] = _mm512_fnmadd_ps(dmn, _mm512_set1_ps(xb.d * static_cast<float>(xb.sum())), acc[i]);
      }
    }
  }
  out.store(t);
}

// Q6_K: sub-block j (32 elements) of a super-block is quarter j % 4 of half j / 4: its quants
// are the low (quarters 0, 1) or high (2, 3) nibbles of ql bytes 64 (j / 4) + 32 (j % 2).. and
// bits 2 (j % 4) of qh bytes 32 (j / 4).., unsigned 6-bit values q + 32; its two 16-element
// halves have their own signed scale (scales 2 j, 2 j + 1). Per half: the exact integer sum
// (32 times the activations' half sum taken off), then acc = fma(d sc dx, s, acc).
template <int NM>
void panel_rows_q6_k(const PanelTask& t) {
  Outputs<NM> out(t);
  const __m512i low = _mm512_set1_epi8(15), two = _mm512_set1_epi8(3);
  for (int64_t sb = 0; sb < t.k / 256; ++sb) {
    const uint8_t* p = t.panel + kK6Bytes * static_cast<size_t>(sb);
    const __m512 d = halves16(p);
    for (int j = 0; j < 8; ++j) {
      prefetch_panel(p + kK6Bytes / 8 * static_cast<size_t>(j), kK6Bytes / 8 + 8);
      const int half = j / 4, quarter = j % 4;
      // Scales 2 j and 2 j + 1: bytes 2 (j % 2) and 2 (j % 2) + 1 of the words of vector j / 2.
      const __m512i sw = _mm512_loadu_si512(p + kK6Scales + 64 * static_cast<size_t>(j / 2));
      const unsigned b0 = 2 * static_cast<unsigned>(j % 2);
      const __m512 dsc0 =
          _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_srai_epi32(_mm512_slli_epi32(sw, 24 - 8 * b0), 24)));
      const __m512 dsc1 =
          _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_srai_epi32(_mm512_slli_epi32(sw, 16 - 8 * b0), 24)));
      const uint8_t* ql = p + kK6Ql + 64 * static_cast<size_t>(16 * half + 8 * (quarter % 2));
      const uint8_t* qh = p + kK6Qh + 64 * static_cast<size_t>(8 * half);
      __m512i wv[8];
      for (int g = 0; g < 8; ++g) {
        const __m512i l4 = _mm512_loadu_si512(ql + 64 * g);
        const __m512i lo = _mm512_and_si512(quarter < 2 ? l4 : _mm512_srli_epi16(l4, 4), low);
        const __m512i h2 = _mm512_loadu_si512(qh + 64 * g);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(h2, static_cast<unsigned>(2 * quarter)), two);
        wv[g] = _mm512_or_si512(lo, _mm512_slli_epi16(hi, 4));
      }
      for (int i = 0; i < NM; ++i) {
        const BlockQ8& xb = out.x[i][sb * 8 + j];
        __m512i s0 = _mm512_set1_epi32(-32 * xb.half_sum[0]), s1 = _mm512_set1_epi32(-32 * xb.half_sum[1]);
        for (int g = 0; g < 4; ++g) {
          s0 = _mm512_dpbusd_epi32(s0, wv[g], _mm512_set1_epi32(load_i32(xb.qs + 4 * g)));
          s1 = _mm512_dpbusd_epi32(s1, wv[g + 4], _mm512_set1_epi32(load_i32(xb.qs + 16 + 4 * g)));
        }
        const __m512 dx = _mm512_set1_ps(xb.d);
        __m512& acc = out.acc[i];
        acc = _mm512_fmadd_ps(_mm512_mul_ps(dsc0, dx), _mm512_cvtepi32_ps(s0), acc);
        acc = _mm512_fmadd_ps(_mm512_mul_ps(dsc1, dx), _mm512_cvtepi32_ps(s1), acc);
      }
    }
  }
  out.store(t);
}

// IQ4_NL, IQ4_XS and MXFP4: each nibble picks one of 16 signed bytes; vpshufb looks the nibbles
// up in the table plus 128 (unsigned, vpdpbusd's unsigned operand), and 128 times the
// activation block's sum is taken off the integer sum, as for Q8_0. Then acc = fma(dw dx, s, acc)
// per 32-element block, dw the block's scale: fp16 d (IQ4_NL), 2^(e - 128) (MXFP4), d (ls - 32)
// of group j (IQ4_XS). The scalar q8 kernels of these types do the same arithmetic.
template <DType T>
__m512i offset_table() {
  const int8_t* values = T == DType::MXFP4 ? quant::kFp4Values : quant::kIq4nlValues;
  alignas(16) uint8_t u[16];
  for (int i = 0; i < 16; ++i) u[i] = static_cast<uint8_t>(values[i] + 128);
  return _mm512_maskz_broadcast_i32x4(
      0xffff, _mm_load_si128(reinterpret_cast<const __m128i*>(u)));  // no undefined source (GCC bug 105593)
}

// The 8 weight vectors of one 32-element block: the 4 groups at q, low nibbles then high ones.
inline void table_vectors(const __m512i& table, const uint8_t* q, __m512i (&wv)[8]) {
  const __m512i low = _mm512_set1_epi8(15);
  for (int g = 0; g < 4; ++g) {
    const __m512i v = _mm512_loadu_si512(q + 64 * g);
    wv[g] = _mm512_shuffle_epi8(table, _mm512_and_si512(v, low));
    wv[g + 4] = _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srli_epi16(v, 4), low));
  }
}

template <int NM, int kChains>
inline void table_block(Outputs<NM>& out, const __m512i (&wv)[8], __m512 dw, int64_t xb_index) {
  for (int i = 0; i < NM; ++i) {
    const BlockQ8& xb = out.x[i][xb_index];
    const __m512i s = block_dot<kChains>(_mm512_set1_epi32(-128 * xb.sum()), wv, xb);
    out.acc[i] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(xb.d)), _mm512_cvtepi32_ps(s), out.acc[i]);
  }
}

template <DType T, int NM>
void panel_rows_table(const PanelTask& t) {
  constexpr int kChains = NM < 4 ? 2 : 1;
  const __m512i table = offset_table<T>();
  const size_t block_bytes = panel_block_bytes(T);
  Outputs<NM> out(t);
  __m512i wv[8];
  const uint8_t* p = t.panel;
  if constexpr (T == DType::IQ4_XS) {
    const __m512i m4 = _mm512_set1_epi32(0xf), m2 = _mm512_set1_epi32(3), bias = _mm512_set1_epi32(32);
    for (int64_t sb = 0; sb < t.k / 256; ++sb, p += block_bytes) {
      const __m512 d = halves16(p);
      const __m512i sl = _mm512_loadu_si512(p + kXsScalesL);
      const __m512i sh = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + kXsScalesH)));
      for (int j = 0; j < 8; ++j) {
        prefetch_panel(p + block_bytes / 8 * static_cast<size_t>(j), block_bytes / 8);
        const __m512i lo = _mm512_and_si512(_mm512_srli_epi32(sl, static_cast<unsigned>(4 * j)), m4);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi32(sh, static_cast<unsigned>(2 * j)), m2);
        const __m512i ls = _mm512_sub_epi32(_mm512_or_si512(lo, _mm512_slli_epi32(hi, 4)), bias);
        table_vectors(table, p + kXsQuants + 256 * static_cast<size_t>(j), wv);
        table_block<NM, kChains>(out, wv, _mm512_mul_ps(d, _mm512_cvtepi32_ps(ls)), sb * 8 + j);
      }
    }
  } else {
    for (int64_t b = 0; b < t.k / 32; ++b, p += block_bytes) {
      prefetch_panel(p, block_bytes);
      __m512 dw;
      if constexpr (T == DType::MXFP4) {
        alignas(64) float e[kPanelRows];
        for (int r = 0; r < kPanelRows; ++r) e[r] = quant::e8m0_half(p[r]);
        dw = _mm512_load_ps(e);
        table_vectors(table, p + kPanelRows, wv);
      } else {
        dw = halves16(p);
        table_vectors(table, p + kScaleBytes, wv);
      }
      table_block<NM, kChains>(out, wv, dw, b);
    }
  }
  out.store(t);
}

template <DType T, int NM>
void panel_nm(const PanelTask& t) {
  if constexpr (T == DType::Q4_K || T == DType::Q5_K)
    panel_rows_k<T == DType::Q5_K, NM>(t);
  else if constexpr (T == DType::Q6_K)
    panel_rows_q6_k<NM>(t);
  else if constexpr (T == DType::IQ4_NL || T == DType::IQ4_XS || T == DType::MXFP4)
    panel_rows_table<T, NM>(t);
  else
    panel_rows<T, NM>(t);
}

// The task's rows kPanelActRows at a time.
template <DType T>
void panel(const PanelTask& task) {
  for (int i0 = 0; i0 < task.nm; i0 += kPanelActRows) {
    PanelTask t = task;
    t.nm = std::min(task.nm - i0, kPanelActRows);
    t.x = reinterpret_cast<const BlockQ8*>(reinterpret_cast<const uint8_t*>(task.x) +
                                           static_cast<size_t>(i0) * task.x_stride);
    t.y = task.y + static_cast<int64_t>(i0) * task.y_stride;
    switch (t.nm) {
      case 1: panel_nm<T, 1>(t); break;
      case 2: panel_nm<T, 2>(t); break;
      case 3: panel_nm<T, 3>(t); break;
      case 4: panel_nm<T, 4>(t); break;
      case 5: panel_nm<T, 5>(t); break;
      case 6: panel_nm<T, 6>(t); break;
      case 7: panel_nm<T, 7>(t); break;
      default: panel_nm<T, kPanelActRows>(t); break;
    }
  }
}

// The quantised value of 16 lanes as quantize_act_q8_scalar computes it: NaN to 0, else clamped.
inline __m512i quant16(__m512 v, __m512 id) {
  __m512 q = _mm512_maskz_roundscale_ps(0xffff, _mm512_mul_ps(v, id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  q = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(q, q, _CMP_ORD_Q), q);
  q = _mm512_min_ps(_mm512_max_ps(q, _mm512_set1_ps(-127.0f)), _mm512_set1_ps(127.0f));
  return _mm512_cvtps_epi32(q);
}

template <DType T>
struct PanelOf {
  static void run(const PanelTask& t) { panel<T>(t); }
};

}  // namespace

PanelFn panel_kernel_avx512(DType type) {
  return panel_table<PanelOf>(type);
}

void quantize_act_q8_avx512(const float* x, BlockQ8* y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const __m512 v0 = _mm512_loadu_ps(x + 32 * b), v1 = _mm512_loadu_ps(x + 32 * b + 16);
    // The largest magnitude, NaNs skipped as std::fmax does (vmaxps returns its second operand
    // when either is NaN).
    const __m512 m = _mm512_max_ps(_mm512_abs_ps(v1), _mm512_max_ps(_mm512_abs_ps(v0), _mm512_setzero_ps()));
    const float amax = _mm512_reduce_max_ps(m);
    const bool nan = (_mm512_cmp_ps_mask(v0, v0, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(v1, v1, _CMP_UNORD_Q)) != 0;
    // As the scalar quantiser: ggml's fp16 scale, the multiplier 127 / amax.
    const float d = nan ? NAN : round_to_f16(amax / 127.0f);
    const __m512 id = _mm512_set1_ps(nan ? NAN : (amax != 0.0f ? 127.0f / amax : 0.0f));
    const __m512i q0 = quant16(v0, id), q1 = quant16(v1, id);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y[b].qs), _mm512_cvtepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y[b].qs + 16), _mm512_cvtepi32_epi8(q1));
    y[b].d = d;
    y[b].half_sum[0] = static_cast<int16_t>(_mm512_reduce_add_epi32(q0));
    y[b].half_sum[1] = static_cast<int16_t>(_mm512_reduce_add_epi32(q1));
  }
}

}  // namespace loupe::kernels

#pragma GCC pop_options
#else   // not x86: no VNNI panels (panel_kernel returns null) and the scalar quantiser

namespace loupe::kernels {
PanelFn panel_kernel_avx512(DType) {
  return nullptr;
}
void quantize_act_q8_avx512(const float* x, BlockQ8* y, int64_t n_blocks) {
  quantize_act_q8_scalar(x, y, n_blocks);
}
}  // namespace loupe::kernels
#endif  // LOUPE_X86
