// The Jinja lexer and parser. The lexer follows jinja2/lexer.py with the settings transformers
// uses (trim_blocks, lstrip_blocks, keep_trailing_newline off): newlines are normalised to
// "\n" and one trailing newline is dropped; "-" next to a tag strips all whitespace on that
// side, "+" keeps it; a block or comment tag alone on its line takes the line's indentation and
// its newline with it. The parser follows jinja2/parser.py's precedence (or, and, not,
// comparisons, + -, ~, * / // %, **, unary minus, then filters, tests, calls, attributes).
#include <cctype>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "tokenizer/jinja_ast.h"

namespace loupe::jinja {

void fail_at(const Pos& pos, const std::string& message) {
  fail("chat template line ", pos.line, ", column ", pos.col, ": ", message);
}

void fail_nesting() {
  fail("chat template: lists and dicts nested more than ", kMaxNesting, " deep");
}

namespace {

constexpr int kMaxDepth = 400;  // nesting of expressions and of blocks

struct Token {
  enum class Kind { Text, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Int, Float, Op, Eof };
  Kind kind = Kind::Eof;
  std::string text;  // Text / Name / String (decoded) / Op
  int64_t i = 0;
  double f = 0;
  Pos pos;
};

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_name_start(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || (c & 0x80) != 0;
}
bool is_name_char(char c) {
  return is_name_start(c) || std::isdigit(static_cast<unsigned char>(c));
}

void rstrip(std::string& s) {
  size_t e = s.size();
  while (e > 0 && is_space(s[e - 1])) --e;
  s.resize(e);
}

// Jinja's newline handling: \r\n and \r become \n; one trailing newline goes.
std::string normalise_newlines(const std::string& source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

class Lexer {
 public:
  explicit Lexer(const std::string& src) : src_(src), n_(src.size()) {}

  std::vector<Token> run() {
    size_t p = 0;
    bool line_starting = true;  // the last thing consumed ended a line (lstrip_blocks)
    while (p < n_) {
      const size_t k = find_tag(p);
      if (k == std::string::npos) {
        push_text(src_.substr(p), p);
        break;
      }
      std::string text = src_.substr(p, k - p);
      const char kind = src_[k + 1];
      const char mod = k + 2 < n_ ? src_[k + 2] : '\0';
      if (mod == '-') {
        rstrip(text);
      } else if (mod != '+' && kind != '{') {
        lstrip_block(text, line_starting);
      }
      push_text(std::move(text), p);
      size_t q = k + 2 + ((mod == '-' || mod == '+') ? 1 : 0);
      size_t raw_body = 0;
      if (kind == '#') {
        p = lex_comment(k, q);
      } else if (kind == '%' && is_raw_begin(q, &raw_body)) {
        p = lex_raw(k, raw_body);
      } else {
        p = lex_tag(kind, k, q);
      }
      line_starting = p > 0 && src_[p - 1] == '\n';
    }
    Token eof;
    eof.kind = Token::Kind::Eof;
    eof.pos = pos_of(n_);
    out_.push_back(eof);
    return std::move(out_);
  }

 private:
  // Line and column (in code points) of an offset. Offsets are asked for in increasing order
  // but for an error's, so the walk goes on from the last one.
  Pos pos_of(size_t offset) const {
    if (offset < cursor_offset_) {
      cursor_offset_ = 0;
      cursor_ = Pos{};
    }
    for (; cursor_offset_ < offset && cursor_offset_ < n_; ++cursor_offset_) {
      const char c = src_[cursor_offset_];
      if (c == '\n') {
        ++cursor_.line;
        cursor_.col = 1;
      } else if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) {
        ++cursor_.col;
      }
    }
    return cursor_;
  }

  size_t find_tag(size_t from) const {
    for (size_t i = from; i + 1 < n_; ++i)
      if (src_[i] == '{' && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    return std::string::npos;
  }

  bool starts(size_t p, const char* s) const { return src_.compare(p, std::strlen(s), s) == 0; }

  size_t skip_space(size_t p) const {
    while (p < n_ && is_space(src_[p])) ++p;
    return p;
  }

  // lstrip_blocks: whitespace between the start of the line and a block tag goes.
  static void lstrip_block(std::string& text, bool line_starting) {
    const size_t nl = text.rfind('\n');
    const size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
    if (l_pos == 0 && !line_starting) return;
    for (size_t i = l_pos; i < text.size(); ++i)
      if (!is_space(text[i])) return;
    text.resize(l_pos);
  }

  void push_text(std::string text, size_t offset) {
    if (text.empty()) return;
    Token t;
    t.kind = Token::Kind::Text;
    t.text = std::move(text);
    t.pos = pos_of(offset);
    out_.push_back(std::move(t));
  }

  void push(Token::Kind kind, size_t offset, std::string text = "") {
    Token t;
    t.kind = kind;
    t.text = std::move(text);
    t.pos = pos_of(offset);
    out_.push_back(std::move(t));
  }

  // After a block end: "-%}" strips the following whitespace, "+%}" keeps it, "%}" takes one
  // newline (trim_blocks). Returns the offset after it, or npos when there is none at p.
  size_t block_end(size_t p, const char* close) const {
    const size_t len = std::strlen(close);
    if (p < n_ && src_[p] == '-' && src_.compare(p + 1, len, close) == 0) return skip_space(p + 1 + len);
    if (p < n_ && src_[p] == '+' && src_.compare(p + 1, len, close) == 0) return p + 1 + len;
    if (src_.compare(p, len, close) == 0) {
      p += len;
      if (p < n_ && src_[p] == '\n') ++p;
      return p;
    }
    return std::string::npos;
  }

  size_t lex_comment(size_t k, size_t q) const {
    for (size_t e = q; e + 1 < n_; ++e) {
      if (src_[e] != '#' || src_[e + 1] != '}') continue;
      if (e > q && src_[e - 1] == '-') return skip_space(e + 2);
      if (e > q && src_[e - 1] == '+') return e + 2;
      size_t p = e + 2;
      if (p < n_ && src_[p] == '\n') ++p;
      return p;
    }
    fail_at(pos_of(k), "unclosed comment: no '#}'");
  }

  // "{% raw %}": q is just after "{%" and its modifier; sets *body to the start of the raw text.
  bool is_raw_begin(size_t q, size_t* body) const {
    size_t p = skip_space(q);
    if (!starts(p, "raw")) return false;
    p += 3;
    if (p < n_ && is_name_char(src_[p])) return false;
    p = skip_space(p);
    if (starts(p, "-%}")) {
      *body = skip_space(p + 3);
      return true;
    }
    if (starts(p, "%}")) {
      *body = p + 2;
      return true;
    }
    return false;
  }

  size_t lex_raw(size_t k, size_t body) {
    for (size_t e = body; e + 1 < n_; ++e) {
      if (src_[e] != '{' || src_[e + 1] != '%') continue;
      const char mod = e + 2 < n_ ? src_[e + 2] : '\0';
      size_t p = skip_space(e + 2 + ((mod == '-' || mod == '+') ? 1 : 0));
      if (!starts(p, "endraw")) continue;
      p = skip_space(p + 6);
      const size_t after = block_end(p, "%}");
      if (after == std::string::npos) continue;
      std::string text = src_.substr(body, e - body);
      if (mod == '-') {
        rstrip(text);
      } else if (mod != '+') {
        lstrip_block(text, false);
      }
      push_text(std::move(text), body);
      return after;
    }
    fail_at(pos_of(k), "unclosed '{% raw %}': no '{% endraw %}'");
  }

  size_t lex_tag(char kind, size_t k, size_t q) {
    const bool var = kind == '{';
    push(var ? Token::Kind::VarBegin : Token::Kind::BlockBegin, k);
    std::vector<char> balance;  // closing brackets expected
    size_t p = q;
    while (true) {
      p = skip_space(p);
      if (p >= n_) fail_at(pos_of(k), var ? "unclosed '{{': no '}}'" : "unclosed '{%': no '%}'");
      if (balance.empty()) {
        if (var) {
          if (starts(p, "-}}")) {
            push(Token::Kind::VarEnd, p);
            return skip_space(p + 3);
          }
          if (starts(p, "}}")) {
            push(Token::Kind::VarEnd, p);
            return p + 2;
          }
        } else {
          const size_t after = block_end(p, "%}");
          if (after != std::string::npos) {
            push(Token::Kind::BlockEnd, p);
            return after;
          }
        }
      }
      const char c = src_[p];
      if (c == '\'' || c == '"') {
        p = lex_string(p);
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        p = lex_number(p);
      } else if (is_name_start(c)) {
        size_t e = p;
        while (e < n_ && is_name_char(src_[e])) ++e;
        push(Token::Kind::Name, p, src_.substr(p, e - p));
        p = e;
      } else {
        static const char* const kTwo[] = {"//", "**", "==", "!=", "<=", ">="};
        std::string op;
        for (const char* t : kTwo)
          if (starts(p, t)) op = t;
        if (op.empty()) {
          if (std::strchr("+-/*%~[](){}<>=.:|,;", c) == nullptr || c == '\0')
            fail_at(pos_of(p), cat("unexpected character '", c, "'"));
          op = std::string(1, c);
        }
        if (op == "(" || op == "[" || op == "{") {
          balance.push_back(op == "(" ? ')' : op == "[" ? ']' : '}');
        } else if (op == ")" || op == "]" || op == "}") {
          if (balance.empty() || balance.back() != op[0]) fail_at(pos_of(p), "unexpected '" + op + "'");
          balance.pop_back();
        }
        push(Token::Kind::Op, p, op);
        p += op.size();
      }
    }
  }

  // Python string literal escapes (jinja decodes with "unicode-escape"); unknown escapes stay.
  size_t lex_string(size_t p) {
    const char quote = src_[p];
    std::string s;
    size_t i = p + 1;
    while (true) {
      if (i >= n_) fail_at(pos_of(p), "unterminated string");
      const char c = src_[i];
      if (c == quote) break;
      if (c != '\\' || i + 1 >= n_) {
        s += c;
        ++i;
        continue;
      }
      const char e = src_[i + 1];
      i += 2;
      switch (e) {
        case 'n': s += '\n'; break;
        case 't': s += '\t'; break;
        case 'r': s += '\r'; break;
        case '\\': s += '\\'; break;
        case '\'': s += '\''; break;
        case '"': s += '"'; break;
        case 'a': s += '\a'; break;
        case 'b': s += '\b'; break;
        case 'f': s += '\f'; break;
        case 'v': s += '\v'; break;
        case '\n': break;  // line continuation
        case 'N': fail_at(pos_of(i - 2), "unsupported: \\N{...} escapes in strings");
        case 'x':
        case 'u':
        case 'U': {
          const size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          uint32_t cp = 0;
          for (size_t d = 0; d < digits; ++d) {
            const char h = i + d < n_ ? src_[i + d] : '\0';
            if (!std::isxdigit(static_cast<unsigned char>(h)))
              fail_at(pos_of(i - 2), "truncated \\" + std::string(1, e) + " escape");
            cp = cp * 16 + static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(h))
                                                     ? h - '0'
                                                     : (std::tolower(static_cast<unsigned char>(h)) - 'a' + 10));
          }
          if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) fail_at(pos_of(i - 2), "invalid code point in escape");
          append_utf8(s, cp);
          i += digits;
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            uint32_t cp = static_cast<uint32_t>(e - '0');
            for (int d = 0; d < 2 && i < n_ && src_[i] >= '0' && src_[i] <= '7'; ++d)
              cp = cp * 8 + static_cast<uint32_t>(src_[i++] - '0');
            append_utf8(s, cp);
          } else {
            s += '\\';
            s += e;
          }
      }
    }
    push(Token::Kind::String, p, std::move(s));
    return i + 1;
  }

  static void append_utf8(std::string& s, uint32_t cp) {
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else if (cp < 0x800) {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      s += static_cast<char>(0xE0 | (cp >> 12));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      s += static_cast<char>(0xF0 | (cp >> 18));
      s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  size_t digits_end(size_t p, int base) const {
    auto ok = [&](char c) {
      if (base == 16) return std::isxdigit(static_cast<unsigned char>(c)) != 0;
      return c >= '0' && c < static_cast<char>('0' + base);
    };
    while (p < n_ && (ok(src_[p]) || (src_[p] == '_' && p + 1 < n_ && ok(src_[p + 1])))) ++p;
    return p;
  }

  size_t lex_number(size_t p) {
    auto strip = [](const std::string& s) {
      std::string o;
      for (char c : s)
        if (c != '_') o += c;
      return o;
    };
    if (src_[p] == '0' && p + 1 < n_ && std::strchr("xXoObB", src_[p + 1]) != nullptr && src_[p + 1] != '\0') {
      const char b = static_cast<char>(std::tolower(static_cast<unsigned char>(src_[p + 1])));
      const int base = b == 'x' ? 16 : b == 'o' ? 8 : 2;
      size_t s = p + 2;
      if (s < n_ && src_[s] == '_') ++s;
      const size_t e = digits_end(s, base);
      if (e == s) fail_at(pos_of(p), "invalid number literal");
      Token t;
      t.kind = Token::Kind::Int;
      t.pos = pos_of(p);
      try {
        t.i = static_cast<int64_t>(std::stoull(strip(src_.substr(s, e - s)), nullptr, base));
      } catch (const std::exception&) {
        fail_at(t.pos, "integer literal out of range");
      }
      out_.push_back(t);
      return e;
    }
    size_t e = digits_end(p, 10);
    bool is_float = false;
    const bool after_dot = p > 0 && src_[p - 1] == '.';  // x.0.1 is two subscripts
    if (!after_dot && e + 1 < n_ && src_[e] == '.' && std::isdigit(static_cast<unsigned char>(src_[e + 1]))) {
      e = digits_end(e + 1, 10);
      is_float = true;
    }
    if (!after_dot && e < n_ && (src_[e] == 'e' || src_[e] == 'E')) {
      size_t x = e + 1;
      if (x < n_ && (src_[x] == '+' || src_[x] == '-')) ++x;
      if (x < n_ && std::isdigit(static_cast<unsigned char>(src_[x]))) {
        e = digits_end(x, 10);
        is_float = true;
      }
    }
    Token t;
    t.pos = pos_of(p);
    const std::string digits = strip(src_.substr(p, e - p));
    if (is_float) {
      t.kind = Token::Kind::Float;
      t.f = std::strtod(digits.c_str(), nullptr);
    } else {
      t.kind = Token::Kind::Int;
      try {
        t.i = std::stoll(digits);
      } catch (const std::exception&) {
        fail_at(t.pos, "integer literal out of range");
      }
    }
    out_.push_back(t);
    return e;
  }

  const std::string& src_;
  size_t n_;
  std::vector<Token> out_;
  mutable size_t cursor_offset_ = 0;  // pos_of's walk
  mutable Pos cursor_;
};

// ---- parser -------------------------------------------------------------------------------

const char* const kEndTags[] = {"endif",         "endfor",   "endset",        "endmacro", "endfilter",
                                "endgeneration", "endblock", "endcall",       "endwith",  "endraw",
                                "else",          "elif",     "endautoescape", "endtrans", "pluralize"};

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : t_(std::move(tokens)) {}

  Body parse() {
    std::string found;
    Body body = parse_body({}, &found, Pos{}, "");
    return body;
  }

 private:
  struct Guard {
    explicit Guard(Parser& p, const Pos& pos) : p_(p) {
      if (++p_.depth_ > kMaxDepth) fail_at(pos, "template nested too deeply");
    }
    ~Guard() { --p_.depth_; }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    Parser& p_;
  };

  const Token& cur() const { return t_[p_]; }
  const Token& peek(size_t k = 1) const { return t_[std::min(p_ + k, t_.size() - 1)]; }
  void advance() {
    if (p_ + 1 < t_.size()) ++p_;
  }
  bool is_op(const char* s) const { return cur().kind == Token::Kind::Op && cur().text == s; }
  bool is_name(const char* s) const { return cur().kind == Token::Kind::Name && cur().text == s; }
  bool at_tag_end() const { return cur().kind == Token::Kind::VarEnd || cur().kind == Token::Kind::BlockEnd; }

  static std::string describe(const Token& t) {
    switch (t.kind) {
      case Token::Kind::Text: return "text";
      case Token::Kind::VarBegin: return "'{{'";
      case Token::Kind::VarEnd: return "'}}'";
      case Token::Kind::BlockBegin: return "'{%'";
      case Token::Kind::BlockEnd: return "'%}'";
      case Token::Kind::Name: return "'" + t.text + "'";
      case Token::Kind::String: return "a string";
      case Token::Kind::Int:
      case Token::Kind::Float: return "a number";
      case Token::Kind::Op: return "'" + t.text + "'";
      case Token::Kind::Eof: return "the end of the template";
    }
    return "?";
  }

  [[noreturn]] void unexpected(const char* expected) const {
    fail_at(cur().pos, cat("expected ", expected, ", found ", describe(cur())));
  }
  void expect_op(const char* s) {
    if (!is_op(s)) unexpected(cat("'", s, "'").c_str());
    advance();
  }
  std::string expect_name() {
    if (cur().kind != Token::Kind::Name) unexpected("a name");
    std::string s = cur().text;
    advance();
    return s;
  }
  void expect_block_end() {
    if (cur().kind != Token::Kind::BlockEnd) unexpected("'%}'");
    advance();
  }

  static ExprPtr node(Expr::Kind kind, const Pos& pos) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->pos = pos;
    return e;
  }
  static StmtPtr stmt(Stmt::Kind kind, const Pos& pos) {
    auto s = std::make_unique<Stmt>();
    s->kind = kind;
    s->pos = pos;
    return s;
  }

  // Statements until one of `ends` opens a tag; that tag's name is consumed and put in *found
  // (the caller reads the rest of the tag). `opener` / `what` describe the enclosing block.
  Body parse_body(std::initializer_list<const char*> ends, std::string* found, const Pos& opener,
                  const std::string& what) {
    Body body;
    while (true) {
      const Token& t = cur();
      switch (t.kind) {
        case Token::Kind::Eof:
          if (ends.size() != 0) fail_at(opener, cat("unclosed '{% ", what, " %}': no '{% end", what, " %}'"));
          return body;
        case Token::Kind::Text: {
          auto s = stmt(Stmt::Kind::Text, t.pos);
          s->text = t.text;
          body.push_back(std::move(s));
          advance();
          break;
        }
        case Token::Kind::VarBegin: {
          auto s = stmt(Stmt::Kind::Output, t.pos);
          advance();
          s->expr = parse_tuple();
          if (cur().kind != Token::Kind::VarEnd) unexpected("'}}'");
          advance();
          body.push_back(std::move(s));
          break;
        }
        case Token::Kind::BlockBegin: {
          const Pos pos = t.pos;
          advance();
          if (cur().kind != Token::Kind::Name) unexpected("a tag name");
          const std::string name = cur().text;
          for (const char* e : ends)
            if (name == e) {
              advance();
              *found = name;
              return body;
            }
          for (const char* e : kEndTags)
            if (name == e) {
              if (ends.size() == 0) fail_at(cur().pos, "unexpected '{% " + name + " %}'");
              fail_at(cur().pos, cat("unexpected '{% ", name, " %}' inside the '{% ", what, " %}' at line ",
                                     opener.line, ", column ", opener.col));
            }
          parse_tag(pos, body);
          break;
        }
        default: unexpected("text or a tag");
      }
    }
  }

  void parse_tag(const Pos& pos, Body& body) {
    Guard guard(*this, pos);
    const std::string name = cur().text;
    const Pos name_pos = cur().pos;
    advance();
    if (name == "if") {
      auto s = stmt(Stmt::Kind::If, pos);
      ExprPtr cond = parse_tuple();
      expect_block_end();
      while (true) {
        std::string found;
        Body b = parse_body({"elif", "else", "endif"}, &found, pos, "if");
        s->branches.emplace_back(std::move(cond), std::move(b));
        if (found == "endif") break;
        if (found == "elif") {
          cond = parse_tuple();
        } else {
          cond = nullptr;
        }
        expect_block_end();
        if (found == "else") {
          Body e = parse_body({"endif"}, &found, pos, "if");
          s->branches.emplace_back(nullptr, std::move(e));
          break;
        }
      }
      expect_block_end();
      body.push_back(std::move(s));
    } else if (name == "for") {
      auto s = stmt(Stmt::Kind::For, pos);
      s->targets = parse_targets();
      if (!is_name("in")) unexpected("'in'");
      advance();
      s->expr = parse_expression(false);
      if (is_name("if")) {
        advance();
        s->filter = parse_expression(true);
      }
      if (is_name("recursive")) fail_at(cur().pos, "unsupported: recursive loops");
      expect_block_end();
      std::string found;
      ++loop_depth_;
      s->body = parse_body({"else", "endfor"}, &found, pos, "for");
      --loop_depth_;
      if (found == "else") {
        expect_block_end();
        s->else_body = parse_body({"endfor"}, &found, pos, "for");
      }
      expect_block_end();
      body.push_back(std::move(s));
    } else if (name == "set") {
      const Pos tpos = cur().pos;
      std::vector<std::string> targets = parse_targets();
      std::string attr;
      if (targets.size() == 1 && is_op(".")) {
        advance();
        attr = expect_name();
      }
      if (is_op("=")) {
        advance();
        auto s = stmt(Stmt::Kind::Set, pos);
        s->targets = std::move(targets);
        s->attr = std::move(attr);
        s->expr = parse_tuple();
        expect_block_end();
        body.push_back(std::move(s));
        return;
      }
      if (targets.size() != 1 || !attr.empty()) fail_at(tpos, "a '{% set %}' block takes one name");
      auto s = stmt(Stmt::Kind::SetBlock, pos);
      s->targets = std::move(targets);
      if (is_op("|")) s->filter = parse_filters(nullptr, false);
      expect_block_end();
      std::string found;
      s->body = parse_body({"endset"}, &found, pos, "set");
      expect_block_end();
      body.push_back(std::move(s));
    } else if (name == "macro") {
      auto s = stmt(Stmt::Kind::Macro, pos);
      s->name = expect_name();
      expect_op("(");
      while (!is_op(")")) {
        std::string param = expect_name();
        ExprPtr def;
        if (is_op("=")) {
          advance();
          def = parse_expression(true);
        }
        s->params.emplace_back(std::move(param), std::move(def));
        if (!is_op(",")) break;
        advance();
      }
      expect_op(")");
      expect_block_end();
      std::string found;
      const int saved = loop_depth_;
      loop_depth_ = 0;
      s->body = parse_body({"endmacro"}, &found, pos, "macro");
      loop_depth_ = saved;
      if (cur().kind == Token::Kind::Name) advance();  // {% endmacro name %}
      expect_block_end();
      body.push_back(std::move(s));
    } else if (name == "filter") {
      auto s = stmt(Stmt::Kind::FilterBlock, pos);
      s->filter = parse_filters(nullptr, true);
      expect_block_end();
      std::string found;
      s->body = parse_body({"endfilter"}, &found, pos, "filter");
      expect_block_end();
      body.push_back(std::move(s));
    } else if (name == "break" || name == "continue") {
      if (loop_depth_ == 0) fail_at(name_pos, "'" + name + "' outside a loop");
      body.push_back(stmt(name == "break" ? Stmt::Kind::Break : Stmt::Kind::Continue, pos));
      expect_block_end();
    } else if (name == "generation") {  // transformers' assistant-mask marker: renders its body
      expect_block_end();
      std::string found;
      Body inner = parse_body({"endgeneration"}, &found, pos, "generation");
      expect_block_end();
      for (auto& st : inner) body.push_back(std::move(st));
    } else {
      fail_at(name_pos, "unsupported tag '" + name + "'");
    }
  }

  // "a" or "a, b" or "(a, b)"
  std::vector<std::string> parse_targets() {
    std::vector<std::string> names;
    const bool paren = is_op("(");
    if (paren) advance();
    names.push_back(expect_name());
    while (is_op(",")) {
      advance();
      if (cur().kind != Token::Kind::Name) break;
      names.push_back(expect_name());
    }
    if (paren) expect_op(")");
    return names;
  }

  // An expression, or several separated by commas (a tuple, kept as a list).
  ExprPtr parse_tuple() {
    const Pos pos = cur().pos;
    ExprPtr first = parse_expression(true);
    if (!is_op(",")) return first;
    auto list = node(Expr::Kind::List, pos);
    list->tuple = true;
    list->args.push_back(std::move(first));
    while (is_op(",")) {
      advance();
      if (at_tag_end()) break;
      list->args.push_back(parse_expression(true));
    }
    return list;
  }

  ExprPtr parse_expression(bool with_condexpr) {
    Guard guard(*this, cur().pos);
    if (!with_condexpr) return parse_or();
    ExprPtr e = parse_or();
    while (is_name("if")) {
      const Pos pos = cur().pos;
      advance();
      auto c = node(Expr::Kind::Cond, pos);
      c->args.push_back(std::move(e));
      c->args.push_back(parse_or());
      if (is_name("else")) {
        advance();
        c->args.push_back(parse_expression(true));
      } else {
        c->args.push_back(nullptr);
      }
      e = std::move(c);
    }
    return e;
  }

  ExprPtr binary(Expr::Kind kind, const Pos& pos, ExprPtr a, ExprPtr b, std::string name = "") {
    auto e = node(kind, pos);
    e->name = std::move(name);
    e->args.push_back(std::move(a));
    e->args.push_back(std::move(b));
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (is_name("or")) {
      const Pos pos = cur().pos;
      advance();
      e = binary(Expr::Kind::Or, pos, std::move(e), parse_and());
    }
    return e;
  }

  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (is_name("and")) {
      const Pos pos = cur().pos;
      advance();
      e = binary(Expr::Kind::And, pos, std::move(e), parse_not());
    }
    return e;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      Guard guard(*this, cur().pos);
      auto e = node(Expr::Kind::Not, cur().pos);
      advance();
      e->args.push_back(parse_not());
      return e;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const Pos pos = cur().pos;
    ExprPtr first = parse_math1();
    std::unique_ptr<Expr> cmp;
    while (true) {
      std::string op;
      if (cur().kind == Token::Kind::Op && (cur().text == "==" || cur().text == "!=" || cur().text == "<" ||
                                            cur().text == ">" || cur().text == "<=" || cur().text == ">=")) {
        op = cur().text;
        advance();
      } else if (is_name("in")) {
        op = "in";
        advance();
      } else if (is_name("not") && peek().kind == Token::Kind::Name && peek().text == "in") {
        op = "not in";
        advance();
        advance();
      } else {
        break;
      }
      if (!cmp) {
        cmp = node(Expr::Kind::Compare, pos);
        cmp->args.push_back(std::move(first));
      }
      cmp->ops.push_back(op);
      cmp->args.push_back(parse_math1());
    }
    return cmp ? std::move(cmp) : std::move(first);
  }

  ExprPtr parse_math1() {
    ExprPtr e = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Pos pos = cur().pos;
      std::string op = cur().text;
      advance();
      e = binary(Expr::Kind::Binary, pos, std::move(e), parse_concat(), op);
    }
    return e;
  }

  ExprPtr parse_concat() {
    ExprPtr e = parse_math2();
    while (is_op("~")) {
      const Pos pos = cur().pos;
      advance();
      e = binary(Expr::Kind::Binary, pos, std::move(e), parse_math2(), "~");
    }
    return e;
  }

  ExprPtr parse_math2() {
    ExprPtr e = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Pos pos = cur().pos;
      std::string op = cur().text;
      advance();
      e = binary(Expr::Kind::Binary, pos, std::move(e), parse_pow(), op);
    }
    return e;
  }

  ExprPtr parse_pow() {
    ExprPtr e = parse_unary(true);
    while (is_op("**")) {
      const Pos pos = cur().pos;
      advance();
      e = binary(Expr::Kind::Binary, pos, std::move(e), parse_unary(true), "**");
    }
    return e;
  }

  ExprPtr parse_unary(bool with_filter) {
    Guard guard(*this, cur().pos);
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      e = node(is_op("-") ? Expr::Kind::Neg : Expr::Kind::Plus, cur().pos);
      advance();
      e->args.push_back(parse_unary(false));
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filter_expr(std::move(e));
    return e;
  }

  ExprPtr parse_primary() {
    const Token& t = cur();
    const Pos pos = t.pos;
    switch (t.kind) {
      case Token::Kind::Name: {
        auto e = node(Expr::Kind::Literal, pos);
        if (t.text == "true" || t.text == "True") {
          e->value = Value::boolean(true);
        } else if (t.text == "false" || t.text == "False") {
          e->value = Value::boolean(false);
        } else if (t.text == "none" || t.text == "None") {
          e->value = Value::none();
        } else {
          e->kind = Expr::Kind::Name;
          e->name = t.text;
        }
        advance();
        return e;
      }
      case Token::Kind::String: {
        std::string s;
        while (cur().kind == Token::Kind::String) {  // adjacent literals concatenate
          s += cur().text;
          advance();
        }
        auto e = node(Expr::Kind::Literal, pos);
        e->value = Value::string(std::move(s));
        return e;
      }
      case Token::Kind::Int: {
        auto e = node(Expr::Kind::Literal, pos);
        e->value = Value::integer(t.i);
        advance();
        return e;
      }
      case Token::Kind::Float: {
        auto e = node(Expr::Kind::Literal, pos);
        e->value = Value::real(t.f);
        advance();
        return e;
      }
      case Token::Kind::Op:
        if (t.text == "(") {
          advance();
          if (is_op(")")) {
            advance();
            auto empty = node(Expr::Kind::List, pos);
            empty->tuple = true;
            return empty;
          }
          ExprPtr first = parse_expression(true);
          if (is_op(")")) {
            advance();
            return first;
          }
          auto list = node(Expr::Kind::List, pos);
          list->tuple = true;
          list->args.push_back(std::move(first));
          while (is_op(",")) {
            advance();
            if (is_op(")")) break;
            list->args.push_back(parse_expression(true));
          }
          expect_op(")");
          return list;
        }
        if (t.text == "[") {
          advance();
          auto list = node(Expr::Kind::List, pos);
          while (!is_op("]")) {
            list->args.push_back(parse_expression(true));
            if (!is_op(",")) break;
            advance();
          }
          expect_op("]");
          return list;
        }
        if (t.text == "{") {
          advance();
          auto dict = node(Expr::Kind::Dict, pos);
          while (!is_op("}")) {
            dict->args.push_back(parse_expression(true));
            expect_op(":");
            dict->args.push_back(parse_expression(true));
            if (!is_op(",")) break;
            advance();
          }
          expect_op("}");
          return dict;
        }
        break;
      default: break;
    }
    unexpected("an expression");
  }

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      if (is_op(".")) {
        const Pos pos = cur().pos;
        advance();
        if (cur().kind == Token::Kind::Int) {  // x.0 is x[0]
          auto item = node(Expr::Kind::Item, pos);
          auto idx = node(Expr::Kind::Literal, cur().pos);
          idx->value = Value::integer(cur().i);
          advance();
          item->args.push_back(std::move(e));
          item->args.push_back(std::move(idx));
          e = std::move(item);
          continue;
        }
        auto attr = node(Expr::Kind::Attr, pos);
        attr->name = expect_name();
        attr->args.push_back(std::move(e));
        e = std::move(attr);
      } else if (is_op("[")) {
        e = parse_subscript(std::move(e));
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr e) {
    const Pos pos = cur().pos;
    advance();  // [
    ExprPtr start;
    if (!is_op(":")) {
      start = parse_expression(true);
      if (is_op("]")) {
        advance();
        auto item = node(Expr::Kind::Item, pos);
        item->args.push_back(std::move(e));
        item->args.push_back(std::move(start));
        return item;
      }
      if (is_op(",")) fail_at(cur().pos, "unsupported: tuple subscripts");
    }
    expect_op(":");
    auto slice = node(Expr::Kind::Slice, pos);
    slice->args.push_back(std::move(e));
    slice->args.push_back(std::move(start));
    ExprPtr stop, step;
    if (!is_op("]") && !is_op(":")) stop = parse_expression(true);
    if (is_op(":")) {
      advance();
      if (!is_op("]")) step = parse_expression(true);
    }
    expect_op("]");
    slice->args.push_back(std::move(stop));
    slice->args.push_back(std::move(step));
    return slice;
  }

  // (positional..., name=value...) appended to e.args / e.kwargs.
  void parse_call_args(Expr& e) {
    expect_op("(");
    while (!is_op(")")) {
      if (is_op("*") || is_op("**")) fail_at(cur().pos, "unsupported: *args / **kwargs in a call");
      if (cur().kind == Token::Kind::Name && peek().kind == Token::Kind::Op && peek().text == "=") {
        std::string key = cur().text;
        advance();
        advance();
        e.kwargs.emplace_back(std::move(key), parse_expression(true));
      } else {
        if (!e.kwargs.empty()) fail_at(cur().pos, "positional argument after keyword arguments");
        e.args.push_back(parse_expression(true));
      }
      if (!is_op(",")) break;
      advance();
    }
    expect_op(")");
  }

  ExprPtr parse_call(ExprPtr callee) {
    auto call = node(Expr::Kind::Call, cur().pos);
    call->args.push_back(std::move(callee));
    parse_call_args(*call);
    return call;
  }

  // x | f(...) | g ...; `start_inline` for {% filter f %}, whose first filter has no pipe.
  ExprPtr parse_filters(ExprPtr operand, bool start_inline) {
    while (start_inline || is_op("|")) {
      if (!start_inline) advance();
      start_inline = false;
      const Pos pos = cur().pos;
      std::string name = expect_name();
      while (is_op(".")) {
        advance();
        name += "." + expect_name();
      }
      if (!has_filter(name)) fail_at(pos, "unsupported filter '" + name + "'");
      auto f = node(Expr::Kind::Filter, pos);
      f->name = std::move(name);
      f->args.push_back(std::move(operand));
      if (is_op("(")) parse_call_args(*f);
      operand = std::move(f);
    }
    return operand;
  }

  ExprPtr parse_filter_expr(ExprPtr e) {
    while (true) {
      if (is_op("|")) {
        e = parse_filters(std::move(e), false);
      } else if (is_name("is")) {
        e = parse_test(std::move(e));
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_test(ExprPtr e) {
    advance();  // is
    bool negated = false;
    if (is_name("not")) {
      negated = true;
      advance();
    }
    const Pos pos = cur().pos;
    std::string name = expect_name();
    if (!has_test(name)) fail_at(pos, "unsupported test '" + name + "'");
    auto t = node(Expr::Kind::Test, pos);
    t->name = std::move(name);
    t->negated = negated;
    t->args.push_back(std::move(e));
    const Token& c = cur();
    if (is_op("(")) {
      parse_call_args(*t);
    } else if ((c.kind == Token::Kind::Name || c.kind == Token::Kind::String || c.kind == Token::Kind::Int ||
                c.kind == Token::Kind::Float || is_op("[") || is_op("{")) &&
               !is_name("else") && !is_name("or") && !is_name("and") && !is_name("if")) {
      if (is_name("is")) fail_at(c.pos, "tests cannot be chained with 'is'");
      t->args.push_back(parse_postfix(parse_primary()));
    }
    return t;
  }

  std::vector<Token> t_;
  size_t p_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

Body parse_template(const std::string& source) {
  const std::string src = normalise_newlines(source);
  Lexer lexer(src);
  Parser parser(lexer.run());
  return parser.parse();
}

}  // namespace loupe::jinja
