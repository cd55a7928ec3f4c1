// The block-based script table (see scripts.h).
#include "data/scripts.h"

#include <algorithm>
#include <iterator>

namespace loupe::data {

namespace {

struct Range {
  uint32_t first;
  uint32_t last;
  Script script;
};

// Sorted, non-overlapping; gaps are Other.
constexpr Range kRanges[] = {
    {0x0000, 0x0040, Script::Common},    {0x0041, 0x005A, Script::Latin},       {0x005B, 0x0060, Script::Common},
    {0x0061, 0x007A, Script::Latin},     {0x007B, 0x00A9, Script::Common},      {0x00AA, 0x00AA, Script::Latin},
    {0x00AB, 0x00B9, Script::Common},    {0x00BA, 0x00BA, Script::Latin},       {0x00BB, 0x00BF, Script::Common},
    {0x00C0, 0x00D6, Script::Latin},     {0x00D7, 0x00D7, Script::Common},      {0x00D8, 0x00F6, Script::Latin},
    {0x00F7, 0x00F7, Script::Common},    {0x00F8, 0x02AF, Script::Latin},       {0x02B0, 0x02FF, Script::Common},
    {0x0300, 0x036F, Script::Inherited}, {0x0370, 0x03FF, Script::Greek},       {0x0400, 0x052F, Script::Cyrillic},
    {0x0530, 0x058F, Script::Armenian},  {0x0590, 0x05FF, Script::Hebrew},      {0x0600, 0x06FF, Script::Arabic},
    {0x0700, 0x074F, Script::Syriac},    {0x0750, 0x077F, Script::Arabic},      {0x0780, 0x07BF, Script::Thaana},
    {0x08A0, 0x08FF, Script::Arabic},    {0x0900, 0x097F, Script::Devanagari},  {0x0980, 0x09FF, Script::Bengali},
    {0x0A00, 0x0A7F, Script::Gurmukhi},  {0x0A80, 0x0AFF, Script::Gujarati},    {0x0B00, 0x0B7F, Script::Oriya},
    {0x0B80, 0x0BFF, Script::Tamil},     {0x0C00, 0x0C7F, Script::Telugu},      {0x0C80, 0x0CFF, Script::Kannada},
    {0x0D00, 0x0D7F, Script::Malayalam}, {0x0D80, 0x0DFF, Script::Sinhala},     {0x0E00, 0x0E7F, Script::Thai},
    {0x0E80, 0x0EFF, Script::Lao},       {0x0F00, 0x0FFF, Script::Tibetan},     {0x1000, 0x109F, Script::Myanmar},
    {0x10A0, 0x10FF, Script::Georgian},  {0x1100, 0x11FF, Script::Hangul},      {0x1200, 0x139F, Script::Ethiopic},
    {0x13A0, 0x13FF, Script::Cherokee},  {0x1780, 0x17FF, Script::Khmer},       {0x1800, 0x18AF, Script::Mongolian},
    {0x19E0, 0x19FF, Script::Khmer},     {0x1AB0, 0x1AFF, Script::Inherited},   {0x1C80, 0x1C8F, Script::Cyrillic},
    {0x1C90, 0x1CBF, Script::Georgian},  {0x1D00, 0x1D7F, Script::Latin},       {0x1DC0, 0x1DFF, Script::Inherited},
    {0x1E00, 0x1EFF, Script::Latin},     {0x1F00, 0x1FFF, Script::Greek},       {0x2000, 0x206F, Script::Common},
    {0x2070, 0x209F, Script::Common},    {0x20A0, 0x20CF, Script::Common},      {0x20D0, 0x20FF, Script::Inherited},
    {0x2100, 0x2BFF, Script::Common},    {0x2C60, 0x2C7F, Script::Latin},       {0x2D00, 0x2D2F, Script::Georgian},
    {0x2D80, 0x2DDF, Script::Ethiopic},  {0x2DE0, 0x2DFF, Script::Cyrillic},    {0x2E00, 0x2E7F, Script::Common},
    {0x2E80, 0x2FDF, Script::Han},       {0x2FF0, 0x303F, Script::Common},      {0x3040, 0x309F, Script::Hiragana},
    {0x30A0, 0x30FF, Script::Katakana},  {0x3100, 0x312F, Script::Bopomofo},    {0x3130, 0x318F, Script::Hangul},
    {0x31A0, 0x31BF, Script::Bopomofo},  {0x31F0, 0x31FF, Script::Katakana},    {0x3200, 0x33FF, Script::Common},
    {0x3400, 0x4DBF, Script::Han},       {0x4DC0, 0x4DFF, Script::Common},      {0x4E00, 0x9FFF, Script::Han},
    {0xA000, 0xA4CF, Script::Yi},        {0xA640, 0xA69F, Script::Cyrillic},    {0xA720, 0xA7FF, Script::Latin},
    {0xA960, 0xA97F, Script::Hangul},    {0xAB30, 0xAB6F, Script::Latin},       {0xAB70, 0xABBF, Script::Cherokee},
    {0xAC00, 0xD7FF, Script::Hangul},    {0xF900, 0xFAFF, Script::Han},         {0xFB00, 0xFB06, Script::Latin},
    {0xFB1D, 0xFB4F, Script::Hebrew},    {0xFB50, 0xFDFF, Script::Arabic},      {0xFE00, 0xFE0F, Script::Inherited},
    {0xFE10, 0xFE1F, Script::Common},    {0xFE20, 0xFE2F, Script::Inherited},   {0xFE30, 0xFE6F, Script::Common},
    {0xFE70, 0xFEFE, Script::Arabic},    {0xFEFF, 0xFF20, Script::Common},      {0xFF21, 0xFF3A, Script::Latin},
    {0xFF3B, 0xFF40, Script::Common},    {0xFF41, 0xFF5A, Script::Latin},       {0xFF5B, 0xFF65, Script::Common},
    {0xFF66, 0xFF9F, Script::Katakana},  {0xFFA0, 0xFFDC, Script::Hangul},      {0xFFE0, 0xFFFD, Script::Common},
    {0x1D400, 0x1D7FF, Script::Common},  {0x1F000, 0x1F2FF, Script::Common},    {0x1F300, 0x1FAFF, Script::Emoji},
    {0x20000, 0x3134F, Script::Han},     {0xE0100, 0xE01EF, Script::Inherited},
};

constexpr std::string_view kNames[kScriptCount] = {
    "Common",   "Inherited", "Latin",      "Greek",    "Cyrillic", "Armenian",  "Hebrew",   "Arabic",
    "Syriac",   "Thaana",    "Devanagari", "Bengali",  "Gurmukhi", "Gujarati",  "Oriya",    "Tamil",
    "Telugu",   "Kannada",   "Malayalam",  "Sinhala",  "Thai",     "Lao",       "Tibetan",  "Myanmar",
    "Georgian", "Hangul",    "Ethiopic",   "Cherokee", "Khmer",    "Mongolian", "Hiragana", "Katakana",
    "Bopomofo", "Han",       "Yi",         "Emoji",    "Other",
};

}  // namespace

Script script_of(uint32_t cp) {
  if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z' ? Script::Latin : Script::Common;
  const auto it = std::upper_bound(std::begin(kRanges), std::end(kRanges), cp,
                                   [](uint32_t v, const Range& r) { return v < r.first; });
  if (it == std::begin(kRanges)) return Script::Other;
  const Range& r = *std::prev(it);
  return cp <= r.last ? r.script : Script::Other;
}

std::string_view script_name(Script s) {
  return kNames[static_cast<int>(s)];
}

}  // namespace loupe::data
