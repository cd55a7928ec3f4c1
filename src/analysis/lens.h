// The logit lens: a residual-stream vector read out through the model's final norm and
// unembedding, as if the model ended there. Computed with the same arithmetic as the
// interpreter's ln_final and unembed ops, so at the last layer it reproduces the logits.
#pragma once

#include <cstdint>
#include <vector>

#include "core/thread_pool.h"

namespace loupe {
struct Model;
}

namespace loupe::analysis {

class LogitLens {
 public:
  LogitLens(const Model& model, ThreadPool& pool);
  // resid: [rows, d_model] -> logits: [rows, d_vocab].
  void apply(const float* resid, int64_t rows, float* logits);
  // The final norm alone: resid [rows, d_model] -> normed [rows, d_model].
  void normalize(const float* resid, int64_t rows, float* normed) const;

 private:
  const Model& model_;
  ThreadPool& pool_;
  std::vector<float> normed_;  // [rows, d_model]
};

}  // namespace loupe::analysis
