#include "model/weights.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <functional>

#include "core/error.h"
#include "tensor/matmul.h"
#include "tokenizer/tokenizer.h"

namespace loupe {

Model::~Model() = default;

size_t Model::weight_bytes() const {
  size_t total = tok_embed.nbytes() + pos_embed.nbytes();
  if (unembed.data != tok_embed.data) total += unembed.nbytes();
  for (const auto& l : layers) {
    total += l.wq.nbytes() + l.wk.nbytes() + l.wv.nbytes() + l.wo.nbytes() + l.w_gate.nbytes() + l.w_up.nbytes() +
             l.w_down.nbytes() + l.router.nbytes();
    for (const auto* ex : {&l.expert_gate, &l.expert_up, &l.expert_down})
      for (const Weight& w : *ex) total += w.nbytes();
  }
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

namespace {

bool packing_off() {
  const char* env = std::getenv("LOUPE_PACK");
  return env != nullptr && std::strcmp(env, "0") == 0;
}

}  // namespace

void Model::release_pages(const Weight& w) const {
  // The whole pages of the weight's range, when they belong to one of the model's file maps.
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto b = reinterpret_cast<uintptr_t>(w.data), e = b + w.nbytes();
  for (const auto& f : files) {
    const auto fb = reinterpret_cast<uintptr_t>(f->data()), fe = fb + f->size();
    if (b < fb || e > fe) continue;
    const uintptr_t pb = (b + page - 1) / page * page, pe = e / page * page;
    if (pe > pb) madvise(reinterpret_cast<void*>(pb), pe - pb, MADV_DONTNEED);
  }
}

void Model::for_each_matmul_weight(const std::function<void(Weight&)>& f) {
  for (auto& l : layers) {
    for (Weight* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down, &l.router}) f(*w);
    for (auto* ex : {&l.expert_gate, &l.expert_up, &l.expert_down})
      for (Weight& w : *ex) f(w);
  }
  f(unembed);
}

size_t Model::pack_tiles() {
  if (packing_off()) return 0;
  size_t total = 0;
  for_each_matmul_weight([&](Weight& w) {
    if (w.empty() || w.tiles != nullptr || w.panels != nullptr || !packs_tiles(w)) return;
    tile_copies.push_back(loupe::pack_tiles(w));
    w.tiles = tile_copies.back().data();
    total += tile_copies.back().size();
    release_pages(w);
  });
  return total;
}

size_t Model::pack_panels() {
  if (packing_off()) return 0;
  size_t total = 0;
  for_each_matmul_weight([&](Weight& w) {
    if (w.empty() || w.panels != nullptr || !packs_panels(w)) return;
    panel_copies.push_back(loupe::pack_panels(w));
    w.panels = panel_copies.back().data();
    total += panel_copies.back().size();
    // The panels serve this weight's products from now on (q8 activations, one row or many):
    // its interleaved tiles, if any, go.
    if (w.tiles != nullptr)
      for (auto& copy : tile_copies)
        if (copy.data() == w.tiles) std::vector<uint8_t>().swap(copy);
    w.tiles = nullptr;
    release_pages(w);
  });
  return total;
}

}  // namespace loupe
