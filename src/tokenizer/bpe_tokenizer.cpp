// BPE tokenizer: encode = special split -> normalize -> pre-tokenize -> byte map -> merge.
#include "tokenizer/bpe_tokenizer.h"

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/spm_merge.h"
#include "tokenizer/utf8.h"

namespace loupe {
namespace {

class BpeTokenizer final : public Tokenizer {
 public:
  explicit BpeTokenizer(BpeTokenizerConfig config) : c_(std::move(config)) {
    model_ = c_.merge_ids.empty() ? std::make_unique<BpeModel>(c_.vocab, c_.merges, c_.unknowns, c_.ignore_merges)
                                  : std::make_unique<BpeModel>(c_.vocab, c_.merge_ids, c_.unknowns, c_.ignore_merges);
    // Words of SentencePiece-style BPE (U+2581 for spaces, often no pre-tokenizer, so a whole
    // document would be one word) merge independently when no piece, and no merge's result,
    // holds U+2581 after other text: then cut them apart first, which keeps encoding linear in
    // the text and lets the word cache work. Not with ignore_merges (a whole-word lookup would
    // see different words) nor when U+2581 itself is unknown (unknowns fuse across it).
    word_split_ = c_.split_words && !c_.byte_level && !c_.ignore_merges && c_.vocab.find(kSpaceMark) >= 0 &&
                  pieces_respect_word_starts(c_.vocab, kSpaceMark);
    for (size_t i = 0; word_split_ && i < c_.merges.size(); ++i) {
      const auto& [a, b] = c_.merges[i];
      word_split_ = piece_respects_word_starts(a + b, kSpaceMark);
    }
    for (size_t i = 0; word_split_ && i < c_.merge_ids.size(); ++i)
      word_split_ = piece_respects_word_starts(c_.vocab.text[static_cast<size_t>(c_.merge_ids[i][2])], kSpaceMark);
    c_.merges.clear();
    c_.merges.shrink_to_fit();
    c_.merge_ids.clear();
    c_.merge_ids.shrink_to_fit();
    std::vector<SpecialToken> specials;
    for (int32_t id = 0; id < c_.vocab.size(); ++id) {
      const TokenAttr a = c_.vocab.attr[static_cast<size_t>(id)];
      if (a != TokenAttr::Control && a != TokenAttr::Unknown && a != TokenAttr::UserDefined) continue;
      specials.push_back({id, c_.vocab.text[static_cast<size_t>(id)], a != TokenAttr::UserDefined,
                          c_.vocab.lstrip[static_cast<size_t>(id)], c_.vocab.rstrip[static_cast<size_t>(id)]});
    }
    specials_ = SpecialTokenSplitter(std::move(specials));
  }

  std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special) const override {
    utf8::require_valid(text, cat(c_.source, ": text to encode"));
    std::vector<int32_t> out;
    if (add_bos && c_.bos >= 0) out.push_back(c_.bos);
    std::string mapped;
    for (const Fragment& f : specials_.split(text, parse_special)) {
      if (f.token >= 0) {
        out.push_back(f.token);
        continue;
      }
      const std::string_view raw = text.substr(f.offset, f.length);
      std::string normalized;
      std::string_view piece = raw;
      if (!c_.normalizer.empty()) {
        normalized = c_.normalizer.apply(raw);
        piece = normalized;
      }
      const auto encode_word = [&](std::string_view word) {
        if (word_split_) {
          for_each_word(word, kSpaceMark, [&](std::string_view w) { model_->encode_word(w, out); });
        } else if (c_.byte_level) {
          mapped.clear();
          byte_level_encode(word, mapped);
          model_->encode_word(mapped, out);
        } else {
          model_->encode_word(word, out);
        }
      };
      if (c_.pre.empty()) {
        encode_word(piece);
      } else {
        c_.pre.for_each(piece, f.offset == 0, encode_word);
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
      case TokenAttr::Byte:
      case TokenAttr::Normal: break;
    }
    const int byte = byte_token_value(text);
    if (byte >= 0 && (c_.vocab.attr[i] == TokenAttr::Byte || !c_.byte_level))
      return std::string(1, static_cast<char>(byte));
    if (c_.byte_level) return byte_level_decode(text);
    if (!c_.metaspace_decode) return text;
    return metaspace_to_spaces(text);
  }

  std::string_view token_text(int32_t id) const override { return c_.vocab.text[index(id)]; }
  bool strips_leading_space() const override { return c_.strips_leading_space; }
  int32_t n_vocab() const override { return c_.vocab.size(); }
  int32_t bos_id() const override { return c_.bos; }
  int32_t eos_id() const override { return c_.eos; }
  std::string_view kind() const override { return "bpe"; }

 private:
  size_t index(int32_t id) const { return c_.vocab.checked_index(id, c_.source); }

  BpeTokenizerConfig c_;
  std::unique_ptr<BpeModel> model_;
  SpecialTokenSplitter specials_;
  bool word_split_ = false;
};

}  // namespace

std::unique_ptr<Tokenizer> make_bpe_tokenizer(BpeTokenizerConfig config) {
  return std::make_unique<BpeTokenizer>(std::move(config));
}

}  // namespace loupe
