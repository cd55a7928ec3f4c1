// Hugging Face tokenizer.json: the BPE model (vocab, merges in either "a b" or ["a", "b"] form),
// added tokens, normalizer, pre-tokenizer and decoder, mapped onto the BPE tokenizer. BOS / EOS
// come from tokenizer_config.json beside the file when there is one, else from the post-processor.
#include "tokenizer/hf_tokenizer_json.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/openai_gpt2_tokenizer.h"
#include "tokenizer/vocab.h"

namespace loupe {
namespace {

using nlohmann::json;

struct Context {
  std::string source;
  bool byte_level = false;        // a ByteLevel pre-tokenizer: words are byte-mapped
  bool metaspace_decode = false;  // decoder turns U+2581 back into spaces
  bool strips_leading_space = false;
};

std::string type_of(const json& j, const std::string& what, const Context& ctx) {
  if (!j.is_object()) fail(ctx.source, ": ", what, " is not an object");
  auto it = j.find("type");
  if (it == j.end() || !it->is_string()) fail(ctx.source, ": ", what, " has no \"type\" string");
  return it->get<std::string>();
}

bool bool_or(const json& j, const char* key, bool fallback) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

std::string string_or(const json& j, const char* key, const std::string& fallback) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : fallback;
}

// {"String": "..."} or {"Regex": "..."} -> (pattern, literal)
std::pair<std::string, bool> pattern_of(const json& j, const std::string& what, const Context& ctx) {
  if (j.is_object()) {
    if (auto it = j.find("String"); it != j.end() && it->is_string()) return {it->get<std::string>(), true};
    if (auto it = j.find("Regex"); it != j.end() && it->is_string()) return {it->get<std::string>(), false};
  }
  fail(ctx.source, ": ", what, ": pattern must be {\"String\": ...} or {\"Regex\": ...}");
}

void add_normalizer(const json& j, Normalizer& n, Context& ctx, int depth) {
  if (j.is_null()) return;
  if (depth > 16) fail(ctx.source, ": normalizer: sequences nested too deeply");
  const std::string type = type_of(j, "normalizer", ctx);
  if (type == "Sequence") {
    auto it = j.find("normalizers");
    if (it == j.end() || !it->is_array()) fail(ctx.source, ": normalizer Sequence has no \"normalizers\" array");
    for (const json& sub : *it) add_normalizer(sub, n, ctx, depth + 1);
  } else if (type == "Prepend") {
    n.add_prepend(string_or(j, "prepend", ""));
  } else if (type == "Replace") {
    auto [pattern, literal] = pattern_of(j.value("pattern", json()), "normalizer Replace", ctx);
    n.add_replace(pattern, literal, string_or(j, "content", ""), cat(ctx.source, ": normalizer Replace"));
  } else if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
    n.add_unicode_normal_form(type);
  } else if (type == "Lowercase") {
    n.add_lowercase();
  } else if (type == "Strip") {
    n.add_strip(bool_or(j, "strip_left", true), bool_or(j, "strip_right", true));
  } else {
    fail(ctx.source, ": unsupported normalizer type '", type, "'");
  }
}

SplitBehavior behavior_of(const std::string& s, const Context& ctx) {
  if (s == "Isolated") return SplitBehavior::Isolated;
  if (s == "Removed") return SplitBehavior::Removed;
  if (s == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (s == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (s == "Contiguous") return SplitBehavior::Contiguous;
  fail(ctx.source, ": unsupported split behavior '", s, "'");
}

void add_pre_tokenizer(const json& j, PreTokenizer& pre, Context& ctx, int depth) {
  if (j.is_null()) return;
  if (depth > 16) fail(ctx.source, ": pre_tokenizer: sequences nested too deeply");
  const std::string type = type_of(j, "pre_tokenizer", ctx);
  const std::string what = cat(ctx.source, ": pre_tokenizer ", type);
  if (type == "Sequence") {
    auto it = j.find("pretokenizers");
    if (it == j.end() || !it->is_array()) fail(ctx.source, ": pre_tokenizer Sequence has no \"pretokenizers\" array");
    for (const json& sub : *it) add_pre_tokenizer(sub, pre, ctx, depth + 1);
  } else if (type == "Split") {
    auto [pattern, literal] = pattern_of(j.value("pattern", json()), "pre_tokenizer Split", ctx);
    pre.add_split(pattern, literal, behavior_of(string_or(j, "behavior", "Isolated"), ctx), bool_or(j, "invert", false),
                  0, what);
  } else if (type == "ByteLevel") {
    ctx.byte_level = true;
    pre.add_byte_level(bool_or(j, "add_prefix_space", true), bool_or(j, "use_regex", true), what);
  } else if (type == "Metaspace") {
    std::string scheme = string_or(j, "prepend_scheme", "");
    if (scheme.empty()) scheme = bool_or(j, "add_prefix_space", true) ? "always" : "never";
    pre.add_metaspace(string_or(j, "replacement", std::string(kSpaceMark)), scheme, bool_or(j, "split", true), what);
  } else if (type == "Digits") {
    pre.add_digits(bool_or(j, "individual_digits", false), what);
  } else if (type == "WhitespaceSplit") {
    pre.add_whitespace_split(what);
  } else if (type == "Whitespace") {
    pre.add_whitespace(what);
  } else {
    fail(ctx.source, ": unsupported pre_tokenizer type '", type, "'");
  }
}

void read_decoder(const json& j, Context& ctx, int depth) {
  if (j.is_null() || !j.is_object() || depth > 16) return;
  const std::string type = string_or(j, "type", "");
  if (type == "Sequence") {
    if (auto it = j.find("decoders"); it != j.end() && it->is_array())
      for (const json& sub : *it) read_decoder(sub, ctx, depth + 1);
  } else if (type == "Replace") {
    auto it = j.find("pattern");
    if (it != j.end() && it->is_object() && string_or(*it, "String", "") == kSpaceMark) ctx.metaspace_decode = true;
  } else if (type == "Metaspace") {
    ctx.metaspace_decode = true;
    const std::string scheme =
        string_or(j, "prepend_scheme", bool_or(j, "add_prefix_space", true) ? "always" : "never");
    if (scheme != "never") ctx.strips_leading_space = true;
  } else if (type == "Strip") {
    auto it = j.find("start");
    if (it != j.end() && it->is_number_integer() && it->get<int64_t>() > 0) ctx.strips_leading_space = true;
  }
}

// bos_token / eos_token of a tokenizer_config.json: a string or {"content": ...}.
std::string config_token(const json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) return string_or(*it, "content", "");
  return "";
}

}  // namespace

std::unique_ptr<Tokenizer> hf_tokenizer_from_json(std::string_view json_text, const std::string& source,
                                                  bool split_words) {
  json root;
  try {
    root = json::parse(json_text.begin(), json_text.end());
  } catch (const json::exception& e) {
    fail(source, ": not valid json: ", e.what());
  }
  Context ctx;
  ctx.source = source;
  if (looks_like_openai_encoder(root)) return openai_gpt2_tokenizer(root, source);
  if (!root.is_object() || !root.contains("model") || !root["model"].is_object())
    fail(source, ": json is not a hugging face tokenizer.json (no \"model\" object)");
  const json& model = root["model"];
  const std::string model_type = string_or(model, "type", model.contains("merges") ? "BPE" : "");
  if (model_type != "BPE")
    fail(source, ": unsupported tokenizer model type '", model_type, "' (loupe reads BPE tokenizer.json files)");
  if (!string_or(model, "continuing_subword_prefix", "").empty() || !string_or(model, "end_of_word_suffix", "").empty())
    fail(source, ": BPE continuing_subword_prefix / end_of_word_suffix are not supported");

  // Vocabulary: model.vocab plus added_tokens.
  auto vocab_it = model.find("vocab");
  if (vocab_it == model.end() || !vocab_it->is_object()) fail(source, ": model.vocab is not an object");
  const json empty_array = json::array();
  const json& added =
      root.contains("added_tokens") && root["added_tokens"].is_array() ? root["added_tokens"] : empty_array;
  const size_t n_entries = vocab_it->size() + added.size();
  int64_t max_id = -1;
  const auto check_id = [&](const json& v, const std::string& what) -> int64_t {
    if (!v.is_number_integer()) fail(source, ": ", what, ": id is not an integer");
    const int64_t id = v.get<int64_t>();
    if (id < 0 || static_cast<uint64_t>(id) >= n_entries + 4096)
      fail(source, ": ", what, ": id ", id, " is out of range for ", n_entries, " vocabulary entries");
    max_id = std::max(max_id, id);
    return id;
  };
  for (auto it = vocab_it->begin(); it != vocab_it->end(); ++it)
    check_id(it.value(), cat("model.vocab '", it.key(), "'"));
  for (size_t i = 0; i < added.size(); ++i) {
    const json& t = added[i];
    if (!t.is_object() || !t.contains("content") || !t["content"].is_string() || !t.contains("id"))
      fail(source, ": added_tokens[", i, "] needs \"id\" and \"content\"");
    check_id(t["id"], cat("added_tokens[", i, "]"));
  }
  if (max_id < 0) fail(source, ": the vocabulary is empty");

  BpeTokenizerConfig c;
  c.source = source;
  Vocab& vocab = c.vocab;
  vocab.text.resize(static_cast<size_t>(max_id) + 1);
  vocab.attr.assign(vocab.text.size(), TokenAttr::Normal);
  for (auto it = vocab_it->begin(); it != vocab_it->end(); ++it) vocab.text[it.value().get<size_t>()] = it.key();
  const bool byte_fallback = bool_or(model, "byte_fallback", false);
  if (byte_fallback)
    for (size_t i = 0; i < vocab.text.size(); ++i)
      if (byte_token_value(vocab.text[i]) >= 0) vocab.attr[i] = TokenAttr::Byte;
  vocab.build_index();
  for (const json& t : added) {
    const size_t id = t["id"].get<size_t>();
    vocab.text[id] = t["content"].get<std::string>();
    vocab.attr[id] = bool_or(t, "special", false) ? TokenAttr::Control : TokenAttr::UserDefined;
    vocab.lstrip[id] = bool_or(t, "lstrip", false);
    vocab.rstrip[id] = bool_or(t, "rstrip", false);
    vocab.to_id.emplace(vocab.text[id], static_cast<int32_t>(id));
  }

  // Merges, in rank order.
  auto merges_it = model.find("merges");
  if (merges_it == model.end() || !merges_it->is_array()) fail(source, ": model.merges is not an array");
  c.merges.reserve(merges_it->size());
  for (size_t i = 0; i < merges_it->size(); ++i) {
    const json& m = (*merges_it)[i];
    if (m.is_string()) {
      const std::string& s = m.get_ref<const std::string&>();
      const size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
        fail(source, ": model.merges[", i, "] \"", s, "\" is not two tokens separated by one space");
      c.merges.emplace_back(s.substr(0, space), s.substr(space + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      c.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      fail(source, ": model.merges[", i, "] is neither \"a b\" nor [\"a\", \"b\"]");
    }
    // As Hugging Face's BPE builder: both parts and their concatenation must be tokens.
    const auto& [a, b] = c.merges.back();
    for (const std::string& part : {a, b, a + b})
      if (c.vocab.find(part) < 0)
        fail(source, ": model.merges[", i, "] (\"", a, "\" + \"", b, "\") names \"", part,
             "\", which is not in model.vocab");
  }

  add_normalizer(root.value("normalizer", json()), c.normalizer, ctx, 0);
  add_pre_tokenizer(root.value("pre_tokenizer", json()), c.pre, ctx, 0);
  read_decoder(root.value("decoder", json()), ctx, 0);

  c.byte_level = ctx.byte_level;
  c.metaspace_decode = ctx.metaspace_decode;
  c.strips_leading_space = ctx.strips_leading_space;
  c.ignore_merges = bool_or(model, "ignore_merges", false);
  c.unknowns.llamacpp_bytes = false;
  c.unknowns.byte_fallback = byte_fallback;
  c.unknowns.fuse_unk = bool_or(model, "fuse_unk", false);
  const std::string unk = string_or(model, "unk_token", "");
  c.unknowns.unk_id = unk.empty() ? -1 : vocab.find(unk);

  // BOS / EOS: tokenizer_config.json beside the file, else the post-processor's template.
  std::string bos, eos;
  const std::filesystem::path config_path = std::filesystem::path(source).parent_path() / "tokenizer_config.json";
  std::error_code ec;
  if (std::filesystem::is_regular_file(config_path, ec)) {
    std::ifstream in(config_path, std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    const json config = json::parse(buffer.str(), nullptr, /*allow_exceptions=*/false);
    if (config.is_object()) {
      bos = config_token(config, "bos_token");
      eos = config_token(config, "eos_token");
    }
  }
  if (bos.empty()) {
    const json post = root.value("post_processor", json());
    if (post.is_object() && string_or(post, "type", "") == "TemplateProcessing") {
      const json single = post.value("single", json());
      if (single.is_array() && !single.empty() && single[0].is_object() && single[0].contains("SpecialToken"))
        bos = string_or(single[0]["SpecialToken"], "id", "");
    }
  }
  c.bos = bos.empty() ? -1 : vocab.find(bos);
  c.eos = eos.empty() ? -1 : vocab.find(eos);
  c.split_words = split_words;
  return make_bpe_tokenizer(std::move(c));
}

}  // namespace loupe
