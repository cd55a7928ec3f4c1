// SentencePiece models through libsentencepiece. Control tokens written in the text are split out
// first when parse_special is set (SentencePiece itself treats "<s>" as plain text); user-defined
// pieces are matched by SentencePiece.
#include "tokenizer/sentencepiece_tokenizer.h"

#include <sentencepiece_processor.h>

#include <exception>

#include "core/error.h"
#include "tokenizer/special_tokens.h"
#include "tokenizer/spm_merge.h"
#include "tokenizer/utf8.h"
#include "tokenizer/vocab.h"

namespace loupe {
namespace {

// The parts of a ModelProto that decide whether a text can be encoded in chunks (field numbers
// of sentencepiece_model.proto). Defaults are the proto's.
struct SpmSpec {
  bool parsed = false;
  int model_type = 1;                    // TrainerSpec.model_type (3): UNIGRAM 1, BPE 2, WORD 3, CHAR 4
  bool whitespace_as_suffix = false;     // TrainerSpec.treat_whitespace_as_suffix (24)
  std::string normalizer_name;           // NormalizerSpec.name (1)
  bool has_charsmap = false;             // NormalizerSpec.precompiled_charsmap (2), non-empty
  bool dummy_prefix = true;              // NormalizerSpec.add_dummy_prefix (3)
  bool remove_extra_whitespaces = true;  // (4)
  bool escape_whitespaces = true;        // (5)
};

// Protocol buffer wire format, bounds-checked: false on anything malformed.
class Wire {
 public:
  explicit Wire(std::string_view bytes) : b_(bytes) {}
  bool done() const { return pos_ >= b_.size(); }
  bool varint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= b_.size()) return false;
      const uint8_t byte = static_cast<uint8_t>(b_[pos_++]);
      v |= static_cast<uint64_t>(byte & 0x7F) << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }
  // One field: its number and wire type; for length-delimited fields the payload, for varints the value.
  bool field(uint32_t& number, uint64_t& value, std::string_view& payload) {
    uint64_t key = 0;
    if (!varint(key)) return false;
    number = static_cast<uint32_t>(key >> 3);
    switch (key & 7) {
      case 0: return varint(value);
      case 1: return skip(8);
      case 5: return skip(4);
      case 2: {
        uint64_t n = 0;
        if (!varint(n) || n > b_.size() - pos_) return false;
        payload = b_.substr(pos_, n);
        pos_ += n;
        return true;
      }
      default: return false;
    }
  }

 private:
  bool skip(size_t n) {
    if (n > b_.size() - pos_) return false;
    pos_ += n;
    return true;
  }
  std::string_view b_;
  size_t pos_ = 0;
};

SpmSpec read_spec(std::string_view model) {
  SpmSpec spec;
  Wire top(model);
  while (!top.done()) {
    uint32_t number = 0;
    uint64_t value = 0;
    std::string_view payload;
    if (!top.field(number, value, payload)) return SpmSpec{};
    if (number != 2 && number != 3) continue;
    Wire sub(payload);
    while (!sub.done()) {
      uint32_t n = 0;
      uint64_t v = 0;
      std::string_view p;
      if (!sub.field(n, v, p)) return SpmSpec{};
      if (number == 2 && n == 3) spec.model_type = static_cast<int>(v);
      if (number == 2 && n == 24) spec.whitespace_as_suffix = v != 0;
      if (number == 3 && n == 1) spec.normalizer_name = std::string(p);
      if (number == 3 && n == 2) spec.has_charsmap = !p.empty();
      if (number == 3 && n == 3) spec.dummy_prefix = v != 0;
      if (number == 3 && n == 4) spec.remove_extra_whitespaces = v != 0;
      if (number == 3 && n == 5) spec.escape_whitespaces = v != 0;
    }
  }
  spec.parsed = true;
  return spec;
}

class SentencePieceTokenizer final : public Tokenizer {
 public:
  SentencePieceTokenizer(std::unique_ptr<sentencepiece::SentencePieceProcessor> sp, std::string source,
                         const SpmSpec& spec)
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
    // The library's encoder is superlinear in the length of what it is given (1 MB of prose:
    // 1.7 s). Where the words between spaces merge independently (identity normalisation,
    // spaces escaped as U+2581 at word starts, and no piece holding U+2581 after other text),
    // the text goes to it in chunks of a few KB cut before a word, each giving exactly the
    // tokens the whole text would. With a dummy prefix the space before the cut becomes the
    // chunk's own prefix; without one the cut keeps the space (then extra spaces must not be
    // removed, or a chunk's leading spaces would go).
    bool words_independent =
        spec.parsed && (spec.model_type == 1 || spec.model_type == 2) && !spec.whitespace_as_suffix &&
        spec.escape_whitespaces && !spec.has_charsmap && spec.normalizer_name == "identity" &&
        (spec.dummy_prefix || !spec.remove_extra_whitespaces) && spec.dummy_prefix == dummy_prefix_ &&
        sp_->PieceToId(std::string(kSpaceMark)) != sp_->unk_id();
    for (size_t i = 0; words_independent && i < pieces_.size(); ++i)
      words_independent = piece_respects_word_starts(pieces_[i], kSpaceMark);
    chunked_ = words_independent;
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
      const std::string_view fragment = text.substr(f.offset, f.length);
      if (!chunked_) {
        encode_piece(fragment, out);
        continue;
      }
      // Cut at a space that follows other text and is followed (after any more spaces) by
      // something other than a space, once the chunk holds kChunkBytes.
      size_t begin = 0;
      for (size_t q = fragment.find(' ', kChunkBytes); q != std::string_view::npos; q = fragment.find(' ', q + 1)) {
        if (q - begin < kChunkBytes || fragment[q - 1] == ' ') continue;
        const size_t after = fragment.find_first_not_of(' ', q);
        if (after == std::string_view::npos) break;
        encode_piece(fragment.substr(begin, q - begin), out);
        begin = dummy_prefix_ ? q + 1 : q;
        q = after - 1;
      }
      encode_piece(fragment.substr(begin), out);
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
  static constexpr size_t kChunkBytes = 4096;

  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
    std::vector<int> ids;
    const auto status = sp_->Encode(piece, &ids);
    if (!status.ok()) fail(source_, ": sentencepiece encode failed: ", status.ToString());
    out.insert(out.end(), ids.begin(), ids.end());
  }

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
  bool chunked_ = false;  // words merge independently: encode in chunks (see the constructor)
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
  return std::make_unique<SentencePieceTokenizer>(std::move(sp), source, read_spec(bytes));
}

}  // namespace loupe
