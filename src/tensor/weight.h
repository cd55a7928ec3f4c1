// A weight matrix used in place from a memory-mapped file, in any element type and layout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/dtype.h"

namespace loupe {

// How a matrix's elements sit in memory.
enum class Storage : uint8_t {
  Rows,        // rows of `cols` elements of `type`, one after another (GGUF, safetensors, llama2.c)
  Transposed,  // float rows of the input dimension: element (r, c) at c * ld + r (HF GPT-2 Conv1D)
  GroupI8,     // llama2.c int8: element i of the flattened matrix is q[i] * scales[i / group]
};

// A matrix [rows, cols]: rows = output features, cols = input features. y = W x.
struct Weight {
  std::string name;
  DType type = DType::F32;
  Storage storage = Storage::Rows;
  int64_t rows = 0;
  int64_t cols = 0;
  const uint8_t* data = nullptr;
  int64_t ld = 0;                       // Transposed: distance between input rows, in elements
  const float* group_scales = nullptr;  // GroupI8
  int64_t group_size = 0;               // GroupI8
  std::vector<int32_t> row_map;         // when set, logical row r is stored row row_map[r]
  // Optional second copy of a Rows weight for matmul's one-row (decode) products: each group of
  // kTileRows rows interleaved block by block, so a tile streams through memory in one
  // sequential run (pack_tiles in tensor/matmul.h). Owned by the model; data stays the reference.
  const uint8_t* tiles = nullptr;
  // Optional copy for products with q8 activations: groups of kPanelRows rows as VNNI panels
  // (kernels_matmul.h, pack_panels in tensor/matmul.h). Owned by the model.
  const uint8_t* panels = nullptr;

  bool empty() const { return data == nullptr; }
  size_t nbytes() const;
  // Writes logical row r as cols floats.
  void row(int64_t r, float* out) const;
};

}  // namespace loupe
