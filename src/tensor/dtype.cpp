// DType table (names, block sizes, ggml ids) and the row conversions, dispatched by type to the
// kernels in quant_*.cpp.
#include "tensor/dtype.h"

#include <array>
#include <cstring>

#include "core/error.h"
#include "tensor/quant_rows.h"

namespace loupe {

namespace {

using namespace quant;

// One row per DType, in enum order (checked below).
constexpr std::array<DTypeTraits, 25> kTraits = {{
    {"f32", 1, 4, 0},
    {"f16", 1, 2, 1},
    {"bf16", 1, 2, 30},
    {"q4_0", kQK, sizeof(BlockQ4_0), 2},
    {"q4_1", kQK, sizeof(BlockQ4_1), 3},
    {"q5_0", kQK, sizeof(BlockQ5_0), 6},
    {"q5_1", kQK, sizeof(BlockQ5_1), 7},
    {"q8_0", kQK, sizeof(BlockQ8_0), 8},
    {"q2_k", kQK_K, sizeof(BlockQ2_K), 10},
    {"q3_k", kQK_K, sizeof(BlockQ3_K), 11},
    {"q4_k", kQK_K, sizeof(BlockQ4_K), 12},
    {"q5_k", kQK_K, sizeof(BlockQ5_K), 13},
    {"q6_k", kQK_K, sizeof(BlockQ6_K), 14},
    {"iq2_xxs", kQK_K, sizeof(BlockIQ2_XXS), 16},
    {"iq2_xs", kQK_K, sizeof(BlockIQ2_XS), 17},
    {"iq3_xxs", kQK_K, sizeof(BlockIQ3_XXS), 18},
    {"iq1_s", kQK_K, sizeof(BlockIQ1_S), 19},
    {"iq4_nl", kQK, sizeof(BlockIQ4_NL), 20},
    {"iq3_s", kQK_K, sizeof(BlockIQ3_S), 21},
    {"iq2_s", kQK_K, sizeof(BlockIQ2_S), 22},
    {"iq4_xs", kQK_K, sizeof(BlockIQ4_XS), 23},
    {"iq1_m", kQK_K, sizeof(BlockIQ1_M), 29},
    {"tq1_0", kQK_K, sizeof(BlockTQ1_0), 34},
    {"tq2_0", kQK_K, sizeof(BlockTQ2_0), 35},
    {"mxfp4", kQK, sizeof(BlockMXFP4), 39},
}};

static_assert(static_cast<size_t>(DType::MXFP4) + 1 == kTraits.size());
static_assert(kTraits[static_cast<size_t>(DType::F32)].name == "f32");
static_assert(kTraits[static_cast<size_t>(DType::BF16)].name == "bf16");
static_assert(kTraits[static_cast<size_t>(DType::Q4_0)].name == "q4_0");
static_assert(kTraits[static_cast<size_t>(DType::Q8_0)].name == "q8_0");
static_assert(kTraits[static_cast<size_t>(DType::Q2_K)].name == "q2_k");
static_assert(kTraits[static_cast<size_t>(DType::Q6_K)].name == "q6_k");
static_assert(kTraits[static_cast<size_t>(DType::IQ2_XXS)].name == "iq2_xxs");
static_assert(kTraits[static_cast<size_t>(DType::IQ4_NL)].name == "iq4_nl");
static_assert(kTraits[static_cast<size_t>(DType::IQ1_M)].name == "iq1_m");
static_assert(kTraits[static_cast<size_t>(DType::MXFP4)].name == "mxfp4");

constexpr char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

void check_row(DType type, int64_t n) {
  LOUPE_ASSERT(n >= 0, "negative row length ", n);
  LOUPE_ASSERT(row_fits_blocks(type, n), dtype_name(type), " row of ", n,
               " elements is not a whole number of blocks of ", dtype_traits(type).block_elems);
}

}  // namespace

const DTypeTraits& dtype_traits(DType type) {
  const auto i = static_cast<size_t>(type);
  LOUPE_ASSERT(i < kTraits.size(), "invalid DType ", i);
  return kTraits[i];
}

std::optional<DType> dtype_from_ggml(uint32_t ggml_id) {
  for (size_t i = 0; i < kTraits.size(); ++i) {
    if (kTraits[i].ggml_id == ggml_id) return static_cast<DType>(i);
  }
  return std::nullopt;
}

std::optional<DType> dtype_from_name(std::string_view name) {
  for (size_t i = 0; i < kTraits.size(); ++i) {
    const std::string_view known = kTraits[i].name;
    if (known.size() != name.size()) continue;
    bool same = true;
    for (size_t k = 0; k < known.size() && same; ++k) same = lower(name[k]) == known[k];
    if (same) return static_cast<DType>(i);
  }
  return std::nullopt;
}

void dequantize_row(DType type, const void* src, float* dst, int64_t n) {
  check_row(type, n);
  const int64_t nb = n / dtype_traits(type).block_elems;
  switch (type) {
    case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float)); return;
    case DType::F16: f16_row_to_f32(src, dst, n); return;
    case DType::BF16: bf16_row_to_f32(src, dst, n); return;
    case DType::Q4_0: dequantize_q4_0(static_cast<const BlockQ4_0*>(src), dst, nb); return;
    case DType::Q4_1: dequantize_q4_1(static_cast<const BlockQ4_1*>(src), dst, nb); return;
    case DType::Q5_0: dequantize_q5_0(static_cast<const BlockQ5_0*>(src), dst, nb); return;
    case DType::Q5_1: dequantize_q5_1(static_cast<const BlockQ5_1*>(src), dst, nb); return;
    case DType::Q8_0: dequantize_q8_0(static_cast<const BlockQ8_0*>(src), dst, nb); return;
    case DType::Q2_K: dequantize_q2_k(static_cast<const BlockQ2_K*>(src), dst, nb); return;
    case DType::Q3_K: dequantize_q3_k(static_cast<const BlockQ3_K*>(src), dst, nb); return;
    case DType::Q4_K: dequantize_q4_k(static_cast<const BlockQ4_K*>(src), dst, nb); return;
    case DType::Q5_K: dequantize_q5_k(static_cast<const BlockQ5_K*>(src), dst, nb); return;
    case DType::Q6_K: dequantize_q6_k(static_cast<const BlockQ6_K*>(src), dst, nb); return;
    case DType::IQ2_XXS: dequantize_iq2_xxs(static_cast<const BlockIQ2_XXS*>(src), dst, nb); return;
    case DType::IQ2_XS: dequantize_iq2_xs(static_cast<const BlockIQ2_XS*>(src), dst, nb); return;
    case DType::IQ3_XXS: dequantize_iq3_xxs(static_cast<const BlockIQ3_XXS*>(src), dst, nb); return;
    case DType::IQ1_S: dequantize_iq1_s(static_cast<const BlockIQ1_S*>(src), dst, nb); return;
    case DType::IQ4_NL: dequantize_iq4_nl(static_cast<const BlockIQ4_NL*>(src), dst, nb); return;
    case DType::IQ3_S: dequantize_iq3_s(static_cast<const BlockIQ3_S*>(src), dst, nb); return;
    case DType::IQ2_S: dequantize_iq2_s(static_cast<const BlockIQ2_S*>(src), dst, nb); return;
    case DType::IQ4_XS: dequantize_iq4_xs(static_cast<const BlockIQ4_XS*>(src), dst, nb); return;
    case DType::IQ1_M: dequantize_iq1_m(static_cast<const BlockIQ1_M*>(src), dst, nb); return;
    case DType::TQ1_0: dequantize_tq1_0(static_cast<const BlockTQ1_0*>(src), dst, nb); return;
    case DType::TQ2_0: dequantize_tq2_0(static_cast<const BlockTQ2_0*>(src), dst, nb); return;
    case DType::MXFP4: dequantize_mxfp4(static_cast<const BlockMXFP4*>(src), dst, nb); return;
  }
  LOUPE_ASSERT(false, "invalid DType ", static_cast<int>(type));
}

bool can_quantize(DType type) {
  switch (type) {
    case DType::IQ2_XXS:
    case DType::IQ2_XS:
    case DType::IQ2_S:
    case DType::IQ3_XXS:
    case DType::IQ3_S:
    case DType::IQ1_S:
    case DType::IQ1_M: return false;
    case DType::F32:
    case DType::F16:
    case DType::BF16:
    case DType::Q4_0:
    case DType::Q4_1:
    case DType::Q5_0:
    case DType::Q5_1:
    case DType::Q8_0:
    case DType::Q2_K:
    case DType::Q3_K:
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K:
    case DType::IQ4_NL:
    case DType::IQ4_XS:
    case DType::TQ1_0:
    case DType::TQ2_0:
    case DType::MXFP4: return true;
  }
  return false;
}

bool uses_importance(DType type) {
  return type == DType::Q4_0 || type == DType::Q4_K || type == DType::Q5_K;
}

void quantize_row_weighted(DType type, const float* src, void* dst, int64_t n, const float* importance) {
  if (importance == nullptr || !uses_importance(type)) {
    quantize_row(type, src, dst, n);
    return;
  }
  LOUPE_ASSERT(row_fits_blocks(type, n), "quantize_row_weighted: ", n, " values are not whole blocks");
  const int64_t nb = n / dtype_traits(type).block_elems;
  switch (type) {
    case DType::Q4_0: quant::quantize_q4_0_weighted(src, static_cast<BlockQ4_0*>(dst), nb, importance); return;
    case DType::Q4_K: quant::quantize_q4_k(src, static_cast<BlockQ4_K*>(dst), nb, importance); return;
    case DType::Q5_K: quant::quantize_q5_k(src, static_cast<BlockQ5_K*>(dst), nb, importance); return;
    default: quantize_row(type, src, dst, n); return;
  }
}

void quantize_row(DType type, const float* src, void* dst, int64_t n) {
  check_row(type, n);
  if (!can_quantize(type))
    fail("cannot write ", dtype_name(type),
         " weights: loupe has no quantiser for the grid i-quants (ggml's searches the grid with an importance "
         "matrix; make them with llama-quantize --imatrix)");
  const int64_t nb = n / dtype_traits(type).block_elems;
  switch (type) {
    case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float)); return;
    case DType::F16: f32_row_to_f16(src, dst, n); return;
    case DType::BF16: f32_row_to_bf16(src, dst, n); return;
    case DType::Q4_0: quantize_q4_0(src, static_cast<BlockQ4_0*>(dst), nb); return;
    case DType::Q4_1: quantize_q4_1(src, static_cast<BlockQ4_1*>(dst), nb); return;
    case DType::Q5_0: quantize_q5_0(src, static_cast<BlockQ5_0*>(dst), nb); return;
    case DType::Q5_1: quantize_q5_1(src, static_cast<BlockQ5_1*>(dst), nb); return;
    case DType::Q8_0: quantize_q8_0(src, static_cast<BlockQ8_0*>(dst), nb); return;
    case DType::Q2_K: quantize_q2_k(src, static_cast<BlockQ2_K*>(dst), nb); return;
    case DType::Q3_K: quantize_q3_k(src, static_cast<BlockQ3_K*>(dst), nb); return;
    case DType::Q4_K: quantize_q4_k(src, static_cast<BlockQ4_K*>(dst), nb); return;
    case DType::Q5_K: quantize_q5_k(src, static_cast<BlockQ5_K*>(dst), nb); return;
    case DType::Q6_K: quantize_q6_k(src, static_cast<BlockQ6_K*>(dst), nb); return;
    case DType::IQ4_NL: quantize_iq4_nl(src, static_cast<BlockIQ4_NL*>(dst), nb); return;
    case DType::IQ4_XS: quantize_iq4_xs(src, static_cast<BlockIQ4_XS*>(dst), nb); return;
    case DType::TQ1_0: quantize_tq1_0(src, static_cast<BlockTQ1_0*>(dst), nb); return;
    case DType::TQ2_0: quantize_tq2_0(src, static_cast<BlockTQ2_0*>(dst), nb); return;
    case DType::MXFP4: quantize_mxfp4(src, static_cast<BlockMXFP4*>(dst), nb); return;
    case DType::IQ2_XXS:
    case DType::IQ2_XS:
    case DType::IQ2_S:
    case DType::IQ3_XXS:
    case DType::IQ3_S:
    case DType::IQ1_S:
    case DType::IQ1_M: break;  // refused above
  }
  LOUPE_ASSERT(false, "invalid DType ", static_cast<int>(type));
}

}  // namespace loupe
