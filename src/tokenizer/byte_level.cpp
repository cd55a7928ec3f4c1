// The byte <-> code point tables of GPT-2's bytes_to_unicode().
#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/utf8.h"

namespace loupe {
namespace {

struct Tables {
  std::array<uint32_t, 256> to_cp{};
  std::array<std::string, 256> to_utf8;
  std::array<int16_t, 324> from_cp{};  // code points 0..323 cover the whole image

  Tables() {
    from_cp.fill(-1);
    const auto keeps = [](int b) {
      return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      to_cp[static_cast<size_t>(b)] = keeps(b) ? static_cast<uint32_t>(b) : next++;
      utf8::append_code_point(to_utf8[static_cast<size_t>(b)], to_cp[static_cast<size_t>(b)]);
      from_cp[to_cp[static_cast<size_t>(b)]] = static_cast<int16_t>(b);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

void byte_level_encode(std::string_view bytes, std::string& out) {
  const Tables& t = tables();
  for (char c : bytes) out += t.to_utf8[static_cast<uint8_t>(c)];
}

int byte_level_byte(uint32_t cp) {
  const Tables& t = tables();
  return cp < t.from_cp.size() ? t.from_cp[cp] : -1;
}

std::string byte_level_decode(std::string_view text) {
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t start = pos;
    const uint32_t cp = utf8::next_code_point(text, pos);
    const int b = byte_level_byte(cp);
    if (b >= 0) {
      out.push_back(static_cast<char>(b));
    } else {
      out.append(text.substr(start, pos - start));
    }
  }
  return out;
}

}  // namespace loupe
