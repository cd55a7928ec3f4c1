// Unicode properties and normal forms for the tokenizers (tables in unicode_data.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace loupe::unicode {

// General category class: 'L' letter, 'M' mark, 'N' number, 'P' punctuation, 'S' symbol,
// 'Z' separator, 'C' other (control, format, unassigned...).
char category(uint32_t cp);
// The White_Space property.
bool is_whitespace(uint32_t cp);
// First code point of the canonical decomposition ("é" -> "e"); cp itself when none.
uint32_t nfd_base(uint32_t cp);
// Simple lower-case mapping.
uint32_t to_lower(uint32_t cp);

// Canonical normal forms of valid UTF-8 text. NFC returns the input unchanged when it is
// already composed, without copying work beyond one scan for plain ASCII.
std::string nfd(std::string_view text);
std::string nfc(std::string_view text);
std::string lowercase(std::string_view text);

}  // namespace loupe::unicode
