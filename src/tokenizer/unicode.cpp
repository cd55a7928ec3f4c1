// Unicode lookups (binary search over the generated range tables), lower-casing through the C
// library's C.UTF-8 tables, and NFD / NFC (decompose, canonical order, compose; Hangul
// syllables algorithmically).
#include "tokenizer/unicode.h"

#include <locale.h>

#include <algorithm>
#include <cwctype>
#include <utility>
#include <vector>

#include "tokenizer/unicode_data.h"
#include "tokenizer/utf8.h"

namespace loupe::unicode {
namespace {

using namespace unicode_data;

constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

uint8_t ccc(uint32_t cp) {
  const CccRange* end = kCccRanges + kCccRangeCount;
  const CccRange* it = std::upper_bound(kCccRanges, end, cp, [](uint32_t v, const CccRange& r) { return v < r.first; });
  return it == kCccRanges ? 0 : (it - 1)->ccc;
}

const Decomposition* find_decomposition(uint32_t cp) {
  const Decomposition* end = kDecompositions + kDecompositionCount;
  const Decomposition* it =
      std::lower_bound(kDecompositions, end, cp, [](const Decomposition& d, uint32_t v) { return d.cp < v; });
  return it != end && it->cp == cp ? it : nullptr;
}

void decompose(uint32_t cp, std::vector<uint32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const uint32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out.push_back(kTBase + s % kTCount);
    return;
  }
  const Decomposition* d = find_decomposition(cp);
  if (d == nullptr) {
    out.push_back(cp);
    return;
  }
  out.insert(out.end(), kDecompositionData + d->offset, kDecompositionData + d->offset + d->length);
}

// Decomposed code points in canonical order.
std::vector<uint32_t> decomposed(std::string_view text) {
  std::vector<uint32_t> cps;
  cps.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) decompose(utf8::next_code_point(text, pos), cps);
  // Canonical ordering: stable sort of each run of non-starters by combining class.
  size_t i = 0;
  while (i < cps.size()) {
    if (ccc(cps[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < cps.size() && ccc(cps[j]) != 0) ++j;
    std::stable_sort(cps.begin() + static_cast<std::ptrdiff_t>(i), cps.begin() + static_cast<std::ptrdiff_t>(j),
                     [](uint32_t a, uint32_t b) { return ccc(a) < ccc(b); });
    i = j;
  }
  return cps;
}

uint32_t compose_pair(uint32_t a, uint32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount)
    return a + (b - kTBase);
  const Composition* end = kCompositions + kCompositionCount;
  const Composition* it = std::lower_bound(kCompositions, end, std::make_pair(a, b),
                                           [](const Composition& c, const std::pair<uint32_t, uint32_t>& v) {
                                             return c.first < v.first || (c.first == v.first && c.second < v.second);
                                           });
  return it != end && it->first == a && it->second == b ? it->composite : 0;
}

std::string to_utf8(const std::vector<uint32_t>& cps) {
  std::string out;
  out.reserve(cps.size());
  for (uint32_t cp : cps) utf8::append_code_point(out, cp);
  return out;
}

// Whether NFC can leave the text as it is: no code point decomposes or combines.
bool trivially_nfc(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    if (static_cast<uint8_t>(text[pos]) < 0x80) {
      ++pos;
      continue;
    }
    const uint32_t cp = utf8::next_code_point(text, pos);
    if (cp < 0x300) continue;  // Latin-1 and Latin Extended: composed forms, no combining marks
    if (ccc(cp) != 0 || find_decomposition(cp) != nullptr || (cp >= kLBase && cp < kLBase + 0x100) ||
        (cp >= kSBase && cp < kSBase + kSCount))
      return false;
    // Second members of compositions with class 0 (e.g. some Indic vowel signs) also combine.
    static const std::vector<uint32_t> seconds = [] {
      std::vector<uint32_t> v;
      for (size_t i = 0; i < kCompositionCount; ++i) v.push_back(kCompositions[i].second);
      std::sort(v.begin(), v.end());
      return v;
    }();
    if (std::binary_search(seconds.begin(), seconds.end(), cp)) return false;
  }
  return true;
}

}  // namespace

char category(uint32_t cp) {
  const CategoryRange* end = kCategoryRanges + kCategoryRangeCount;
  const CategoryRange* it =
      std::upper_bound(kCategoryRanges, end, cp, [](uint32_t v, const CategoryRange& r) { return v < r.first; });
  return it == kCategoryRanges ? 'C' : (it - 1)->major;
}

bool is_whitespace(uint32_t cp) {
  return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

uint32_t nfd_base(uint32_t cp) {
  if (cp >= kSBase && cp < kSBase + kSCount) return kLBase + (cp - kSBase) / kNCount;
  const Decomposition* d = find_decomposition(cp);
  return d == nullptr ? cp : kDecompositionData[d->offset];
}

uint32_t to_lower(uint32_t cp) {
  if (cp < 0x80) return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
  static const locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
  if (loc == static_cast<locale_t>(nullptr)) return cp;
  return static_cast<uint32_t>(towlower_l(static_cast<wint_t>(cp), loc));
}

std::string lowercase(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) utf8::append_code_point(out, to_lower(utf8::next_code_point(text, pos)));
  return out;
}

std::string nfd(std::string_view text) {
  return to_utf8(decomposed(text));
}

std::string nfc(std::string_view text) {
  if (trivially_nfc(text)) return std::string(text);
  std::vector<uint32_t> cps = decomposed(text);
  // Canonical composition: each character joins the last starter unless blocked.
  size_t starter = 0;
  bool have_starter = false;
  uint8_t last_ccc = 0;
  size_t out = 0;
  for (size_t i = 0; i < cps.size(); ++i) {
    const uint32_t cp = cps[i];
    const uint8_t c = ccc(cp);
    if (have_starter) {
      const bool blocked = out > starter + 1 && (last_ccc == 0 || last_ccc >= c);
      if (!blocked) {
        const uint32_t composite = compose_pair(cps[starter], cp);
        if (composite != 0) {
          cps[starter] = composite;
          continue;
        }
      }
    }
    if (c == 0) {
      starter = out;
      have_starter = true;
      last_ccc = 0;
    } else {
      last_ccc = c;
    }
    cps[out++] = cp;
  }
  cps.resize(out);
  return to_utf8(cps);
}

}  // namespace loupe::unicode
