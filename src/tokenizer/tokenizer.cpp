// Tokenizer::decode and load_tokenizer: the format of a stand-alone tokenizer file is recognised
// by its content, never by its name.
#include "tokenizer/tokenizer.h"

#include <cstring>

#include "core/error.h"
#include "core/mapped_file.h"
#include "formats/gguf.h"
#include "tokenizer/hf_tokenizer_json.h"
#include "tokenizer/llama2c_tokenizer.h"
#include "tokenizer/sentencepiece_tokenizer.h"

namespace loupe {

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
  std::string out;
  const int32_t bos = bos_id();
  const bool strip = strips_leading_space();
  for (size_t i = 0; i < ids.size(); ++i) {
    std::string bytes = token_bytes(ids[i]);
    // The dummy prefix space of the first piece after BOS (as run.c prints it). A sequence without
    // BOS is taken as a continuation and keeps its spaces.
    const bool after_bos = i > 0 && bos >= 0 && ids[i - 1] == bos;
    if (strip && after_bos && !bytes.empty() && bytes[0] == ' ') bytes.erase(0, 1);
    out += bytes;
  }
  return out;
}

namespace {

// A SentencePiece ModelProto starts with field 1 (repeated SentencePiece pieces, wire type 2):
// byte 0x0A, a non-zero varint length, then the nested message's own field 1 (the piece, 0x0A).
// A llama2.c tokenizer starts with a small little-endian int32 (max_token_length).
bool looks_like_sentencepiece(const uint8_t* data, size_t size) {
  if (size < 4 || data[0] != 0x0A) return false;
  size_t pos = 1;
  uint64_t length = 0;
  for (int shift = 0; pos < size && shift < 35; shift += 7) {
    const uint8_t b = data[pos++];
    length |= static_cast<uint64_t>(b & 0x7F) << shift;
    if ((b & 0x80) == 0) break;
  }
  return length > 0 && pos < size && data[pos] == 0x0A;
}

bool looks_like_json(const uint8_t* data, size_t size) {
  size_t pos = 0;
  if (size >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF) pos = 3;  // BOM
  while (pos < size && (data[pos] == ' ' || data[pos] == '\t' || data[pos] == '\n' || data[pos] == '\r')) ++pos;
  return pos < size && data[pos] == '{';
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  const auto file = MappedFile::open(path);
  const uint8_t* data = file->data();
  const size_t size = file->size();
  if (size == 0) fail(path, ": empty file, not a tokenizer");
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);

  if (size >= 4 && bytes.substr(0, 4) == "GGUF") return tokenizer_from_gguf(GgufFile::open(path));
  if (looks_like_json(data, size)) return hf_tokenizer_from_json(bytes, path);
  if (looks_like_sentencepiece(data, size)) return sentencepiece_tokenizer_from_bytes(bytes, path);
  if (size >= 4) {
    int32_t max_token_length = 0;
    std::memcpy(&max_token_length, data, 4);
    if (max_token_length >= 0 && max_token_length < (1 << 20)) return llama2c_tokenizer_from_bytes(bytes, path);
  }
  fail(path,
       ": not a recognised tokenizer (expected a gguf file, a hugging face tokenizer.json, a sentencepiece "
       "tokenizer.model or a llama2.c tokenizer .bin)");
}

}  // namespace loupe
