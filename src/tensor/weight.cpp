#include "tensor/weight.h"

#include "core/error.h"

namespace loupe {

size_t Weight::nbytes() const {
  switch (storage) {
    case Storage::Rows: return row_bytes(type, cols) * static_cast<size_t>(rows);
    case Storage::Transposed: return row_bytes(type, rows) * static_cast<size_t>(cols);
    case Storage::GroupI8:
      return static_cast<size_t>(rows * cols) + static_cast<size_t>(rows * cols / group_size) * sizeof(float);
  }
  return 0;
}

void Weight::row(int64_t r, float* out) const {
  LOUPE_ASSERT(r >= 0 && r < rows, name, ": row ", r, " out of range ", rows);
  const int64_t stored = row_map.empty() ? r : row_map[static_cast<size_t>(r)];
  switch (storage) {
    case Storage::Rows:
      dequantize_row(type, data + row_bytes(type, cols) * static_cast<size_t>(stored), out, cols);
      return;
    case Storage::Transposed: {
      const size_t esize = row_bytes(type, 1);
      for (int64_t c = 0; c < cols; ++c)
        dequantize_row(type, data + static_cast<size_t>(c * ld + stored) * esize, out + c, 1);
      return;
    }
    case Storage::GroupI8: {
      const auto* q = reinterpret_cast<const int8_t*>(data);
      const int64_t base = stored * cols;
      for (int64_t c = 0; c < cols; ++c) {
        const int64_t i = base + c;
        out[c] = static_cast<float>(q[i]) * group_scales[i / group_size];
      }
      return;
    }
  }
}

}  // namespace loupe
