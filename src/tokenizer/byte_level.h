// GPT-2's byte-level mapping: every byte gets a printable code point (printable ASCII and most of
// Latin-1 map to themselves, the other 68 bytes to U+0100..U+0143), so BPE runs on text without
// spaces or control characters: " the" is stored as "Ġthe".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace loupe {

// Appends the mapped form of bytes.
void byte_level_encode(std::string_view bytes, std::string& out);
// The byte a code point stands for, or -1 when it is not one of the 256 mapped code points.
int byte_level_byte(uint32_t cp);
// Maps a stored token text back to bytes; code points outside the mapping are kept as UTF-8.
std::string byte_level_decode(std::string_view text);

}  // namespace loupe
