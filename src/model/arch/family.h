// Architecture families as data. One file per family (model/arch/<family>.cpp) says which
// metadata keys it reads (GGUF and Hugging Face config.json), which tensors it has (through the
// one weight-name table, model/weight_names.h, with the HF names its checkpoints spell
// differently), and how its blocks differ from a llama block (ModelConfig's feature fields and
// per-layer LayerSpecs, which the engine's one lowering reads). Nothing outside src/model knows
// which family it runs. Adding a family: one file here and one line in family.cpp.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/config.h"
#include "model/weight_names.h"

namespace loupe {
class GgufFile;
}

namespace loupe::arch {

// GGUF metadata of one family: keys are read under "<general.architecture>." and every error
// names the file and the full key.
class GgufMeta {
 public:
  GgufMeta(const GgufFile& file, std::string prefix) : g_(file), prefix_(std::move(prefix)) {}
  const GgufFile& file() const { return g_; }
  const std::string& path() const;
  std::string key(std::string_view k) const { return prefix_ + std::string(k); }
  bool has(std::string_view k) const;
  int64_t count(std::string_view k) const;  // a required non-negative integer
  int64_t count_or(std::string_view k, int64_t fallback) const;
  int64_t positive(std::string_view k) const;  // a required integer > 0
  float number(std::string_view k) const;      // a required finite number
  float number_or(std::string_view k, float fallback) const;
  bool flag_or(std::string_view k, bool fallback) const;
  std::string text_or(std::string_view k, const std::string& fallback) const;
  // A per-layer array (e.g. head counts that vary by layer) must be uniform here.
  int64_t uniform_count(std::string_view k, int64_t fallback) const;

 private:
  const GgufFile& g_;
  std::string prefix_;
};

// A Hugging Face config.json (or its `text_config` for multimodal wrappers); every value read
// through these accessors, errors naming the file and key.
class HfMeta {
 public:
  HfMeta(const nlohmann::json& cfg, std::string path) : cfg_(cfg), path_(std::move(path)) {}
  const std::string& path() const { return path_; }
  const nlohmann::json& json() const { return cfg_; }
  bool has(const char* k) const { return cfg_.contains(k) && !cfg_[k].is_null(); }
  int64_t count(const char* k) const;
  int64_t count_or(const char* k, int64_t fallback) const;
  int64_t positive(const char* k) const;
  float number_or(const char* k, float fallback) const;
  bool flag_or(const char* k, bool fallback) const;
  std::string text_or(const char* k, const std::string& fallback) const;

 private:
  const nlohmann::json& cfg_;
  std::string path_;
};

// How a family's HF checkpoint differs from the llama layout the loader assumes.
struct HfLayout {
  std::vector<std::pair<WeightId, std::string_view>> names;  // HF names that differ from the table's column
  bool unpermute_qk = false;       // Q/K rows in rotate-half order while the family rotates adjacent pairs
  bool norm_plus_one = false;      // norm gains stored as w for a (1 + w) scale (Gemma)
  bool transposed_linear = false;  // [in, out] linear weights (GPT-2 Conv1D)
  std::string_view layer_prefix = "model.layers.";  // before the layer number
  // Checkpoints that store names without this prefix get it added before the lookup (GPT-2's
  // "transformer.", absent from some exports).
  std::string_view optional_prefix;
  // The HF name of a tensor, with the family's spelling where it differs ("" = none).
  std::string name(WeightId id, int64_t layer, std::string_view suffix) const;
};

struct Family {
  Arch arch;
  std::string_view name;                     // arch_name()
  std::vector<std::string_view> gguf_names;  // general.architecture values
  std::vector<std::string_view> hf_types;    // config.json model_type values
  // Reads the family's keys after the loader read the common ones (dimensions, eps, rope base).
  void (*read_gguf)(const GgufMeta& meta, ModelConfig& config);
  // Reads config.json; null when loupe does not read this family's HF checkpoints.
  void (*read_hf)(const HfMeta& meta, ModelConfig& config);
  HfLayout hf;
  // The norm before the MLP (gpt-oss files call it post_attention_norm).
  WeightId ffn_norm = WeightId::FfnNorm;
  // Whether the head width may differ from d_model / n_heads. False where llama.cpp's graph
  // builds the query projection d_model wide (gpt2, qwen2, phi3): `loupe model new` then refuses
  // --d-head values its files could not be loaded with.
  bool free_head_width = true;
};

const Family& family(Arch arch);
const Family* family_by_gguf_name(std::string_view name);
const Family* family_by_hf_type(std::string_view model_type);
// "llama, qwen2, ..." for error messages.
std::string family_list();
// The families whose HF folders loupe reads ("llama, mistral, qwen2, ...": config.json model_type).
std::string hf_family_list();

// Shared by several family files.
// Reads the llama-style HF keys every llama-like family has (sizes, eps, rope base and scaling).
void read_hf_common(const HfMeta& meta, ModelConfig& c);
// Layer l of every `period` layers gets a window (`local(l)`), the rest attend to all.
void set_windows(ModelConfig& c, int64_t window, bool (*local)(int64_t layer));
// Gemma 2 / 3 checkpoints: post-attention and pre-MLP norms under their own names, gains stored
// as w for (1 + w), no lm_head (tied).
HfLayout gemma_hf_layout();
// Reads "<arch>.rope.scaling.*" (linear, yarn) into the config.
void read_gguf_rope_scaling(const GgufMeta& meta, ModelConfig& c);

}  // namespace loupe::arch
