// Binds a tensor table with GGUF tensor names ("token_embd.weight", "blk.0.attn_q.weight", ...)
// to a Model of the configured architecture. The HF and llama2.c loaders rename their tensors
// to these names so that one table of names serves every format.
#pragma once

#include "model/loader_common.h"

namespace loupe::detail {

struct BindOptions {
  // Linear weights stored [in, out] (HF GPT-2 Conv1D) instead of [out, in].
  bool transposed_linear = false;
  // Q/K rows in HF rotate-half order, to be read back in adjacent-pair order.
  bool unpermute_qk = false;
};

void bind_weights(Model& model, const TensorTable& table, const BindOptions& options);

}  // namespace loupe::detail
