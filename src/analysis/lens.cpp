#include "analysis/lens.h"

#include <cmath>

#include "engine/norm.h"
#include "model/weights.h"
#include "tensor/matmul.h"

namespace loupe::analysis {

LogitLens::LogitLens(const Model& model, ThreadPool& pool, Numerics numerics)
    : model_(model), pool_(pool), numerics_(numerics) {}

void LogitLens::normalize(const float* resid, int64_t rows, float* normed) const {
  const ModelConfig& c = model_.config;
  const int64_t d = c.d_model;
  for (int64_t i = 0; i < rows; ++i) {
    const float* x = resid + i * d;
    norm_apply(x, d, c.norm, norm_scale(x, d, c.norm, c.norm_eps), model_.ln_final_w, model_.ln_final_b,
               normed + i * d);
  }
}

void LogitLens::apply(const float* resid, int64_t rows, float* logits) {
  normed_.resize(static_cast<size_t>(rows * model_.config.d_model));
  normalize(resid, rows, normed_.data());
  matmul(pool_, model_.unembed, normed_.data(), rows, logits, nullptr, numerics_);
  // The model's own final soft-cap (Gemma 2), as the program applies it to the logits.
  if (const float cap = model_.config.final_softcap; cap > 0.0f) {
    const float inv = 1.0f / cap;
    for (int64_t i = 0; i < rows * model_.config.d_vocab; ++i) logits[i] = cap * std::tanh(logits[i] * inv);
  }
}

}  // namespace loupe::analysis
