// Vocabulary index and token attributes.
#include "tokenizer/vocab.h"

#include <algorithm>
#include <cmath>
#include <functional>
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
  index.build(text);
}

namespace {

uint64_t text_hash(std::string_view s) {
  return std::hash<std::string_view>{}(s);
}

}  // namespace

void TokenIndex::build(const std::vector<std::string>& text) {
  size_t cap = 16;
  while (cap < 2 * text.size()) cap *= 2;
  slots_.assign(cap, 0);
  count_ = 0;
  for (size_t i = 0; i < text.size(); ++i) add(text, static_cast<int32_t>(i));
}

void TokenIndex::grow(const std::vector<std::string>& text) {
  std::vector<uint64_t> old = std::move(slots_);
  slots_.assign(std::max<size_t>(16, old.size() * 2), 0);
  const size_t mask = slots_.size() - 1;
  for (uint64_t v : old) {
    if (v == 0) continue;
    const auto id = static_cast<size_t>((v & 0xffffffffu) - 1);
    size_t i = text_hash(text[id]) & mask;
    while (slots_[i] != 0) i = (i + 1) & mask;
    slots_[i] = v;
  }
}

void TokenIndex::add(const std::vector<std::string>& text, int32_t id) {
  if (slots_.empty() || 2 * (count_ + 1) > slots_.size()) grow(text);
  const std::string_view s = text[static_cast<size_t>(id)];
  const uint64_t h = text_hash(s);
  const size_t mask = slots_.size() - 1;
  const uint64_t tag = h >> 32 << 32;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const uint64_t v = slots_[i];
    if (v == 0) {
      slots_[i] = tag | (static_cast<uint64_t>(id) + 1);
      ++count_;
      return;
    }
    if ((v >> 32 << 32) == tag && text[static_cast<size_t>((v & 0xffffffffu) - 1)] == s) return;  // first id wins
  }
}

int32_t TokenIndex::find(const std::vector<std::string>& text, std::string_view s) const {
  if (slots_.empty()) return -1;
  const uint64_t h = text_hash(s);
  const size_t mask = slots_.size() - 1;
  const uint64_t tag = h >> 32 << 32;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const uint64_t v = slots_[i];
    if (v == 0) return -1;
    if ((v >> 32 << 32) == tag) {
      const auto id = static_cast<size_t>((v & 0xffffffffu) - 1);
      if (id < text.size() && text[id] == s) return static_cast<int32_t>(id);
    }
  }
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
