// Element types of weight tensors: plain floats and the GGUF block-quantised formats.
// A quantised row of n elements is n / block_elems blocks of block_bytes each, laid out as
// ggml defines them (the block layouts are described in src/tensor/quant_blocks.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace loupe {

enum class DType : uint8_t {
  F32,
  F16,
  BF16,
  Q4_0,
  Q4_1,
  Q5_0,
  Q5_1,
  Q8_0,
  Q2_K,
  Q3_K,
  Q4_K,
  Q5_K,
  Q6_K,
  IQ2_XXS,
  IQ2_XS,
  IQ3_XXS,
  IQ1_S,
  IQ4_NL,
  IQ3_S,
  IQ2_S,
  IQ4_XS,
  IQ1_M,
  TQ1_0,
  TQ2_0,
  MXFP4,
};

struct DTypeTraits {
  std::string_view name;  // lower-case, as on the command line: "f32", "q8_0", "q4_k"
  int64_t block_elems;    // elements per block (1 for plain floats)
  size_t block_bytes;     // bytes per block
  uint32_t ggml_id;       // the ggml_type value stored in GGUF files
};

const DTypeTraits& dtype_traits(DType type);
inline std::string_view dtype_name(DType type) {
  return dtype_traits(type).name;
}

// GGUF's ggml_type number -> DType; nullopt for types loupe does not load.
std::optional<DType> dtype_from_ggml(uint32_t ggml_id);
// "q8_0", "Q8_0", "f16", ... -> DType.
std::optional<DType> dtype_from_name(std::string_view name);

// Bytes of a row of n elements; n must be a multiple of the block size (checked by the caller
// with row_fits_blocks so that it can name the tensor in its error).
inline bool row_fits_blocks(DType type, int64_t n) {
  return n % dtype_traits(type).block_elems == 0;
}
inline size_t row_bytes(DType type, int64_t n) {
  const DTypeTraits& t = dtype_traits(type);
  return static_cast<size_t>(n / t.block_elems) * t.block_bytes;
}

// Converts a row of n elements (n a multiple of the block size) to float32, exactly as ggml does.
void dequantize_row(DType type, const void* src, float* dst, int64_t n);

// Converts n floats to a row of the given type (round-to-nearest as ggml's reference quantisers).
// Supported for every DType except the grid i-quants IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S,
// IQ1_S and IQ1_M, whose quantisers search their grids with an importance matrix: for those it
// throws loupe::Error saying so (can_quantize tells beforehand).
void quantize_row(DType type, const float* src, void* dst, int64_t n);
bool can_quantize(DType type);

}  // namespace loupe
