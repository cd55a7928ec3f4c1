#include "model/weights.h"

#include <cstring>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace loupe {

Model::~Model() = default;

size_t Model::weight_bytes() const {
  size_t total = tok_embed.nbytes() + pos_embed.nbytes();
  if (unembed.data != tok_embed.data) total += unembed.nbytes();
  for (const auto& l : layers)
    total += l.wq.nbytes() + l.wk.nbytes() + l.wv.nbytes() + l.wo.nbytes() + l.w_gate.nbytes() + l.w_up.nbytes() +
             l.w_down.nbytes();
  return total;
}

const float* Model::vector_f32(const Weight& w) {
  if (w.empty()) return nullptr;
  if (w.type == DType::F32 && w.storage == Storage::Rows && w.row_map.empty() &&
      reinterpret_cast<uintptr_t>(w.data) % alignof(float) == 0)
    return reinterpret_cast<const float*>(w.data);
  std::vector<float> v(static_cast<size_t>(w.rows * w.cols));
  for (int64_t r = 0; r < w.rows; ++r) w.row(r, v.data() + r * w.cols);
  owned.push_back(std::move(v));
  return owned.back().data();
}

}  // namespace loupe
