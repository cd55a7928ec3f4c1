#include "model/config.h"

#include "core/error.h"

namespace loupe {

std::string_view arch_name(Arch arch) {
  switch (arch) {
    case Arch::Llama: return "llama";
    case Arch::Qwen2: return "qwen2";
    case Arch::Gpt2: return "gpt2";
  }
  return "?";
}

std::string_view supported_archs() {
  return "llama (Llama 1/2/3, Mistral, SmolLM), qwen2, gpt2";
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
  if (rope != RopeStyle::None && d_head % 2 != 0) fail(source, ": d_head ", d_head, " must be even for RoPE");
  if (!(norm_eps > 0.0f && norm_eps < 1.0f)) fail(source, ": norm epsilon ", norm_eps, " is not in (0, 1)");
  if (rope != RopeStyle::None && !(rope_theta > 0.0f)) fail(source, ": rope theta ", rope_theta, " must be positive");
}

}  // namespace loupe
