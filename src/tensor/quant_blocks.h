// Byte layouts of the GGUF block-quantised formats, as ggml defines them (ggml-common.h).
// Every field is a byte array, so a block has alignment 1 and can be read from any address of a
// mapped file; the fp16 fields are little-endian IEEE halves read with half_at().
//
// Legend: a "block" of the 32-element formats (Q4_0 .. Q8_0) holds kQK elements; a "super-block"
// of the K-quants holds kQK_K = 256 elements split into sub-blocks of 16 or 32 with their own
// quantised scale (and min).
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

// The fp16 field b (little-endian) as float.
inline float half_at(const uint8_t (&b)[2]) {
  return f16_to_f32(static_cast<uint16_t>(b[0] | b[1] << 8));
}
inline void set_half(uint8_t (&b)[2], float f) {
  uint16_t h = f32_to_f16(f);
  b[0] = static_cast<uint8_t>(h & 0xff);
  b[1] = static_cast<uint8_t>(h >> 8);
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
