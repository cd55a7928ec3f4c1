// Tokenizers: SentencePiece-style (GGUF "llama" vocab, tokenizer.model, llama2.c tok*.bin) and
// byte-level BPE (GGUF "gpt2" vocab with its pre-tokenizer variants, tokenizer.json).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace loupe {

class GgufFile;

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Encodes UTF-8 text. Throws Error on invalid UTF-8, naming the byte offset. Adds BOS only
  // when add_bos is set (and the vocabulary has one). With parse_special, special / control /
  // user-defined tokens written in the text become their ids (as llama.cpp's parse_special).
  virtual std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special = true) const = 0;

  // The bytes this token stands for when decoded (byte-fallback tokens give their byte,
  // SentencePiece's U+2581 becomes a space, byte-level BPE symbols map back to bytes; control
  // tokens give an empty string). May be an incomplete UTF-8 sequence.
  virtual std::string token_bytes(int32_t id) const = 0;

  // The vocabulary entry as stored (for display), e.g. "▁Once", "<0x0A>", "Ġthe".
  virtual std::string_view token_text(int32_t id) const = 0;

  // Whether decoding the first token after BOS drops one leading space (SentencePiece's dummy
  // prefix; llama2.c's run.c does the same).
  virtual bool strips_leading_space() const = 0;

  virtual int32_t n_vocab() const = 0;
  virtual int32_t bos_id() const = 0;         // -1 when none
  virtual int32_t eos_id() const = 0;         // -1 when none
  virtual std::string_view kind() const = 0;  // "llama2c", "spm", "sentencepiece", "bpe"

  // Decodes a whole sequence to bytes (complete text; leading space after BOS stripped as above).
  std::string decode(std::span<const int32_t> ids) const;
};

// Loads a tokenizer from a stand-alone file, recognised by content: llama2.c tok*.bin,
// SentencePiece tokenizer.model, Hugging Face tokenizer.json, or any GGUF file with tokenizer
// metadata. Errors name the file and what is wrong.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);

// The tokenizer stored in a GGUF file's tokenizer.ggml.* metadata.
std::unique_ptr<Tokenizer> tokenizer_from_gguf(const GgufFile& gguf);

// Streams token bytes to complete UTF-8: holds back an incomplete trailing sequence until the
// next token completes it; invalid bytes are passed through as U+FFFD.
class Utf8Stream {
 public:
  // Appends bytes and returns the longest complete UTF-8 prefix available so far.
  std::string push(std::string_view bytes);
  // Returns whatever is held back (as U+FFFD for an incomplete sequence).
  std::string flush();

 private:
  std::string pending_;
};

// Checks UTF-8 validity; returns the byte offset of the first invalid byte or -1.
int64_t find_invalid_utf8(std::string_view text);

}  // namespace loupe
