// The arithmetic of the model's norms (RMSNorm, LayerNorm), shared by the interpreter's
// NormScale / NormApply ops and the logit lens, so a lens at the last layer reproduces the
// model's logits bit for bit.
#pragma once

#include <cstdint>

#include "model/config.h"

namespace loupe {

// sqrt(mean((x - mean)^2) + eps) over x[0, d), accumulated in double; the mean is 0 for RMSNorm.
// This is TransformerLens' hook_scale.
float norm_scale(const float* x, int64_t d, NormKind kind, float eps);
// y = (x - mean) / scale * gamma (+ beta), the mean (LayerNorm only) accumulated in double and
// rounded to float. beta may be null.
void norm_apply(const float* x, int64_t d, NormKind kind, float scale, const float* gamma, const float* beta, float* y);

}  // namespace loupe
