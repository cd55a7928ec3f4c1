// The vocabulary shared by the in-house tokenizers: id -> stored text, per-token attributes, and a
// string -> id map that takes string_view keys without allocating.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace loupe {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TokenMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

// How a token behaves, after llama.cpp's token types (GGUF tokenizer.ggml.token_type).
enum class TokenAttr : uint8_t {
  Normal,
  Unknown,      // the <unk> token
  Control,      // <s>, </s>, <|endoftext|>: matched in text only with parse_special, decodes to ""
  UserDefined,  // always matched in text before pre-tokenization, decodes to its text
  Unused,
  Byte,  // <0xXX> byte-fallback tokens
};

// GGUF token_type values (llama.cpp's LLAMA_TOKEN_TYPE_*) -> TokenAttr.
TokenAttr token_attr_from_gguf_type(int64_t type);

// Text -> id for a vocabulary: open addressing over one array of (hash tag, id) slots, the texts
// compared in the vocabulary itself. One cache line per probe instead of a node chain: loading a
// 128k-token tokenizer looks texts up about two million times.
class TokenIndex {
 public:
  // Indexes every text (the first id of a duplicated text wins).
  void build(const std::vector<std::string>& text);
  // Indexes text[id] unless that text is already indexed.
  void add(const std::vector<std::string>& text, int32_t id);
  int32_t find(const std::vector<std::string>& text, std::string_view s) const;

 private:
  void grow(const std::vector<std::string>& text);
  std::vector<uint64_t> slots_;  // (hash >> 32) << 32 | (id + 1); 0 = empty
  size_t count_ = 0;
};

struct Vocab {
  std::vector<std::string> text;  // [n_vocab] as stored
  std::vector<float> score;       // [n_vocab] SentencePiece scores (0 when absent)
  std::vector<TokenAttr> attr;    // [n_vocab]
  std::vector<bool> lstrip;       // [n_vocab] special token eats whitespace on its left
  std::vector<bool> rstrip;       // [n_vocab] special token eats whitespace on its right
  TokenIndex index;               // first id for each text

  int32_t size() const { return static_cast<int32_t>(text.size()); }
  int32_t find(std::string_view s) const { return index.find(text, s); }
  // After text[id] changed: indexes its new text (an earlier id with that text keeps it).
  void add_to_index(int32_t id) { index.add(text, id); }
  // Fills the index (keeping the first id of duplicated texts) and sizes the per-token arrays.
  void build_index();
  // id as an index, or an error naming `source` when it is out of range.
  size_t checked_index(int32_t id, std::string_view source) const;
};

// The SentencePiece word-boundary mark U+2581 ("▁") in UTF-8.
inline constexpr std::string_view kSpaceMark = "\xE2\x96\x81";

// Stored token text with every U+2581 mark replaced by a space.
std::string metaspace_to_spaces(std::string_view text);

// Parses "<0xXX>" (two hex digits, either case); returns -1 when s is not of that form.
int byte_token_value(std::string_view s);

}  // namespace loupe
