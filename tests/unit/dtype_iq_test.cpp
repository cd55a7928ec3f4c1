// The i-quant, ternary and MXFP4 types against files ggml wrote (../shared/reference/quants: one
// 32 x 1024 tensor per type, quantised by ggml_quantize_chunk, with its exactly dequantised
// values): dequantize_row must give the same float bits (at most 1 ulp, the README's tolerance);
// row 3 of the source is all zeros and must stay exact zeros. Then the grid tables' invariants,
// the quantisers loupe has (ggml's bytes where ggml's reference quantiser needs no importance
// matrix: TQ1_0, TQ2_0, MXFP4; an error bound for all five) and the clear refusal of the others.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "formats/gguf.h"
#include "tensor/dtype.h"
#include "tensor/quant_iq_grids.h"
#include "test_support.h"

namespace loupe {
namespace {

constexpr int64_t kRows = 32, kCols = 1024;

const DType kNewTypes[] = {DType::IQ2_XXS, DType::IQ2_XS, DType::IQ3_XXS, DType::IQ1_S, DType::IQ4_NL, DType::IQ3_S,
                           DType::IQ2_S,   DType::IQ4_XS, DType::IQ1_M,   DType::TQ1_0, DType::TQ2_0,  DType::MXFP4};

std::string quants(const std::string& file) {
  return test::shared("reference/quants/" + file);
}

// Distance in units in the last place between two floats of the same sign (0 for equal bits).
int64_t ulps(float a, float b) {
  if (std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b)) return 0;
  if (std::signbit(a) != std::signbit(b)) return a == b ? 0 : INT64_MAX;  // +0 / -0 only
  return std::abs(static_cast<int64_t>(std::bit_cast<uint32_t>(a)) - static_cast<int64_t>(std::bit_cast<uint32_t>(b)));
}

std::vector<float> dequantize_tensor(const GgufTensorInfo& t) {
  const int64_t cols = t.ne[0], rows = t.ne[1];
  std::vector<float> out(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    dequantize_row(t.type, t.data + row_bytes(t.type, cols) * static_cast<size_t>(r), out.data() + r * cols, cols);
  return out;
}

// got against the reference values: at most 1 ulp anywhere, and the count of inexact ones.
void expect_exact(DType type, const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size()) << dtype_name(type);
  int64_t off_by_one = 0, reported = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const int64_t d = ulps(got[i], want[i]);
    if (d == 1) ++off_by_one;
    if (d > 1 && reported++ < 5)
      ADD_FAILURE() << dtype_name(type) << " element " << i << " (row " << i / kCols << ", col " << i % kCols
                    << "): " << got[i] << " want " << want[i];
  }
  // ggml's and loupe's operations are the same, so even 1-ulp differences would be a surprise.
  EXPECT_EQ(off_by_one, 0) << dtype_name(type);
}

// Each <type>.gguf: one tensor 'weight', GGUF ne [1024, 32], of that type, whose values are
// <type>.f32 to the bit.
TEST(DTypeIq, DequantisationMatchesGgmlBitForBit) {
  for (DType type : kNewTypes) {
    const std::string name(dtype_name(type));
    const GgufFile g = GgufFile::open(quants(name + ".gguf"));
    const GgufTensorInfo* t = g.find_tensor("weight");
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(t->type, type) << name;
    ASSERT_EQ(t->ne, (std::vector<int64_t>{kCols, kRows})) << name;
    EXPECT_EQ(t->nbytes, row_bytes(type, kCols) * kRows) << name;
    expect_exact(type, dequantize_tensor(*t), test::read_f32(quants(name + ".f32")));
  }
}

// all_types.gguf: the twelve tensors in one data section (mixed block sizes and row lengths).
TEST(DTypeIq, AllTypesInOneFile) {
  const GgufFile g = GgufFile::open(quants("all_types.gguf"));
  EXPECT_EQ(g.get_string("general.architecture"), "quant-oracle");
  for (DType type : kNewTypes) {
    const std::string name(dtype_name(type));
    const GgufTensorInfo* t = g.find_tensor(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(t->type, type) << name;
    expect_exact(type, dequantize_tensor(*t), test::read_f32(quants(name + ".f32")));
  }
}

TEST(DTypeIq, AllZeroRowStaysZero) {
  for (DType type : kNewTypes) {
    const GgufFile g = GgufFile::open(quants(std::string(dtype_name(type)) + ".gguf"));
    const GgufTensorInfo& t = *g.find_tensor("weight");
    std::vector<float> row(kCols, 1.0f);
    dequantize_row(type, t.data + row_bytes(type, kCols) * 3, row.data(), kCols);
    for (int64_t j = 0; j < kCols; ++j)
      ASSERT_EQ(row[static_cast<size_t>(j)], 0.0f) << dtype_name(type) << " col " << j;
  }
}

// The tables' shapes: every grid entry distinct, of the format's magnitudes; the sign bytes of
// even parity; a few entries as printed in ggml-common.h.
TEST(DTypeIq, GridTables) {
  auto check64 = [](const uint64_t* grid, size_t n, std::set<uint8_t> allowed, const char* what) {
    std::set<uint64_t> seen(grid, grid + n);
    EXPECT_EQ(seen.size(), n) << what;
    for (size_t i = 0; i < n; ++i)
      for (int j = 0; j < 8; ++j) ASSERT_TRUE(allowed.count(quant::grid_byte(grid[i], j))) << what << " entry " << i;
  };
  check64(quant::kIq2xxsGrid, 256, {8, 25, 43}, "iq2xxs");
  check64(quant::kIq2xsGrid, 512, {8, 25, 43}, "iq2xs");
  check64(quant::kIq2sGrid, 1024, {8, 25, 43}, "iq2s");
  check64(quant::kIq1sGrid, 2048, {0xff, 0x00, 0x01}, "iq1s");
  auto check32 = [](const uint32_t* grid, size_t n, std::set<uint8_t> allowed, const char* what) {
    std::set<uint32_t> seen(grid, grid + n);
    EXPECT_EQ(seen.size(), n) << what;
    for (size_t i = 0; i < n; ++i)
      for (int j = 0; j < 4; ++j) ASSERT_TRUE(allowed.count(quant::grid_byte(grid[i], j))) << what << " entry " << i;
  };
  check32(quant::kIq3xxsGrid, 256, {4, 12, 20, 28, 36, 44, 52, 62}, "iq3xxs");
  check32(quant::kIq3sGrid, 512, {1, 3, 5, 7, 9, 11, 13, 15}, "iq3s");
  EXPECT_EQ(quant::kIq2xxsGrid[0], 0x0808080808080808u);
  EXPECT_EQ(quant::kIq2xxsGrid[255], 0x2b2b2b1908081908u);
  EXPECT_EQ(quant::kIq2sGrid[1023], 0x2b2b2b2b2b2b2b2bu);
  EXPECT_EQ(quant::kIq3xxsGrid[0], 0x04040404u);
  EXPECT_EQ(quant::kIq3xxsGrid[255], 0x3e341c04u);
  EXPECT_EQ(quant::kIq3sGrid[511], 0x0f0f0101u);
  EXPECT_EQ(quant::kIq1sGrid[0], 0xffffffffffffffffu);
  EXPECT_EQ(quant::kIq1sGrid[2047], 0x0101010101010101u);
  // ggml's ksigns_iq2xs starts 0, 129, 130, 3, 132 and ends 252, 125, 126, 255.
  const uint8_t first[] = {0, 129, 130, 3, 132}, last[] = {252, 125, 126, 255};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(quant::ksigns(static_cast<uint32_t>(i)), first[i]);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(quant::ksigns(static_cast<uint32_t>(124 + i)), last[i]);
  for (uint32_t i = 0; i < 128; ++i) EXPECT_EQ(std::popcount(quant::ksigns(i)) % 2, 0) << i;
  // E8M0 halved: 2^(e - 128), subnormal for e < 2.
  EXPECT_EQ(quant::e8m0_half(128), 1.0f);
  EXPECT_EQ(quant::e8m0_half(127), 0.5f);
  EXPECT_EQ(quant::e8m0_half(2), std::ldexp(1.0f, -126));
  EXPECT_EQ(quant::e8m0_half(1), std::ldexp(1.0f, -127));
  EXPECT_EQ(quant::e8m0_half(0), std::ldexp(1.0f, -128));
  EXPECT_EQ(quant::e8m0_half(255), std::ldexp(1.0f, 127));
}

// TQ1_0, TQ2_0 and MXFP4 were quantised without an importance matrix by ggml's reference
// quantisers, which loupe's reproduce: the same bytes from source.f32.
TEST(DTypeIq, QuantisersReproduceGgmlBytes) {
  const std::vector<float> src = test::read_f32(quants("source.f32"));
  ASSERT_EQ(src.size(), static_cast<size_t>(kRows * kCols));
  for (DType type : {DType::TQ1_0, DType::TQ2_0, DType::MXFP4}) {
    const GgufFile g = GgufFile::open(quants(std::string(dtype_name(type)) + ".gguf"));
    const GgufTensorInfo& t = *g.find_tensor("weight");
    std::vector<uint8_t> mine(t.nbytes);
    for (int64_t r = 0; r < kRows; ++r)
      quantize_row(type, src.data() + r * kCols, mine.data() + row_bytes(type, kCols) * static_cast<size_t>(r), kCols);
    EXPECT_EQ(std::memcmp(mine.data(), t.data, t.nbytes), 0) << dtype_name(type);
  }
}

// Quantise then dequantise: relative RMS error over the source (rows of very different
// magnitudes, a heavy-tailed row, an outlier, a zero row), against bounds just above what loupe
// reaches (0.077, 0.075, 0.118, 0.816; ggml's in index.json: 0.075 and 0.076 for the IQ4 types
// with an importance matrix, the same 0.118 and 0.816 for the others); the zero row stays exact.
TEST(DTypeIq, QuantiseRoundTripErrorBound) {
  const std::vector<float> src = test::read_f32(quants("source.f32"));
  struct Bound {
    DType type;
    double rel_rms;
  };
  for (const Bound& b : {Bound{DType::IQ4_NL, 0.08}, Bound{DType::IQ4_XS, 0.08}, Bound{DType::MXFP4, 0.12},
                         Bound{DType::TQ1_0, 0.82}, Bound{DType::TQ2_0, 0.82}}) {
    ASSERT_TRUE(can_quantize(b.type));
    std::vector<uint8_t> q(row_bytes(b.type, kCols));
    std::vector<float> back(static_cast<size_t>(kCols));
    double err = 0, norm = 0;
    for (int64_t r = 0; r < kRows; ++r) {
      const float* x = src.data() + r * kCols;
      quantize_row(b.type, x, q.data(), kCols);
      dequantize_row(b.type, q.data(), back.data(), kCols);
      for (int64_t j = 0; j < kCols; ++j) {
        err += std::pow(back[static_cast<size_t>(j)] - x[j], 2.0);
        norm += std::pow(x[j], 2.0);
        if (r == 3) {
          ASSERT_EQ(back[static_cast<size_t>(j)], 0.0f) << dtype_name(b.type);
        }
      }
    }
    EXPECT_LE(std::sqrt(err / norm), b.rel_rms) << dtype_name(b.type);
  }
}

// The grid i-quants are refused with a loupe::Error naming the type (never an abort).
TEST(DTypeIq, GridQuantisersRefuse) {
  std::vector<float> x(256, 0.5f);
  std::vector<uint8_t> y(256);
  for (DType type :
       {DType::IQ2_XXS, DType::IQ2_XS, DType::IQ2_S, DType::IQ3_XXS, DType::IQ3_S, DType::IQ1_S, DType::IQ1_M}) {
    EXPECT_FALSE(can_quantize(type)) << dtype_name(type);
    try {
      quantize_row(type, x.data(), y.data(), 256);
      ADD_FAILURE() << dtype_name(type) << " did not throw";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("cannot write ") + std::string(dtype_name(type))),
                std::string::npos)
          << e.what();
    }
  }
}

// Non-finite input gives a valid block (no UB, checked under UBSan), and finite input a finite
// one.
TEST(DTypeIq, QuantisersSurviveNonFiniteInput) {
  std::vector<float> x(256, 0.25f);
  x[3] = NAN;
  x[100] = INFINITY;
  x[200] = -3e38f;
  for (DType type : {DType::IQ4_NL, DType::IQ4_XS, DType::MXFP4, DType::TQ1_0, DType::TQ2_0}) {
    std::vector<uint8_t> y(row_bytes(type, 256));
    std::vector<float> back(256);
    quantize_row(type, x.data(), y.data(), 256);
    dequantize_row(type, y.data(), back.data(), 256);
    std::vector<float> tiny(256, 1e-30f);
    quantize_row(type, tiny.data(), y.data(), 256);
    dequantize_row(type, y.data(), back.data(), 256);
    for (float v : back) EXPECT_TRUE(std::isfinite(v)) << dtype_name(type);
  }
}

}  // namespace
}  // namespace loupe
