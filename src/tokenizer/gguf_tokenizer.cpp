// tokenizer_from_gguf: the tokenizer.ggml.* metadata of a GGUF file, with llama.cpp's defaults
// and special-token rules (llama-vocab.cpp, llama_vocab::impl::load).
#include <algorithm>
#include <cctype>

#include "core/error.h"
#include "formats/gguf.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/spm_tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"
#include "tokenizer/wpm_tokenizer.h"

namespace loupe {
namespace {

// Texts llama.cpp always treats as control tokens (end-of-generation and fill-in-the-middle).
const char* const kControlNames[] = {
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<\uFF5Cend\u2581of\u2581sentence\uFF5C>",
    "[e~[",
    "<|fim_prefix|>",
    "<fim-prefix>",
    "<fim_prefix>",
    "<PRE>",
    "\u2581<PRE>",
    "<|fim_suffix|>",
    "<fim-suffix>",
    "<fim_suffix>",
    "<SUF>",
    "\u2581<SUF>",
    "<|fim_middle|>",
    "<fim-middle>",
    "<fim_middle>",
    "<MID>",
    "\u2581<MID>",
    "<|fim_pad|>",
    "<fim-pad>",
    "<fim_pad>",
    "<PAD>",
    "<|fim_repo|>",
    "<|repo_name|>",
    "<fim-repo>",
    "<REPO>",
    "<reponame>",
    "<|file_sep|>",
};

Vocab read_vocab(const GgufFile& gguf) {
  const std::string& path = gguf.path();
  Vocab vocab;
  vocab.text = gguf.get_string_array("tokenizer.ggml.tokens");
  const size_t n = vocab.text.size();
  if (n == 0) fail(path, ": tokenizer.ggml.tokens is empty");
  if (n > static_cast<size_t>(INT32_MAX)) fail(path, ": tokenizer.ggml.tokens has too many tokens (", n, ")");
  for (size_t i = 0; i < n; ++i)
    if (vocab.text[i].empty()) vocab.text[i] = cat("[EMPTY_", i, "]");  // as llama.cpp
  if (gguf.has("tokenizer.ggml.scores")) {
    const auto& scores = gguf.get_float_array("tokenizer.ggml.scores");
    if (scores.size() < n) fail(path, ": tokenizer.ggml.scores has ", scores.size(), " values for ", n, " tokens");
    vocab.score.assign(scores.begin(), scores.begin() + static_cast<std::ptrdiff_t>(n));
  }
  if (gguf.has("tokenizer.ggml.token_type")) {
    const auto& types = gguf.get_int_array("tokenizer.ggml.token_type");
    if (types.size() < n) fail(path, ": tokenizer.ggml.token_type has ", types.size(), " values for ", n, " tokens");
    vocab.attr.resize(n);
    for (size_t i = 0; i < n; ++i) vocab.attr[i] = token_attr_from_gguf_type(types[i]);
  }
  vocab.build_index();
  for (const char* name : kControlNames) {
    const int32_t id = vocab.find(name);
    if (id >= 0 && vocab.attr[static_cast<size_t>(id)] != TokenAttr::Unknown)
      vocab.attr[static_cast<size_t>(id)] = TokenAttr::Control;
  }
  // Phi-3 models: special tokens swallow the whitespace after them (llama.cpp keys this on the name).
  std::string name = gguf.get_string_or("general.name", "");
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
    for (size_t i = 0; i < n; ++i) {
      const TokenAttr a = vocab.attr[i];
      if (a == TokenAttr::Control || a == TokenAttr::UserDefined || a == TokenAttr::Unknown) vocab.rstrip[i] = true;
    }
    for (const char* t : {"<unk>", "<s>", "<|endoftext|>"}) {
      const int32_t id = vocab.find(t);
      if (id >= 0) vocab.rstrip[static_cast<size_t>(id)] = false;
    }
  }
  return vocab;
}

// A special token id from the metadata; out-of-range values keep the default (as llama.cpp).
int32_t special_id(const GgufFile& gguf, const char* key, int32_t fallback, size_t n_vocab) {
  if (fallback >= 0 && static_cast<size_t>(fallback) >= n_vocab) fallback = -1;
  if (!gguf.has(key)) return fallback;
  const uint64_t id = gguf.get_uint_or(key, 0);
  if (id >= n_vocab) fail(gguf.path(), ": ", key, " is ", id, ", past the vocabulary of ", n_vocab, " tokens");
  return static_cast<int32_t>(id);
}

}  // namespace

std::unique_ptr<Tokenizer> tokenizer_from_gguf(const GgufFile& gguf) {
  const std::string& path = gguf.path();
  if (!gguf.has("tokenizer.ggml.model")) fail(path, ": no tokenizer in this file (tokenizer.ggml.model is missing)");
  const std::string& model = gguf.get_string("tokenizer.ggml.model");
  if (model != "llama" && model != "gpt2" && model != "bert")
    fail(path, ": unsupported tokenizer model '", model, "' (loupe reads 'llama', 'gpt2' and 'bert')");
  Vocab vocab = read_vocab(gguf);
  const size_t n = vocab.text.size();

  if (model == "llama") {
    SpmTokenizerConfig c;
    c.source = path;
    c.add_space_prefix = gguf.get_bool_or("tokenizer.ggml.add_space_prefix", true);
    c.bos = special_id(gguf, "tokenizer.ggml.bos_token_id", 1, n);
    c.eos = special_id(gguf, "tokenizer.ggml.eos_token_id", 2, n);
    c.unk = special_id(gguf, "tokenizer.ggml.unknown_token_id", 0, n);
    c.vocab = std::move(vocab);
    return make_spm_tokenizer(std::move(c));
  }

  if (model == "bert") {
    WpmTokenizerConfig c;
    c.source = path;
    c.bos = special_id(gguf, "tokenizer.ggml.bos_token_id", 101, n);
    c.bos = special_id(gguf, "tokenizer.ggml.cls_token_id", c.bos, n);
    c.eos = special_id(gguf, "tokenizer.ggml.eos_token_id", -1, n);
    c.sep = special_id(gguf, "tokenizer.ggml.seperator_token_id", 102, n);
    c.unk = special_id(gguf, "tokenizer.ggml.unknown_token_id", 100, n);
    c.lowercase = gguf.get_bool_or("tokenizer.ggml.normalizer.lowercase", true);
    c.strip_accents = gguf.get_bool_or("tokenizer.ggml.normalizer.strip_accents", c.lowercase);
    c.vocab = std::move(vocab);
    return make_wpm_tokenizer(std::move(c));
  }

  BpeTokenizerConfig c;
  c.source = path;
  if (!gguf.has("tokenizer.ggml.merges")) fail(path, ": gpt2 tokenizer without tokenizer.ggml.merges");
  const auto& merges = gguf.get_string_array("tokenizer.ggml.merges");
  c.merges.reserve(merges.size());
  for (const std::string& m : merges) {
    // llama.cpp splits at the first space after the first byte; a merge without one is empty.
    const size_t space = m.find(' ', 1);
    if (space == std::string::npos) {
      c.merges.emplace_back("", "");
    } else {
      c.merges.emplace_back(m.substr(0, space), m.substr(space + 1));
    }
  }
  const std::string pre = gguf.get_string_or("tokenizer.ggml.pre", "");
  bool ignore_merges = false;
  std::vector<std::string> regexes;
  try {
    regexes = llamacpp_pre_regexes(pre, ignore_merges);
  } catch (const Error& e) {
    fail(path, ": tokenizer.ggml.pre: ", e.what());
  }
  for (const std::string& r : regexes)
    c.pre.add_split(r, false, SplitBehavior::Isolated, false, kRegexDollarEndOnly,
                    cat(path, ": pre-tokenizer '", pre, "'"));
  c.ignore_merges = ignore_merges;
  c.byte_level = true;
  c.unknowns.llamacpp_bytes = true;
  c.bos = special_id(gguf, "tokenizer.ggml.bos_token_id", -1, n);
  c.eos = special_id(gguf, "tokenizer.ggml.eos_token_id", -1, n);
  c.vocab = std::move(vocab);
  return make_bpe_tokenizer(std::move(c));
}

}  // namespace loupe
