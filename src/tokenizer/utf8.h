// UTF-8 helpers shared by the tokenizers: decoding one code point, encoding one, validation
// that names the byte offset of the first bad byte.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace loupe::utf8 {

// Length of the sequence a lead byte starts (1 for ASCII and for bytes that are not lead bytes).
inline size_t sequence_length(uint8_t lead) {
  if (lead < 0xC0) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  return 4;
}

// Decodes the code point at text[pos] (text must be valid UTF-8 there) and advances pos.
uint32_t next_code_point(std::string_view text, size_t& pos);

// Appends the UTF-8 encoding of cp (cp <= 0x10FFFF).
void append_code_point(std::string& out, uint32_t cp);

// Length in bytes of the valid sequence starting at text[pos], or 0 when the bytes there are
// invalid or truncated (overlong forms, surrogates and values past U+10FFFF are invalid).
size_t valid_sequence_length(std::string_view text, size_t pos);

// Throws Error "<what>: invalid utf-8 at byte offset N" when text is not valid UTF-8.
void require_valid(std::string_view text, std::string_view what);

}  // namespace loupe::utf8
