// SentencePiece models through libsentencepiece. Control tokens written in the text are split out
// first when parse_special is set (SentencePiece itself treats "<s>" as plain text); user-defined
// pieces are matched by SentencePiece.
#include "tokenizer/sentencepiece_tokenizer.h"

#include <sentencepiece_processor.h>

#include <exception>

#include "core/error.h"
#include "tokenizer/special_tokens.h"
#include "tokenizer/utf8.h"
#include "tokenizer/vocab.h"

namespace loupe {
namespace {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  SentencePieceTokenizer(std::unique_ptr<sentencepiece::SentencePieceProcessor> sp, std::string source)
      : sp_(std::move(sp)), source_(std::move(source)) {
    const int n = sp_->GetPieceSize();
    pieces_.reserve(static_cast<size_t>(n));
    bytes_.reserve(static_cast<size_t>(n));
    std::vector<SpecialToken> specials;
    for (int id = 0; id < n; ++id) {
      const std::string& piece = sp_->IdToPiece(id);
      pieces_.push_back(piece);
      if (sp_->IsControl(id)) {
        bytes_.emplace_back();
        specials.push_back({id, piece, /*control=*/true, false, false});
      } else if (sp_->IsByte(id) && byte_token_value(piece) >= 0) {
        bytes_.emplace_back(1, static_cast<char>(byte_token_value(piece)));
      } else if (sp_->IsUnknown(id)) {
        bytes_.emplace_back(" \xE2\x81\x87 ");  // SentencePiece decodes <unk> as " ⁇ "
      } else {
        bytes_.push_back(metaspace_to_spaces(piece));
      }
    }
    specials_ = SpecialTokenSplitter(std::move(specials));
    // The dummy prefix: does a lone "a" come out with a leading U+2581?
    std::vector<std::string> probe;
    if (sp_->Encode("a", &probe).ok() && !probe.empty())
      dummy_prefix_ = probe.front().compare(0, kSpaceMark.size(), kSpaceMark) == 0;
  }

  std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special) const override {
    utf8::require_valid(text, cat(source_, ": text to encode"));
    std::vector<int32_t> out;
    if (add_bos && sp_->bos_id() >= 0) out.push_back(sp_->bos_id());
    for (const Fragment& f : specials_.split(text, parse_special)) {
      if (f.token >= 0) {
        out.push_back(f.token);
        continue;
      }
      std::vector<int> ids;
      const auto status = sp_->Encode(text.substr(f.offset, f.length), &ids);
      if (!status.ok()) fail(source_, ": sentencepiece encode failed: ", status.ToString());
      out.insert(out.end(), ids.begin(), ids.end());
    }
    return out;
  }

  std::string token_bytes(int32_t id) const override { return bytes_[index(id)]; }
  std::string_view token_text(int32_t id) const override { return pieces_[index(id)]; }
  bool strips_leading_space() const override { return dummy_prefix_; }
  int32_t n_vocab() const override { return static_cast<int32_t>(pieces_.size()); }
  int32_t bos_id() const override { return sp_->bos_id(); }
  int32_t eos_id() const override { return sp_->eos_id(); }
  std::string_view kind() const override { return "sentencepiece"; }

 private:
  size_t index(int32_t id) const {
    if (id < 0 || static_cast<size_t>(id) >= pieces_.size())
      fail(source_, ": token id ", id, " out of range (vocabulary has ", pieces_.size(), " tokens)");
    return static_cast<size_t>(id);
  }

  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  std::string source_;
  std::vector<std::string> pieces_;  // [n_vocab]
  std::vector<std::string> bytes_;   // [n_vocab] decoded bytes
  SpecialTokenSplitter specials_;
  bool dummy_prefix_ = true;
};

}  // namespace

std::unique_ptr<Tokenizer> sentencepiece_tokenizer_from_bytes(std::string_view bytes, const std::string& source) {
  auto sp = std::make_unique<sentencepiece::SentencePieceProcessor>();
  sentencepiece::util::Status status;
  // The library's own checks report through status, but some damage reaches code that throws
  // instead (an empty piece: Darts' "zero-length key", found by fuzz/tokenizer_model.cpp).
  try {
    status = sp->LoadFromSerializedProto(bytes);
  } catch (const std::exception& e) {
    fail(source, ": not a valid sentencepiece model: ", e.what());
  }
  if (!status.ok()) fail(source, ": not a valid sentencepiece model: ", status.ToString());
  if (sp->GetPieceSize() <= 0) fail(source, ": sentencepiece model has no pieces");
  return std::make_unique<SentencePieceTokenizer>(std::move(sp), source);
}

}  // namespace loupe
