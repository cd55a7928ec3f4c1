// Model hyper-parameters, in TransformerLens vocabulary, independent of the file format.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace loupe {

enum class Arch : uint8_t { Llama, Qwen2, Gpt2 };
enum class NormKind : uint8_t { RmsNorm, LayerNorm };
enum class MlpKind : uint8_t { GatedSilu, Gelu };
// How RoPE pairs the dimensions of a head: adjacent (2i, 2i+1) as Meta / llama2.c / GGUF llama,
// or the two halves (i, i + d_head/2) as GPT-NeoX / Qwen2. None for learned positions.
enum class RopeStyle : uint8_t { None, Adjacent, Halves };
enum class RopeScaling : uint8_t { None, Linear, Llama3 };

std::string_view arch_name(Arch arch);
// The architectures loupe runs, for error messages.
std::string_view supported_archs();

struct ModelConfig {
  Arch arch = Arch::Llama;
  std::string arch_label;  // as the file names it: "llama", "mistral", "qwen2", "gpt2"
  std::string format;      // "gguf", "hf", "llama2c"
  std::string file_type;   // e.g. "f32", "q8_0", "mixed", "int8 group 32"
  int64_t d_model = 0;
  int64_t n_layers = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t d_head = 0;
  int64_t d_mlp = 0;
  int64_t d_vocab = 0;
  int64_t n_ctx = 0;  // trained context length
  float norm_eps = 1e-5f;
  NormKind norm = NormKind::RmsNorm;
  MlpKind mlp = MlpKind::GatedSilu;
  RopeStyle rope = RopeStyle::Adjacent;
  float rope_theta = 10000.0f;
  RopeScaling rope_scaling = RopeScaling::None;
  float rope_factor = 1.0f;            // linear / llama3 scaling factor
  float rope_low_freq_factor = 1.0f;   // llama3
  float rope_high_freq_factor = 4.0f;  // llama3
  int64_t rope_original_ctx = 8192;    // llama3
  bool qkv_bias = false;
  bool out_bias = false;  // attention output and MLP biases (GPT-2)
  bool tied_embeddings = false;
  int32_t bos_id = 1;
  int32_t eos_id = 2;

  int64_t d_q() const { return n_heads * d_head; }
  int64_t d_kv() const { return n_kv_heads * d_head; }
  // Checks the dimensions are consistent; throws Error naming `source` and the field.
  void validate(const std::string& source) const;
};

}  // namespace loupe
