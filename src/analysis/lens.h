// The logit lens: a residual-stream vector read out through the model's final norm and
// unembedding, as if the model ended there. Computed with the same arithmetic as the
// interpreter's ln_final and unembed ops, so at the last layer it reproduces the logits.
#pragma once

#include <cstdint>
#include <vector>

#include "core/thread_pool.h"
#include "tensor/numerics.h"

namespace loupe {
struct Model;
}

namespace loupe::analysis {

class LogitLens {
 public:
  // numerics: the unembedding's arithmetic; the run's, so that the last layer's lens is its logits.
  LogitLens(const Model& model, ThreadPool& pool, Numerics numerics = Numerics::Exact);
  // resid: [rows, d_model] -> logits: [rows, d_vocab].
  void apply(const float* resid, int64_t rows, float* logits);
  // The final norm alone: resid [rows, d_model] -> normed [rows, d_model].
  void normalize(const float* resid, int64_t rows, float* normed) const;

 private:
  const Model& model_;
  ThreadPool& pool_;
  Numerics numerics_;
  std::vector<float> normed_;  // [rows, d_model]
};

}  // namespace loupe::analysis
