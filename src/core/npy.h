// NumPy .npy files (format version 1.0): little-endian float32 / int32 arrays, C order.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace loupe {

void write_npy_f32(const std::string& path, const float* data, const std::vector<int64_t>& shape);
void write_npy_i32(const std::string& path, const int32_t* data, const std::vector<int64_t>& shape);

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;  // converted to float32 from f4 / f8 / i4 / i8
};
// Reads a C-order little-endian .npy of f4, f8, i4 or i8; errors name the file and header field.
NpyArray read_npy(const std::string& path);

}  // namespace loupe
