#include "model/arch/family.h"

#include <cmath>

#include "core/error.h"
#include "formats/gguf.h"

namespace loupe::arch {

// Every family loupe runs, one line each (the definitions are in the family files).
extern const Family kLlama, kQwen2, kGpt2, kQwen3, kQwen3Moe, kGemma2, kGemma3, kPhi3, kSmolLM3, kGptOss;

namespace {

const Family* const kFamilies[] = {&kLlama,  &kQwen2,  &kGpt2, &kQwen3,   &kQwen3Moe,
                                   &kGemma2, &kGemma3, &kPhi3, &kSmolLM3, &kGptOss};

}  // namespace

const Family& family(Arch arch) {
  for (const Family* f : kFamilies)
    if (f->arch == arch) return *f;
  LOUPE_ASSERT(false, "no family for arch ", static_cast<int>(arch));
  return kLlama;
}

const Family* family_by_gguf_name(std::string_view name) {
  for (const Family* f : kFamilies)
    for (std::string_view n : f->gguf_names)
      if (n == name) return f;
  return nullptr;
}

const Family* family_by_hf_type(std::string_view model_type) {
  for (const Family* f : kFamilies)
    if (f->read_hf != nullptr)
      for (std::string_view n : f->hf_types)
        if (n == model_type) return f;
  return nullptr;
}

std::string family_list() {
  std::string s;
  for (const Family* f : kFamilies) {
    for (std::string_view n : f->gguf_names) {
      if (!s.empty()) s += ", ";
      s += n;
    }
  }
  return s;
}

std::string HfLayout::name(WeightId id, int64_t layer, std::string_view suffix) const {
  std::string_view hf;
  for (const auto& [w, n] : names)
    if (w == id) hf = n;
  if (hf == "-") return {};
  return hf_tensor_name(id, layer, suffix, hf, layer_prefix);
}

std::string hf_family_list() {
  std::string s;
  for (const Family* f : kFamilies) {
    if (f->read_hf == nullptr) continue;
    for (std::string_view n : f->hf_types) {
      if (!s.empty()) s += ", ";
      s += n;
    }
  }
  return s;
}

// --- GGUF metadata

const std::string& GgufMeta::path() const {
  return g_.path();
}

bool GgufMeta::has(std::string_view k) const {
  return g_.has(key(k));
}

int64_t GgufMeta::count(std::string_view k) const {
  const std::string full = key(k);
  const GgufValue* v = g_.find(full);
  if (v == nullptr) fail(path(), ": metadata '", full, "' is missing");
  if (v->type == GgufType::ARRAY) return uniform_count(k, 0);
  if (!v->is_integer()) fail(path(), ": metadata '", full, "' is not an integer (", gguf_type_name(v->type), ")");
  const int64_t n = g_.get_int(full);
  if (n < 0) fail(path(), ": metadata '", full, "' is ", n, " (must not be negative)");
  return n;
}

int64_t GgufMeta::count_or(std::string_view k, int64_t fallback) const {
  return has(k) ? count(k) : fallback;
}

int64_t GgufMeta::positive(std::string_view k) const {
  const int64_t n = count(k);
  if (n == 0) fail(path(), ": metadata '", key(k), "' is 0 (must be positive)");
  return n;
}

float GgufMeta::number(std::string_view k) const {
  const std::string full = key(k);
  if (!g_.has(full)) fail(path(), ": metadata '", full, "' is missing");
  const double v = g_.get_float(full);
  if (!std::isfinite(v)) fail(path(), ": metadata '", full, "' is ", v, " (must be finite)");
  return static_cast<float>(v);
}

float GgufMeta::number_or(std::string_view k, float fallback) const {
  return has(k) ? number(k) : fallback;
}

bool GgufMeta::flag_or(std::string_view k, bool fallback) const {
  return g_.get_bool_or(key(k), fallback);
}

std::string GgufMeta::text_or(std::string_view k, const std::string& fallback) const {
  return g_.get_string_or(key(k), fallback);
}

int64_t GgufMeta::uniform_count(std::string_view k, int64_t fallback) const {
  const std::string full = key(k);
  const GgufValue* v = g_.find(full);
  if (v == nullptr) return fallback;
  if (v->type != GgufType::ARRAY) return count(k);
  const std::vector<int64_t>& a = g_.get_int_array(full);
  if (a.empty()) fail(path(), ": metadata '", full, "' is an empty array");
  for (int64_t x : a)
    if (x != a.front())
      fail(path(), ": metadata '", full, "' varies by layer (", a.front(), " and ", x,
           "); loupe needs the same value in every layer");
  if (a.front() < 0) fail(path(), ": metadata '", full, "' is ", a.front(), " (must not be negative)");
  return a.front();
}

// --- HF config.json

int64_t HfMeta::count(const char* k) const {
  if (!has(k)) fail(path_, ": field '", k, "' is missing");
  const nlohmann::json& v = cfg_[k];
  if (!v.is_number_integer()) fail(path_, ": field '", k, "' is not an integer (", v.type_name(), ")");
  const int64_t n = v.get<int64_t>();
  if (n < 0) fail(path_, ": field '", k, "' is ", n, " (must not be negative)");
  return n;
}

int64_t HfMeta::count_or(const char* k, int64_t fallback) const {
  return has(k) ? count(k) : fallback;
}

int64_t HfMeta::positive(const char* k) const {
  const int64_t n = count(k);
  if (n == 0) fail(path_, ": field '", k, "' is 0 (must be positive)");
  return n;
}

float HfMeta::number_or(const char* k, float fallback) const {
  if (!has(k)) return fallback;
  const nlohmann::json& v = cfg_[k];
  if (!v.is_number()) fail(path_, ": field '", k, "' is not a number (", v.type_name(), ")");
  const double d = v.get<double>();
  if (!std::isfinite(d)) fail(path_, ": field '", k, "' is not finite");
  return static_cast<float>(d);
}

bool HfMeta::flag_or(const char* k, bool fallback) const {
  if (!has(k)) return fallback;
  if (!cfg_[k].is_boolean()) fail(path_, ": field '", k, "' is not true or false (", cfg_[k].type_name(), ")");
  return cfg_[k].get<bool>();
}

std::string HfMeta::text_or(const char* k, const std::string& fallback) const {
  if (!has(k)) return fallback;
  if (!cfg_[k].is_string()) fail(path_, ": field '", k, "' is not a string (", cfg_[k].type_name(), ")");
  return cfg_[k].get<std::string>();
}

// --- shared helpers

void read_hf_common(const HfMeta& m, ModelConfig& c) {
  c.d_model = m.count("hidden_size");
  c.n_layers = m.count("num_hidden_layers");
  c.n_heads = m.count("num_attention_heads");
  c.n_kv_heads = m.count_or("num_key_value_heads", c.n_heads);
  c.d_mlp = m.count_or("intermediate_size", 0);
  c.d_vocab = m.count("vocab_size");
  c.n_ctx = m.count_or("max_position_embeddings", 2048);
  if (c.n_heads <= 0) fail(m.path(), ": field 'num_attention_heads' is ", c.n_heads);
  c.d_head = m.count_or("head_dim", c.d_model / c.n_heads);
  c.norm_eps = m.number_or("rms_norm_eps", 1e-6f);
  c.rope_theta = m.number_or("rope_theta", 10000.0f);
  if (m.has("rope_scaling")) {
    const nlohmann::json& rsj = m.json()["rope_scaling"];
    if (!rsj.is_object()) fail(m.path(), ": field 'rope_scaling' is not an object");
    HfMeta rs(rsj, m.path() + " (rope_scaling)");
    const std::string type = rs.text_or("rope_type", rs.text_or("type", ""));
    if (type == "llama3") {
      c.rope_scaling = RopeScaling::Llama3;
      c.rope_factor = rs.number_or("factor", 8.0f);
      c.rope_low_freq_factor = rs.number_or("low_freq_factor", 1.0f);
      c.rope_high_freq_factor = rs.number_or("high_freq_factor", 4.0f);
      c.rope_original_ctx = rs.count_or("original_max_position_embeddings", 8192);
    } else if (type == "linear") {
      c.rope_scaling = RopeScaling::Linear;
      c.rope_factor = rs.number_or("factor", 1.0f);
    } else if (type == "yarn") {
      c.rope_scaling = RopeScaling::Yarn;
      c.rope_factor = rs.number_or("factor", 1.0f);
      c.rope_original_ctx = rs.count_or("original_max_position_embeddings", c.n_ctx);
      c.yarn_beta_fast = rs.number_or("beta_fast", 32.0f);
      c.yarn_beta_slow = rs.number_or("beta_slow", 1.0f);
    } else if (!type.empty() && type != "default") {
      fail(m.path(), ": rope_scaling type '", type, "' is not supported (llama3, linear, yarn)");
    }
    if (c.rope_scaling != RopeScaling::None && !(c.rope_factor > 0.0f))
      fail(m.path(), ": rope_scaling factor ", c.rope_factor, " must be positive");
    // Llama 3's smooth interpolation divides by high_freq_factor - low_freq_factor.
    if (c.rope_scaling == RopeScaling::Llama3 && !(c.rope_high_freq_factor > c.rope_low_freq_factor))
      fail(m.path(), ": rope_scaling high_freq_factor ", c.rope_high_freq_factor, " must exceed low_freq_factor ",
           c.rope_low_freq_factor);
  }
}

HfLayout gemma_hf_layout() {
  return HfLayout{{{WeightId::AttnPostNorm, "post_attention_layernorm"},
                   {WeightId::FfnNorm, "pre_feedforward_layernorm"},
                   {WeightId::Output, "-"}},
                  false,
                  true,
                  false,
                  "model.layers.",
                  ""};
}

void set_windows(ModelConfig& c, int64_t window, bool (*local)(int64_t layer)) {
  c.fill_layers();
  for (int64_t l = 0; l < c.n_layers; ++l) c.layers[static_cast<size_t>(l)].window = local(l) ? window : 0;
}

void read_gguf_rope_scaling(const GgufMeta& m, ModelConfig& c) {
  const std::string type = m.text_or("rope.scaling.type", "none");
  if (type == "none") return;
  if (type == "linear") {
    c.rope_scaling = RopeScaling::Linear;
  } else if (type == "yarn") {
    c.rope_scaling = RopeScaling::Yarn;
    c.rope_original_ctx = m.count_or("rope.scaling.original_context_length", c.n_ctx);
    c.yarn_beta_fast = m.number_or("rope.scaling.yarn_beta_fast", 32.0f);
    c.yarn_beta_slow = m.number_or("rope.scaling.yarn_beta_slow", 1.0f);
  } else {
    fail(m.path(), ": metadata '", m.key("rope.scaling.type"), "' is '", type, "' (loupe reads none, linear, yarn)");
  }
  c.rope_factor = m.number("rope.scaling.factor");
  if (!(c.rope_factor > 0.0f))
    fail(m.path(), ": metadata '", m.key("rope.scaling.factor"), "' is ", c.rope_factor, " (must be positive)");
}

}  // namespace loupe::arch
