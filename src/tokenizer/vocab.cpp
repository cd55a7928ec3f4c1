// Vocabulary index and token attributes.
#include "tokenizer/vocab.h"

#include <cmath>
#include <limits>

#include "core/error.h"

namespace loupe {

TokenAttr token_attr_from_gguf_type(int64_t type) {
  switch (type) {
    case 1: return TokenAttr::Normal;
    case 2: return TokenAttr::Unknown;
    case 3: return TokenAttr::Control;
    case 4: return TokenAttr::UserDefined;
    case 5: return TokenAttr::Unused;
    case 6: return TokenAttr::Byte;
    default: return TokenAttr::Normal;  // 0 (undefined) and unknown values
  }
}

void Vocab::build_index() {
  const size_t n = text.size();
  score.resize(n, 0.0f);
  // NaN scores would break the merge queues' ordering: rank them lowest.
  for (float& s : score)
    if (std::isnan(s)) s = -std::numeric_limits<float>::infinity();
  attr.resize(n, TokenAttr::Normal);
  lstrip.resize(n, false);
  rstrip.resize(n, false);
  to_id.clear();
  to_id.reserve(n);
  for (size_t i = 0; i < n; ++i) to_id.emplace(text[i], static_cast<int32_t>(i));
}

int byte_token_value(std::string_view s) {
  if (s.size() != 6 || s.substr(0, 3) != "<0x" || s[5] != '>') return -1;
  int value = 0;
  for (size_t i = 3; i < 5; ++i) {
    const char c = s[i];
    int d = -1;
    if (c >= '0' && c <= '9') d = c - '0';
    if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    if (d < 0) return -1;
    value = value * 16 + d;
  }
  return value;
}

size_t Vocab::checked_index(int32_t id, std::string_view source) const {
  if (id < 0 || id >= size()) fail(source, ": token id ", id, " out of range (vocabulary has ", size(), " tokens)");
  return static_cast<size_t>(id);
}

std::string metaspace_to_spaces(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    if (text.substr(pos, kSpaceMark.size()) == kSpaceMark) {
      out.push_back(' ');
      pos += kSpaceMark.size();
    } else {
      out.push_back(text[pos++]);
    }
  }
  return out;
}

}  // namespace loupe
