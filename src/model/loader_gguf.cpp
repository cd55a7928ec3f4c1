// GGUF models of every family in model/arch/: the keys all share are read here, the rest by the family.
#include <algorithm>
#include <charconv>
#include <cmath>

#include "core/error.h"
#include "formats/gguf.h"
#include "model/arch/family.h"
#include "model/bind.h"
#include "tokenizer/tokenizer.h"

namespace loupe::detail {
namespace {

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
  const arch::Family* fam = arch::family_by_gguf_name(c.arch_label);
  if (fam == nullptr)
    fail(path, ": unsupported architecture '", c.arch_label, "' (general.architecture); loupe runs ",
         supported_archs());
  c.arch = fam->arch;
  const arch::GgufMeta meta(g, c.arch_label + ".");
  c.d_model = meta.positive("embedding_length");
  c.n_layers = meta.positive("block_count");
  // Checked before anything is sized by it: every layer has tensors of its own.
  if (c.n_layers > 4096 || c.n_layers > static_cast<int64_t>(g.tensors().size()))
    fail(path, ": ", meta.key("block_count"), " is ", c.n_layers, " but the file holds ", g.tensors().size(),
         " tensors (every layer has its own)");
  c.n_heads = meta.uniform_count("attention.head_count", 0);
  if (c.n_heads <= 0 || c.n_heads > 4096) fail(path, ": ", meta.key("attention.head_count"), " is ", c.n_heads);
  c.n_kv_heads = meta.uniform_count("attention.head_count_kv", c.n_heads);
  c.d_mlp = meta.uniform_count("feed_forward_length", 0);
  c.n_ctx = meta.positive("context_length");
  c.d_head = meta.count_or("attention.key_length", c.d_model / c.n_heads);
  if (meta.count_or("attention.value_length", c.d_head) != c.d_head)
    fail(path, ": ", meta.key("attention.value_length"), " ", meta.count("attention.value_length"),
         " differs from the key length ", c.d_head, " (not supported)");
  const GgufTensorInfo* embd = g.find_tensor("token_embd.weight");
  if (embd == nullptr) fail(path, ": tensor 'token_embd.weight' is missing");
  c.d_vocab = embd->ne.size() >= 2 ? embd->ne[1] : 0;
  if (meta.has("vocab_size") && meta.count("vocab_size") != c.d_vocab)
    fail(path, ": ", meta.key("vocab_size"), " is ", meta.count("vocab_size"), " but token_embd.weight has ", c.d_vocab,
         " rows");
  if (meta.has("attention.layer_norm_rms_epsilon")) c.norm_eps = meta.number("attention.layer_norm_rms_epsilon");
  c.rope_theta = meta.number_or("rope.freq_base", 10000.0f);
  if (!(c.rope_theta > 0.0f) || !std::isfinite(c.rope_theta))
    fail(path, ": ", meta.key("rope.freq_base"), " is ", c.rope_theta, " (must be positive and finite)");
  c.rope_dims = meta.count_or("rope.dimension_count", c.d_head);
  if (c.rope_dims == c.d_head) c.rope_dims = 0;
  arch::read_gguf_rope_scaling(meta, c);
  fam->read_gguf(meta, c);
  if (c.d_mlp <= 0) fail(path, ": metadata '", meta.key("feed_forward_length"), "' is missing or 0");
  c.fill_layers();
  if (c.rope == RopeStyle::None) c.rope_dims = 0;
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
  // A layer's tensors past block_count: the metadata lies about the depth (and the extra layers
  // would be silently skipped).
  for (const auto& t : g.tensors()) {
    if (t.name.rfind("blk.", 0) != 0) continue;
    const size_t dot = t.name.find('.', 4);
    int64_t layer = 0;
    const auto parsed = std::from_chars(t.name.data() + 4, t.name.data() + std::min(dot, t.name.size()), layer);
    if (parsed.ec == std::errc() && layer >= c.n_layers)
      fail(path, ": tensor '", t.name, "' belongs to layer ", layer, " but ", meta.key("block_count"), " is ",
           c.n_layers);
  }
  bind_weights(*m, table, BindOptions{});
  c.file_type = file_type_of(g);

  if (g.has("tokenizer.ggml.model")) {
    m->tokenizer = tokenizer_from_gguf(g);
    m->tokenizer_source = path;
  }
  m->chat_template = g.get_string_or("tokenizer.chat_template", "");
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
  c.pad_id = special("tokenizer.ggml.padding_token_id", UINT64_MAX);
  return m;
}

}  // namespace loupe::detail
