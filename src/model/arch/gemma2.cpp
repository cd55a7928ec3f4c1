// Gemma 2: embedding x sqrt(d_model); each of attention and MLP between a pre-norm and a
// post-norm (RMSNorm) before its residual add; GeGLU (tanh GELU of the gate times up);
// attention scores soft-capped (cap tanh(s / cap)) before the mask, logits likewise; the query
// scaled by query_pre_attn_scalar^-1/2 (= head_dim except the 27B model, which llama.cpp
// recognises by its 46 layers); sliding window on even layers. HF stores norm gains w for a
// (1 + w) scale; GGUF files hold 1 + w.
#include <cmath>

#include "model/arch/family.h"

#include "core/error.h"

namespace loupe::arch {
namespace {

bool even(int64_t l) {
  return l % 2 == 0;
}

void gemma_block(ModelConfig& c) {
  c.rope = RopeStyle::Halves;
  c.post_norms = true;
  c.mlp = MlpKind::GatedGelu;
  c.embed_scale = std::sqrt(static_cast<float>(c.d_model));
}

void read_gguf(const GgufMeta& m, ModelConfig& c) {
  gemma_block(c);
  c.attn_softcap = m.number_or("attn_logit_softcapping", 50.0f);
  c.final_softcap = m.number_or("final_logit_softcapping", 30.0f);
  if (c.n_layers == 46) {
    const int64_t per_head = c.d_model / c.n_heads;  // llama.cpp's integer n_embd / n_head
    c.attn_scale = 1.0f / std::sqrt(static_cast<float>(per_head));
  }
  set_windows(c, m.positive("attention.sliding_window"), even);
}

void read_hf(const HfMeta& m, ModelConfig& c) {
  read_hf_common(m, c);
  gemma_block(c);
  c.attn_softcap = m.number_or("attn_logit_softcapping", 0.0f);
  c.final_softcap = m.number_or("final_logit_softcapping", 0.0f);
  const float qs = m.number_or("query_pre_attn_scalar", static_cast<float>(c.d_head));
  if (!(qs > 0.0f)) fail(m.path(), ": query_pre_attn_scalar ", qs, " must be positive");
  c.attn_scale = 1.0f / std::sqrt(qs);
  const std::string act = m.text_or("hidden_activation", m.text_or("hidden_act", "gelu_pytorch_tanh"));
  if (act != "gelu_pytorch_tanh" && act != "gelu")
    fail(m.path(), ": hidden_activation '", act, "' is not supported (gelu_pytorch_tanh)");
  set_windows(c, m.positive("sliding_window"), even);
}

}  // namespace

extern const Family kGemma2{Arch::Gemma2, "gemma2", {"gemma2"}, {"gemma2"}, read_gguf, read_hf, gemma_hf_layout()};

}  // namespace loupe::arch
