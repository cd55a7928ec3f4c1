// SPM tokenizer (llama.cpp llm_tokenizer_spm semantics).
#include "tokenizer/spm_tokenizer.h"

#include <algorithm>
#include <limits>

#include "core/error.h"
#include "tokenizer/special_tokens.h"
#include "tokenizer/spm_merge.h"
#include "tokenizer/utf8.h"
#include "tokenizer/word_cache.h"

namespace loupe {
namespace {

class SpmTokenizer final : public Tokenizer {
 public:
  explicit SpmTokenizer(SpmTokenizerConfig config) : c_(std::move(config)) {
    std::vector<SpecialToken> specials;
    for (int32_t id = 0; id < c_.vocab.size(); ++id) {
      const TokenAttr a = c_.vocab.attr[static_cast<size_t>(id)];
      if (a != TokenAttr::Control && a != TokenAttr::Unknown && a != TokenAttr::UserDefined) continue;
      specials.push_back({id, c_.vocab.text[static_cast<size_t>(id)], a != TokenAttr::UserDefined,
                          c_.vocab.lstrip[static_cast<size_t>(id)], c_.vocab.rstrip[static_cast<size_t>(id)]});
    }
    specials_ = SpecialTokenSplitter(std::move(specials));
    word_split_ = pieces_respect_word_starts(c_.vocab, kSpaceMark);
    static const char kHex[] = "0123456789ABCDEF";
    byte_token_.assign(256, -1);
    for (int b = 0; b < 256; ++b) {
      const char name[7] = {'<', '0', 'x', kHex[b >> 4], kHex[b & 15], '>', 0};
      int32_t id = c_.vocab.find(name);
      if (id < 0) id = c_.vocab.find(std::string(1, static_cast<char>(b)));  // llama.cpp's fallback
      byte_token_[static_cast<size_t>(b)] = id >= 0 ? id : c_.unk;
    }
  }

  std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special) const override {
    utf8::require_valid(text, cat(c_.source, ": text to encode"));
    std::vector<int32_t> out;
    if (add_bos && c_.bos >= 0) out.push_back(c_.bos);
    bool prev_special = true;  // the text start counts as "after a special token"
    std::string escaped;
    for (const Fragment& f : specials_.split(text, parse_special)) {
      if (f.token >= 0) {
        out.push_back(f.token);
        prev_special = true;
        continue;
      }
      escaped.clear();
      if (c_.add_space_prefix && prev_special) escaped += kSpaceMark;
      for (char ch : text.substr(f.offset, f.length)) {
        if (ch == ' ') {
          escaped += kSpaceMark;
        } else {
          escaped.push_back(ch);
        }
      }
      prev_special = false;
      if (word_split_) {
        for_each_word(escaped, kSpaceMark, [&](std::string_view word) { encode_word(word, out); });
      } else {
        encode_word(escaped, out);
      }
    }
    return out;
  }

  std::string token_bytes(int32_t id) const override {
    const size_t i = index(id);
    const std::string& text = c_.vocab.text[i];
    switch (c_.vocab.attr[i]) {
      case TokenAttr::Control:
      case TokenAttr::Unknown:
      case TokenAttr::Unused: return "";
      case TokenAttr::UserDefined: return text;
      case TokenAttr::Byte: {
        const int b = byte_token_value(text);
        return b >= 0 ? std::string(1, static_cast<char>(b)) : "";
      }
      case TokenAttr::Normal: break;
    }
    return metaspace_to_spaces(text);
  }

  std::string_view token_text(int32_t id) const override { return c_.vocab.text[index(id)]; }
  bool strips_leading_space() const override { return c_.add_space_prefix; }
  int32_t n_vocab() const override { return c_.vocab.size(); }
  int32_t bos_id() const override { return c_.bos; }
  int32_t eos_id() const override { return c_.eos; }
  std::string_view kind() const override { return "spm"; }

 private:
  size_t index(int32_t id) const { return c_.vocab.checked_index(id, c_.source); }

  // Merges one word (or the whole fragment) of escaped text and appends its ids.
  void encode_word(std::string_view word, std::vector<int32_t>& out) const {
    if (word.empty()) return;
    const bool cacheable = WordCache::cacheable(word);
    if (cacheable && cache_.lookup(word, out)) return;
    const size_t before = out.size();
    std::vector<uint32_t> lengths;
    lengths.reserve(word.size());
    for (size_t pos = 0; pos < word.size();) {
      const size_t n = std::min(utf8::sequence_length(static_cast<uint8_t>(word[pos])), word.size() - pos);
      lengths.push_back(static_cast<uint32_t>(n));
      pos += n;
    }
    for (const SymbolSpan& s : spm_merge(word, lengths, c_.vocab, -std::numeric_limits<float>::infinity())) {
      const std::string_view piece = word.substr(s.offset, s.length);
      const int32_t id = c_.vocab.find(piece);
      if (id >= 0) {
        out.push_back(id);
        continue;
      }
      for (char ch : piece) {  // byte fallback
        const int32_t b = byte_token_[static_cast<uint8_t>(ch)];
        if (b >= 0) out.push_back(b);
      }
    }
    if (cacheable) cache_.store(word, out.data() + before, out.size() - before);
  }

  SpmTokenizerConfig c_;
  SpecialTokenSplitter specials_;
  bool word_split_ = false;  // pieces_respect_word_starts(vocab, U+2581)
  WordCache cache_;
  std::vector<int32_t> byte_token_;  // [256] byte-fallback id of each byte (unk when absent)
};

}  // namespace

std::unique_ptr<Tokenizer> make_spm_tokenizer(SpmTokenizerConfig config) {
  return std::make_unique<SpmTokenizer>(std::move(config));
}

}  // namespace loupe
