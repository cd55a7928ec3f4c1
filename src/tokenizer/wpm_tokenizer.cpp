// WordPiece tokenizer (llama.cpp llm_tokenizer_wpm semantics): BERT's basic pre-processing
// (whitespace split, punctuation and CJK characters as words, lower-casing, accent stripping),
// then greedy longest-match pieces; a word with no full cover becomes [UNK].
#include "tokenizer/wpm_tokenizer.h"

#include <algorithm>

#include "core/error.h"
#include "tokenizer/special_tokens.h"
#include "tokenizer/unicode.h"
#include "tokenizer/utf8.h"

namespace loupe {
namespace {

bool is_chinese_char(uint32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

class WpmTokenizer final : public Tokenizer {
 public:
  explicit WpmTokenizer(WpmTokenizerConfig config) : c_(std::move(config)) {
    std::vector<SpecialToken> specials;
    for (int32_t id = 0; id < c_.vocab.size(); ++id) {
      const TokenAttr a = c_.vocab.attr[static_cast<size_t>(id)];
      max_token_length_ = std::max(max_token_length_, c_.vocab.text[static_cast<size_t>(id)].size());
      if (a != TokenAttr::Control && a != TokenAttr::Unknown && a != TokenAttr::UserDefined) continue;
      specials.push_back({id, c_.vocab.text[static_cast<size_t>(id)], a != TokenAttr::UserDefined, false, false});
    }
    specials_ = SpecialTokenSplitter(std::move(specials));
  }

  std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special) const override {
    utf8::require_valid(text, cat(c_.source, ": text to encode"));
    std::vector<int32_t> out;
    if (add_bos && c_.bos >= 0) out.push_back(c_.bos);
    for (const Fragment& f : specials_.split(text, parse_special)) {
      if (f.token >= 0) {
        out.push_back(f.token);
        continue;
      }
      for (const std::string& word : words(text.substr(f.offset, f.length))) encode_word(word, out);
    }
    return out;
  }

  std::string token_bytes(int32_t id) const override {
    const size_t i = index(id);
    const TokenAttr a = c_.vocab.attr[i];
    if (a == TokenAttr::Control || a == TokenAttr::Unknown || a == TokenAttr::Unused) return "";
    const std::string& text = c_.vocab.text[i];
    if (a == TokenAttr::UserDefined) return text;
    return metaspace_to_spaces(text);
  }

  std::string_view token_text(int32_t id) const override { return c_.vocab.text[index(id)]; }
  bool strips_leading_space() const override { return true; }
  int32_t n_vocab() const override { return c_.vocab.size(); }
  int32_t bos_id() const override { return c_.bos; }
  int32_t eos_id() const override { return c_.eos; }
  std::string_view kind() const override { return "wpm"; }

 private:
  // BERT's basic tokenizer.
  std::vector<std::string> words(std::string_view text) const {
    std::vector<std::string> out(1);
    size_t pos = 0;
    while (pos < text.size()) {
      uint32_t cp = utf8::next_code_point(text, pos);
      if (c_.strip_accents) cp = unicode::nfd_base(cp);
      if (unicode::is_whitespace(cp)) {
        if (!out.back().empty()) out.emplace_back();
        continue;
      }
      const char cat = unicode::category(cp);
      if (cp == 0 || cp == 0xFFFD || cat == 'C') continue;
      if (c_.strip_accents && cat == 'M') continue;
      std::string s;
      utf8::append_code_point(s, c_.lowercase ? unicode::to_lower(cp) : cp);
      if (cat == 'P' || (cp < 0x7F && cat == 'S') || is_chinese_char(cp)) {
        if (!out.back().empty()) out.emplace_back();
        out.back() = std::move(s);
        out.emplace_back();
      } else {
        out.back() += s;
      }
    }
    if (out.back().empty()) out.pop_back();
    return out;
  }

  void encode_word(const std::string& word, std::vector<int32_t>& out) const {
    const std::string w = std::string(kSpaceMark) + word;
    const size_t n = w.size();
    const size_t start = out.size();
    for (size_t i = 0; i < n; ++i) {
      bool matched = false;
      for (size_t j = std::min(n, i + max_token_length_ + 1); j > i; --j) {
        const int32_t id = c_.vocab.find(std::string_view(w).substr(i, j - i));
        if (id >= 0) {
          out.push_back(id);
          matched = true;
          i = j - 1;
          break;
        }
      }
      if (!matched) {
        out.resize(start);
        break;
      }
    }
    if (out.size() == start && c_.unk >= 0) out.push_back(c_.unk);
  }

  size_t index(int32_t id) const { return c_.vocab.checked_index(id, c_.source); }

  WpmTokenizerConfig c_;
  SpecialTokenSplitter specials_;
  size_t max_token_length_ = 0;
};

}  // namespace

std::unique_ptr<Tokenizer> make_wpm_tokenizer(WpmTokenizerConfig config) {
  return std::make_unique<WpmTokenizer>(std::move(config));
}

}  // namespace loupe
