// llama2.c's tokenizer: vocabulary pieces store spaces as ' ' (not U+2581), the byte-fallback id
// of byte b is b + 3, and encode() prepends a " " token, looks up each code point, then merges
// the best-scoring adjacent pair until none is in the vocabulary.
#include "tokenizer/llama2c_tokenizer.h"

#include <cstring>

#include "core/byte_reader.h"
#include "core/error.h"
#include "tokenizer/spm_merge.h"
#include "tokenizer/utf8.h"
#include "tokenizer/vocab.h"
#include "tokenizer/word_cache.h"

namespace loupe {
namespace {

constexpr int32_t kBos = 1;
constexpr int32_t kEos = 2;
constexpr int32_t kByteOffset = 3;        // run.c: byte b falls back to token b + 3
constexpr float kMinMergeScore = -1e10f;  // run.c starts its best score there

class Llama2cTokenizer final : public Tokenizer {
 public:
  explicit Llama2cTokenizer(Vocab vocab) : vocab_(std::move(vocab)) {
    // Word by word only where no merge can cross a word start (see spm_merge.h).
    word_split_ = vocab_.find(" ") >= 0 && pieces_respect_word_starts(vocab_, " ");
  }

  std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special) const override {
    utf8::require_valid(text, "llama2c tokenizer: text to encode");
    std::vector<int32_t> out;
    if (add_bos) out.push_back(kBos);
    if (text.empty()) return out;
    std::string full = " ";  // run.c's dummy prefix
    full += text;
    if (!word_split_) {
      encode_word(full, out);
      return out;
    }
    for_each_word(full, " ", [&](std::string_view word) { encode_word(word, out); });
    return out;
  }

  std::string token_bytes(int32_t id) const override {
    check_id(id);
    if (id == kBos || id == kEos) return "";
    const std::string& piece = vocab_.text[static_cast<size_t>(id)];
    const int byte = byte_token_value(piece);
    if (byte >= 0) return std::string(1, static_cast<char>(byte));
    return piece;
  }

  std::string_view token_text(int32_t id) const override {
    check_id(id);
    return vocab_.text[static_cast<size_t>(id)];
  }

  bool strips_leading_space() const override { return true; }
  int32_t n_vocab() const override { return vocab_.size(); }
  int32_t bos_id() const override { return vocab_.size() > kBos ? kBos : -1; }
  int32_t eos_id() const override { return vocab_.size() > kEos ? kEos : -1; }
  std::string_view kind() const override { return "llama2c"; }

 private:
  // run.c's lookup of one code point: the piece itself, else one token per byte.
  void append_piece(std::string_view piece, std::vector<int32_t>& ids) const {
    const int32_t id = vocab_.find(piece);
    if (id >= 0) {
      ids.push_back(id);
      return;
    }
    for (char c : piece) {
      const int32_t byte_id = static_cast<uint8_t>(c) + kByteOffset;
      if (byte_id >= vocab_.size())
        fail("llama2c tokenizer: byte 0x", std::hex, static_cast<int>(static_cast<uint8_t>(c)),
             " has no byte-fallback token (vocabulary of ", std::dec, vocab_.size(), " tokens)");
      ids.push_back(byte_id);
    }
  }

  // run.c's encode() of one word (or of the whole text): one token per code point (else per byte),
  // then best-score merges over the concatenated piece texts.
  void encode_word(std::string_view word, std::vector<int32_t>& out) const {
    const bool cacheable = WordCache::cacheable(word);
    if (cacheable && cache_.lookup(word, out)) return;
    const size_t before = out.size();
    std::vector<int32_t> ids;
    ids.reserve(word.size());
    size_t pos = 0;
    while (pos < word.size()) {
      const size_t n = utf8::sequence_length(static_cast<uint8_t>(word[pos]));
      append_piece(word.substr(pos, n), ids);
      pos += n;
    }
    std::string joined;
    std::vector<uint32_t> lengths;
    lengths.reserve(ids.size());
    for (int32_t id : ids) {
      const std::string& piece = vocab_.text[static_cast<size_t>(id)];
      joined += piece;
      lengths.push_back(static_cast<uint32_t>(piece.size()));
    }
    const std::vector<SymbolSpan> spans = spm_merge(joined, lengths, vocab_, kMinMergeScore);
    // Symbols never merged keep their original id (the text of a byte-fallback token or of a
    // duplicated piece may map to another id); merged ones are found by their text.
    size_t initial = 0;
    uint32_t initial_offset = 0;
    for (const SymbolSpan& s : spans) {
      while (initial < ids.size() && initial_offset < s.offset) initial_offset += lengths[initial++];
      if (initial < ids.size() && initial_offset == s.offset && lengths[initial] == s.length) {
        out.push_back(ids[initial]);
        initial_offset += lengths[initial++];
      } else {
        out.push_back(vocab_.find(std::string_view(joined).substr(s.offset, s.length)));
      }
    }
    if (cacheable) cache_.store(word, out.data() + before, out.size() - before);
  }

  void check_id(int32_t id) const {
    if (id < 0 || id >= vocab_.size())
      fail("llama2c tokenizer: token id ", id, " out of range (vocabulary has ", vocab_.size(), " tokens)");
  }

  Vocab vocab_;
  bool word_split_ = false;
  WordCache cache_;
};

}  // namespace

std::unique_ptr<Tokenizer> llama2c_tokenizer_from_bytes(std::string_view bytes, const std::string& source) {
  ByteReader reader(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), source);
  if (bytes.empty()) fail(source, ": empty file, not a llama2.c tokenizer");
  const int32_t max_token_length = reader.read<int32_t>("max_token_length");
  if (max_token_length < 0) fail(source, ": max_token_length ", max_token_length, " is negative");

  Vocab vocab;
  while (reader.remaining() > 0) {
    const size_t index = vocab.text.size();
    const size_t at = reader.offset();
    if (reader.remaining() < 8)
      fail(source, ": token ", index, " at offset ", at, ": truncated header (", reader.remaining(),
           " bytes left, needs 8)");
    const float score = reader.read<float>("score");
    const int32_t length = reader.read<int32_t>("length");
    if (length < 0) fail(source, ": token ", index, " at offset ", at, ": negative length ", length);
    if (static_cast<uint64_t>(length) > reader.remaining())
      fail(source, ": token ", index, " at offset ", at, ": length ", length, " runs past the end of the file (",
           reader.remaining(), " bytes left)");
    vocab.text.emplace_back(reader.bytes(static_cast<uint64_t>(length), "token"));
    vocab.score.push_back(score);
  }
  if (vocab.text.empty()) fail(source, ": no tokens after the header");
  if (vocab.text.size() > static_cast<size_t>(INT32_MAX)) fail(source, ": too many tokens");
  vocab.build_index();
  return std::make_unique<Llama2cTokenizer>(std::move(vocab));
}

}  // namespace loupe
