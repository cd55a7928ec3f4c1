// Unicode scripts of code points, for "what writing systems are in this corpus". The table is
// block-based (each Unicode block of a script maps to it), with ASCII / Latin-1 non-letters,
// general punctuation, symbols and CJK punctuation as Common and combining-mark blocks as
// Inherited; this matches the Unicode Scripts property for the letters of the major scripts,
// which is what the shares are for. Code points outside the table are "Other".
#pragma once

#include <cstdint>
#include <string_view>

namespace loupe::data {

enum class Script : uint8_t {
  Common,
  Inherited,
  Latin,
  Greek,
  Cyrillic,
  Armenian,
  Hebrew,
  Arabic,
  Syriac,
  Thaana,
  Devanagari,
  Bengali,
  Gurmukhi,
  Gujarati,
  Oriya,
  Tamil,
  Telugu,
  Kannada,
  Malayalam,
  Sinhala,
  Thai,
  Lao,
  Tibetan,
  Myanmar,
  Georgian,
  Hangul,
  Ethiopic,
  Cherokee,
  Khmer,
  Mongolian,
  Hiragana,
  Katakana,
  Bopomofo,
  Han,
  Yi,
  Emoji,
  Other,
};
constexpr int kScriptCount = static_cast<int>(Script::Other) + 1;

Script script_of(uint32_t cp);
std::string_view script_name(Script s);

}  // namespace loupe::data
