// GGUF models: llama-family ("llama", "mistral"), "qwen2" and "gpt2" architectures.
#include <cmath>

#include "core/error.h"
#include "formats/gguf.h"
#include "model/bind.h"
#include "tokenizer/tokenizer.h"

namespace loupe::detail {
namespace {

Arch arch_from_gguf(const GgufFile& g, const std::string& name) {
  if (name == "llama" || name == "mistral") return Arch::Llama;
  if (name == "qwen2") return Arch::Qwen2;
  if (name == "gpt2") return Arch::Gpt2;
  fail(g.path(), ": unsupported architecture '", name, "' (general.architecture); loupe runs ", supported_archs());
}

std::string file_type_of(const GgufFile& g) {
  std::map<DType, size_t> bytes;
  for (const auto& t : g.tensors())
    if (t.ne.size() >= 2) bytes[t.type] += t.nbytes;
  if (bytes.empty()) return "none";
  if (bytes.size() == 1) return std::string(dtype_name(bytes.begin()->first));
  auto best = bytes.begin();
  for (auto it = bytes.begin(); it != bytes.end(); ++it)
    if (it->second > best->second) best = it;
  return cat("mostly ", dtype_name(best->first));
}

}  // namespace

std::unique_ptr<Model> load_gguf(const std::string& path) {
  auto m = std::make_unique<Model>();
  GgufFile g = GgufFile::open(path);
  m->path = path;
  m->files.push_back(g.file());
  ModelConfig& c = m->config;
  c.format = "gguf";
  c.arch_label = g.get_string("general.architecture");
  c.arch = arch_from_gguf(g, c.arch_label);
  const std::string a = c.arch_label + ".";
  c.d_model = static_cast<int64_t>(g.get_uint(a + "embedding_length"));
  c.n_layers = static_cast<int64_t>(g.get_uint(a + "block_count"));
  c.n_heads = static_cast<int64_t>(g.get_uint(a + "attention.head_count"));
  c.n_kv_heads = static_cast<int64_t>(g.get_uint_or(a + "attention.head_count_kv", static_cast<uint64_t>(c.n_heads)));
  c.d_mlp = static_cast<int64_t>(g.get_uint(a + "feed_forward_length"));
  c.n_ctx = static_cast<int64_t>(g.get_uint(a + "context_length"));
  if (c.n_heads <= 0 || c.n_heads > 4096) fail(path, ": ", a, "attention.head_count is ", c.n_heads);
  c.d_head =
      static_cast<int64_t>(g.get_uint_or(a + "attention.key_length", static_cast<uint64_t>(c.d_model / c.n_heads)));
  const GgufTensorInfo* embd = g.find_tensor("token_embd.weight");
  if (embd == nullptr) fail(path, ": tensor 'token_embd.weight' is missing");
  c.d_vocab = embd->ne.size() >= 2 ? embd->ne[1] : 0;
  if (g.has(a + "vocab_size") && static_cast<int64_t>(g.get_uint(a + "vocab_size")) != c.d_vocab)
    fail(path, ": ", a, "vocab_size is ", g.get_uint(a + "vocab_size"), " but token_embd.weight has ", c.d_vocab,
         " rows");

  if (c.arch == Arch::Gpt2) {
    c.norm = NormKind::LayerNorm;
    c.mlp = MlpKind::Gelu;
    c.rope = RopeStyle::None;
    c.qkv_bias = true;
    c.out_bias = true;
    c.norm_eps = static_cast<float>(g.get_float(a + "attention.layer_norm_epsilon"));
  } else {
    c.norm_eps = static_cast<float>(g.get_float(a + "attention.layer_norm_rms_epsilon"));
    c.rope = c.arch == Arch::Qwen2 ? RopeStyle::Halves : RopeStyle::Adjacent;
    c.qkv_bias = c.arch == Arch::Qwen2;
    c.rope_theta = static_cast<float>(g.get_float_or(a + "rope.freq_base", 10000.0));
    uint64_t rope_dims = g.get_uint_or(a + "rope.dimension_count", static_cast<uint64_t>(c.d_head));
    if (static_cast<int64_t>(rope_dims) != c.d_head)
      fail(path, ": ", a, "rope.dimension_count ", rope_dims, " differs from d_head ", c.d_head,
           " (partial RoPE is not supported)");
    std::string scaling = g.get_string_or(a + "rope.scaling.type", "none");
    if (scaling == "linear") {
      c.rope_scaling = RopeScaling::Linear;
      c.rope_factor = static_cast<float>(g.get_float(a + "rope.scaling.factor"));
      if (!(c.rope_factor > 0.0f) || !std::isfinite(c.rope_factor))
        fail(path, ": metadata '", a, "rope.scaling.factor' is ", c.rope_factor, " (must be a positive number)");
    } else if (scaling != "none") {
      fail(path, ": ", a, "rope.scaling.type '", scaling, "' is not supported (none, linear)");
    }
  }
  c.validate(path);

  TensorTable table(path);
  for (const auto& t : g.tensors()) {
    RawTensor r;
    r.name = t.name;
    r.type = t.type;
    r.shape.assign(t.ne.rbegin(), t.ne.rend());
    r.data = t.data;
    r.nbytes = t.nbytes;
    table.add(std::move(r));
  }
  bind_weights(*m, table, BindOptions{});
  c.file_type = file_type_of(g);

  if (g.has("tokenizer.ggml.model")) {
    m->tokenizer = tokenizer_from_gguf(g);
    m->tokenizer_source = path;
  }
  // A special token id outside the vocabulary would index past the embedding.
  auto special = [&](const char* key, uint64_t fallback) -> int32_t {
    if (!g.has(key)) return fallback < static_cast<uint64_t>(c.d_vocab) ? static_cast<int32_t>(fallback) : -1;
    uint64_t id = g.get_uint(key);
    if (id >= static_cast<uint64_t>(c.d_vocab))
      fail(path, ": metadata '", key, "' is ", id, ", out of range (vocabulary of ", c.d_vocab, ")");
    return static_cast<int32_t>(id);
  };
  c.bos_id = special("tokenizer.ggml.bos_token_id", c.arch == Arch::Gpt2 ? 50256 : 1);
  c.eos_id = special("tokenizer.ggml.eos_token_id", c.arch == Arch::Gpt2 ? 50256 : 2);
  return m;
}

}  // namespace loupe::detail
