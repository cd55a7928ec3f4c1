// Gemma 3 (text): Gemma 2's block without either soft-cap, with Qwen3-style q/k norms before
// RoPE; five local (sliding-window) layers to one global (l mod 6 < 5 is local), local layers
// with their own RoPE base (rope.freq_base_swa, 1e4) and no RoPE scaling, global layers with
// the file's base and scaling.
#include <cmath>

#include "model/arch/family.h"

#include "core/error.h"

namespace loupe::arch {
namespace {

bool local(int64_t l) {
  return l % 6 < 5;
}

void gemma3_block(ModelConfig& c) {
  c.rope = RopeStyle::Halves;
  c.post_norms = true;
  c.qk_norm = true;
  c.mlp = MlpKind::GatedGelu;
  c.embed_scale = std::sqrt(static_cast<float>(c.d_model));
}

void local_rope(ModelConfig& c, float base) {
  for (LayerSpec& s : c.layers)
    if (s.window > 0) {
      s.rope_theta = base;
      s.rope_scaled = false;
    }
}

void read_gguf(const GgufMeta& m, ModelConfig& c) {
  gemma3_block(c);
  if (c.n_layers == 62) {
    const int64_t per_head = c.d_model / c.n_heads;  // llama.cpp's integer n_embd / n_head
    c.attn_scale = 1.0f / std::sqrt(static_cast<float>(per_head));
  }
  set_windows(c, m.positive("attention.sliding_window"), local);
  local_rope(c, m.number_or("rope.freq_base_swa", 10000.0f));
}

void read_hf(const HfMeta& m, ModelConfig& c) {
  read_hf_common(m, c);
  gemma3_block(c);
  const float qs = m.number_or("query_pre_attn_scalar", static_cast<float>(c.d_head));
  if (!(qs > 0.0f)) fail(m.path(), ": query_pre_attn_scalar ", qs, " must be positive");
  c.attn_scale = 1.0f / std::sqrt(qs);
  const std::string act = m.text_or("hidden_activation", "gelu_pytorch_tanh");
  if (act != "gelu_pytorch_tanh")
    fail(m.path(), ": hidden_activation '", act, "' is not supported (gelu_pytorch_tanh)");
  if (m.number_or("final_logit_softcapping", 0.0f) > 0.0f)
    fail(m.path(), ": final_logit_softcapping is not supported for gemma3");
  const int64_t period = m.count_or("sliding_window_pattern", 6);
  if (period != 6) fail(m.path(), ": sliding_window_pattern ", period, " is not supported (6)");
  set_windows(c, m.positive("sliding_window"), local);
  local_rope(c, m.number_or("rope_local_base_freq", 10000.0f));
}

}  // namespace

extern const Family kGemma3{Arch::Gemma3, "gemma3", {"gemma3"}, {"gemma3_text"}, read_gguf, read_hf, gemma_hf_layout()};

}  // namespace loupe::arch
