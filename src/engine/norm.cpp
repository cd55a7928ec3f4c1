#include "engine/norm.h"

#include <cmath>

#include "tensor/kernels.h"

namespace loupe {

float norm_scale(const float* x, int64_t d, NormKind kind, float eps) {
  const double mean = kind == NormKind::LayerNorm ? sum_f64(x, d) / static_cast<double>(d) : 0.0;
  return static_cast<float>(std::sqrt(sum_sq_dev_f64(x, d, mean) / static_cast<double>(d) + eps));
}

void norm_apply(const float* x, int64_t d, NormKind kind, float scale, const float* gamma, const float* beta,
                float* y) {
  const float mean = kind == NormKind::LayerNorm ? static_cast<float>(sum_f64(x, d) / static_cast<double>(d)) : 0.0f;
  norm_apply_f32(x, d, mean, 1.0f / scale, gamma, beta, y);
}

}  // namespace loupe
