// Hugging Face folders: config.json + model.safetensors (or sharded with an index), F32/F16/BF16.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>
#include <vector>

#include "core/byte_reader.h"
#include "core/error.h"
#include "model/arch/family.h"
#include "model/bind.h"
#include "model/weight_names.h"
#include "tokenizer/chat_template.h"
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

// Two tensors whose data_offsets share bytes: one write would change the other, and a file
// so made is damaged or hostile (safetensors itself refuses it). Entries without valid offsets
// are named by the tensor loop.
void refuse_overlaps(const std::string& path, const json& header) {
  std::vector<std::tuple<uint64_t, uint64_t, std::string>> spans;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__" || !it.value().is_object() || !it.value().contains("data_offsets")) continue;
    const json& off = it.value()["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned()) continue;
    const uint64_t b = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
    if (b < end) spans.emplace_back(b, end, it.key());
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i) {
    const auto& [b0, e0, n0] = spans[i - 1];
    const auto& [b1, e1, n1] = spans[i];
    if (b1 < e0)
      fail(path, ": tensors '", n0, "' (data_offsets [", b0, ", ", e0, "]) and '", n1, "' ([", b1, ", ", e1,
           "]) overlap");
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
  refuse_overlaps(path, header);
}

// A family's HF tensor names <-> the table's GGUF names, from the one weight-name table and
// the family's HfLayout; both ways: file -> table when reading, table -> file in messages.
class HfNames {
 public:
  HfNames(const arch::HfLayout& layout, int64_t n_layers) : layout_(layout) {
    for (int i = 0; i < kWeightIdCount; ++i) {
      const auto id = static_cast<WeightId>(i);
      const bool per_layer = weight_name(id).per_layer;
      for (int64_t l = per_layer ? 0 : -1; l < (per_layer ? n_layers : 0); ++l)
        for (const char* suffix : {"weight", "bias"}) {
          const std::string hf = layout.name(id, l, suffix);
          if (hf.empty()) continue;
          const std::string gguf = gguf_tensor_name(id, l, suffix);
          to_table_.emplace(hf, gguf);
          to_file_.emplace(gguf, hf);
        }
    }
  }
  // The table name of a file tensor; "" for tensors loupe does not use.
  std::string to_table(const std::string& full) const {
    std::string n = full;
    const std::string opt(layout_.optional_prefix);
    if (!opt.empty() && n.rfind(opt, 0) != 0 && !to_table_.count(n)) n = opt + n;
    if (auto it = to_table_.find(n); it != to_table_.end()) return it->second;
    return expert_name(n);
  }
  std::string to_file(const std::string& table) const {
    auto it = to_file_.find(table);
    return it == to_file_.end() ? "" : it->second;
  }

 private:
  // model.layers.L.mlp.experts.E.{gate,up,down}_proj.weight -> blk.L.ffn_{gate,up,down}_exps.E.weight:
  // HF MoE checkpoints store each expert alone; bind stacks them.
  std::string expert_name(const std::string& n) const {
    const std::string lp(layout_.layer_prefix);
    if (n.rfind(lp, 0) != 0) return "";
    size_t p = lp.size();
    auto number = [&](std::string& out) {
      const size_t e = n.find('.', p);
      if (e == std::string::npos || e == p) return false;
      out = n.substr(p, e - p);
      if (out.find_first_not_of("0123456789") != std::string::npos) return false;
      p = e + 1;
      return true;
    };
    std::string layer, expert;
    if (!number(layer) || n.compare(p, 12, "mlp.experts.") != 0) return "";
    p += 12;
    if (!number(expert)) return "";
    const std::string rest = n.substr(p);
    for (const auto& [proj, gguf] :
         {std::pair{"gate_proj.weight", "ffn_gate_exps"}, std::pair{"up_proj.weight", "ffn_up_exps"},
          std::pair{"down_proj.weight", "ffn_down_exps"}})
      if (rest == proj) return cat("blk.", layer, ".", gguf, ".", expert, ".weight");
    return "";
  }

  const arch::HfLayout& layout_;
  std::map<std::string, std::string> to_table_, to_file_;
};

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
  arch::HfMeta top(cfg, cfg_path);
  c.arch_label = top.text_or("model_type", "");
  // Multimodal wrappers (Gemma 3) keep the language model's settings in text_config.
  const json* text = &cfg;
  if (cfg.contains("text_config") && cfg["text_config"].is_object()) {
    text = &cfg["text_config"];
    arch::HfMeta inner(*text, cfg_path + " (text_config)");
    c.arch_label = inner.text_or("model_type", c.arch_label);
  }
  const arch::Family* fam = arch::family_by_hf_type(c.arch_label);
  if (fam == nullptr)
    fail(cfg_path, ": unsupported model_type '", c.arch_label, "'; loupe reads HF folders of ", arch::hf_family_list());
  c.arch = fam->arch;
  const arch::HfMeta meta(*text, text == &cfg ? cfg_path : cfg_path + " (text_config)");
  fam->read_hf(meta, c);
  c.fill_layers();
  BindOptions bind;
  bind.unpermute_qk = fam->hf.unpermute_qk;
  bind.norm_plus_one = fam->hf.norm_plus_one;
  bind.transposed_linear = fam->hf.transposed_linear;
  const HfNames hf_names(fam->hf, c.n_layers);
  const HfNames* names = &hf_names;
  const int64_t default_special = c.arch == Arch::Gpt2 ? 50256 : 1;
  c.bos_id = static_cast<int32_t>(top.count_or("bos_token_id", default_special));
  if (cfg.contains("eos_token_id") && cfg["eos_token_id"].is_array()) {
    const json& e = cfg["eos_token_id"];
    if (e.empty() || !e[0].is_number_integer() || e[0].get<int64_t>() < 0)
      fail(cfg_path, ": field 'eos_token_id' must be a token id or a non-empty list of them");
    c.eos_id = static_cast<int32_t>(e[0].get<int64_t>());
  } else {
    c.eos_id = static_cast<int32_t>(top.count_or("eos_token_id", c.arch == Arch::Gpt2 ? 50256 : 2));
  }
  if (cfg.contains("pad_token_id") && cfg["pad_token_id"].is_number_integer()) {
    const auto pad = cfg["pad_token_id"].get<int64_t>();
    if (pad >= 0 && pad < c.d_vocab) c.pad_id = static_cast<int32_t>(pad);
  }
  if (c.bos_id >= c.d_vocab || c.eos_id >= c.d_vocab)
    fail(cfg_path, ": bos_token_id ", c.bos_id, " / eos_token_id ", c.eos_id, " past the vocabulary of ", c.d_vocab);
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
  // tie_word_embeddings: checked as a flag wherever it is (the wrapper or text_config); a folder
  // that says false must have its own unembedding.
  const bool says_untied = (meta.has("tie_word_embeddings") && !meta.flag_or("tie_word_embeddings", true)) ||
                           (top.has("tie_word_embeddings") && !top.flag_or("tie_word_embeddings", true));
  bind_weights(*m, table, bind);
  if (says_untied && c.tied_embeddings)
    fail(cfg_path, ": field 'tie_word_embeddings' is false but the folder has no '", hf_names.to_file("output.weight"),
         "'");
  c.file_type = std::string(dtype_name(m->layers.front().wq.type));

  if (fs::exists(dir / "tokenizer.json")) {
    m->tokenizer_source = (dir / "tokenizer.json").string();
  } else if (fs::exists(dir / "tokenizer.model")) {
    m->tokenizer_source = (dir / "tokenizer.model").string();
  }
  m->chat_template = hf_chat_template(dir.string());
  return m;
}

}  // namespace loupe::detail
