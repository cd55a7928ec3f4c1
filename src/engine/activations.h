// The element-wise activations of the MLPs, one definition for the interpreter's dense ops and
// the mixture-of-experts experts.
#pragma once

#include <algorithm>
#include <cmath>

namespace loupe {

// GELU, tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
inline float gelu_tanh(float v) {
  return 0.5f * v * (1.0f + std::tanh(0.7978845608028654f * (v + 0.044715f * v * v * v)));
}
// gpt-oss's SwiGLU: the gate clamped above at 7, the linear part to [-7, 7] and shifted by one.
inline float swiglu_oai(float g, float u) {
  constexpr float limit = 7.0f, alpha = 1.702f;
  const float x = std::min(g, limit);
  const float y = std::clamp(u, -limit, limit);
  return x / (1.0f + std::exp(-alpha * x)) * (y + 1.0f);
}

}  // namespace loupe
