// Hugging Face tokenizer.json: the BPE model (vocab, merges in either "a b" or ["a", "b"] form),
// added tokens, normalizer, pre-tokenizer and decoder, mapped onto the BPE tokenizer. BOS / EOS
// come from tokenizer_config.json beside the file when there is one, else from the post-processor.
#include "tokenizer/hf_tokenizer_json.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <simdjson.h>
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

// model.vocab and model.merges: most of a large file (128k entries, 280k merges), read as views
// into the parsed text rather than a tree of JSON nodes.
struct VocabEntry {
  std::string_view text;
  bool integer = false;
  int64_t id = 0;
};
struct BigParts {
  std::vector<VocabEntry> vocab;
  std::vector<std::pair<std::string_view, std::string_view>> merges;
};

void add_merge_text(std::string_view m, size_t i, BigParts& parts, const std::string& source) {
  const size_t space = m.find(' ');
  if (space == std::string_view::npos || m.find(' ', space + 1) != std::string_view::npos)
    fail(source, ": model.merges[", i, "] \"", m, "\" is not two tokens separated by one space");
  parts.merges.emplace_back(m.substr(0, space), m.substr(space + 1));
}

// The whole document with simdjson: everything but model.vocab and model.merges becomes a small
// nlohmann tree (with an empty object and array in those two keys' places, which the common code
// checks); the two become views into the parser's strings.
// False when the document is not a tokenizer.json with those two (the nlohmann path then says
// precisely what is wrong).
bool parse_fast(simdjson::dom::parser& parser, std::string_view text, const std::string& source, json& root,
                BigParts& parts) {
  simdjson::dom::element doc;
  if (parser.parse(text.data(), text.size()).get(doc) != simdjson::SUCCESS) return false;
  simdjson::dom::object top, model;
  if (doc.get_object().get(top) != simdjson::SUCCESS) return false;
  if (top["model"].get_object().get(model) != simdjson::SUCCESS) return false;
  simdjson::dom::object vocab;
  simdjson::dom::array merges;
  if (model["vocab"].get_object().get(vocab) != simdjson::SUCCESS) return false;
  if (model["merges"].get_array().get(merges) != simdjson::SUCCESS) return false;
  const auto small = [](simdjson::dom::element e) { return json::parse(simdjson::minify(e)); };
  root = json::object();
  for (auto field : top)
    if (field.key != "model") root[std::string(field.key)] = small(field.value);
  json m = json::object();
  for (auto field : model)
    if (field.key != "vocab" && field.key != "merges") m[std::string(field.key)] = small(field.value);
  m["vocab"] = json::object();
  m["merges"] = json::array();
  root["model"] = std::move(m);
  parts.vocab.reserve(vocab.size());
  for (auto field : vocab) {
    VocabEntry e{field.key, false, 0};
    int64_t id = 0;
    if (field.value.get_int64().get(id) == simdjson::SUCCESS) {
      e.integer = true;
      e.id = id;
    } else if (field.value.is_uint64()) {
      e.integer = true;
      e.id = -1;  // past int64: out of range
    }
    parts.vocab.push_back(e);
  }
  parts.merges.reserve(merges.size());
  size_t i = 0;
  for (simdjson::dom::element m_el : merges) {
    std::string_view str, a, b;
    simdjson::dom::array pair;
    if (m_el.get_string().get(str) == simdjson::SUCCESS) {
      add_merge_text(str, i, parts, source);
    } else if (m_el.get_array().get(pair) == simdjson::SUCCESS && pair.size() == 2 &&
               pair.at(0).get_string().get(a) == simdjson::SUCCESS &&
               pair.at(1).get_string().get(b) == simdjson::SUCCESS) {
      parts.merges.emplace_back(a, b);
    } else {
      fail(source, ": model.merges[", i, "] is neither \"a b\" nor [\"a\", \"b\"]");
    }
    ++i;
  }
  return true;
}

// The same parts from an nlohmann tree (a document simdjson did not take, or a small one).
void parts_from_tree(const json& model, BigParts& parts, const std::string& source) {
  const json& vocab = model["vocab"];
  for (auto it = vocab.begin(); it != vocab.end(); ++it)
    parts.vocab.push_back(
        {it.key(), it.value().is_number_integer(), it.value().is_number_integer() ? it.value().get<int64_t>() : 0});
  const json& merges = model["merges"];
  for (size_t i = 0; i < merges.size(); ++i) {
    const json& m = merges[i];
    if (m.is_string()) {
      add_merge_text(m.get_ref<const std::string&>(), i, parts, source);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      parts.merges.emplace_back(m[0].get_ref<const std::string&>(), m[1].get_ref<const std::string&>());
    } else {
      fail(source, ": model.merges[", i, "] is neither \"a b\" nor [\"a\", \"b\"]");
    }
  }
}

}  // namespace

std::unique_ptr<Tokenizer> hf_tokenizer_from_json(std::string_view json_text, const std::string& source,
                                                  bool split_words) {
  json root;
  BigParts parts;
  simdjson::dom::parser parser;  // parts' views point into it
  const bool fast = parse_fast(parser, json_text, source, root, parts);
  if (!fast) {
    try {
      root = json::parse(json_text.begin(), json_text.end());
    } catch (const json::exception& e) {
      fail(source, ": not valid json: ", e.what());
    }
  }
  Context ctx;
  ctx.source = source;
  if (!fast && looks_like_openai_encoder(root)) return openai_gpt2_tokenizer(root, source);
  if (!root.is_object() || !root.contains("model") || !root["model"].is_object())
    fail(source, ": json is not a hugging face tokenizer.json (no \"model\" object)");
  const json& model = root["model"];
  const std::string model_type = string_or(model, "type", model.contains("merges") ? "BPE" : "");
  if (model_type != "BPE")
    fail(source, ": unsupported tokenizer model type '", model_type, "' (loupe reads BPE tokenizer.json files)");
  if (!string_or(model, "continuing_subword_prefix", "").empty() || !string_or(model, "end_of_word_suffix", "").empty())
    fail(source, ": BPE continuing_subword_prefix / end_of_word_suffix are not supported");

  // Vocabulary: model.vocab plus added_tokens.
  if (!fast) {
    auto vocab_it = model.find("vocab");
    if (vocab_it == model.end() || !vocab_it->is_object()) fail(source, ": model.vocab is not an object");
    auto merges_it = model.find("merges");
    if (merges_it == model.end() || !merges_it->is_array()) fail(source, ": model.merges is not an array");
    parts_from_tree(model, parts, source);
  }
  const json empty_array = json::array();
  const json& added =
      root.contains("added_tokens") && root["added_tokens"].is_array() ? root["added_tokens"] : empty_array;
  const size_t n_entries = parts.vocab.size() + added.size();
  int64_t max_id = -1;
  const auto check_id = [&](bool integer, int64_t id, const auto& what) -> int64_t {
    if (!integer) fail(source, ": ", what(), ": id is not an integer");
    if (id < 0 || static_cast<uint64_t>(id) >= n_entries + 4096)
      fail(source, ": ", what(), ": id ", id, " is out of range for ", n_entries, " vocabulary entries");
    max_id = std::max(max_id, id);
    return id;
  };
  for (const VocabEntry& e : parts.vocab) check_id(e.integer, e.id, [&] { return cat("model.vocab '", e.text, "'"); });
  for (size_t i = 0; i < added.size(); ++i) {
    const json& t = added[i];
    if (!t.is_object() || !t.contains("content") || !t["content"].is_string() || !t.contains("id"))
      fail(source, ": added_tokens[", i, "] needs \"id\" and \"content\"");
    const json& v = t["id"];
    check_id(v.is_number_integer(), v.is_number_integer() ? v.get<int64_t>() : 0,
             [&] { return cat("added_tokens[", i, "]"); });
  }
  if (max_id < 0) fail(source, ": the vocabulary is empty");

  BpeTokenizerConfig c;
  c.source = source;
  Vocab& vocab = c.vocab;
  vocab.text.resize(static_cast<size_t>(max_id) + 1);
  vocab.attr.assign(vocab.text.size(), TokenAttr::Normal);
  for (const VocabEntry& e : parts.vocab) vocab.text[static_cast<size_t>(e.id)] = e.text;
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
    vocab.add_to_index(static_cast<int32_t>(id));
  }

  c.merge_ids.reserve(parts.merges.size());
  std::string joined;
  for (size_t i = 0; i < parts.merges.size(); ++i) {
    const auto [a, b] = parts.merges[i];
    // As Hugging Face's BPE builder: both parts and their concatenation must be tokens.
    joined.assign(a).append(b);
    std::array<int32_t, 3> ids{};
    const std::string_view names[3] = {a, b, joined};
    for (size_t k = 0; k < 3; ++k) {
      ids[k] = c.vocab.find(names[k]);
      if (ids[k] < 0)
        fail(source, ": model.merges[", i, "] (\"", a, "\" + \"", b, "\") names \"", names[k],
             "\", which is not in model.vocab");
    }
    c.merge_ids.push_back(ids);
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
