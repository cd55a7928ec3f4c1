#include "analysis/lens.h"

#include <cmath>

#include "model/weights.h"
#include "tensor/matmul.h"

namespace loupe::analysis {

LogitLens::LogitLens(const Model& model, ThreadPool& pool) : model_(model), pool_(pool) {}

void LogitLens::normalize(const float* resid, int64_t rows, float* normed) const {
  const ModelConfig& c = model_.config;
  const int64_t d = c.d_model;
  for (int64_t i = 0; i < rows; ++i) {
    const float* x = resid + i * d;
    float* y = normed + i * d;
    double mean = 0.0;
    if (c.norm == NormKind::LayerNorm) {
      for (int64_t k = 0; k < d; ++k) mean += x[k];
      mean /= static_cast<double>(d);
    }
    double ss = 0.0;
    for (int64_t k = 0; k < d; ++k) {
      const double v = x[k] - mean;
      ss += v * v;
    }
    const auto scale = static_cast<float>(std::sqrt(ss / static_cast<double>(d) + c.norm_eps));
    const float inv = 1.0f / scale;
    const auto mean_f = static_cast<float>(mean);
    for (int64_t k = 0; k < d; ++k)
      y[k] = (x[k] - mean_f) * inv * model_.ln_final_w[k] + (model_.ln_final_b ? model_.ln_final_b[k] : 0.0f);
  }
}

void LogitLens::apply(const float* resid, int64_t rows, float* logits) {
  normed_.resize(static_cast<size_t>(rows * model_.config.d_model));
  normalize(resid, rows, normed_.data());
  matmul(pool_, model_.unembed, normed_.data(), rows, logits, nullptr);
}

}  // namespace loupe::analysis
