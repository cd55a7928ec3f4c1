// UTF-8 validation, code point decoding and the streaming decoder (Utf8Stream).
#include "tokenizer/utf8.h"

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace loupe {
namespace utf8 {

size_t valid_sequence_length(std::string_view text, size_t pos) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
  const uint8_t b0 = byte(pos);
  if (b0 < 0x80) return 1;
  size_t n = 0;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // past U+10FFFF
  } else {
    return 0;
  }
  if (pos + n > text.size()) return 0;
  const uint8_t b1 = byte(pos + 1);
  if (b1 < lo || b1 > hi) return 0;
  for (size_t i = 2; i < n; ++i)
    if ((byte(pos + i) & 0xC0) != 0x80) return 0;
  return n;
}

uint32_t next_code_point(std::string_view text, size_t& pos) {
  const auto byte = [&](size_t i) -> uint32_t { return static_cast<uint8_t>(text[i]); };
  const uint32_t b0 = byte(pos);
  const size_t n = sequence_length(static_cast<uint8_t>(b0));
  if (n == 1 || pos + n > text.size()) {
    pos += 1;
    return b0;
  }
  uint32_t cp = 0;
  if (n == 2) cp = ((b0 & 0x1F) << 6) | (byte(pos + 1) & 0x3F);
  if (n == 3) cp = ((b0 & 0x0F) << 12) | ((byte(pos + 1) & 0x3F) << 6) | (byte(pos + 2) & 0x3F);
  if (n == 4)
    cp = ((b0 & 0x07) << 18) | ((byte(pos + 1) & 0x3F) << 12) | ((byte(pos + 2) & 0x3F) << 6) | (byte(pos + 3) & 0x3F);
  pos += n;
  return cp;
}

void append_code_point(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

void require_valid(std::string_view text, std::string_view what) {
  const int64_t bad = find_invalid_utf8(text);
  if (bad >= 0)
    fail(what, ": invalid utf-8 at byte offset ", bad, " (byte 0x", std::hex,
         static_cast<int>(static_cast<uint8_t>(text[static_cast<size_t>(bad)])), ")");
}

}  // namespace utf8

int64_t find_invalid_utf8(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    // Fast path over ASCII.
    if (static_cast<uint8_t>(text[pos]) < 0x80) {
      ++pos;
      continue;
    }
    const size_t n = utf8::valid_sequence_length(text, pos);
    if (n == 0) return static_cast<int64_t>(pos);
    pos += n;
  }
  return -1;
}

namespace {
const char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD
}

std::string Utf8Stream::push(std::string_view bytes) {
  pending_.append(bytes);
  std::string out;
  size_t pos = 0;
  while (pos < pending_.size()) {
    const uint8_t b = static_cast<uint8_t>(pending_[pos]);
    if (b < 0x80) {
      out.push_back(static_cast<char>(b));
      ++pos;
      continue;
    }
    const size_t n = utf8::valid_sequence_length(pending_, pos);
    if (n > 0) {
      out.append(pending_, pos, n);
      pos += n;
      continue;
    }
    // Invalid here: either truncated (wait for more bytes) or really invalid.
    const size_t want = utf8::sequence_length(b);
    const size_t have = pending_.size() - pos;
    if (b >= 0xC2 && b <= 0xF4 && have < want) {
      // Truncated only if every byte present so far could still begin a valid sequence.
      std::string probe = pending_.substr(pos);
      // Complete the probe with the smallest continuation bytes the lead byte accepts.
      for (size_t i = have; i < want; ++i) {
        uint8_t fill = 0x80;
        if (i == 1 && b == 0xE0) fill = 0xA0;
        if (i == 1 && b == 0xF0) fill = 0x90;
        probe.push_back(static_cast<char>(fill));
      }
      if (utf8::valid_sequence_length(probe, 0) == want) break;  // hold back
    }
    out.append(kReplacement);
    ++pos;
  }
  pending_.erase(0, pos);
  return out;
}

std::string Utf8Stream::flush() {
  std::string out;
  if (!pending_.empty()) out.append(kReplacement);
  pending_.clear();
  return out;
}

}  // namespace loupe
