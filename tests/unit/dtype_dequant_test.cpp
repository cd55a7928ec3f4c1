// dequantize_row against hand-built blocks. Each test writes block bytes itself at the offsets of
// ggml's layout (ggml-common.h), from chosen quants / scales, computes the expected floats by the
// format's formula in ggml's order of operations (see ggml-quants.c dequantize_row_*), and
// requires the same float bits. Rows hold two blocks with different contents, so the block
// stride is checked too. A few literal blocks pin the bit layout independently of the packers.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/half.h"

namespace loupe {
namespace {

// Deterministic small integers for quants.
class Lcg {
 public:
  explicit Lcg(uint32_t seed) : s_(seed) {}
  int below(int n) {
    s_ = s_ * 1664525u + 1013904223u;
    return static_cast<int>((s_ >> 8) % static_cast<uint32_t>(n));
  }

 private:
  uint32_t s_;
};

// fp16 constants used as d / dmin / m, with their exact values.
struct Half {
  uint16_t bits;
  float value;
};
constexpr Half kTenth{0x2e66, 0.0999755859375f};  // 2^-4 * (1 + 614/1024)
constexpr Half kMinusQuarter{0xb400, -0.25f};
constexpr Half kThird{0x3555, 0.333251953125f};  // 2^-2 * (1 + 341/1024)
constexpr Half kSmall{0x2a00, 0.046875f};        // 2^-5 * 1.5
constexpr Half kOne{0x3c00, 1.0f};
constexpr Half kMinusSeven{0xc700, -7.0f};  // 2^2 * 1.75

void put_half(std::vector<uint8_t>& row, size_t off, Half h) {
  row[off] = static_cast<uint8_t>(h.bits & 0xff);
  row[off + 1] = static_cast<uint8_t>(h.bits >> 8);
}

std::vector<float> dequant(DType type, const std::vector<uint8_t>& row, int64_t n) {
  EXPECT_EQ(row.size(), row_bytes(type, n));
  std::vector<float> out(static_cast<size_t>(n), -12345.f);
  dequantize_row(type, row.data(), out.data(), n);
  return out;
}

// Bitwise equality, reporting the first few differences.
void expect_same_bits(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  int reported = 0;
  for (size_t i = 0; i < got.size() && reported < 5; ++i) {
    if (std::bit_cast<uint32_t>(got[i]) != std::bit_cast<uint32_t>(want[i])) {
      ADD_FAILURE() << "element " << i << ": got " << got[i] << ", want " << want[i];
      ++reported;
    }
  }
}

TEST(QuantDequant, HalfConstantsAreExact) {
  for (Half h : {kTenth, kMinusQuarter, kThird, kSmall, kOne, kMinusSeven}) {
    EXPECT_EQ(f16_to_f32(h.bits), h.value) << std::hex << h.bits;
  }
}

// ---- 32-element blocks ----

// Q4_0 (18 bytes): d @0, qs[16] @2; element j < 16 is the low nibble of qs[j], j + 16 the high.
TEST(QuantDequant, Q4_0) {
  constexpr size_t kB = 18;
  std::vector<uint8_t> row(2 * kB);
  std::vector<float> want(64);
  const Half d[2] = {kTenth, kMinusQuarter};
  Lcg rng(1);
  for (int b = 0; b < 2; ++b) {
    put_half(row, b * kB, d[b]);
    for (int i = 0; i < 32; ++i) {
      const int q = i == 0 ? 0 : i == 1 ? 15 : rng.below(16);
      row[b * kB + 2 + i % 16] |= static_cast<uint8_t>(i < 16 ? q : q << 4);
      want[32 * b + i] = static_cast<float>(q - 8) * d[b].value;
    }
  }
  expect_same_bits(dequant(DType::Q4_0, row, 64), want);
}

TEST(QuantDequant, Q4_0Literal) {
  std::vector<uint8_t> row(18);
  put_half(row, 0, kOne);
  row[2] = 0x1f;   // element 0: 15 - 8 = 7, element 16: 1 - 8 = -7
  row[17] = 0x80;  // element 15: 0 - 8 = -8, element 31: 8 - 8 = 0
  const std::vector<float> y = dequant(DType::Q4_0, row, 32);
  EXPECT_EQ(y[0], 7.f);
  EXPECT_EQ(y[16], -7.f);
  EXPECT_EQ(y[15], -8.f);
  EXPECT_EQ(y[31], 0.f);
  EXPECT_EQ(y[1], -8.f);
}

// Q4_1 (20 bytes): d @0, m @2, qs[16] @4; x = q * d + m.
TEST(QuantDequant, Q4_1) {
  constexpr size_t kB = 20;
  std::vector<uint8_t> row(2 * kB);
  std::vector<float> want(64);
  const Half d[2] = {kTenth, kThird};
  const Half m[2] = {kMinusSeven, kSmall};
  Lcg rng(2);
  for (int b = 0; b < 2; ++b) {
    put_half(row, b * kB, d[b]);
    put_half(row, b * kB + 2, m[b]);
    for (int i = 0; i < 32; ++i) {
      const int q = i == 5 ? 15 : rng.below(16);
      row[b * kB + 4 + i % 16] |= static_cast<uint8_t>(i < 16 ? q : q << 4);
      want[32 * b + i] = static_cast<float>(q) * d[b].value + m[b].value;
    }
  }
  expect_same_bits(dequant(DType::Q4_1, row, 64), want);
}

// Q5_0 (22 bytes): d @0, qh[4] @2 (little-endian u32, bit i = bit 4 of element i), qs[16] @6.
TEST(QuantDequant, Q5_0) {
  constexpr size_t kB = 22;
  std::vector<uint8_t> row(2 * kB);
  std::vector<float> want(64);
  const Half d[2] = {kThird, kMinusQuarter};
  Lcg rng(3);
  for (int b = 0; b < 2; ++b) {
    put_half(row, b * kB, d[b]);
    for (int i = 0; i < 32; ++i) {
      const int q = i == 7 ? 31 : i == 30 ? 0 : rng.below(32);
      row[b * kB + 6 + i % 16] |= static_cast<uint8_t>(i < 16 ? (q & 15) : (q & 15) << 4);
      row[b * kB + 2 + i / 8] |= static_cast<uint8_t>((q >> 4) << (i % 8));
      want[32 * b + i] = static_cast<float>(q - 16) * d[b].value;
    }
  }
  expect_same_bits(dequant(DType::Q5_0, row, 64), want);
}

TEST(QuantDequant, Q5_0Literal) {
  std::vector<uint8_t> row(22);
  put_half(row, 0, kOne);
  row[2] = 0x01;   // qh bit 0: element 0 gets bit 4
  row[5] = 0x80;   // qh bit 31: element 31 gets bit 4
  row[6] = 0x3f;   // element 0 low = 15, element 16 low = 3
  row[21] = 0xa0;  // element 15 low = 0, element 31 low = 10
  const std::vector<float> y = dequant(DType::Q5_0, row, 32);
  EXPECT_EQ(y[0], 31.f - 16.f);
  EXPECT_EQ(y[16], 3.f - 16.f);
  EXPECT_EQ(y[15], -16.f);
  EXPECT_EQ(y[31], 26.f - 16.f);
}

// Q5_1 (24 bytes): d @0, m @2, qh[4] @4, qs[16] @8; x = q * d + m.
TEST(QuantDequant, Q5_1) {
  constexpr size_t kB = 24;
  std::vector<uint8_t> row(2 * kB);
  std::vector<float> want(64);
  const Half d[2] = {kSmall, kTenth};
  const Half m[2] = {kThird, kMinusSeven};
  Lcg rng(4);
  for (int b = 0; b < 2; ++b) {
    put_half(row, b * kB, d[b]);
    put_half(row, b * kB + 2, m[b]);
    for (int i = 0; i < 32; ++i) {
      const int q = i == 31 ? 31 : rng.below(32);
      row[b * kB + 8 + i % 16] |= static_cast<uint8_t>(i < 16 ? (q & 15) : (q & 15) << 4);
      row[b * kB + 4 + i / 8] |= static_cast<uint8_t>((q >> 4) << (i % 8));
      want[32 * b + i] = static_cast<float>(q) * d[b].value + m[b].value;
    }
  }
  expect_same_bits(dequant(DType::Q5_1, row, 64), want);
}

// Q8_0 (34 bytes): d @0, int8 qs[32] @2; x = q * d.
TEST(QuantDequant, Q8_0) {
  constexpr size_t kB = 34;
  std::vector<uint8_t> row(2 * kB);
  std::vector<float> want(64);
  const Half d[2] = {kTenth, kMinusSeven};
  Lcg rng(5);
  for (int b = 0; b < 2; ++b) {
    put_half(row, b * kB, d[b]);
    for (int i = 0; i < 32; ++i) {
      const int q = i == 0 ? -128 : i == 1 ? 127 : rng.below(256) - 128;
      row[b * kB + 2 + i] = static_cast<uint8_t>(static_cast<int8_t>(q));
      want[32 * b + i] = static_cast<float>(q) * d[b].value;
    }
  }
  expect_same_bits(dequant(DType::Q8_0, row, 64), want);
}

// ---- K-quants (256 elements per super-block) ----

// Q2_K (84 bytes): scales[16] @0 (low nibble scale, high nibble min of sub-block s = i / 16),
// qs[64] @16 (element i: bits 2 * ((i % 128) / 32) of qs[32 * (i / 128) + i % 32]),
// d @80, dmin @82. x = (d * sc) * q - dmin * mn.
TEST(QuantDequant, Q2_K) {
  constexpr size_t kB = 84;
  std::vector<uint8_t> row(2 * kB);
  std::vector<float> want(512);
  const Half d[2] = {kTenth, kThird};
  const Half dmin[2] = {kSmall, kMinusQuarter};
  Lcg rng(6);
  for (int b = 0; b < 2; ++b) {
    uint8_t* blk = row.data() + b * kB;
    put_half(row, b * kB + 80, d[b]);
    put_half(row, b * kB + 82, dmin[b]);
    int sc[16], mn[16];
    for (int s = 0; s < 16; ++s) {
      sc[s] = s == 0 ? 15 : s == 1 ? 0 : rng.below(16);
      mn[s] = s == 0 ? 15 : rng.below(16);
      blk[s] = static_cast<uint8_t>(sc[s] | mn[s] << 4);
    }
    for (int i = 0; i < 256; ++i) {
      const int q = rng.below(4);
      blk[16 + 32 * (i / 128) + i % 32] |= static_cast<uint8_t>(q << (2 * ((i % 128) / 32)));
      const float dl = d[b].value * static_cast<float>(sc[i / 16]);
      const float ml = dmin[b].value * static_cast<float>(mn[i / 16]);
      want[256 * b + i] = dl * static_cast<float>(q) - ml;
    }
  }
  expect_same_bits(dequant(DType::Q2_K, row, 512), want);
}

TEST(QuantDequant, Q2_KLiteral) {
  std::vector<uint8_t> row(84);
  for (int s = 0; s < 16; ++s) row[s] = 0x01;  // scale 1, min 0
  row[16] = 0xe4;                              // 0b11'10'01'00: elements 0, 32, 64, 96 = 0, 1, 2, 3
  row[16 + 32 + 31] = 0xc0;                    // element 128 + 96 + 31 = 255 gets 3
  put_half(row, 80, kOne);
  const std::vector<float> y = dequant(DType::Q2_K, row, 256);
  EXPECT_EQ(y[0], 0.f);
  EXPECT_EQ(y[32], 1.f);
  EXPECT_EQ(y[64], 2.f);
  EXPECT_EQ(y[96], 3.f);
  EXPECT_EQ(y[255], 3.f);
  EXPECT_EQ(y[128], 0.f);
}

// Q3_K (110 bytes): hmask[32] @0, qs[64] @32, scales[12] @96, d @108. Element i: low 2 bits as
// Q2_K, high bit = bit (i / 32) of hmask[i % 32]; q = low - (high ? 0 : 4) in [-4, 3].
// Sub-block s = i / 16 has 6-bit scale sc6[s]; x = (d * (sc6 - 32)) * q.
// The 12 scale bytes are written literally: low nibbles in bytes 0-7 (s < 8 low nibble of byte s,
// s >= 8 high nibble of byte s - 8), top 2 bits in bytes 8-11 (bits 2 (s / 4) of byte 8 + s % 4).
constexpr std::array<int, 16> kQ3Scales = {0, 1, 31, 32, 33, 63, 10, 20, 40, 50, 60, 5, 15, 25, 35, 45};
constexpr std::array<uint8_t, 12> kQ3ScaleBytes = {0x80, 0x21, 0xcf, 0x50, 0xf1, 0x9f,
                                                   0x3a, 0xd4, 0x28, 0x7c, 0xb1, 0x86};

TEST(QuantDequant, Q3_K) {
  constexpr size_t kB = 110;
  std::vector<uint8_t> row(2 * kB);
  std::vector<float> want(512);
  const Half d[2] = {kTenth, kMinusQuarter};
  Lcg rng(7);
  for (int b = 0; b < 2; ++b) {
    uint8_t* blk = row.data() + b * kB;
    for (int k = 0; k < 12; ++k) blk[96 + k] = kQ3ScaleBytes[k];
    put_half(row, b * kB + 108, d[b]);
    for (int i = 0; i < 256; ++i) {
      const int q = i == 3 ? -4 : i == 4 ? 3 : rng.below(8) - 4;
      const int u = q + 4;  // high bit set <=> q >= 0
      blk[32 + 32 * (i / 128) + i % 32] |= static_cast<uint8_t>((u & 3) << (2 * ((i % 128) / 32)));
      blk[i % 32] |= static_cast<uint8_t>((u >> 2) << (i / 32));
      const float dl = d[b].value * static_cast<float>(kQ3Scales[i / 16] - 32);
      want[256 * b + i] = dl * static_cast<float>(q);
    }
  }
  expect_same_bits(dequant(DType::Q3_K, row, 512), want);
}

TEST(QuantDequant, Q3_KLiteral) {
  std::vector<uint8_t> row(110);
  // All 16 scales = 33 (scale 1): low nibble 1 everywhere, top bits 0b10 in every slot.
  for (int k = 0; k < 8; ++k) row[96 + k] = 0x11;
  for (int k = 8; k < 12; ++k) row[96 + k] = 0xaa;
  put_half(row, 108, kOne);
  row[0] = 0x81;        // hmask[0]: high bit for elements 0 and 224
  row[32] = 0x1b;       // qs[0] = 0b00'01'10'11: elements 0, 32, 64, 96 low bits 3, 2, 1, 0
  row[32 + 32] = 0x40;  // qs[32]: element 128 + 96 = 224 low bits 1
  const std::vector<float> y = dequant(DType::Q3_K, row, 256);
  EXPECT_EQ(y[0], 3.f);    // high bit set: 3
  EXPECT_EQ(y[32], -2.f);  // 2 - 4
  EXPECT_EQ(y[64], -3.f);  // 1 - 4
  EXPECT_EQ(y[96], -4.f);  // 0 - 4
  EXPECT_EQ(y[224], 1.f);  // high bit set: 1
  EXPECT_EQ(y[1], -4.f);
}

// Q4_K / Q5_K scales: 8 6-bit scales and mins packed in 12 bytes (get_scale_min_k4): for s < 4
// scale = byte s & 63, min = byte s + 4 & 63; for s >= 4 scale = low nibble of byte s + 4 with
// the top 2 bits of byte s - 4 above it, min = high nibble of byte s + 4 with the top 2 bits of
// byte s. Bytes worked out by hand from the values below.
constexpr std::array<int, 8> kK4Scales = {63, 1, 2, 3, 17, 33, 48, 62};
constexpr std::array<int, 8> kK4Mins = {0, 63, 5, 7, 31, 32, 15, 47};
constexpr std::array<uint8_t, 12> kK4ScaleBytes = {0x7f, 0x81, 0xc2, 0xc3, 0x40, 0xbf,
                                                   0x05, 0x87, 0xf1, 0x01, 0xf0, 0xfe};

// Q4_K (144 bytes): d @0, dmin @2, scales[12] @4, qs[128] @16. Element i (chunk c = i / 64,
// w = i % 64): the low (w < 32) or high nibble of qs[32 c + w % 32]; sub-block s = i / 32.
// x = (d * sc) * q - dmin * mn.
TEST(QuantDequant, Q4_K) {
  constexpr size_t kB = 144;
  std::vector<uint8_t> row(2 * kB);
  std::vector<float> want(512);
  const Half d[2] = {kTenth, kThird};
  const Half dmin[2] = {kSmall, kMinusQuarter};
  Lcg rng(8);
  for (int b = 0; b < 2; ++b) {
    uint8_t* blk = row.data() + b * kB;
    put_half(row, b * kB, d[b]);
    put_half(row, b * kB + 2, dmin[b]);
    for (int k = 0; k < 12; ++k) blk[4 + k] = kK4ScaleBytes[k];
    for (int i = 0; i < 256; ++i) {
      const int q = i == 0 ? 15 : rng.below(16);
      const int w = i % 64;
      blk[16 + 32 * (i / 64) + w % 32] |= static_cast<uint8_t>(w < 32 ? q : q << 4);
      const float d1 = d[b].value * static_cast<float>(kK4Scales[i / 32]);
      const float m1 = dmin[b].value * static_cast<float>(kK4Mins[i / 32]);
      want[256 * b + i] = d1 * static_cast<float>(q) - m1;
    }
  }
  expect_same_bits(dequant(DType::Q4_K, row, 512), want);
}

// Q5_K (176 bytes): d @0, dmin @2, scales[12] @4, qh[32] @16, qs[128] @48. Low nibbles as Q4_K;
// bit 4 of element i is bit (i / 32) of qh[i % 32].
TEST(QuantDequant, Q5_K) {
  constexpr size_t kB = 176;
  std::vector<uint8_t> row(2 * kB);
  std::vector<float> want(512);
  const Half d[2] = {kSmall, kTenth};
  const Half dmin[2] = {kThird, kMinusSeven};
  Lcg rng(9);
  for (int b = 0; b < 2; ++b) {
    uint8_t* blk = row.data() + b * kB;
    put_half(row, b * kB, d[b]);
    put_half(row, b * kB + 2, dmin[b]);
    for (int k = 0; k < 12; ++k) blk[4 + k] = kK4ScaleBytes[k];
    for (int i = 0; i < 256; ++i) {
      const int q = i == 100 ? 31 : rng.below(32);
      const int w = i % 64;
      blk[48 + 32 * (i / 64) + w % 32] |= static_cast<uint8_t>(w < 32 ? (q & 15) : (q & 15) << 4);
      blk[16 + i % 32] |= static_cast<uint8_t>((q >> 4) << (i / 32));
      const float d1 = d[b].value * static_cast<float>(kK4Scales[i / 32]);
      const float m1 = dmin[b].value * static_cast<float>(kK4Mins[i / 32]);
      want[256 * b + i] = d1 * static_cast<float>(q) - m1;
    }
  }
  expect_same_bits(dequant(DType::Q5_K, row, 512), want);
}

TEST(QuantDequant, Q5_KLiteral) {
  std::vector<uint8_t> row(176);
  put_half(row, 0, kOne);
  for (int k = 0; k < 4; ++k) row[4 + k] = 1;      // scales 0-3 = 1, mins 0-3 = 0
  for (int k = 8; k < 12; ++k) row[4 + k] = 0x01;  // scales 4-7 = 1, mins 4-7 = 0
  row[16] = 0x82;                                  // qh[0]: bit 1 (element 32) and bit 7 (element 224)
  row[48] = 0x2f;                                  // qs[0]: element 0 low = 15, element 32 low = 2
  row[48 + 96] = 0x70;                             // qs[96]: element 192 low = 0, element 224 low = 7
  const std::vector<float> y = dequant(DType::Q5_K, row, 256);
  EXPECT_EQ(y[0], 15.f);
  EXPECT_EQ(y[32], 18.f);
  EXPECT_EQ(y[192], 0.f);
  EXPECT_EQ(y[224], 23.f);
}

// Q6_K (210 bytes): ql[128] @0, qh[64] @128, int8 scales[16] @192, d @208. Element i (h = i / 128,
// k = (i % 128) / 32, l = i % 32): low 4 bits from ql[64 h + l] (k = 0 low, k = 2 high nibble) or
// ql[64 h + 32 + l] (k = 1 low, k = 3 high), high 2 bits = bits 2k of qh[32 h + l];
// q = that - 32; sub-block s = i / 16; x = (d * sc) * q.
TEST(QuantDequant, Q6_K) {
  constexpr size_t kB = 210;
  std::vector<uint8_t> row(2 * kB);
  std::vector<float> want(512);
  const Half d[2] = {kTenth, kMinusQuarter};
  Lcg rng(10);
  for (int b = 0; b < 2; ++b) {
    uint8_t* blk = row.data() + b * kB;
    put_half(row, b * kB + 208, d[b]);
    int sc[16];
    for (int s = 0; s < 16; ++s) {
      sc[s] = s == 0 ? -128 : s == 1 ? 127 : s == 2 ? 0 : rng.below(256) - 128;
      blk[192 + s] = static_cast<uint8_t>(static_cast<int8_t>(sc[s]));
    }
    for (int i = 0; i < 256; ++i) {
      const int u = i == 0 ? 63 : i == 1 ? 0 : rng.below(64);
      const int h = i / 128, k = (i % 128) / 32, l = i % 32;
      const int ql_index = 64 * h + (k % 2 == 1 ? 32 : 0) + l;
      blk[ql_index] |= static_cast<uint8_t>(k < 2 ? (u & 15) : (u & 15) << 4);
      blk[128 + 32 * h + l] |= static_cast<uint8_t>((u >> 4) << (2 * k));
      const float ds = d[b].value * static_cast<float>(sc[i / 16]);
      want[256 * b + i] = ds * static_cast<float>(u - 32);
    }
  }
  expect_same_bits(dequant(DType::Q6_K, row, 512), want);
}

TEST(QuantDequant, Q6_KLiteral) {
  std::vector<uint8_t> row(210);
  row[0] = 0x21;    // ql[0]: element 0 low = 1, element 64 low = 2
  row[128] = 0xe4;  // qh[0] = 0b11'10'01'00: elements 0, 32, 64, 96 high bits 0, 1, 2, 3
  for (int s = 0; s < 16; ++s) row[192 + s] = 1;
  put_half(row, 208, kOne);
  const std::vector<float> y = dequant(DType::Q6_K, row, 256);
  EXPECT_EQ(y[0], 1.f - 32.f);
  EXPECT_EQ(y[32], 16.f - 32.f);
  EXPECT_EQ(y[64], 34.f - 32.f);
  EXPECT_EQ(y[96], 48.f - 32.f);
  EXPECT_EQ(y[1], -32.f);
}

// Dequantising from an odd address gives the same floats (blocks are read as bytes).
TEST(QuantDequant, UnalignedSource) {
  for (DType type : {DType::Q4_0, DType::Q5_1, DType::Q8_0, DType::Q3_K, DType::Q6_K, DType::BF16}) {
    const int64_t n = 512;
    const size_t bytes = row_bytes(type, n);
    std::vector<uint8_t> buf(bytes);
    Lcg rng(11);
    std::vector<float> x(n);
    for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(rng.below(2001) - 1000) / 300.f;
    quantize_row(type, x.data(), buf.data(), n);
    std::vector<float> a(n), b(n);
    dequantize_row(type, buf.data(), a.data(), n);
    std::vector<uint8_t> shifted(bytes + 1);
    std::copy(buf.begin(), buf.end(), shifted.begin() + 1);
    dequantize_row(type, shifted.data() + 1, b.data(), n);
    expect_same_bits(b, a);
  }
}

}  // namespace
}  // namespace loupe
