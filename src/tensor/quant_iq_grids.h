// The fixed value tables of the i-quant, ternary and MXFP4 formats (format facts: a file's bytes
// mean nothing without them). Values as ggml defines them in ggml-common.h.
//
// A grid entry packs the magnitudes of 8 (IQ2, IQ1) or 4 (IQ3) consecutive elements, element j in
// byte j (little-endian): IQ2 bytes are 8, 25 or 43; IQ3_XXS bytes 4, 12, 20, .., 52 or 62; IQ3_S
// bytes the odd numbers 1 .. 15; IQ1 bytes the signed values -1, 0, 1 (0xff, 0x00, 0x01).
#pragma once

#include <bit>
#include <cstdint>

namespace loupe::quant {

extern const uint64_t kIq2xxsGrid[256];
extern const uint64_t kIq2xsGrid[512];
extern const uint64_t kIq2sGrid[1024];
extern const uint32_t kIq3xxsGrid[256];
extern const uint32_t kIq3sGrid[512];
extern const uint64_t kIq1sGrid[2048];

// Byte j of a grid entry (j < 8 for the 64-bit grids, j < 4 for the 32-bit ones).
inline uint8_t grid_byte(uint64_t entry, int j) {
  return static_cast<uint8_t>(entry >> (8 * j));
}

// The sign byte of a 7-bit sign index (ggml's ksigns_iq2xs): the 7 bits as they are, and bit 7
// set when they hold an odd number of ones, so that every group has an even count of negatives.
constexpr uint8_t ksigns(uint32_t i) {
  return static_cast<uint8_t>((i & 127) | (std::popcount(i & 127) & 1) << 7);
}

// The 16 non-linear 4-bit values of IQ4_NL and IQ4_XS (ggml's kvalues_iq4nl).
inline constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// E2M1 values, doubled to integers (ggml's kvalues_mxfp4): 0, 0.5, 1, 1.5, 2, 3, 4, 6 and their
// negatives (code 8, negative zero, is 0).
inline constexpr int8_t kFp4Values[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

// The shift of IQ1_S and IQ1_M groups: grid values -1, 0, 1 become -1 +- 1/8 ... (IQ1S_DELTA,
// IQ1M_DELTA).
inline constexpr float kIq1Delta = 0.125f;

// An E8M0 scale halved, 2^(e - 128), as float bits (ggml_e8m0_to_fp32_half): e = 0 and 1 are the
// subnormals 2^-128 and 2^-127. (MXFP4 multiplies the doubled kFp4Values by it.) e = 255 gives
// 2^127, not NaN, as in ggml.
inline float e8m0_half(uint8_t e) {
  const uint32_t bits = e < 2 ? 0x00200000u << e : static_cast<uint32_t>(e - 1) << 23;
  return std::bit_cast<float>(bits);
}

}  // namespace loupe::quant
