// Driver of check_dots.py (a bench check, never a test): loupe's llama.cpp-numerics product of
// weight rows with one activation row, through the scalar reference (ggml::dot) and the vector
// route (ggml::dot_rows), printed as float bits for comparison with ggml's own vec_dot.
//
//   ggml_dots TYPE_INDEX K ROWS WEIGHTS.bin ACTS.bin REPACKED
//
// TYPE_INDEX is loupe's DType value; WEIGHTS.bin holds ROWS rows of K elements in that type, ACTS.bin
// K float32 activations. One line per row: "<ref bits> <rows bits> <value>".
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/ggml_dot.h"

int main(int argc, char** argv) {
  using namespace loupe;
  if (argc != 7) {
    std::fprintf(stderr, "usage: ggml_dots TYPE_INDEX K ROWS WEIGHTS.bin ACTS.bin REPACKED\n");
    return 2;
  }
  const auto type = static_cast<DType>(std::atoi(argv[1]));
  const int64_t k = std::atoll(argv[2]), rows = std::atoll(argv[3]);
  const bool repacked = std::atoi(argv[6]) != 0;
  std::ifstream fw(argv[4], std::ios::binary), fx(argv[5], std::ios::binary);
  const std::vector<char> w((std::istreambuf_iterator<char>(fw)), {});
  std::vector<char> xb((std::istreambuf_iterator<char>(fx)), {});
  const size_t rb = row_bytes(type, k);
  if (w.size() < rb * static_cast<size_t>(rows) || xb.size() < static_cast<size_t>(k) * sizeof(float)) {
    std::fprintf(stderr, "ggml_dots: short input\n");
    return 1;
  }
  std::vector<float> x(static_cast<size_t>(k));
  std::memcpy(x.data(), xb.data(), x.size() * sizeof(float));
  ggml::Acts a;
  ggml::convert(vec_dot_format(type), x.data(), k, a);
  for (int64_t r = 0; r < rows; ++r) {
    const auto* row = reinterpret_cast<const uint8_t*>(w.data()) + rb * static_cast<size_t>(r);
    const float ref = ggml::dot(type, row, a, repacked);
    float vec = 0.0f;
    ggml::dot_rows(type, row, &a, 1, &vec, 1, repacked);
    uint32_t b1, b2;
    std::memcpy(&b1, &ref, 4);
    std::memcpy(&b2, &vec, 4);
    std::printf("%08x %08x %.9g\n", b1, b2, static_cast<double>(ref));
  }
  return 0;
}
