// IEEE half and bfloat16 conversions (tensor/half.h) and the F16 / BF16 row conversions.
// References are computed independently: a half's value is (-1)^s * 2^(e-15) * (1 + m/1024)
// (or 2^-14 * m/1024 for subnormals), a bfloat16 is the top 16 bits of a float.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/half.h"

namespace loupe {
namespace {

uint32_t bits(float f) {
  return std::bit_cast<uint32_t>(f);
}

bool half_is_nan(uint16_t h) {
  return (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0;
}

// The value of half h by the textbook formula (finite h only).
double half_value(uint16_t h) {
  const int s = h >> 15, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  const double mag = e == 0 ? std::ldexp(m, -24) : std::ldexp(1024 + m, e - 25);
  return s ? -mag : mag;
}

TEST(HalfToFloat, AllFiniteHalvesMatchFormula) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const uint16_t hh = static_cast<uint16_t>(h);
    if ((hh & 0x7c00) == 0x7c00) continue;
    const float f = f16_to_f32(hh);
    ASSERT_EQ(static_cast<double>(f), half_value(hh)) << std::hex << h;
    ASSERT_EQ(std::signbit(f), (h & 0x8000) != 0) << std::hex << h;
  }
}

TEST(HalfToFloat, KnownValues) {
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
  EXPECT_EQ(f16_to_f32(0x0400), std::ldexp(1.0f, -14));  // smallest normal
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(f16_to_f32(0x03ff), std::ldexp(1023.0f, -24));
  EXPECT_EQ(f16_to_f32(0x2e66), 0.0999755859375f);
  EXPECT_EQ(bits(f16_to_f32(0x8000)), 0x80000000u);  // -0
  EXPECT_EQ(f16_to_f32(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(f16_to_f32(0xfc00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7e00)));
  EXPECT_TRUE(std::isnan(f16_to_f32(0xfc01)));
  EXPECT_EQ(bits(f16_to_f32(0x7d01)), 0x7fa02000u);  // signalling NaN payload kept
}

TEST(HalfRoundTrip, All65536) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const uint16_t hh = static_cast<uint16_t>(h);
    const uint16_t back = f32_to_f16(f16_to_f32(hh));
    if (half_is_nan(hh)) {
      ASSERT_TRUE(half_is_nan(back)) << std::hex << h;
      ASSERT_EQ(back & 0x8000, hh & 0x8000) << std::hex << h;
    } else {
      ASSERT_EQ(back, hh) << std::hex << h;
    }
  }
}

// Between every two neighbouring halves a < b: the exact midpoint goes to the one with an even
// mantissa, one float ulp either side goes to the nearer one. Covers subnormals, the
// normal/subnormal boundary and the overflow to infinity past 65504.
TEST(HalfFromFloat, MidpointsRoundToNearestEven) {
  for (uint32_t h = 0; h < 0x7c00; ++h) {
    for (uint32_t sign : {0u, 0x8000u}) {
      const uint16_t a = static_cast<uint16_t>(h | sign);
      const uint16_t b = static_cast<uint16_t>((h + 1) | sign);  // 0x7bff + 1 = infinity
      const double va = half_value(a);
      const double vb = h + 1 == 0x7c00 ? (sign ? -65536.0 : 65536.0) : half_value(b);
      const float mid = static_cast<float>((va + vb) / 2);  // exact: needs at most 12 bits
      ASSERT_EQ(static_cast<double>(mid), (va + vb) / 2);
      const uint16_t even = (h & 1) == 0 ? a : b;
      ASSERT_EQ(f32_to_f16(mid), even) << std::hex << a;
      const float toward_a = std::nextafter(mid, static_cast<float>(va));
      const float toward_b = std::nextafter(mid, static_cast<float>(vb));
      ASSERT_EQ(f32_to_f16(toward_a), a) << std::hex << a;
      ASSERT_EQ(f32_to_f16(toward_b), b) << std::hex << a;
    }
  }
}

TEST(HalfFromFloat, SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(f32_to_f16(inf), 0x7c00);
  EXPECT_EQ(f32_to_f16(-inf), 0xfc00);
  EXPECT_EQ(f32_to_f16(1e10f), 0x7c00);
  EXPECT_EQ(f32_to_f16(-65520.0f), 0xfc00);  // midpoint 65504 / 65536 -> even = inf
  EXPECT_EQ(f32_to_f16(65519.996f), 0x7bff);
  EXPECT_EQ(f32_to_f16(0.0f), 0x0000);
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);  // half of the smallest subnormal: even
  EXPECT_EQ(f32_to_f16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001);
  EXPECT_EQ(f32_to_f16(std::ldexp(3.0f, -26)), 0x0001);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -26)), 0x0000);
  EXPECT_EQ(f32_to_f16(-1e-30f), 0x8000);
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -14)), 0x0400);
  EXPECT_TRUE(half_is_nan(f32_to_f16(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_TRUE(half_is_nan(f32_to_f16(std::bit_cast<float>(0x7f800001u))));  // payload only in low bits
  EXPECT_EQ(f32_to_f16(-std::numeric_limits<float>::quiet_NaN()) & 0x8000, 0x8000);
}

TEST(HalfBf16, RoundTripAll65536) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const uint16_t hh = static_cast<uint16_t>(h);
    const float f = bf16_to_f32(hh);
    ASSERT_EQ(bits(f), h << 16);
    const uint16_t back = f32_to_bf16(f);
    if (std::isnan(f)) {
      ASSERT_TRUE(std::isnan(bf16_to_f32(back))) << std::hex << h;
      ASSERT_EQ(back & 0x8000, hh & 0x8000);
    } else {
      ASSERT_EQ(back, hh) << std::hex << h;
    }
  }
}

TEST(HalfBf16, RoundsToNearestEven) {
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3f808000u)), 0x3f80);  // midpoint, even below
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3f818000u)), 0x3f82);  // midpoint, even above
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3f808001u)), 0x3f81);
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3f807fffu)), 0x3f80);
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x00008000u)), 0x0000);  // subnormal midpoint
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x00018000u)), 0x0002);
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x7f7f8000u)), 0x7f80);  // overflows to inf
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(f32_to_bf16(-std::numeric_limits<float>::infinity()), 0xff80);
  const uint16_t nan = f32_to_bf16(std::bit_cast<float>(0x7f800001u));  // payload would round away
  EXPECT_TRUE(std::isnan(bf16_to_f32(nan)));
}

// The row conversions (dequantize_row / quantize_row for F16, BF16, F32) agree with half.h
// bit for bit, at any source alignment.
TEST(HalfRows, F16RowMatchesScalarForAllBitPatterns) {
  std::vector<uint8_t> src(2 * 0x10000 + 1);
  for (uint32_t h = 0; h < 0x10000; ++h) {
    src[1 + 2 * h] = static_cast<uint8_t>(h & 0xff);  // offset by one byte: unaligned halves
    src[2 + 2 * h] = static_cast<uint8_t>(h >> 8);
  }
  std::vector<float> out(0x10000);
  dequantize_row(DType::F16, src.data() + 1, out.data(), 0x10000);
  for (uint32_t h = 0; h < 0x10000; ++h) {
    ASSERT_EQ(bits(out[h]), bits(f16_to_f32(static_cast<uint16_t>(h)))) << std::hex << h;
  }
  std::vector<uint8_t> again(2 * 0x10000);
  quantize_row(DType::F16, out.data(), again.data(), 0x10000);
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const uint16_t v = static_cast<uint16_t>(again[2 * h] | again[2 * h + 1] << 8);
    ASSERT_EQ(v, f32_to_f16(out[h])) << std::hex << h;
  }
}

TEST(HalfRows, Bf16AndF32Rows) {
  std::vector<float> x = {
      0.0f,       -0.0f, 1.0f, -3.14159f, 1e-40f, 3e38f, 65504.0f, 1.00390625f, std::numeric_limits<float>::infinity(),
      123456.789f};
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> b(2 * x.size());
  quantize_row(DType::BF16, x.data(), b.data(), n);
  std::vector<float> y(x.size());
  dequantize_row(DType::BF16, b.data(), y.data(), n);
  for (size_t i = 0; i < x.size(); ++i) {
    const uint16_t v = static_cast<uint16_t>(b[2 * i] | b[2 * i + 1] << 8);
    EXPECT_EQ(v, f32_to_bf16(x[i])) << i;
    EXPECT_EQ(bits(y[i]), bits(bf16_to_f32(v))) << i;
  }
  std::vector<uint8_t> f(4 * x.size());
  quantize_row(DType::F32, x.data(), f.data(), n);
  EXPECT_EQ(std::memcmp(f.data(), x.data(), f.size()), 0);
  dequantize_row(DType::F32, f.data(), y.data(), n);
  EXPECT_EQ(std::memcmp(y.data(), x.data(), f.size()), 0);
}

}  // namespace
}  // namespace loupe
