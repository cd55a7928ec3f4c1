// Model hyper-parameters, in TransformerLens vocabulary, independent of the file format.
// Everything that differs between architecture families is a field here (architectures as
// data): the per-family files in model/arch/ fill them in, and the engine lowers any
// combination without knowing which family it runs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace loupe {

enum class Arch : uint8_t { Llama, Qwen2, Gpt2, Qwen3, Qwen3Moe, Gemma2, Gemma3, Phi3, SmolLM3, GptOss };
constexpr int kArchCount = static_cast<int>(Arch::GptOss) + 1;
enum class NormKind : uint8_t { RmsNorm, LayerNorm };
// The feed-forward's nonlinearity: silu(gate) * up (SwiGLU), gelu_tanh(up) (GPT-2),
// gelu_tanh(gate) * up (GeGLU, Gemma), gpt-oss's clamped SwiGLU
// (min(g, 7) sigmoid(1.702 min(g, 7)) (clamp(u, -7, 7) + 1)).
enum class MlpKind : uint8_t { GatedSilu, Gelu, GatedGelu, SwigluOai };
// How RoPE pairs the dimensions of a head: adjacent (2i, 2i+1) as Meta / llama2.c / GGUF llama,
// or the two halves (i, i + d_head/2) as GPT-NeoX / Qwen2. None for learned positions.
enum class RopeStyle : uint8_t { None, Adjacent, Halves };
enum class RopeScaling : uint8_t { None, Linear, Llama3, Yarn };
// How a mixture-of-experts block turns router logits into expert weights: softmax over all
// experts then the top k (Qwen MoE; optionally renormalised over the k), or the top k logits
// then a softmax over those k (gpt-oss, Mixtral).
enum class MoeGating : uint8_t { SoftmaxTopK, TopKSoftmax };

std::string_view arch_name(Arch arch);
// The architectures loupe runs, for error messages.
std::string supported_archs();

// What differs from layer to layer (filled for every layer by the loader).
struct LayerSpec {
  int64_t window = 0;       // sliding-window attention: a query sees this many keys (itself included); 0 = all
  bool rope = true;         // false: no rotary embedding in this layer (SmolLM3's NoPE layers)
  float rope_theta = 0.0f;  // RoPE base of this layer
  bool rope_scaled = true;  // the model's RoPE scaling applies (Gemma 3's local layers: no)
};

struct ModelConfig {
  Arch arch = Arch::Llama;
  std::string arch_label;  // as the file names it: "llama", "mistral", "qwen2", "gemma3", ...
  std::string format;      // "gguf", "hf", "llama2c"
  std::string file_type;   // e.g. "f32", "q8_0", "mixed", "int8 group 32"
  int64_t d_model = 0;
  int64_t n_layers = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t d_head = 0;
  int64_t d_mlp = 0;  // dense feed-forward width; the expert width for MoE models
  int64_t d_vocab = 0;
  int64_t n_ctx = 0;  // trained context length
  float norm_eps = 1e-5f;
  NormKind norm = NormKind::RmsNorm;
  MlpKind mlp = MlpKind::GatedSilu;
  RopeStyle rope = RopeStyle::Adjacent;
  int64_t rope_dims = 0;          // leading dimensions of each head that RoPE rotates; 0 = all (d_head)
  float rope_attn_factor = 1.0f;  // cos and sin multiplied by this (YaRN / LongRoPE magnitude scaling)
  float rope_theta = 10000.0f;
  RopeScaling rope_scaling = RopeScaling::None;
  float rope_factor = 1.0f;            // linear / llama3 / yarn scaling factor
  float rope_low_freq_factor = 1.0f;   // llama3
  float rope_high_freq_factor = 4.0f;  // llama3
  int64_t rope_original_ctx = 8192;    // llama3, yarn
  float yarn_beta_fast = 32.0f;        // yarn
  float yarn_beta_slow = 1.0f;         // yarn
  bool qkv_bias = false;
  bool out_bias = false;  // attention output and MLP biases (GPT-2)
  bool tied_embeddings = false;
  int32_t bos_id = 1;
  int32_t eos_id = 2;
  int32_t pad_id = -1;  // -1 when the model names none

  // Family features (all off for llama).
  bool qk_norm = false;        // RMSNorm over each head of q and k before RoPE (Qwen3, Gemma 3)
  bool post_norms = false;     // norms on the attention and MLP outputs before the residual add (Gemma 2/3)
  float embed_scale = 0.0f;    // embedding multiplied by this (Gemma: sqrt(d_model)); 0 = none
  float attn_scale = 0.0f;     // score scale; 0 = 1 / sqrt(d_head)
  float attn_softcap = 0.0f;   // scores -> cap * tanh(scores / cap) before the mask (Gemma 2); 0 = none
  float final_softcap = 0.0f;  // logits likewise (Gemma 2); 0 = none
  bool attn_sinks = false;     // one learned logit per head joins the softmax denominator (gpt-oss)

  // Mixture of experts (n_experts = 0: a dense MLP).
  int64_t n_experts = 0;
  int64_t n_experts_used = 0;
  MoeGating moe_gating = MoeGating::SoftmaxTopK;
  bool moe_norm_topk = false;  // SoftmaxTopK: weights renormalised over the chosen k
  bool moe_bias = false;       // router and expert biases (gpt-oss)

  std::vector<LayerSpec> layers;  // one per layer; filled by fill_layers() when left empty

  int64_t d_q() const { return n_heads * d_head; }
  int64_t d_kv() const { return n_kv_heads * d_head; }
  int64_t n_rot() const { return rope_dims > 0 ? rope_dims : d_head; }
  bool moe() const { return n_experts > 0; }
  bool gated() const { return mlp != MlpKind::Gelu; }
  // The widest window of any layer, 0 when some layer attends to everything.
  int64_t max_window() const;
  // Gives every layer the model's RoPE base and no window when `layers` is empty.
  void fill_layers();
  // Checks the dimensions are consistent; throws Error naming `source` and the field.
  void validate(const std::string& source) const;
};

}  // namespace loupe
