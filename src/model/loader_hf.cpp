// Hugging Face folders: config.json + model.safetensors (or sharded with an index), F32/F16/BF16.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "core/byte_reader.h"
#include "core/error.h"
#include "model/bind.h"
#include "tokenizer/tokenizer.h"

namespace loupe::detail {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail(path, ": cannot open");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    fail(path, ": invalid JSON: ", e.what());
  }
}

// Reads one safetensors file into the table, renaming tensors with `rename` (empty = skip).
void read_safetensors(const std::string& path, TensorTable& table, Model& m,
                      const std::function<std::string(const std::string&)>& rename) {
  auto file = MappedFile::open(path);
  m.files.push_back(file);
  ByteReader r(file->data(), file->size(), path);
  uint64_t n = r.read<uint64_t>("header length");
  if (n > r.remaining()) fail(path, ": header length ", n, " runs past the end of the file (", file->size(), " bytes)");
  std::string_view text = r.bytes(n, "header");
  json header;
  try {
    header = json::parse(text);
  } catch (const json::exception& e) {
    fail(path, ": header is not valid JSON: ", e.what());
  }
  if (!header.is_object()) fail(path, ": header is not a JSON object");
  const size_t data_start = 8 + n;
  const size_t data_size = file->size() - data_start;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    const std::string& name = it.key();
    const json& e = it.value();
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets"))
      fail(path, ": tensor '", name, "': entry needs dtype, shape and data_offsets");
    RawTensor t;
    t.name = rename(name);
    if (t.name.empty()) continue;
    std::string dtype = e["dtype"].is_string() ? e["dtype"].get<std::string>() : "?";
    size_t esize = 0;
    if (dtype == "F32") {
      t.type = DType::F32;
      esize = 4;
    } else if (dtype == "F16") {
      t.type = DType::F16;
      esize = 2;
    } else if (dtype == "BF16") {
      t.type = DType::BF16;
      esize = 2;
    } else
      fail(path, ": tensor '", name, "': dtype '", dtype, "' is not supported (F32, F16, BF16)");
    uint64_t count = 1;
    if (!e["shape"].is_array() || e["shape"].size() > 4) fail(path, ": tensor '", name, "': bad shape");
    for (const auto& d : e["shape"]) {
      if (!d.is_number_unsigned() || d.get<uint64_t>() == 0 || d.get<uint64_t>() > (uint64_t(1) << 40))
        fail(path, ": tensor '", name, "': bad dimension in shape ", e["shape"].dump());
      uint64_t v = d.get<uint64_t>();
      if (count > (uint64_t(1) << 50) / v) fail(path, ": tensor '", name, "': shape overflows");
      count *= v;
      t.shape.push_back(static_cast<int64_t>(v));
    }
    const json& off = e["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      fail(path, ": tensor '", name, "': data_offsets must be two unsigned integers");
    uint64_t b = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
    if (b > end || end > data_size)
      fail(path, ": tensor '", name, "': data_offsets [", b, ", ", end, "] run past the end of the data (", data_size,
           " bytes)");
    if (end - b != count * esize)
      fail(path, ": tensor '", name, "': data_offsets span ", end - b, " bytes, shape ", e["shape"].dump(), " needs ",
           count * esize);
    t.data = file->data() + data_start + b;
    t.nbytes = end - b;
    if (reinterpret_cast<uintptr_t>(t.data) % esize != 0)
      fail(path, ": tensor '", name, "': data offset is not aligned to its element size");
    table.add(std::move(t));
  }
}

// How a Hugging Face architecture names its tensors: whole-model names and per-layer suffixes,
// each with its GGUF name. Used both ways: file -> table when reading, table -> file in messages.
struct NameScheme {
  std::string strip;                                           // optional leading prefix of every name ("transformer.")
  std::string layer_prefix;                                    // "model.layers." / "h."
  std::vector<std::pair<std::string, std::string>> globals;    // {file name, GGUF name}
  std::vector<std::pair<std::string, std::string>> per_layer;  // {suffix, GGUF suffix}

  // The table name of a file tensor; "" for tensors loupe does not use.
  std::string to_table(const std::string& full) const {
    for (const auto& [file, gguf] : globals)
      if (full == file) return gguf;
    const std::string n = !strip.empty() && full.rfind(strip, 0) == 0 ? full.substr(strip.size()) : full;
    for (const auto& [file, gguf] : globals)
      if (n == file) return gguf;
    if (n.rfind(layer_prefix, 0) != 0) return "";
    const size_t dot = n.find('.', layer_prefix.size());
    if (dot == std::string::npos || dot == layer_prefix.size()) return "";
    const std::string layer = n.substr(layer_prefix.size(), dot - layer_prefix.size());
    if (layer.find_first_not_of("0123456789") != std::string::npos) return "";
    for (const auto& [suffix, gguf] : per_layer)
      if (n.compare(dot + 1, std::string::npos, suffix) == 0) return cat("blk.", layer, ".", gguf);
    return "";
  }
  // The file's name for a table name (as this architecture writes it), for messages.
  std::string to_file(const std::string& table) const {
    for (const auto& [file, gguf] : globals)
      if (table == gguf) return file;
    if (table.rfind("blk.", 0) != 0) return "";
    const size_t dot = table.find('.', 4);
    if (dot == std::string::npos) return "";
    for (const auto& [suffix, gguf] : per_layer)
      if (table.compare(dot + 1, std::string::npos, gguf) == 0)
        return cat(layer_prefix, table.substr(4, dot - 4), ".", suffix);
    return "";
  }
};

const NameScheme& llama_names() {
  static const NameScheme s{"",
                            "model.layers.",
                            {{"model.embed_tokens.weight", "token_embd.weight"},
                             {"model.norm.weight", "output_norm.weight"},
                             {"lm_head.weight", "output.weight"}},
                            {{"input_layernorm.weight", "attn_norm.weight"},
                             {"post_attention_layernorm.weight", "ffn_norm.weight"},
                             {"self_attn.q_proj.weight", "attn_q.weight"},
                             {"self_attn.q_proj.bias", "attn_q.bias"},
                             {"self_attn.k_proj.weight", "attn_k.weight"},
                             {"self_attn.k_proj.bias", "attn_k.bias"},
                             {"self_attn.v_proj.weight", "attn_v.weight"},
                             {"self_attn.v_proj.bias", "attn_v.bias"},
                             {"self_attn.o_proj.weight", "attn_output.weight"},
                             {"self_attn.o_proj.bias", "attn_output.bias"},
                             {"mlp.gate_proj.weight", "ffn_gate.weight"},
                             {"mlp.up_proj.weight", "ffn_up.weight"},
                             {"mlp.down_proj.weight", "ffn_down.weight"}}};
  return s;
}

const NameScheme& gpt2_names() {
  // lm_head.weight is matched before "transformer." is stripped (it never carries the prefix).
  static const NameScheme s{"transformer.",
                            "h.",
                            {{"lm_head.weight", "output.weight"},
                             {"wte.weight", "token_embd.weight"},
                             {"wpe.weight", "position_embd.weight"},
                             {"ln_f.weight", "output_norm.weight"},
                             {"ln_f.bias", "output_norm.bias"}},
                            {{"ln_1.weight", "attn_norm.weight"},
                             {"ln_1.bias", "attn_norm.bias"},
                             {"attn.c_attn.weight", "attn_qkv.weight"},
                             {"attn.c_attn.bias", "attn_qkv.bias"},
                             {"attn.c_proj.weight", "attn_output.weight"},
                             {"attn.c_proj.bias", "attn_output.bias"},
                             {"ln_2.weight", "ffn_norm.weight"},
                             {"ln_2.bias", "ffn_norm.bias"},
                             {"mlp.c_fc.weight", "ffn_up.weight"},
                             {"mlp.c_fc.bias", "ffn_up.bias"},
                             {"mlp.c_proj.weight", "ffn_down.weight"},
                             {"mlp.c_proj.bias", "ffn_down.bias"}}};
  return s;
}

int64_t need_int(const json& cfg, const std::string& path, const char* key) {
  if (!cfg.contains(key) || !cfg[key].is_number_integer())
    fail(path, ": field '", key, "' is missing or not an integer");
  return cfg[key].get<int64_t>();
}

int64_t int_or(const json& cfg, const std::string& path, const char* key, int64_t fallback) {
  if (!cfg.contains(key) || cfg[key].is_null()) return fallback;
  return need_int(cfg, path, key);
}

double num_or(const json& cfg, const std::string& path, const char* key, double fallback) {
  if (!cfg.contains(key) || cfg[key].is_null()) return fallback;
  if (!cfg[key].is_number()) fail(path, ": field '", key, "' is not a number");
  return cfg[key].get<double>();
}

std::string str_or(const json& cfg, const std::string& path, const char* key, const char* fallback) {
  if (!cfg.contains(key) || cfg[key].is_null()) return fallback;
  if (!cfg[key].is_string()) fail(path, ": field '", key, "' is not a string");
  return cfg[key].get<std::string>();
}

}  // namespace

std::unique_ptr<Model> load_hf(const std::string& where) {
  fs::path dir = fs::is_directory(where) ? fs::path(where) : fs::path(where).parent_path();
  if (dir.empty()) dir = ".";
  const std::string cfg_path = (dir / "config.json").string();
  if (!fs::exists(cfg_path)) fail(where, ": no config.json in ", dir.string());
  json cfg = read_json(cfg_path);
  if (!cfg.is_object()) fail(cfg_path, ": not a JSON object");
  auto m = std::make_unique<Model>();
  m->path = dir.string();
  ModelConfig& c = m->config;
  c.format = "hf";
  c.arch_label = cfg.value("model_type", std::string());
  BindOptions bind;
  const NameScheme* names = nullptr;
  if (c.arch_label == "llama" || c.arch_label == "mistral" || c.arch_label == "qwen2") {
    c.arch = c.arch_label == "qwen2" ? Arch::Qwen2 : Arch::Llama;
    c.d_model = need_int(cfg, cfg_path, "hidden_size");
    c.n_layers = need_int(cfg, cfg_path, "num_hidden_layers");
    c.n_heads = need_int(cfg, cfg_path, "num_attention_heads");
    c.n_kv_heads = int_or(cfg, cfg_path, "num_key_value_heads", c.n_heads);
    c.d_mlp = need_int(cfg, cfg_path, "intermediate_size");
    c.d_vocab = need_int(cfg, cfg_path, "vocab_size");
    c.n_ctx = int_or(cfg, cfg_path, "max_position_embeddings", 2048);
    if (c.n_heads <= 0) fail(cfg_path, ": num_attention_heads is ", c.n_heads);
    c.d_head = int_or(cfg, cfg_path, "head_dim", c.d_model / c.n_heads);
    c.norm_eps = static_cast<float>(num_or(cfg, cfg_path, "rms_norm_eps", 1e-6));
    c.rope_theta = static_cast<float>(num_or(cfg, cfg_path, "rope_theta", 10000.0));
    c.qkv_bias = c.arch == Arch::Qwen2 || cfg.value("attention_bias", false);
    c.rope = c.arch == Arch::Qwen2 ? RopeStyle::Halves : RopeStyle::Adjacent;
    bind.unpermute_qk = c.arch == Arch::Llama;
    const std::string act = str_or(cfg, cfg_path, "hidden_act", "silu");
    if (act != "silu") fail(cfg_path, ": hidden_act '", act, "' is not supported (silu)");
    if (cfg.contains("rope_scaling") && cfg["rope_scaling"].is_object()) {
      const json& rs = cfg["rope_scaling"];
      std::string type = rs.value("rope_type", rs.value("type", std::string()));
      if (type == "llama3") {
        c.rope_scaling = RopeScaling::Llama3;
        c.rope_factor = static_cast<float>(num_or(rs, cfg_path, "factor", 8.0));
        c.rope_low_freq_factor = static_cast<float>(num_or(rs, cfg_path, "low_freq_factor", 1.0));
        c.rope_high_freq_factor = static_cast<float>(num_or(rs, cfg_path, "high_freq_factor", 4.0));
        c.rope_original_ctx = int_or(rs, cfg_path, "original_max_position_embeddings", 8192);
      } else if (type == "linear") {
        c.rope_scaling = RopeScaling::Linear;
        c.rope_factor = static_cast<float>(num_or(rs, cfg_path, "factor", 1.0));
      } else if (!type.empty() && type != "default") {
        fail(cfg_path, ": rope_scaling type '", type, "' is not supported (llama3, linear)");
      }
    }
    names = &llama_names();
  } else if (c.arch_label == "gpt2") {
    c.arch = Arch::Gpt2;
    c.d_model = need_int(cfg, cfg_path, "n_embd");
    c.n_layers = need_int(cfg, cfg_path, "n_layer");
    c.n_heads = need_int(cfg, cfg_path, "n_head");
    c.n_kv_heads = c.n_heads;
    c.d_mlp = int_or(cfg, cfg_path, "n_inner", 4 * c.d_model);
    c.d_vocab = need_int(cfg, cfg_path, "vocab_size");
    c.n_ctx = int_or(cfg, cfg_path, "n_positions", 1024);
    if (c.n_heads <= 0) fail(cfg_path, ": n_head is ", c.n_heads);
    c.d_head = c.d_model / c.n_heads;
    c.norm_eps = static_cast<float>(num_or(cfg, cfg_path, "layer_norm_epsilon", 1e-5));
    c.norm = NormKind::LayerNorm;
    c.mlp = MlpKind::Gelu;
    // The engine's GELU is the tanh approximation; exact "gelu" or "relu" would run silently wrong.
    const std::string act = str_or(cfg, cfg_path, "activation_function", "gelu_new");
    if (act != "gelu_new" && act != "gelu_pytorch_tanh" && act != "gelu_fast")
      fail(cfg_path, ": activation_function '", act, "' is not supported (gelu_new, the tanh approximation)");
    c.rope = RopeStyle::None;
    c.qkv_bias = true;
    c.out_bias = true;
    bind.transposed_linear = true;
    names = &gpt2_names();
  } else {
    fail(cfg_path, ": unsupported model_type '", c.arch_label, "'; loupe runs ", supported_archs());
  }
  c.bos_id = static_cast<int32_t>(int_or(cfg, cfg_path, "bos_token_id", c.arch == Arch::Gpt2 ? 50256 : 1));
  c.eos_id = cfg.contains("eos_token_id") && cfg["eos_token_id"].is_array() && !cfg["eos_token_id"].empty()
                 ? cfg["eos_token_id"][0].get<int32_t>()
                 : static_cast<int32_t>(int_or(cfg, cfg_path, "eos_token_id", c.arch == Arch::Gpt2 ? 50256 : 2));
  c.validate(cfg_path);

  TensorTable table(dir.string());
  table.set_file_names([names](const std::string& n) { return names->to_file(n); });
  const auto rename = [names](const std::string& n) { return names->to_table(n); };
  const std::string single = (dir / "model.safetensors").string();
  const std::string index = (dir / "model.safetensors.index.json").string();
  if (fs::exists(single)) {
    read_safetensors(single, table, *m, rename);
  } else if (fs::exists(index)) {
    json idx = read_json(index);
    if (!idx.contains("weight_map") || !idx["weight_map"].is_object()) fail(index, ": no 'weight_map' object");
    std::set<std::string> shards;
    for (auto it = idx["weight_map"].begin(); it != idx["weight_map"].end(); ++it) {
      if (!it.value().is_string()) fail(index, ": weight_map entry '", it.key(), "' is not a file name");
      std::string shard = it.value().get<std::string>();
      if (shard.find('/') != std::string::npos || shard.find("..") != std::string::npos)
        fail(index, ": weight_map entry '", it.key(), "' names a file outside the folder: ", shard);
      shards.insert(shard);
    }
    for (const auto& s : shards) read_safetensors((dir / s).string(), table, *m, rename);
  } else {
    fail(dir.string(), ": no model.safetensors or model.safetensors.index.json");
  }
  bind_weights(*m, table, bind);
  c.file_type = std::string(dtype_name(m->layers.front().w_up.type));

  if (fs::exists(dir / "tokenizer.json")) {
    m->tokenizer_source = (dir / "tokenizer.json").string();
  } else if (fs::exists(dir / "tokenizer.model")) {
    m->tokenizer_source = (dir / "tokenizer.model").string();
  }
  return m;
}

}  // namespace loupe::detail
