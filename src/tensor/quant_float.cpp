// Rows of 16-bit floats (IEEE half, bfloat16) to and from float32. The half -> float loop is a
// branch-free form of f16_to_f32 (same bits for all 65536 inputs, checked by the unit tests) so
// that the compiler can vectorise it; the other directions call half.h per element.
#include <bit>
#include <cstring>

#include "tensor/half.h"
#include "tensor/quant_rows.h"

namespace loupe::quant {

namespace {

uint16_t load_u16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] | p[1] << 8);
}

void store_u16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v & 0xff);
  p[1] = static_cast<uint8_t>(v >> 8);
}

// Half bits -> float bits without branches. Normal numbers: rebias the exponent by 127 - 15.
// Inf / NaN (exponent 31): exponent 255, mantissa (payload) kept. Zero and subnormals: the value
// is mant * 2^-24, which float arithmetic computes exactly.
inline uint32_t half_bits_to_float_bits(uint32_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  const uint32_t em = h & 0x7fffu;
  const uint32_t exp = em >> 10;
  const uint32_t normal = (em << 13) + ((127u - 15u) << 23);
  const uint32_t inf_nan = (em << 13) | 0x7f800000u;
  const uint32_t tiny = std::bit_cast<uint32_t>(static_cast<float>(static_cast<int32_t>(em)) * 0x1p-24f);
  // Select with masks, not ?: -- GCC would sink the float multiply into a branch and then refuse
  // to if-convert (a float operation "could trap"), leaving the loop scalar.
  const uint32_t is_tiny = 0u - static_cast<uint32_t>(exp == 0);
  const uint32_t is_inf_nan = 0u - static_cast<uint32_t>(exp == 31);
  const uint32_t is_normal = ~(is_tiny | is_inf_nan);
  return sign | (tiny & is_tiny) | (inf_nan & is_inf_nan) | (normal & is_normal);
}

}  // namespace

void f16_row_to_f32(const void* x, float* y, int64_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(x);
  for (int64_t i = 0; i < n; ++i) {
    y[i] = std::bit_cast<float>(half_bits_to_float_bits(load_u16(p + 2 * i)));
  }
}

void bf16_row_to_f32(const void* x, float* y, int64_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(x);
  for (int64_t i = 0; i < n; ++i) y[i] = std::bit_cast<float>(static_cast<uint32_t>(load_u16(p + 2 * i)) << 16);
}

void f32_row_to_f16(const float* x, void* y, int64_t n) {
  uint8_t* p = static_cast<uint8_t*>(y);
  for (int64_t i = 0; i < n; ++i) store_u16(p + 2 * i, f32_to_f16(x[i]));
}

void f32_row_to_bf16(const float* x, void* y, int64_t n) {
  uint8_t* p = static_cast<uint8_t*>(y);
  for (int64_t i = 0; i < n; ++i) store_u16(p + 2 * i, f32_to_bf16(x[i]));
}

}  // namespace loupe::quant
