// Byte layouts of the GGUF block-quantised formats, as ggml defines them (ggml-common.h).
// Every field is a byte array, so a block has alignment 1 and can be read from any address of a
// mapped file; the fp16 fields are little-endian IEEE halves read with half_at().
//
// Legend: a "block" of the 32-element formats (Q4_0 .. Q8_0, IQ4_NL, MXFP4) holds kQK elements; a
// "super-block" of the K-quants, i-quants and ternary formats holds kQK_K = 256 elements split
// into sub-blocks of 16 or 32 with their own quantised scale (and min).
#pragma once

#include <cstdint>

#include "tensor/half.h"

namespace loupe::quant {

inline constexpr int kQK = 32;     // elements per block of Q4_0, Q4_1, Q5_0, Q5_1, Q8_0
inline constexpr int kQK_K = 256;  // elements per K-quant super-block

// x = d * (q - 8), q in [0, 15]. Element j in low nibble of qs[j], element j + 16 in high nibble.
struct BlockQ4_0 {
  uint8_t d[2];         // fp16 delta
  uint8_t qs[kQK / 2];  // (16) nibbles
};

// x = d * q + m, q in [0, 15]; nibble order as Q4_0.
struct BlockQ4_1 {
  uint8_t d[2];         // fp16 delta
  uint8_t m[2];         // fp16 min
  uint8_t qs[kQK / 2];  // (16) nibbles
};

// x = d * (q - 16), q in [0, 31]: low 4 bits as Q4_0, bit 4 of element j is bit j of qh (LE u32).
struct BlockQ5_0 {
  uint8_t d[2];         // fp16 delta
  uint8_t qh[4];        // (32 bits) fifth bit of each element
  uint8_t qs[kQK / 2];  // (16) low nibbles
};

// x = d * q + m, q in [0, 31]; bits as Q5_0.
struct BlockQ5_1 {
  uint8_t d[2];         // fp16 delta
  uint8_t m[2];         // fp16 min
  uint8_t qh[4];        // (32 bits) fifth bit of each element
  uint8_t qs[kQK / 2];  // (16) low nibbles
};

// x = d * q, q a signed byte.
struct BlockQ8_0 {
  uint8_t d[2];    // fp16 delta
  int8_t qs[kQK];  // (32) quants
};

// 16 sub-blocks of 16: x = d * (scales[s] & 15) * q - dmin * (scales[s] >> 4), q in [0, 3].
// The 256 elements are two halves of 128; in half h, element 32 * k + l (k < 4, l < 32) is bits
// 2k..2k+1 of qs[32 * h + l]; sub-block s covers elements 16 s .. 16 s + 15.
struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];  // (16) low nibble scale, high nibble min
  uint8_t qs[kQK_K / 4];       // (64) 2-bit quants
  uint8_t d[2];                // fp16 super-block scale of the scales
  uint8_t dmin[2];             // fp16 super-block scale of the mins
};

// 16 sub-blocks of 16: x = d * (sc[s] - 32) * (q - 4 * !hbit), sc a 6-bit scale, q in [0, 3].
// Low 2 bits placed as Q2_K; the high bit of element i is bit (i / 32) of hmask[i % 32].
// Scale s: low 4 bits in scales[s] (s < 8) low nibble / scales[s - 8] high nibble (s >= 8),
// high 2 bits at bits 2 (s / 4) .. of scales[8 + s % 4].
struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];  // (32) high bit of each quant
  uint8_t qs[kQK_K / 4];     // (64) low 2 bits of each quant
  uint8_t scales[12];        // 16 6-bit scales
  uint8_t d[2];              // fp16 super-block scale
};

// 8 sub-blocks of 32: x = d * sc[s] * q - dmin * mn[s], q in [0, 15], 6-bit sc/mn packed in
// `scales` (see scale_min_k4). Chunk c (c < 4) of 64 elements: element 64 c + l is the low
// nibble of qs[32 c + l] (sub-block 2c), element 64 c + 32 + l the high nibble (sub-block 2c+1).
struct BlockQ4_K {
  uint8_t d[2];           // fp16 super-block scale of the scales
  uint8_t dmin[2];        // fp16 super-block scale of the mins
  uint8_t scales[12];     // 8 6-bit scales and 8 6-bit mins
  uint8_t qs[kQK_K / 2];  // (128) low nibbles
};

// As Q4_K with q in [0, 31]: bit 4 of element 64 c + l is bit 2c of qh[l], of element
// 64 c + 32 + l bit 2c + 1 of qh[l].
struct BlockQ5_K {
  uint8_t d[2];           // fp16 super-block scale of the scales
  uint8_t dmin[2];        // fp16 super-block scale of the mins
  uint8_t scales[12];     // 8 6-bit scales and 8 6-bit mins
  uint8_t qh[kQK_K / 8];  // (32) fifth bits
  uint8_t qs[kQK_K / 2];  // (128) low nibbles
};

// 16 sub-blocks of 16: x = d * scales[s] * (q - 32), q in [0, 63]. In half h (128 elements), with
// l < 32: element 128h + l    = low  nibble of ql[64h + l]      | bits 0-1 of qh[32h + l] << 4
//         element 128h + l+32 = low  nibble of ql[64h + l + 32] | bits 2-3 of qh[32h + l] << 4
//         element 128h + l+64 = high nibble of ql[64h + l]      | bits 4-5 of qh[32h + l] << 4
//         element 128h + l+96 = high nibble of ql[64h + l + 32] | bits 6-7 of qh[32h + l] << 4
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];      // (128) low 4 bits
  uint8_t qh[kQK_K / 4];      // (64) high 2 bits
  int8_t scales[kQK_K / 16];  // (16) signed 8-bit scales
  uint8_t d[2];               // fp16 super-block scale
};

// ---- The i-quants, ternary and MXFP4 formats (ggml-common.h) -------------------------------
// The IQ2 / IQ3 / IQ1 types store, per group of 8 (or 4) elements, an index into a fixed grid of
// magnitude patterns (quant_iq_grids.h) and the signs separately; their 256-element super-block
// splits into 8 groups of 32 with a small integer scale each. Multi-byte words are little-endian.
// Signs: a 7-bit sign index i stands for the byte ksigns(i) (bit j set = element j negative),
// whose eighth bit makes the count of negatives even.

// Group g of 32 (g < 8) is the 8 bytes qs[8 g ..]: word a (bytes 0-3) holds 4 grid indices, one
// per 8 elements (byte l, into kIq2xxsGrid); word b (bytes 4-7) holds 4 7-bit sign indices
// (bits 7 l .. 7 l + 6) and the scale s in bits 28-31. x = d (0.5 + s) 0.25 * grid byte * sign.
struct BlockIQ2_XXS {
  uint8_t d[2];           // fp16 super-block scale
  uint8_t qs[kQK_K / 4];  // (64) 8 bytes per group of 32
};

// 32 u16 words, one per 8 elements: bits 0-8 grid index (kIq2xsGrid), bits 9-15 sign index.
// scales[g]: low nibble for the first 16 elements of group g, high nibble for the last 16;
// x = d (0.5 + s) 0.25 * grid byte * sign.
struct BlockIQ2_XS {
  uint8_t d[2];                // fp16 super-block scale
  uint8_t qs[kQK_K / 4];       // (64: 32 u16) index and signs per 8 elements
  uint8_t scales[kQK_K / 32];  // (8) two 4-bit scales per group of 32
};

// Per 8 elements (l-th in group g): grid index (kIq2sGrid, 10 bits) = qs[4 g + l] | bits 2l..2l+1
// of qh[g] << 8; sign byte qs[32 + 4 g + l] (one bit per element, no parity rule). Scales as
// IQ2_XS.
struct BlockIQ2_S {
  uint8_t d[2];                // fp16 super-block scale
  uint8_t qs[kQK_K / 4];       // (64) 32 low index bytes, then 32 sign bytes
  uint8_t qh[kQK_K / 32];      // (8) high index bits
  uint8_t scales[kQK_K / 32];  // (8) two 4-bit scales per group of 32
};

// qs[0..63]: one grid index (kIq3xxsGrid, 4 magnitudes) per 4 elements, 8 per group of 32;
// qs[64 + 4 g ..] (u32): 4 7-bit sign indices, one per 8 elements, and the scale s in bits 28-31.
// x = d (0.5 + s) 0.5 * grid byte * sign.
struct BlockIQ3_XXS {
  uint8_t d[2];               // fp16 super-block scale
  uint8_t qs[3 * kQK_K / 8];  // (96) 64 index bytes, then 8 words of signs and scale
};

// Index m (m < 8) of group g: qs[8 g + m] | bit m of qh[g] << 8 (kIq3sGrid, 4 magnitudes per
// index); signs[4 g + l]: one bit per element of the l-th 8; scale of group g: nibble g % 2 of
// scales[g / 2], x = d (1 + 2 s) * grid byte * sign.
struct BlockIQ3_S {
  uint8_t d[2];                // fp16 super-block scale
  uint8_t qs[kQK_K / 4];       // (64) low index bits
  uint8_t qh[kQK_K / 32];      // (8) ninth index bits
  uint8_t signs[kQK_K / 8];    // (32) one bit per element
  uint8_t scales[kQK_K / 64];  // (4) 4-bit scales, two per byte
};

// Per 8 elements (l-th in group g): grid index (kIq1sGrid, values -1, 0, 1) = qs[4 g + l] | bits
// 3l..3l+2 of the u16 qh[g] << 8; qh[g] bits 12-14 scale s, bit 15 the sign of the shift.
// x = d (2 s + 1) (grid + delta), delta = -+0.125 (kIq1Delta).
struct BlockIQ1_S {
  uint8_t d[2];            // fp16 super-block scale
  uint8_t qs[kQK_K / 8];   // (32) low index bits
  uint8_t qh[kQK_K / 16];  // (8 u16) high index bits, scale and delta sign per group of 32
};

// No d field: the fp16 super-block scale is the top nibbles of the four u16 scale words (word w
// gives bits 4w..4w+3). Per 8 elements (l-th in group g): index = qs[4 g + l] | bits 0-2 of the
// nibble l % 2 of qh[2 g + l / 2] << 8, bit 3 of that nibble the sign of the shift. Group g has
// two 3-bit scales (elements 0-15 and 16-31) at bits 6 (g % 2) and 6 (g % 2) + 3 of word g / 2.
// x = d (2 s + 1) (grid + delta).
struct BlockIQ1_M {
  uint8_t qs[kQK_K / 8];       // (32) low index bits
  uint8_t qh[kQK_K / 16];      // (16) high index bits and delta signs, a nibble per 8 elements
  uint8_t scales[kQK_K / 32];  // (4 u16) 3-bit scales and the super-block scale
};

// x = d * kIq4nlValues[n]; nibble order as Q4_0 (element j low nibble of qs[j], j + 16 high).
struct BlockIQ4_NL {
  uint8_t d[2];         // fp16 delta
  uint8_t qs[kQK / 2];  // (16) nibbles
};

// 8 groups of 32, each ordered as IQ4_NL at qs[16 g ..]; 6-bit scale of group g: nibble g % 2 of
// scales_l[g / 2] | bits 2g..2g+1 of the u16 scales_h << 4. x = d (ls - 32) * kIq4nlValues[n].
struct BlockIQ4_XS {
  uint8_t d[2];                  // fp16 super-block scale
  uint8_t scales_h[2];           // (u16) high 2 bits of the 8 scales
  uint8_t scales_l[kQK_K / 64];  // (4) low 4 bits, two per byte
  uint8_t qs[kQK_K / 2];         // (128) nibbles
};

// Ternary, 5 trits per byte: byte value q = ceil(t 256 / 243) for the base-3 number t of its
// trits, the first trit most significant; trit n is (uint8(q 3^n) * 3) >> 8. Elements: 32 n + m
// (n < 5) trit n of qs[m] (m < 32), 160 + 16 n + m trit n of qs[32 + m] (m < 16), 240 + 4 n + j
// (n < 4) trit n of qh[j] (4 trits and a zero). x = d (trit - 1).
struct BlockTQ1_0 {
  uint8_t qs[(kQK_K - 4 * kQK_K / 64) / 5];  // (48) 5 trits per byte
  uint8_t qh[kQK_K / 64];                    // (4) 4 trits per byte
  uint8_t d[2];                              // fp16 scale
};

// 2 bits per element: element 128 h + 32 l + m is bits 2l..2l+1 of qs[32 h + m]. x = d (q - 1).
struct BlockTQ2_0 {
  uint8_t qs[kQK_K / 4];  // (64) 2-bit quants
  uint8_t d[2];           // fp16 scale
};

// OCP microscaling FP4: 32 E2M1 values (kFp4Values, doubled so that they are integers) sharing a
// power-of-two E8M0 scale 2^(e - 127); x = kFp4Values[n] * 2^(e - 128). Nibble order as Q4_0.
struct BlockMXFP4 {
  uint8_t e;            // E8M0 exponent
  uint8_t qs[kQK / 2];  // (16) nibbles
};

static_assert(sizeof(BlockQ4_0) == 18 && alignof(BlockQ4_0) == 1);
static_assert(sizeof(BlockQ4_1) == 20 && alignof(BlockQ4_1) == 1);
static_assert(sizeof(BlockQ5_0) == 22 && alignof(BlockQ5_0) == 1);
static_assert(sizeof(BlockQ5_1) == 24 && alignof(BlockQ5_1) == 1);
static_assert(sizeof(BlockQ8_0) == 34 && alignof(BlockQ8_0) == 1);
static_assert(sizeof(BlockQ2_K) == 84 && alignof(BlockQ2_K) == 1);
static_assert(sizeof(BlockQ3_K) == 110 && alignof(BlockQ3_K) == 1);
static_assert(sizeof(BlockQ4_K) == 144 && alignof(BlockQ4_K) == 1);
static_assert(sizeof(BlockQ5_K) == 176 && alignof(BlockQ5_K) == 1);
static_assert(sizeof(BlockQ6_K) == 210 && alignof(BlockQ6_K) == 1);
static_assert(sizeof(BlockIQ2_XXS) == 66 && alignof(BlockIQ2_XXS) == 1);
static_assert(sizeof(BlockIQ2_XS) == 74 && alignof(BlockIQ2_XS) == 1);
static_assert(sizeof(BlockIQ2_S) == 82 && alignof(BlockIQ2_S) == 1);
static_assert(sizeof(BlockIQ3_XXS) == 98 && alignof(BlockIQ3_XXS) == 1);
static_assert(sizeof(BlockIQ3_S) == 110 && alignof(BlockIQ3_S) == 1);
static_assert(sizeof(BlockIQ1_S) == 50 && alignof(BlockIQ1_S) == 1);
static_assert(sizeof(BlockIQ1_M) == 56 && alignof(BlockIQ1_M) == 1);
static_assert(sizeof(BlockIQ4_NL) == 18 && alignof(BlockIQ4_NL) == 1);
static_assert(sizeof(BlockIQ4_XS) == 136 && alignof(BlockIQ4_XS) == 1);
static_assert(sizeof(BlockTQ1_0) == 54 && alignof(BlockTQ1_0) == 1);
static_assert(sizeof(BlockTQ2_0) == 66 && alignof(BlockTQ2_0) == 1);
static_assert(sizeof(BlockMXFP4) == 17 && alignof(BlockMXFP4) == 1);

// The fp16 field b (little-endian) as float.
inline float half_at(const uint8_t (&b)[2]) {
  return f16_to_f32(static_cast<uint16_t>(b[0] | b[1] << 8));
}
inline void set_half(uint8_t (&b)[2], float f) {
  uint16_t h = f32_to_f16(f);
  b[0] = static_cast<uint8_t>(h & 0xff);
  b[1] = static_cast<uint8_t>(h >> 8);
}

// The 6-bit scale ls of group g (g < 8) of an IQ4_XS super-block (the group's factor is d (ls - 32)).
inline int iq4_xs_ls(const BlockIQ4_XS& b, int g) {
  const int hi = (b.scales_h[g / 4] >> (2 * (g % 4))) & 3;
  return ((b.scales_l[g / 2] >> (4 * (g % 2))) & 0xf) | hi << 4;
}

// Scale and min of sub-block j (j < 8) of a Q4_K / Q5_K super-block, 6 bits each: for j < 4 the
// low 6 bits of q[j] and q[j + 4]; for j >= 4 the nibbles of q[j + 4] with the top 2 bits of
// q[j - 4] (scale) and q[j] (min) as bits 4-5.
inline void scale_min_k4(int j, const uint8_t* q, uint8_t& sc, uint8_t& mn) {
  if (j < 4) {
    sc = q[j] & 63;
    mn = q[j + 4] & 63;
  } else {
    sc = static_cast<uint8_t>((q[j + 4] & 0xf) | (q[j - 4] >> 6) << 4);
    mn = static_cast<uint8_t>((q[j + 4] >> 4) | (q[j] >> 6) << 4);
  }
}

}  // namespace loupe::quant
