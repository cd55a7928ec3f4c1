// GPT-2: learned positions, LayerNorm, fused qkv, GELU (tanh) MLP, biases everywhere.
// HF checkpoints store Conv1D weights [in, out] under transformer.h.N.
#include "model/arch/family.h"

#include "core/error.h"

namespace loupe::arch {
namespace {

void gpt2_block(ModelConfig& c) {
  c.norm = NormKind::LayerNorm;
  c.mlp = MlpKind::Gelu;
  c.rope = RopeStyle::None;
  c.qkv_bias = true;
  c.out_bias = true;
}

void read_gguf(const GgufMeta& m, ModelConfig& c) {
  gpt2_block(c);
  c.norm_eps = m.number("attention.layer_norm_epsilon");
}

void read_hf(const HfMeta& m, ModelConfig& c) {
  gpt2_block(c);
  c.d_model = m.count("n_embd");
  c.n_layers = m.count("n_layer");
  c.n_heads = m.count("n_head");
  c.n_kv_heads = c.n_heads;
  c.d_mlp = m.count_or("n_inner", 4 * c.d_model);
  c.d_vocab = m.count("vocab_size");
  c.n_ctx = m.count_or("n_positions", 1024);
  if (c.n_heads <= 0) fail(m.path(), ": field 'n_head' is ", c.n_heads);
  c.d_head = c.d_model / c.n_heads;
  c.norm_eps = m.number_or("layer_norm_epsilon", 1e-5f);
  // The engine's GELU is the tanh approximation; exact "gelu" or "relu" would run silently wrong.
  const std::string act = m.text_or("activation_function", "gelu_new");
  if (act != "gelu_new" && act != "gelu_pytorch_tanh" && act != "gelu_fast")
    fail(m.path(), ": activation_function '", act, "' is not supported (gelu_new, the tanh approximation)");
}

}  // namespace

extern const Family kGpt2{Arch::Gpt2,
                          "gpt2",
                          {"gpt2"},
                          {"gpt2"},
                          read_gguf,
                          read_hf,
                          HfLayout{{{WeightId::TokenEmbd, "transformer.wte"},
                                    {WeightId::PositionEmbd, "transformer.wpe"},
                                    {WeightId::OutputNorm, "transformer.ln_f"},
                                    {WeightId::AttnNorm, "ln_1"},
                                    {WeightId::AttnQkv, "attn.c_attn"},
                                    {WeightId::AttnOutput, "attn.c_proj"},
                                    {WeightId::FfnNorm, "ln_2"},
                                    {WeightId::FfnUp, "mlp.c_fc"},
                                    {WeightId::FfnDown, "mlp.c_proj"}},
                                   false,
                                   false,
                                   true,
                                   "transformer.h.",
                                   "transformer."},
                          WeightId::FfnNorm,
                          false};

}  // namespace loupe::arch
