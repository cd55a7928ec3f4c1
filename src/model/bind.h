// Binds a tensor table with GGUF tensor names ("token_embd.weight", "blk.0.attn_q.weight", ...,
// from the one weight-name table, model/weight_names.h) to a Model of the configured family.
// The HF and llama2.c loaders rename their tensors to these names so that one table of names
// serves every format. Which tensors are needed follows from the config's features.
#pragma once

#include "model/loader_common.h"

namespace loupe::detail {

struct BindOptions {
  // Linear weights stored [in, out] (HF GPT-2 Conv1D) instead of [out, in].
  bool transposed_linear = false;
  // Q/K rows in HF rotate-half order, to be read back in adjacent-pair order.
  bool unpermute_qk = false;
  // Norm gains stored as w for a (1 + w) scale (HF Gemma); GGUF files hold 1 + w.
  bool norm_plus_one = false;
};

void bind_weights(Model& model, const TensorTable& table, const BindOptions& options);

}  // namespace loupe::detail
