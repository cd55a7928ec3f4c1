// llama.cpp's arithmetic for one product, written for the tests apart from src/tensor: the
// activations converted to the weight type's vec_dot type as ggml's x86 build does (read from
// ggml's quantize_row_q8_0 / q8_1 / q8_K and its fp16 / bf16 conversions), the sum in double.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/half.h"
#include "tensor/kernels_matmul.h"
#include "tensor/numerics.h"

namespace loupe::test {

// What a product with a weight of `type` sees of activation row x (k values), as floats; for
// Q4_1 / Q5_1 weights also the per-block s of ggml's Q8_1 (fp16 of scale times the sum of the
// bytes) less the scale times that sum, which a block's min multiplies on top of the floats.
struct GgmlActs {
  std::vector<double> x;
  std::vector<double> q8_1_extra;
};

inline GgmlActs ggml_acts(DType type, const float* x, int64_t k) {
  GgmlActs a;
  a.x.resize(static_cast<size_t>(k));
  auto f16 = [](float v) { return f16_to_f32(f32_to_f16(v)); };
  switch (type) {
    case DType::F32:
      for (int64_t j = 0; j < k; ++j) a.x[j] = x[j];
      return a;
    case DType::F16:
      for (int64_t j = 0; j < k; ++j) a.x[j] = f16(x[j]);
      return a;
    case DType::BF16:
      for (int64_t j = 0; j < k; ++j) a.x[j] = bf16_to_f32(f32_to_bf16(x[j]));
      return a;
    default: break;
  }
  if (vec_dot_format(type) == ActFormat::Q8_K) {
    // Q8_K: 256 values, the signed value of largest magnitude (first of equals) maps to -127.
    for (int64_t b = 0; b < k; b += 256) {
      float amax = 0, max = 0;
      for (int j = 0; j < 256; ++j)
        if (std::fabs(x[b + j]) > amax) amax = std::fabs(x[b + j]), max = x[b + j];
      if (amax == 0) continue;
      const float iscale = -127.f / max;
      const float d = 1 / iscale;
      for (int j = 0; j < 256; ++j) {
        const float q = std::fmin(127.f, std::nearbyint(iscale * x[b + j]));
        a.x[b + j] = static_cast<double>(d) * q;
      }
    }
    return a;
  }
  // Q8_0 / Q8_1: 32 values, fp16 scale amax / 127, values x * (127 / amax) to nearest even.
  const bool q8_1 = type == DType::Q4_1 || type == DType::Q5_1;
  for (int64_t b = 0; b < k; b += 32) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(x[b + j]));
    const float d = amax / 127.f;
    const float id = amax != 0 ? 127.f / amax : 0.f;
    int sum = 0;
    for (int j = 0; j < 32; ++j) {
      const int q = static_cast<int>(std::nearbyint(x[b + j] * id));
      sum += q;
      a.x[b + j] = static_cast<double>(f16(d)) * q;
    }
    if (q8_1) a.q8_1_extra.push_back(static_cast<double>(f16(d * static_cast<float>(sum))) - f16(d) * sum);
  }
  return a;
}

// Weight row w (dequantised, k values; for Q4_1 / Q5_1 `mins` holds each 32-block's min) times
// the converted activations, in double; `mag` gets the sum of the products' magnitudes.
inline double ggml_dot(const float* w, const GgmlActs& a, const std::vector<float>& mins, double& mag) {
  double s = 0;
  mag = 0;
  for (size_t j = 0; j < a.x.size(); ++j) {
    s += w[j] * a.x[j];
    mag += std::fabs(w[j] * a.x[j]);
  }
  for (size_t b = 0; b < a.q8_1_extra.size(); ++b) s += mins[b] * a.q8_1_extra[b];
  return s;
}

// n activations quantised as matmul's llama.cpp numerics does for a weight of `type` with an int8
// pairing: Q8_K for the K-quants and IQ4_XS, Q8_0 for the others.
inline void quantize_acts_for(DType type, const float* x, kernels::BlockQ8* q, int64_t n) {
  if (vec_dot_format(type) == ActFormat::Q8_K)
    kernels::quantize_act_q8_k(x, q, n / 256);
  else
    kernels::quantize_act_q8(x, q, n / 32);
}

}  // namespace loupe::test
