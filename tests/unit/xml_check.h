// A tiny, strict XML parser for tests of the SVG/HTML writers: it checks well-formedness (one
// root, matching tags, quoted attributes without duplicates, known entities only, valid UTF-8,
// no characters XML 1.0 forbids) and returns the element tree so tests can look for labels.
// Throws std::runtime_error with the byte offset of the first problem.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace loupe::test {

struct XmlElement {
  std::string name;
  std::map<std::string, std::string> attributes;  // values unescaped
  std::vector<std::unique_ptr<XmlElement>> children;
  std::string text;  // all character data directly inside, unescaped, concatenated

  // All descendants (and this element) named `name`, in document order.
  void find_all(std::string_view wanted, std::vector<const XmlElement*>& out) const {
    if (name == wanted) out.push_back(this);
    for (const auto& c : children) c->find_all(wanted, out);
  }
  std::vector<const XmlElement*> all(std::string_view wanted) const {
    std::vector<const XmlElement*> out;
    find_all(wanted, out);
    return out;
  }
  // The first descendant whose id attribute is `id`, or nullptr.
  const XmlElement* by_id(std::string_view id) const {
    auto it = attributes.find("id");
    if (it != attributes.end() && it->second == id) return this;
    for (const auto& c : children)
      if (const XmlElement* e = c->by_id(id)) return e;
    return nullptr;
  }
  // Concatenated text of this element and its descendants.
  std::string all_text() const {
    std::string s = text;
    for (const auto& c : children) s += c->all_text();
    return s;
  }
};

class XmlParser {
 public:
  explicit XmlParser(std::string_view doc) : s_(doc) {}

  // Parses a document: optional <?xml?>/<!DOCTYPE>/comments, one root element, trailing space.
  std::unique_ptr<XmlElement> parse() {
    check_utf8();
    skip_misc();
    if (peek() != '<') error("expected the root element");
    auto root = element();
    skip_misc();
    if (pos_ != s_.size()) error("content after the root element");
    return root;
  }

 private:
  [[noreturn]] void error(const std::string& what) const {
    throw std::runtime_error("xml: " + what + " at byte " + std::to_string(pos_));
  }
  char peek(size_t k = 0) const { return pos_ + k < s_.size() ? s_[pos_ + k] : '\0'; }
  bool starts(std::string_view t) const { return s_.substr(pos_, t.size()) == t; }
  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t' || s_[pos_] == '\r')) ++pos_;
  }
  void skip_until(std::string_view end) {
    const size_t p = s_.find(end, pos_);
    if (p == std::string_view::npos) error("unterminated construct");
    pos_ = p + end.size();
  }
  void skip_misc() {
    for (;;) {
      skip_space();
      if (starts("<?")) {
        skip_until("?>");
      } else if (starts("<!--")) {
        skip_until("-->");
      } else if (starts("<!DOCTYPE") || starts("<!doctype")) {
        skip_until(">");
      } else {
        return;
      }
    }
  }
  static bool name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == ':' || c == '.';
  }
  std::string name() {
    const size_t b = pos_;
    if (!name_char(peek()) || (peek() >= '0' && peek() <= '9') || peek() == '-' || peek() == '.') error("bad name");
    while (name_char(peek())) ++pos_;
    return std::string(s_.substr(b, pos_ - b));
  }
  static void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  // Character data up to `stop` ('<' for text, the quote for attributes), entities decoded.
  std::string chars(char stop) {
    std::string out;
    while (pos_ < s_.size() && s_[pos_] != stop) {
      const char c = s_[pos_];
      if (stop != '<' && c == '<') error("'<' in attribute value");
      if (c == '&') {
        const size_t semi = s_.find(';', pos_);
        if (semi == std::string_view::npos || semi - pos_ > 10) error("unterminated entity");
        const std::string_view ent = s_.substr(pos_ + 1, semi - pos_ - 1);
        if (ent == "amp")
          out += '&';
        else if (ent == "lt")
          out += '<';
        else if (ent == "gt")
          out += '>';
        else if (ent == "quot")
          out += '"';
        else if (ent == "apos")
          out += '\'';
        else if (ent.size() > 1 && ent[0] == '#') {
          const bool hex = ent[1] == 'x';
          const std::string digits(ent.substr(hex ? 2 : 1));
          if (digits.empty()) error("empty character reference");
          const unsigned long cp = std::stoul(digits, nullptr, hex ? 16 : 10);
          if (!allowed(static_cast<uint32_t>(cp))) error("character reference to a forbidden character");
          append_utf8(out, static_cast<uint32_t>(cp));
        } else {
          error("unknown entity &" + std::string(ent) + ";");
        }
        pos_ = semi + 1;
        continue;
      }
      if (c == '>' && stop == '<' && pos_ >= 2 && s_.substr(pos_ - 2, 3) == "]]>") error("']]>' in text");
      out += c;
      ++pos_;
    }
    return out;
  }
  std::unique_ptr<XmlElement> element() {
    auto e = std::make_unique<XmlElement>();
    ++pos_;  // '<'
    e->name = name();
    for (;;) {
      const size_t before = pos_;
      skip_space();
      if (starts("/>")) {
        pos_ += 2;
        return e;
      }
      if (peek() == '>') {
        ++pos_;
        break;
      }
      if (pos_ == before) error("expected space before attribute");
      const std::string key = name();
      skip_space();
      if (peek() != '=') error("expected '=' after attribute " + key);
      ++pos_;
      skip_space();
      const char q = peek();
      if (q != '"' && q != '\'') error("unquoted attribute " + key);
      ++pos_;
      std::string value = chars(q);
      if (peek() != q) error("unterminated attribute " + key);
      ++pos_;
      if (!e->attributes.emplace(key, value).second) error("duplicate attribute " + key);
    }
    for (;;) {
      e->text += chars('<');
      if (pos_ >= s_.size()) error("unclosed element <" + e->name + ">");
      if (starts("</")) {
        pos_ += 2;
        const std::string end = name();
        if (end != e->name) error("</" + end + "> closes <" + e->name + ">");
        skip_space();
        if (peek() != '>') error("expected '>'");
        ++pos_;
        return e;
      }
      if (starts("<!--")) {
        skip_until("-->");
      } else if (starts("<![CDATA[")) {
        pos_ += 9;
        const size_t end = s_.find("]]>", pos_);
        if (end == std::string_view::npos) error("unterminated CDATA");
        e->text += std::string(s_.substr(pos_, end - pos_));
        pos_ = end + 3;
      } else {
        e->children.push_back(element());
      }
    }
  }
  static bool allowed(uint32_t cp) {
    return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) || (cp >= 0xE000 && cp <= 0xFFFD) ||
           (cp >= 0x10000 && cp <= 0x10FFFF);
  }
  // Strict UTF-8 (no overlongs, surrogates or > U+10FFFF) and only XML characters.
  void check_utf8() {
    size_t i = 0;
    while (i < s_.size()) {
      const auto b = static_cast<uint8_t>(s_[i]);
      uint32_t cp = 0;
      size_t n = 0;
      if (b < 0x80)
        cp = b, n = 1;
      else if (b >= 0xC2 && b <= 0xDF)
        cp = b & 0x1F, n = 2;
      else if (b >= 0xE0 && b <= 0xEF)
        cp = b & 0x0F, n = 3;
      else if (b >= 0xF0 && b <= 0xF4)
        cp = b & 0x07, n = 4;
      else {
        pos_ = i;
        error("invalid utf-8 lead byte");
      }
      if (i + n > s_.size()) {
        pos_ = i;
        error("truncated utf-8");
      }
      for (size_t k = 1; k < n; ++k) {
        const auto c = static_cast<uint8_t>(s_[i + k]);
        if ((c & 0xC0) != 0x80) {
          pos_ = i;
          error("invalid utf-8 continuation");
        }
        cp = (cp << 6) | (c & 0x3F);
      }
      if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || !allowed(cp)) {
        pos_ = i;
        error("forbidden or overlong character");
      }
      i += n;
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
};

inline std::unique_ptr<XmlElement> parse_xml(std::string_view doc) {
  return XmlParser(doc).parse();
}

}  // namespace loupe::test
