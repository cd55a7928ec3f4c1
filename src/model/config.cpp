#include "model/config.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "model/arch/family.h"

namespace loupe {

std::string_view arch_name(Arch arch) {
  return arch::family(arch).name;
}

std::string supported_archs() {
  return arch::family_list();
}

int64_t ModelConfig::max_window() const {
  int64_t w = 0;
  for (const LayerSpec& s : layers) {
    if (s.window == 0) return 0;
    w = std::max(w, s.window);
  }
  return w;
}

void ModelConfig::fill_layers() {
  if (!layers.empty()) return;
  if (n_layers > 4096) return;  // validate() names the field
  layers.assign(static_cast<size_t>(std::max<int64_t>(n_layers, 0)), LayerSpec{0, true, rope_theta, true});
}

void ModelConfig::validate(const std::string& source) const {
  auto positive = [&](int64_t v, const char* field, int64_t max) {
    if (v <= 0 || v > max) fail(source, ": ", field, " is ", v, " (must be in 1..", max, ")");
  };
  positive(d_model, "d_model", 1 << 20);
  positive(n_layers, "n_layers", 4096);
  positive(n_heads, "n_heads", 4096);
  positive(n_kv_heads, "n_kv_heads", 4096);
  positive(d_head, "d_head", 1 << 16);
  positive(d_mlp, "d_mlp", 1 << 22);
  positive(d_vocab, "d_vocab", 1 << 24);
  positive(n_ctx, "n_ctx", 1 << 24);
  if (n_heads % n_kv_heads != 0) fail(source, ": n_heads ", n_heads, " is not a multiple of n_kv_heads ", n_kv_heads);
  if (rope != RopeStyle::None && (n_rot() % 2 != 0 || n_rot() > d_head))
    fail(source, ": RoPE dimensions ", n_rot(), " must be even and at most d_head ", d_head);
  if (!(norm_eps > 0.0f && norm_eps < 1.0f)) fail(source, ": norm epsilon ", norm_eps, " is not in (0, 1)");
  if (rope != RopeStyle::None && !(rope_theta > 0.0f && std::isfinite(rope_theta)))
    fail(source, ": rope theta ", rope_theta, " must be a positive number");
  if (static_cast<int64_t>(layers.size()) != n_layers)
    fail(source, ": ", layers.size(), " layer descriptions for ", n_layers, " layers");
  for (size_t l = 0; l < layers.size(); ++l) {
    const LayerSpec& s = layers[l];
    if (s.window < 0 || s.window > n_ctx)
      fail(source, ": layer ", l, ": sliding window of ", s.window, " positions exceeds the context length ", n_ctx);
    if (rope != RopeStyle::None && s.rope && !(s.rope_theta > 0.0f && std::isfinite(s.rope_theta)))
      fail(source, ": layer ", l, ": rope theta ", s.rope_theta, " must be a positive number");
  }
  if (n_experts > 0) {
    if (n_experts > 4096) fail(source, ": expert count ", n_experts, " is too large");
    if (n_experts_used <= 0 || n_experts_used > n_experts)
      fail(source, ": experts used per token ", n_experts_used, " must be in 1..", n_experts);
  }
  for (float v : {embed_scale, attn_scale, attn_softcap, final_softcap})
    if (!(v >= 0.0f) || !std::isfinite(v)) fail(source, ": a scale or soft-cap of ", v, " (must be finite, >= 0)");
}

}  // namespace loupe
