// DType table: names, block sizes, ggml ids, and the lookups by ggml id and by name.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "tensor/dtype.h"

namespace loupe {
namespace {

struct Expected {
  DType type;
  const char* name;
  int64_t block_elems;
  size_t block_bytes;
  uint32_t ggml_id;
};

// Block sizes from ggml-common.h: fp16 fields are 2 bytes, K-quant super-blocks hold 256.
const std::vector<Expected> kExpected = {
    {DType::F32, "f32", 1, 4, 0},
    {DType::F16, "f16", 1, 2, 1},
    {DType::BF16, "bf16", 1, 2, 30},
    {DType::Q4_0, "q4_0", 32, 2 + 16, 2},
    {DType::Q4_1, "q4_1", 32, 4 + 16, 3},
    {DType::Q5_0, "q5_0", 32, 2 + 4 + 16, 6},
    {DType::Q5_1, "q5_1", 32, 4 + 4 + 16, 7},
    {DType::Q8_0, "q8_0", 32, 2 + 32, 8},
    {DType::Q2_K, "q2_k", 256, 16 + 64 + 4, 10},
    {DType::Q3_K, "q3_k", 256, 32 + 64 + 12 + 2, 11},
    {DType::Q4_K, "q4_k", 256, 4 + 12 + 128, 12},
    {DType::Q5_K, "q5_k", 256, 4 + 12 + 32 + 128, 13},
    {DType::Q6_K, "q6_k", 256, 128 + 64 + 16 + 2, 14},
    {DType::IQ2_XXS, "iq2_xxs", 256, 2 + 64, 16},
    {DType::IQ2_XS, "iq2_xs", 256, 2 + 64 + 8, 17},
    {DType::IQ3_XXS, "iq3_xxs", 256, 2 + 96, 18},
    {DType::IQ1_S, "iq1_s", 256, 2 + 32 + 16, 19},
    {DType::IQ4_NL, "iq4_nl", 32, 2 + 16, 20},
    {DType::IQ3_S, "iq3_s", 256, 2 + 64 + 8 + 32 + 4, 21},
    {DType::IQ2_S, "iq2_s", 256, 2 + 64 + 8 + 8, 22},
    {DType::IQ4_XS, "iq4_xs", 256, 2 + 2 + 4 + 128, 23},
    {DType::IQ1_M, "iq1_m", 256, 32 + 16 + 8, 29},
    {DType::TQ1_0, "tq1_0", 256, 48 + 4 + 2, 34},
    {DType::TQ2_0, "tq2_0", 256, 64 + 2, 35},
    {DType::MXFP4, "mxfp4", 32, 1 + 16, 39},
};

TEST(DTypeTraits, TableMatchesGgml) {
  ASSERT_EQ(kExpected.size(), 25u);
  for (const Expected& e : kExpected) {
    const DTypeTraits& t = dtype_traits(e.type);
    EXPECT_EQ(t.name, e.name);
    EXPECT_EQ(dtype_name(e.type), e.name);
    EXPECT_EQ(t.block_elems, e.block_elems) << e.name;
    EXPECT_EQ(t.block_bytes, e.block_bytes) << e.name;
    EXPECT_EQ(t.ggml_id, e.ggml_id) << e.name;
  }
}

TEST(DTypeTraits, FromGgml) {
  for (const Expected& e : kExpected) {
    std::optional<DType> t = dtype_from_ggml(e.ggml_id);
    ASSERT_TRUE(t.has_value()) << e.name;
    EXPECT_EQ(*t, e.type) << e.name;
  }
  // Types ggml has but loupe does not load: removed Q4_2/Q4_3 (4, 5), Q8_1 (9), Q8_K (15),
  // I8..F64 (24..28), the removed repacked Q4_0 / IQ4_NL ids (31..33, 36..38), NVFP4 (40),
  // Q1_0 (41), Q2_0 (42).
  for (uint32_t id : {4u, 5u, 9u, 15u, 24u, 28u, 31u, 33u, 36u, 38u, 40u, 41u, 42u, 1000u, 0xffffffffu}) {
    EXPECT_FALSE(dtype_from_ggml(id).has_value()) << id;
  }
}

TEST(DTypeTraits, FromNameIsCaseInsensitive) {
  for (const Expected& e : kExpected) {
    std::string upper = e.name;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_EQ(dtype_from_name(e.name), e.type) << e.name;
    EXPECT_EQ(dtype_from_name(upper), e.type) << upper;
  }
  EXPECT_EQ(dtype_from_name("Q4_k"), DType::Q4_K);
  EXPECT_EQ(dtype_from_name("bF16"), DType::BF16);
  for (const char* bad :
       {"", "q4", "q4_kk", "q4_k ", " f32", "f64", "iq2_xx", "iq3_xs", "nvfp4", "q8_1", "fp16", "q4-k"}) {
    EXPECT_FALSE(dtype_from_name(bad).has_value()) << '"' << bad << '"';
  }
}

TEST(DTypeTraits, RowBytes) {
  EXPECT_TRUE(row_fits_blocks(DType::Q4_K, 4096));
  EXPECT_FALSE(row_fits_blocks(DType::Q4_K, 4096 + 32));
  EXPECT_TRUE(row_fits_blocks(DType::Q4_0, 4096 + 32));
  EXPECT_TRUE(row_fits_blocks(DType::F16, 7));
  EXPECT_EQ(row_bytes(DType::Q4_K, 4096), 16u * 144u);
  EXPECT_EQ(row_bytes(DType::Q8_0, 4096), 128u * 34u);
  EXPECT_EQ(row_bytes(DType::F32, 7), 28u);
  EXPECT_EQ(row_bytes(DType::BF16, 7), 14u);
  EXPECT_EQ(row_bytes(DType::Q6_K, 0), 0u);
}

TEST(DTypeDeathTest, RowNotWholeBlocks) {
  // Re-executed (the pool's threads make a bare fork unsafe), except under qemu-user, which
  // cannot exec an AArch64 binary (cmake/aarch64-linux-gnu.cmake sets LOUPE_EMULATED).
  if (std::getenv("LOUPE_EMULATED") == nullptr) GTEST_FLAG_SET(death_test_style, "threadsafe");
  std::vector<uint8_t> src(1024);
  std::vector<float> dst(1024);
  EXPECT_DEATH(dequantize_row(DType::Q4_0, src.data(), dst.data(), 33), "not a whole number of blocks");
  EXPECT_DEATH(quantize_row(DType::Q4_K, dst.data(), src.data(), 128), "not a whole number of blocks");
}

}  // namespace
}  // namespace loupe
