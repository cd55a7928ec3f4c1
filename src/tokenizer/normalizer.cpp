// Normalizer steps. NFKC / NFKD are applied as their canonical forms NFC / NFD (the compatibility
// mappings are not in unicode_data.cpp).
#include "tokenizer/normalizer.h"

#include "core/error.h"
#include "tokenizer/unicode.h"
#include "tokenizer/utf8.h"

namespace loupe {

void Normalizer::add_prepend(std::string prefix) {
  Step s;
  s.kind = Kind::Prepend;
  s.text = std::move(prefix);
  steps_.push_back(std::move(s));
}

void Normalizer::add_replace(std::string_view pattern, bool literal, std::string content, const std::string& what) {
  Step s;
  s.kind = Kind::Replace;
  s.text = std::move(content);
  s.regex = std::make_shared<Regex>(pattern, literal ? kRegexLiteral : 0u, what);
  steps_.push_back(std::move(s));
}

void Normalizer::add_lowercase() {
  Step s;
  s.kind = Kind::Lowercase;
  steps_.push_back(std::move(s));
}

void Normalizer::add_strip(bool left, bool right) {
  Step s;
  s.kind = Kind::Strip;
  s.left = left;
  s.right = right;
  steps_.push_back(std::move(s));
}

void Normalizer::add_unicode_normal_form(std::string form) {
  Step s;
  s.kind = Kind::NormalForm;
  s.text = std::move(form);
  steps_.push_back(std::move(s));
}

namespace {

bool is_space_cp(uint32_t cp) {
  return unicode::is_whitespace(cp);
}

}  // namespace

std::string Normalizer::apply(std::string_view input) const {
  std::string text(input);
  for (const Step& step : steps_) {
    switch (step.kind) {
      case Kind::Prepend:
        if (!text.empty()) text.insert(0, step.text);
        break;
      case Kind::Replace: {
        std::string out;
        size_t from = 0, start = 0;
        while (start <= text.size()) {
          size_t b = 0, e = 0;
          if (!step.regex->find(text, start, false, b, e)) break;
          if (e == b) {  // an empty match replaces nothing; step over one byte of the character
            if (b >= text.size()) break;
            start = b + utf8::sequence_length(static_cast<uint8_t>(text[b]));
            continue;
          }
          out.append(text, from, b - from);
          out += step.text;
          from = start = e;
        }
        out.append(text, from, std::string::npos);
        text.swap(out);
        break;
      }
      case Kind::Lowercase: text = unicode::lowercase(text); break;
      case Kind::Strip: {
        size_t b = 0, e = text.size();
        if (step.left) {
          while (b < e) {
            size_t p = b;
            if (!is_space_cp(utf8::next_code_point(text, p))) break;
            b = p;
          }
        }
        if (step.right) {
          while (e > b) {
            size_t p = e - 1;
            while (p > b && (static_cast<uint8_t>(text[p]) & 0xC0) == 0x80) --p;
            size_t q = p;
            if (!is_space_cp(utf8::next_code_point(text, q))) break;
            e = p;
          }
        }
        text = text.substr(b, e - b);
        break;
      }
      case Kind::NormalForm:
        if (step.text == "NFC" || step.text == "NFKC") {
          text = unicode::nfc(text);
        } else {
          text = unicode::nfd(text);
        }
        break;
    }
  }
  return text;
}

}  // namespace loupe
