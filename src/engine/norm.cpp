#include "engine/norm.h"

#include <cmath>

namespace loupe {

namespace {

double mean_of(const float* x, int64_t d) {
  double m = 0.0;
  for (int64_t k = 0; k < d; ++k) m += x[k];
  return m / static_cast<double>(d);
}

}  // namespace

float norm_scale(const float* x, int64_t d, NormKind kind, float eps) {
  const double mean = kind == NormKind::LayerNorm ? mean_of(x, d) : 0.0;
  double ss = 0.0;
  for (int64_t k = 0; k < d; ++k) {
    const double v = x[k] - mean;
    ss += v * v;
  }
  return static_cast<float>(std::sqrt(ss / static_cast<double>(d) + eps));
}

void norm_apply(const float* x, int64_t d, NormKind kind, float scale, const float* gamma, const float* beta,
                float* y) {
  const float mean = kind == NormKind::LayerNorm ? static_cast<float>(mean_of(x, d)) : 0.0f;
  const float inv = 1.0f / scale;
  for (int64_t k = 0; k < d; ++k) y[k] = (x[k] - mean) * inv * gamma[k] + (beta ? beta[k] : 0.0f);
}

}  // namespace loupe
