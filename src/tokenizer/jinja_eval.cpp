// The Jinja evaluator: statements, expressions, Python's value semantics (str(), repr(),
// json.dumps, comparisons, slicing), and the filters, tests, methods and globals chat templates
// use. Case mapping (upper, lower, title, ...) is ASCII only.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <ctime>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "tokenizer/jinja.h"
#include "tokenizer/jinja_ast.h"

namespace loupe {
namespace jinja {
namespace {

constexpr int kMaxEvalDepth = 250;     // nested evaluation (macro recursion); deeper would risk the stack
constexpr int64_t kMaxRange = 100000;  // the sandbox's MAX_RANGE

// ---- strings ------------------------------------------------------------------------------

// The code points of s as byte ranges (an invalid byte counts as one).
std::vector<std::string_view> code_points(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    const auto lead = static_cast<unsigned char>(s[i]);
    size_t n = lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    if (i + n > s.size()) n = 1;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) n = 1;
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

int64_t cp_length(std::string_view s) {
  int64_t n = 0;
  for (char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

uint32_t decode_cp(std::string_view c) {
  const auto b0 = static_cast<unsigned char>(c[0]);
  if (c.size() == 1) return b0;
  uint32_t cp = c.size() == 2 ? (b0 & 0x1F) : c.size() == 3 ? (b0 & 0x0F) : (b0 & 0x07);
  for (size_t k = 1; k < c.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(c[k]) & 0x3F);
  return cp;
}

bool is_py_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || (c >= 0x1c && c <= 0x1f);
}
bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

void append_cp(std::string& s, uint32_t cp) {
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

// Simple case mapping of the Latin (Basic, Latin-1, Extended-A), Greek, Cyrillic and fullwidth
// Latin letters; every other code point is its own case.
uint32_t cp_upper(uint32_t c) {
  if (c < 0x80) return c >= 'a' && c <= 'z' ? c - 32 : c;
  if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 32;
  if (c == 0xFF) return 0x178;
  if (c == 0xB5) return 0x39C;
  if (c == 0x131) return 'I';
  if (c == 0x17F) return 'S';
  if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return (c & 1) != 0 ? c - 1 : c;
  if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c & 1) != 0 ? c : c - 1;
  if (c >= 0x3B1 && c <= 0x3C9) return c == 0x3C2 ? 0x3A3 : c - 32;
  if (c == 0x3AC) return 0x386;
  if (c >= 0x3AD && c <= 0x3AF) return c - 37;
  if (c == 0x3CC) return 0x38C;
  if (c == 0x3CD || c == 0x3CE) return c - 63;
  if (c >= 0x430 && c <= 0x44F) return c - 32;
  if (c >= 0x450 && c <= 0x45F) return c - 80;
  if (c >= 0xFF41 && c <= 0xFF5A) return c - 32;
  return c;
}
uint32_t cp_lower(uint32_t c) {
  if (c < 0x80) return c >= 'A' && c <= 'Z' ? c + 32 : c;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
  if (c == 0x178) return 0xFF;
  if (c == 0x130) return 'i';
  if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return (c & 1) != 0 ? c : c + 1;
  if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c & 1) != 0 ? c + 1 : c;
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
  if (c == 0x386) return 0x3AC;
  if (c >= 0x388 && c <= 0x38A) return c + 37;
  if (c == 0x38C) return 0x3CC;
  if (c == 0x38E || c == 0x38F) return c + 63;
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  if (c >= 0xFF21 && c <= 0xFF3A) return c + 32;
  return c;
}
bool cp_is_upper(uint32_t c) {
  return cp_lower(c) != c;
}
bool cp_is_lower(uint32_t c) {
  return cp_upper(c) != c || c == 0xDF || c == 0x149;
}
bool cp_is_cased(uint32_t c) {
  return cp_is_upper(c) || cp_is_lower(c);
}

void append_upper(std::string& out, uint32_t cp) {
  if (cp == 0xDF) {
    out += "SS";
  } else if (cp == 0x149) {
    append_cp(out, 0x2BC);
    out += 'N';
  } else {
    append_cp(out, cp_upper(cp));
  }
}
void append_lower(std::string& out, uint32_t cp) {
  append_cp(out, cp_lower(cp));
  if (cp == 0x130) append_cp(out, 0x307);
}

enum class CaseMode { Upper, Lower, Title, Capitalize, JinjaTitle };

// Python's str.upper() / lower() / title() / capitalize(), and Jinja's title filter (words
// start after runs of whitespace and -({[<).
std::string map_case(std::string_view s, CaseMode mode) {
  std::string out;
  bool prev_cased = false, word_start = true, first = true;
  for (std::string_view c : code_points(s)) {
    const uint32_t cp = decode_cp(c);
    switch (mode) {
      case CaseMode::Upper: append_upper(out, cp); break;
      case CaseMode::Lower: append_lower(out, cp); break;
      case CaseMode::Capitalize:
        if (first) {
          append_upper(out, cp);
        } else {
          append_lower(out, cp);
        }
        break;
      case CaseMode::Title:
        if (prev_cased) {
          append_lower(out, cp);
        } else {
          append_upper(out, cp);
        }
        prev_cased = cp_is_cased(cp);
        break;
      case CaseMode::JinjaTitle: {
        const bool delim =
            cp < 0x80 &&
            (is_py_space(static_cast<char>(cp)) || std::strchr("-({[<", static_cast<int>(cp)) != nullptr) && cp != 0;
        if (delim) {
          out += c;
        } else if (word_start) {
          append_upper(out, cp);
        } else {
          append_lower(out, cp);
        }
        word_start = delim;
        break;
      }
    }
    first = false;
  }
  return out;
}
std::string upper(std::string_view s) {
  return map_case(s, CaseMode::Upper);
}
std::string lower(std::string_view s) {
  return map_case(s, CaseMode::Lower);
}

// str.islower() / isupper(): some cased letter, none of the other case.
bool has_case(std::string_view s, bool want_lower) {
  bool cased = false;
  for (std::string_view c : code_points(s)) {
    const uint32_t cp = decode_cp(c);
    if (want_lower ? cp_is_upper(cp) : cp_is_lower(cp)) return false;
    cased = cased || cp_is_cased(cp);
  }
  return cased;
}

// strip / lstrip / rstrip with Python's semantics: chars = null strips whitespace.
std::string py_strip(const std::string& s, const Value* chars, bool left, bool right) {
  if (chars == nullptr || chars->is_none() || chars->is_undefined()) {
    size_t b = 0, e = s.size();
    if (left)
      while (b < e && is_py_space(s[b])) ++b;
    if (right)
      while (e > b && is_py_space(s[e - 1])) --e;
    return s.substr(b, e - b);
  }
  const std::vector<std::string_view> set = code_points(chars->s);
  auto in_set = [&](std::string_view c) { return std::find(set.begin(), set.end(), c) != set.end(); };
  const std::vector<std::string_view> cps = code_points(s);
  size_t b = 0, e = cps.size();
  if (left)
    while (b < e && in_set(cps[b])) ++b;
  if (right)
    while (e > b && in_set(cps[e - 1])) --e;
  if (b == e) return "";
  const size_t from = static_cast<size_t>(cps[b].data() - s.data());
  const size_t to = static_cast<size_t>(cps[e - 1].data() - s.data()) + cps[e - 1].size();
  return s.substr(from, to - from);
}

std::string py_replace(const std::string& s, const std::string& old, const std::string& with, int64_t count) {
  if (count == 0) return s;
  std::string out;
  if (old.empty()) {  // Python inserts between every code point
    int64_t done = 0;
    for (std::string_view c : code_points(s)) {
      if (count < 0 || done < count) {
        out += with;
        ++done;
      }
      out += c;
    }
    if (count < 0 || done < count) out += with;
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const size_t k = s.find(old, pos);
    if (k == std::string::npos) break;
    out.append(s, pos, k - pos);
    out += with;
    pos = k + old.size();
    ++done;
  }
  out.append(s, pos, std::string::npos);
  return out;
}

// ---- numbers ------------------------------------------------------------------------------

// Python's repr(float): the shortest digits that read back, fixed notation for exponents in
// [-4, 16), else d.ddde+XX.
std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  const std::string sci(buf, r.ptr);
  const size_t e_at = sci.find('e');
  std::string mant = sci.substr(0, e_at);
  const int exp = std::stoi(sci.substr(e_at + 1));
  const bool neg = mant[0] == '-';
  if (neg) mant.erase(0, 1);
  std::string digits;
  for (char c : mant)
    if (c != '.') digits += c;
  std::string out = neg ? "-" : "";
  if (exp >= -4 && exp < 16) {
    if (exp >= 0) {
      const size_t int_digits = static_cast<size_t>(exp) + 1;
      if (digits.size() <= int_digits) {
        out += digits + std::string(int_digits - digits.size(), '0') + ".0";
      } else {
        out += digits.substr(0, int_digits) + "." + digits.substr(int_digits);
      }
    } else {
      out += "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  char ebuf[16];
  std::snprintf(ebuf, sizeof(ebuf), "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
  return out + ebuf;
}

bool is_intlike(const Value& v) {
  return v.kind == Value::Kind::Int || v.kind == Value::Kind::Bool;
}
int64_t as_int(const Value& v) {
  return v.kind == Value::Kind::Bool ? (v.b ? 1 : 0) : v.i;
}
double as_double(const Value& v) {
  if (v.kind == Value::Kind::Float) return v.f;
  return static_cast<double>(as_int(v));
}

// ---- str() and repr() -----------------------------------------------------------------------

const char* type_name(const Value& v) {
  switch (v.kind) {
    case Value::Kind::Undefined: return "Undefined";
    case Value::Kind::None: return "NoneType";
    case Value::Kind::Bool: return "bool";
    case Value::Kind::Int: return "int";
    case Value::Kind::Float: return "float";
    case Value::Kind::String: return "str";
    case Value::Kind::List: return "list";
    case Value::Kind::Dict: return v.dict->is_namespace ? "Namespace" : "dict";
    case Value::Kind::Function: return "function";
  }
  return "?";
}

std::string repr(const Value& v, int depth = 0);

std::string py_quote(const std::string& s) {
  const char q = (s.find('\'') != std::string::npos && s.find('"') == std::string::npos) ? '"' : '\'';
  std::string out(1, q);
  for (std::string_view c : code_points(s)) {
    const uint32_t cp = decode_cp(c);
    char buf[16];
    if (cp == static_cast<uint32_t>(q) || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp < 0x20 || (cp >= 0x7F && cp <= 0xA0)) {
      std::snprintf(buf, sizeof(buf), "\\x%02x", cp);
      out += buf;
    } else if (cp == 0x2028 || cp == 0x2029) {
      std::snprintf(buf, sizeof(buf), "\\u%04x", cp);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + q;
}

std::string dict_repr(const Dict& d, int depth) {
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : d.items) {
    if (!first) out += ", ";
    first = false;
    out += py_quote(k) + ": " + repr(v, depth + 1);
  }
  return out + "}";
}

// Python's str() of a value; undefined prints as nothing. `depth` guards against a namespace
// that holds itself.
std::string to_str(const Value& v, int depth = 0) {
  if (depth > static_cast<int>(kMaxNesting)) fail_nesting();
  switch (v.kind) {
    case Value::Kind::Undefined: return "";
    case Value::Kind::None: return "None";
    case Value::Kind::Bool: return v.b ? "True" : "False";
    case Value::Kind::Int: return std::to_string(v.i);
    case Value::Kind::Float: return float_repr(v.f);
    case Value::Kind::String: return v.s;
    case Value::Kind::List: {
      std::string out = v.tuple ? "(" : "[";
      for (size_t k = 0; k < v.list->size(); ++k) out += (k ? ", " : "") + repr((*v.list)[k], depth + 1);
      if (v.tuple && v.list->size() == 1) out += ",";
      return out + (v.tuple ? ")" : "]");
    }
    case Value::Kind::Dict:
      return v.dict->is_namespace ? "<Namespace " + dict_repr(*v.dict, depth) + ">" : dict_repr(*v.dict, depth);
    case Value::Kind::Function: return "<function " + v.fn->name + ">";
  }
  return "";
}

std::string repr(const Value& v, int depth) {
  if (v.is_string()) return py_quote(v.s);
  if (v.is_undefined()) return "Undefined";
  return to_str(v, depth);
}

bool truthy(const Value& v) {
  switch (v.kind) {
    case Value::Kind::Undefined:
    case Value::Kind::None: return false;
    case Value::Kind::Bool: return v.b;
    case Value::Kind::Int: return v.i != 0;
    case Value::Kind::Float: return v.f != 0;
    case Value::Kind::String: return !v.s.empty();
    case Value::Kind::List: return !v.list->empty();
    case Value::Kind::Dict: return v.dict->is_namespace || !v.dict->items.empty();
    case Value::Kind::Function: return true;
  }
  return false;
}

bool equal(const Value& a, const Value& b, int depth = 0) {
  if (depth > static_cast<int>(kMaxNesting)) fail_nesting();
  if (a.is_number() && b.is_number()) {
    if (is_intlike(a) && is_intlike(b)) return as_int(a) == as_int(b);
    return as_double(a) == as_double(b);
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Value::Kind::Undefined:
    case Value::Kind::None: return true;
    case Value::Kind::String: return a.s == b.s;
    case Value::Kind::List:
      if (a.tuple != b.tuple || a.list->size() != b.list->size()) return false;
      for (size_t k = 0; k < a.list->size(); ++k)
        if (!equal((*a.list)[k], (*b.list)[k], depth + 1)) return false;
      return true;
    case Value::Kind::Dict:
      if (a.dict->is_namespace || b.dict->is_namespace) return a.dict == b.dict;
      if (a.dict->items.size() != b.dict->items.size()) return false;
      for (const auto& [k, v] : a.dict->items) {
        const Value* o = b.dict->find(k);
        if (o == nullptr || !equal(v, *o, depth + 1)) return false;
      }
      return true;
    case Value::Kind::Function: return a.fn == b.fn;
    default: return false;
  }
}

[[noreturn]] void fail_undefined(const Pos& pos, const Value& v) {
  fail_at(pos, v.s.empty() ? std::string("use of an undefined value") : v.s);
}

// -1, 0, 1 for the ordering comparisons (<, >, <=, >=).
int order(const Value& a, const Value& b, const Pos& pos, const std::string& op, int depth = 0) {
  if (depth > static_cast<int>(kMaxNesting)) fail_nesting();
  if (a.is_undefined()) fail_undefined(pos, a);
  if (b.is_undefined()) fail_undefined(pos, b);
  if (a.is_number() && b.is_number()) {
    if (is_intlike(a) && is_intlike(b)) return as_int(a) < as_int(b) ? -1 : as_int(a) > as_int(b) ? 1 : 0;
    const double x = as_double(a), y = as_double(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) return a.s < b.s ? -1 : a.s > b.s ? 1 : 0;
  if (a.is_list() && b.is_list()) {
    const size_t n = std::min(a.list->size(), b.list->size());
    for (size_t k = 0; k < n; ++k)
      if (!equal((*a.list)[k], (*b.list)[k])) return order((*a.list)[k], (*b.list)[k], pos, op, depth + 1);
    return a.list->size() < b.list->size() ? -1 : a.list->size() > b.list->size() ? 1 : 0;
  }
  fail_at(pos, cat("'", op, "' not supported between '", type_name(a), "' and '", type_name(b), "'"));
}

bool contains(const Value& container, const Value& item, const Pos& pos) {
  switch (container.kind) {
    case Value::Kind::String:
      if (!item.is_string())
        fail_at(pos, cat("'in <string>' requires a string on the left, not '", type_name(item), "'"));
      return container.s.find(item.s) != std::string::npos;
    case Value::Kind::List:
      return std::any_of(container.list->begin(), container.list->end(),
                         [&](const Value& x) { return equal(x, item); });
    case Value::Kind::Dict: return item.is_string() && container.dict->find(item.s) != nullptr;
    case Value::Kind::Undefined: return false;
    default: fail_at(pos, cat("argument of type '", type_name(container), "' is not iterable"));
  }
}

// The items a for loop (or list()) visits: list items, dict keys, string code points.
List iterate(const Value& v, const Pos& pos) {
  switch (v.kind) {
    case Value::Kind::List: return *v.list;
    case Value::Kind::Dict: {
      if (v.dict->is_namespace) break;
      List keys;
      for (const auto& kv : v.dict->items) keys.push_back(Value::string(kv.first));
      return keys;
    }
    case Value::Kind::String: {
      List chars;
      for (std::string_view c : code_points(v.s)) chars.push_back(Value::string(std::string(c)));
      return chars;
    }
    case Value::Kind::Undefined: return {};
    default: break;
  }
  fail_at(pos, cat("'", type_name(v), "' object is not iterable"));
}

// ---- json.dumps -----------------------------------------------------------------------------

struct JsonStyle {
  std::optional<std::string> indent;  // null: one line
  std::string item_sep = ", ";
  std::string key_sep = ": ";
  bool sort_keys = false;
  bool ensure_ascii = false;
};

void json_quote(const std::string& s, bool ensure_ascii, std::string& out) {
  out += '"';
  char buf[16];
  for (std::string_view c : code_points(s)) {
    const uint32_t cp = decode_cp(c);
    switch (cp) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      default: break;
    }
    if (cp < 0x20 || (ensure_ascii && cp > 0x7E)) {
      if (cp > 0xFFFF) {
        const uint32_t v = cp - 0x10000;
        std::snprintf(buf, sizeof(buf), "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
      } else {
        std::snprintf(buf, sizeof(buf), "\\u%04x", cp);
      }
      out += buf;
    } else {
      out += c;
    }
  }
  out += '"';
}

void dump_json(const Value& v, const JsonStyle& st, int level, std::string& out, const Pos& pos, size_t limit) {
  if (out.size() > limit) fail_at(pos, cat("output larger than ", limit, " bytes"));
  if (level > static_cast<int>(kMaxNesting)) fail_nesting();
  auto newline = [&](int lvl) {
    if (!st.indent) return;
    out += '\n';
    for (int k = 0; k < lvl; ++k) out += *st.indent;
  };
  switch (v.kind) {
    case Value::Kind::None: out += "null"; return;
    case Value::Kind::Bool: out += v.b ? "true" : "false"; return;
    case Value::Kind::Int: out += std::to_string(v.i); return;
    case Value::Kind::Float:
      if (std::isnan(v.f)) {
        out += "NaN";
      } else if (std::isinf(v.f)) {
        out += v.f < 0 ? "-Infinity" : "Infinity";
      } else {
        out += float_repr(v.f);
      }
      return;
    case Value::Kind::String: json_quote(v.s, st.ensure_ascii, out); return;
    case Value::Kind::List:
      if (v.list->empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t k = 0; k < v.list->size(); ++k) {
        if (k) out += st.item_sep;
        newline(level + 1);
        dump_json((*v.list)[k], st, level + 1, out, pos, limit);
      }
      newline(level);
      out += ']';
      return;
    case Value::Kind::Dict: {
      if (v.dict->is_namespace) break;
      if (v.dict->items.empty()) {
        out += "{}";
        return;
      }
      std::vector<const std::pair<std::string, Value>*> items;
      for (const auto& kv : v.dict->items) items.push_back(&kv);
      if (st.sort_keys)
        std::stable_sort(items.begin(), items.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
      out += '{';
      for (size_t k = 0; k < items.size(); ++k) {
        if (k) out += st.item_sep;
        newline(level + 1);
        json_quote(items[k]->first, st.ensure_ascii, out);
        out += st.key_sep;
        dump_json(items[k]->second, st, level + 1, out, pos, limit);
      }
      newline(level);
      out += '}';
      return;
    }
    default: break;
  }
  fail_at(pos, cat("tojson: object of type '", type_name(v), "' is not JSON serializable"));
}

Value from_json(const nlohmann::ordered_json& j, int depth = 0) {
  if (depth > static_cast<int>(kMaxNesting)) fail_nesting();
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::boolean: return Value::boolean(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value::integer(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const auto u = j.get<uint64_t>();
      if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return Value::integer(static_cast<int64_t>(u));
      return Value::real(static_cast<double>(u));
    }
    case nlohmann::ordered_json::value_t::number_float: return Value::real(j.get<double>());
    case nlohmann::ordered_json::value_t::string: return Value::string(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      List items;
      for (const auto& x : j) items.push_back(from_json(x, depth + 1));
      return Value::make_list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      Value d = Value::make_dict();
      for (auto it = j.begin(); it != j.end(); ++it) d.dict->set(it.key(), from_json(it.value(), depth + 1));
      return d;
    }
    default: return Value::none();
  }
}

// ---- scopes -------------------------------------------------------------------------------

struct Scope {
  explicit Scope(Scope* p) : parent(p) {}
  Scope* parent;
  std::vector<std::pair<std::string, Value>> vars;

  const Value* lookup(std::string_view name) const {
    for (const Scope* s = this; s != nullptr; s = s->parent)
      for (const auto& kv : s->vars)
        if (kv.first == name) return &kv.second;
    return nullptr;
  }
  void set(const std::string& name, Value v) {
    for (auto& kv : vars)
      if (kv.first == name) {
        kv.second = std::move(v);
        return;
      }
    vars.emplace_back(name, std::move(v));
  }
};

// ---- argument helpers ---------------------------------------------------------------------

const Value* arg(const CallArgs& a, size_t index, std::string_view name) {
  return a.get(index, name);
}

std::string arg_str(const CallArgs& a, size_t index, std::string_view name, const std::string& def, const Pos& pos,
                    const char* what) {
  const Value* v = arg(a, index, name);
  if (v == nullptr || v->is_undefined() || v->is_none()) return def;
  if (!v->is_string()) fail_at(pos, cat(what, ": argument '", name, "' must be a string, not '", type_name(*v), "'"));
  return v->s;
}

int64_t arg_int(const CallArgs& a, size_t index, std::string_view name, int64_t def, const Pos& pos, const char* what) {
  const Value* v = arg(a, index, name);
  if (v == nullptr || v->is_undefined() || v->is_none()) return def;
  if (!is_intlike(*v)) fail_at(pos, cat(what, ": argument '", name, "' must be an integer, not '", type_name(*v), "'"));
  return as_int(*v);
}

bool arg_bool(const CallArgs& a, size_t index, std::string_view name, bool def) {
  const Value* v = arg(a, index, name);
  return v == nullptr ? def : truthy(*v);
}

// ---- the interpreter ----------------------------------------------------------------------

class Interp;
using FilterFn = Value (*)(Interp&, const Value&, CallArgs&, const Pos&);
using TestFn = bool (*)(Interp&, const Value&, CallArgs&, const Pos&);

const FilterFn* find_filter(std::string_view name);
const TestFn* find_test(std::string_view name);

class Interp {
 public:
  Interp(const JinjaOptions& o, Scope& root) : opt_(o), root_(root) {}

  std::string render(const Body& body) {
    std::string out;
    exec(body, root_, out);
    return out;
  }

  const JinjaOptions& options() const { return opt_; }

  void check_size(size_t n, const Pos& pos) const {
    if (n > opt_.max_output) fail_at(pos, cat("output larger than ", opt_.max_output, " bytes"));
  }

  Value call(const Value& callee, CallArgs& args, const Pos& pos) {
    if (callee.kind == Value::Kind::Function) return callee.fn->call(args, pos);
    if (callee.is_undefined()) fail_undefined(pos, callee);
    fail_at(pos, cat("'", type_name(callee), "' object is not callable"));
  }

  Value apply_filter(std::string_view name, const Value& operand, CallArgs& args, const Pos& pos) {
    const FilterFn* f = find_filter(name);
    if (f == nullptr) fail_at(pos, cat("unsupported filter '", name, "'"));
    return (*f)(*this, operand, args, pos);
  }

  bool apply_test(std::string_view name, const Value& operand, CallArgs& args, const Pos& pos) {
    const TestFn* t = find_test(name);
    if (t == nullptr) fail_at(pos, cat("unsupported test '", name, "'"));
    return (*t)(*this, operand, args, pos);
  }

  Value get_attr(const Value& obj, const std::string& name, const Pos& pos);
  Value get_item(const Value& obj, const Value& key, const Pos& pos);

 private:
  enum class Flow { Normal, Break, Continue };

  struct Depth {
    Depth(Interp& in, const Pos& pos) : in_(in) {
      if (++in_.depth_ > kMaxEvalDepth) fail_at(pos, "template recursion too deep");
    }
    ~Depth() { --in_.depth_; }
    Depth(const Depth&) = delete;
    Depth& operator=(const Depth&) = delete;
    Interp& in_;
  };

  void tick(const Pos& pos) {
    if (++steps_ > opt_.max_steps) fail_at(pos, cat("template runs too long (more than ", opt_.max_steps, " steps)"));
  }

  void emit(std::string& out, std::string_view s, const Pos& pos) const {
    check_size(out.size() + s.size(), pos);
    out += s;
  }

  Flow exec(const Body& body, Scope& scope, std::string& out) {
    for (const auto& st : body) {
      tick(st->pos);
      switch (st->kind) {
        case Stmt::Kind::Text: emit(out, st->text, st->pos); break;
        case Stmt::Kind::Output: emit(out, to_str(eval(*st->expr, scope)), st->pos); break;
        case Stmt::Kind::If:
          for (const auto& [cond, branch] : st->branches) {
            if (cond && !truthy(eval(*cond, scope))) continue;
            const Flow f = exec(branch, scope, out);
            if (f != Flow::Normal) return f;
            break;
          }
          break;
        case Stmt::Kind::For: exec_for(*st, scope, out); break;
        case Stmt::Kind::Set: assign(*st, eval(*st->expr, scope), scope); break;
        case Stmt::Kind::SetBlock: {
          Depth d(*this, st->pos);
          std::string buf;
          Scope inner(&scope);
          exec(st->body, inner, buf);
          Value v = Value::string(std::move(buf));
          if (st->filter) v = eval_filter_chain(*st->filter, v, scope);
          scope.set(st->targets[0], std::move(v));
          break;
        }
        case Stmt::Kind::Macro: scope.set(st->name, make_macro(*st)); break;
        case Stmt::Kind::FilterBlock: {
          Depth d(*this, st->pos);
          std::string buf;
          Scope inner(&scope);
          const Flow f = exec(st->body, inner, buf);
          emit(out, to_str(eval_filter_chain(*st->filter, Value::string(std::move(buf)), scope)), st->pos);
          if (f != Flow::Normal) return f;
          break;
        }
        case Stmt::Kind::Break: return Flow::Break;
        case Stmt::Kind::Continue: return Flow::Continue;
      }
    }
    return Flow::Normal;
  }

  static void bind(const std::vector<std::string>& targets, const Value& v, Scope& scope, const Pos& pos) {
    if (targets.size() == 1) {
      scope.set(targets[0], v);
      return;
    }
    if (!v.is_list()) fail_at(pos, cat("cannot unpack '", type_name(v), "' into ", targets.size(), " names"));
    if (v.list->size() != targets.size())
      fail_at(pos, cat("cannot unpack ", v.list->size(), " values into ", targets.size(), " names"));
    for (size_t k = 0; k < targets.size(); ++k) scope.set(targets[k], (*v.list)[k]);
  }

  void assign(const Stmt& st, Value v, Scope& scope) {
    if (!st.attr.empty()) {
      const Value* ns = scope.lookup(st.targets[0]);
      if (ns == nullptr || !ns->is_dict() || !ns->dict->is_namespace)
        fail_at(st.pos, cat("cannot set attribute '", st.attr, "' of '", st.targets[0], "': not a namespace()"));
      ns->dict->set(st.attr, std::move(v));
      return;
    }
    bind(st.targets, v, scope, st.pos);
  }

  void exec_for(const Stmt& st, Scope& scope, std::string& out) {
    Depth d(*this, st.pos);
    List items = iterate(eval(*st.expr, scope), st.expr->pos);
    if (st.filter) {
      List kept;
      for (const Value& item : items) {
        tick(st.pos);
        Scope probe(&scope);
        bind(st.targets, item, probe, st.pos);
        if (truthy(eval(*st.filter, probe))) kept.push_back(item);
      }
      items = std::move(kept);
    }
    if (items.empty()) {
      Scope inner(&scope);
      exec(st.else_body, inner, out);
      return;
    }
    const auto n = static_cast<int64_t>(items.size());
    // One loop object for the whole loop, updated in place (as Jinja's LoopContext is).
    auto index = std::make_shared<int64_t>(0);
    Value loop = Value::make_dict();
    Dict& l = *loop.dict;
    for (const char* key : {"index", "index0", "revindex", "revindex0", "first", "last", "length", "depth", "depth0",
                            "previtem", "nextitem"})
      l.items.emplace_back(key, Value());
    l.set("cycle", Value::function("loop.cycle", [index](CallArgs& a, const Pos& pos) {
            if (a.pos.empty()) fail_at(pos, "loop.cycle() needs at least one argument");
            return a.pos[static_cast<size_t>(*index) % a.pos.size()];
          }));
    for (const Value& x : items) l.nest = std::max(l.nest, nesting(x) + 1);
    for (int64_t k = 0; k < n; ++k) {
      tick(st.pos);
      *index = k;
      auto& slot = l.items;
      slot[0].second = Value::integer(k + 1);
      slot[1].second = Value::integer(k);
      slot[2].second = Value::integer(n - k);
      slot[3].second = Value::integer(n - k - 1);
      slot[4].second = Value::boolean(k == 0);
      slot[5].second = Value::boolean(k == n - 1);
      slot[6].second = Value::integer(n);
      slot[7].second = Value::integer(1);
      slot[8].second = Value::integer(0);
      slot[9].second =
          k > 0 ? items[static_cast<size_t>(k - 1)] : Value::undefined("no loop.previtem at the first item");
      slot[10].second =
          k + 1 < n ? items[static_cast<size_t>(k + 1)] : Value::undefined("no loop.nextitem at the last item");
      Scope it(&scope);
      bind(st.targets, items[static_cast<size_t>(k)], it, st.pos);
      it.set("loop", loop);
      if (exec(st.body, it, out) == Flow::Break) break;
    }
  }

  Value make_macro(const Stmt& st) {
    const Stmt* m = &st;
    return Value::function(st.name, [this, m](CallArgs& a, const Pos& pos) {
      Depth d(*this, pos);
      Scope ms(&root_);
      if (a.pos.size() > m->params.size())
        fail_at(pos, cat("macro '", m->name, "' takes ", m->params.size(), " argument(s), given ", a.pos.size()));
      for (const auto& kv : a.kw) {
        const bool known =
            std::any_of(m->params.begin(), m->params.end(), [&](const auto& p) { return p.first == kv.first; });
        if (!known) fail_at(pos, cat("macro '", m->name, "' has no parameter '", kv.first, "'"));
      }
      for (size_t k = 0; k < m->params.size(); ++k) {
        const auto& [pname, def] = m->params[k];
        const Value* given = a.get(k, pname);
        if (given != nullptr) {
          ms.set(pname, *given);
        } else if (def) {
          ms.set(pname, eval(*def, ms));
        } else {
          ms.set(pname, Value::undefined(cat("parameter '", pname, "' of macro '", m->name, "' was not given")));
        }
      }
      std::string buf;
      exec(m->body, ms, buf);
      return Value::string(std::move(buf));
    });
  }

  // A filter chain of a {% filter %} block or a {% set x | f %}: the innermost operand is null.
  Value eval_filter_chain(const Expr& f, const Value& input, Scope& scope) {
    const Value operand = f.args[0] ? eval_filter_chain(*f.args[0], input, scope) : input;
    CallArgs args = eval_args(f, scope, 1);
    return apply_filter(f.name, operand, args, f.pos);
  }

  CallArgs eval_args(const Expr& e, Scope& scope, size_t first) {
    CallArgs a;
    for (size_t k = first; k < e.args.size(); ++k) a.pos.push_back(eval(*e.args[k], scope));
    for (const auto& [name, x] : e.kwargs) a.kw.emplace_back(name, eval(*x, scope));
    return a;
  }

  Value eval(const Expr& e, Scope& scope);
  Value binary(const std::string& op, const Value& a, const Value& b, const Pos& pos) const;
  Value slice(const Value& obj, const Value& start, const Value& stop, const Value& step, const Pos& pos) const;
  bool compare(const std::string& op, const Value& a, const Value& b, const Pos& pos) const;

  const JinjaOptions& opt_;
  Scope& root_;
  int depth_ = 0;
  int64_t steps_ = 0;
};

Value Interp::eval(const Expr& e, Scope& scope) {
  Depth d(*this, e.pos);
  tick(e.pos);
  switch (e.kind) {
    case Expr::Kind::Literal: return e.value;
    case Expr::Kind::Name: {
      const Value* v = scope.lookup(e.name);
      return v != nullptr ? *v : Value::undefined("'" + e.name + "' is undefined");
    }
    case Expr::Kind::List: {
      List items;
      for (const auto& x : e.args) items.push_back(eval(*x, scope));
      return e.tuple ? Value::make_tuple(std::move(items)) : Value::make_list(std::move(items));
    }
    case Expr::Kind::Dict: {
      Value dict = Value::make_dict();
      for (size_t k = 0; k + 1 < e.args.size(); k += 2) {
        Value key = eval(*e.args[k], scope);
        if (!key.is_string()) fail_at(e.args[k]->pos, cat("unsupported: dict keys of type '", type_name(key), "'"));
        dict.dict->set(key.s, eval(*e.args[k + 1], scope));
      }
      return dict;
    }
    case Expr::Kind::Attr: return get_attr(eval(*e.args[0], scope), e.name, e.pos);
    case Expr::Kind::Item: {
      const Value obj = eval(*e.args[0], scope);
      return get_item(obj, eval(*e.args[1], scope), e.pos);
    }
    case Expr::Kind::Slice: {
      const Value obj = eval(*e.args[0], scope);
      auto bound = [&](size_t k) { return e.args[k] ? eval(*e.args[k], scope) : Value::none(); };
      const Value start = bound(1), stop = bound(2), step = bound(3);
      return slice(obj, start, stop, step, e.pos);
    }
    case Expr::Kind::Call: {
      const Value callee = eval(*e.args[0], scope);
      CallArgs a = eval_args(e, scope, 1);
      return call(callee, a, e.pos);
    }
    case Expr::Kind::Filter: {
      const Value operand = eval(*e.args[0], scope);
      CallArgs a = eval_args(e, scope, 1);
      return apply_filter(e.name, operand, a, e.pos);
    }
    case Expr::Kind::Test: {
      const Value operand = eval(*e.args[0], scope);
      CallArgs a = eval_args(e, scope, 1);
      return Value::boolean(apply_test(e.name, operand, a, e.pos) != e.negated);
    }
    case Expr::Kind::Neg:
    case Expr::Kind::Plus: {
      const Value v = eval(*e.args[0], scope);
      const bool neg = e.kind == Expr::Kind::Neg;
      if (is_intlike(v)) {
        const int64_t i = as_int(v);
        if (neg && i == std::numeric_limits<int64_t>::min()) fail_at(e.pos, "integer overflow");
        return Value::integer(neg ? -i : i);
      }
      if (v.kind == Value::Kind::Float) return Value::real(neg ? -v.f : v.f);
      if (v.is_undefined()) fail_undefined(e.pos, v);
      fail_at(e.pos, cat("bad operand type for unary ", neg ? "-" : "+", ": '", type_name(v), "'"));
    }
    case Expr::Kind::Not: return Value::boolean(!truthy(eval(*e.args[0], scope)));
    case Expr::Kind::And: {
      Value a = eval(*e.args[0], scope);
      return truthy(a) ? eval(*e.args[1], scope) : a;
    }
    case Expr::Kind::Or: {
      Value a = eval(*e.args[0], scope);
      return truthy(a) ? a : eval(*e.args[1], scope);
    }
    case Expr::Kind::Binary: {
      const Value a = eval(*e.args[0], scope);
      const Value b = eval(*e.args[1], scope);
      return binary(e.name, a, b, e.pos);
    }
    case Expr::Kind::Compare: {
      Value left = eval(*e.args[0], scope);
      for (size_t k = 0; k < e.ops.size(); ++k) {
        Value right = eval(*e.args[k + 1], scope);
        if (!compare(e.ops[k], left, right, e.pos)) return Value::boolean(false);
        left = std::move(right);
      }
      return Value::boolean(true);
    }
    case Expr::Kind::Cond:
      if (truthy(eval(*e.args[1], scope))) return eval(*e.args[0], scope);
      return e.args[2] ? eval(*e.args[2], scope) : Value::undefined("the conditional expression had no else");
  }
  return Value::undefined();
}

bool Interp::compare(const std::string& op, const Value& a, const Value& b, const Pos& pos) const {
  if (op == "==") return equal(a, b);
  if (op == "!=") return !equal(a, b);
  if (op == "in") return contains(b, a, pos);
  if (op == "not in") return !contains(b, a, pos);
  const int c = order(a, b, pos, op);
  if (op == "<") return c < 0;
  if (op == ">") return c > 0;
  if (op == "<=") return c <= 0;
  return c >= 0;
}

Value Interp::binary(const std::string& op, const Value& a, const Value& b, const Pos& pos) const {
  if (op == "~") {
    std::string s = to_str(a) + to_str(b);
    check_size(s.size(), pos);
    return Value::string(std::move(s));
  }
  if (a.is_undefined()) fail_undefined(pos, a);
  if (b.is_undefined()) fail_undefined(pos, b);
  auto bad = [&]() -> Value {
    fail_at(pos, cat("unsupported operand types for ", op, ": '", type_name(a), "' and '", type_name(b), "'"));
  };
  if (a.is_number() && b.is_number()) {
    const bool ints = is_intlike(a) && is_intlike(b);
    const int64_t x = ints ? as_int(a) : 0, y = ints ? as_int(b) : 0;
    const double fx = as_double(a), fy = as_double(b);
    int64_t r = 0;
    if (op == "+") {
      if (!ints) return Value::real(fx + fy);
      if (__builtin_add_overflow(x, y, &r)) fail_at(pos, "integer overflow");
      return Value::integer(r);
    }
    if (op == "-") {
      if (!ints) return Value::real(fx - fy);
      if (__builtin_sub_overflow(x, y, &r)) fail_at(pos, "integer overflow");
      return Value::integer(r);
    }
    if (op == "*") {
      if (!ints) return Value::real(fx * fy);
      if (__builtin_mul_overflow(x, y, &r)) fail_at(pos, "integer overflow");
      return Value::integer(r);
    }
    if (op == "/") {
      if (fy == 0) fail_at(pos, "division by zero");
      return Value::real(fx / fy);
    }
    if (op == "//" || op == "%") {
      if (ints ? y == 0 : fy == 0) fail_at(pos, op == "//" ? "integer division by zero" : "modulo by zero");
      if (ints) {
        if (x == std::numeric_limits<int64_t>::min() && y == -1) fail_at(pos, "integer overflow");
        int64_t q = x / y, m = x % y;
        if (m != 0 && ((m < 0) != (y < 0))) {
          --q;
          m += y;
        }
        return Value::integer(op == "//" ? q : m);
      }
      if (op == "//") return Value::real(std::floor(fx / fy));
      double m = std::fmod(fx, fy);
      if (m != 0 && ((m < 0) != (fy < 0))) m += fy;
      return Value::real(m);
    }
    if (op == "**") {
      if (ints && y >= 0) {
        int64_t acc = 1, base = x, e = y;
        while (e > 0) {
          if ((e & 1) != 0 && __builtin_mul_overflow(acc, base, &acc)) fail_at(pos, "integer overflow");
          e >>= 1;
          if (e > 0 && __builtin_mul_overflow(base, base, &base)) fail_at(pos, "integer overflow");
        }
        return Value::integer(acc);
      }
      return Value::real(std::pow(fx, fy));
    }
    return bad();
  }
  if (op == "+") {
    if (a.is_string() && b.is_string()) {
      check_size(a.s.size() + b.s.size(), pos);
      return Value::string(a.s + b.s);
    }
    if (a.is_list() && b.is_list()) {
      List items = *a.list;
      items.insert(items.end(), b.list->begin(), b.list->end());
      return Value::make_list(std::move(items));
    }
    return bad();
  }
  if (op == "*") {
    const Value* seq = is_intlike(b) ? &a : is_intlike(a) ? &b : nullptr;
    const Value* count = seq == &a ? &b : &a;
    if (seq != nullptr && (seq->is_string() || seq->is_list())) {
      const int64_t n = std::max<int64_t>(0, as_int(*count));
      const size_t unit = seq->is_string() ? seq->s.size() : seq->list->size() * sizeof(Value);
      if (unit > 0 && static_cast<uint64_t>(n) > opt_.max_output / unit)
        fail_at(pos, cat("output larger than ", opt_.max_output, " bytes"));
      if (seq->is_string()) {
        std::string s;
        for (int64_t k = 0; k < n; ++k) s += seq->s;
        return Value::string(std::move(s));
      }
      List items;
      for (int64_t k = 0; k < n; ++k) items.insert(items.end(), seq->list->begin(), seq->list->end());
      return Value::make_list(std::move(items));
    }
  }
  if (op == "%" && a.is_string()) fail_at(pos, "unsupported: string formatting with '%'");
  return bad();
}

Value Interp::slice(const Value& obj, const Value& start, const Value& stop, const Value& step, const Pos& pos) const {
  auto bound = [&](const Value& v, const char* what) -> std::optional<int64_t> {
    if (v.is_none() || v.is_undefined()) return std::nullopt;
    if (!is_intlike(v)) fail_at(pos, cat("slice ", what, " must be an integer, not '", type_name(v), "'"));
    return as_int(v);
  };
  const std::optional<int64_t> b = bound(start, "start"), e = bound(stop, "stop"), s = bound(step, "step");
  const int64_t st = s.value_or(1);
  if (st == 0) fail_at(pos, "slice step cannot be zero");
  std::vector<std::string_view> cps;
  int64_t n = 0;
  if (obj.is_string()) {
    cps = code_points(obj.s);
    n = static_cast<int64_t>(cps.size());
  } else if (obj.is_list()) {
    n = static_cast<int64_t>(obj.list->size());
  } else if (obj.is_undefined()) {
    return obj;
  } else {
    fail_at(pos, cat("'", type_name(obj), "' object is not subscriptable"));
  }
  std::vector<int64_t> idx;
  if (st > 0) {
    int64_t lo = b.value_or(0), hi = e.value_or(n);
    if (lo < 0) lo = std::max<int64_t>(0, lo + n);
    if (hi < 0) hi = std::max<int64_t>(0, hi + n);
    lo = std::min(lo, n);
    hi = std::min(hi, n);
    for (int64_t k = lo; k < hi; k += st) idx.push_back(k);
  } else {
    int64_t hi = b.has_value() ? *b : n - 1, lo = e.has_value() ? *e : -1;
    if (b.has_value() && hi < 0) hi += n;
    if (e.has_value() && lo < 0) lo += n;
    hi = std::min(hi, n - 1);
    if (hi < -1) hi = -1;
    if (e.has_value() && lo < -1) lo = -1;
    for (int64_t k = hi; k > lo; k += st) idx.push_back(k);
  }
  if (obj.is_string()) {
    std::string out;
    for (int64_t k : idx) out += cps[static_cast<size_t>(k)];
    return Value::string(std::move(out));
  }
  List items;
  for (int64_t k : idx) items.push_back((*obj.list)[static_cast<size_t>(k)]);
  return Value::make_list(std::move(items));
}

// ---- methods ------------------------------------------------------------------------------

bool is_str_method(const std::string& n) {
  static const char* const kNames[] = {
      "strip",   "lstrip",     "rstrip",  "split",   "rsplit",  "startswith",   "endswith",    "upper",      "lower",
      "title",   "capitalize", "replace", "find",    "rfind",   "count",        "join",        "splitlines", "isdigit",
      "isalpha", "isalnum",    "isspace", "islower", "isupper", "removeprefix", "removesuffix"};
  return std::find(std::begin(kNames), std::end(kNames), n) != std::end(kNames);
}

bool is_unsupported_str_method(const std::string& n) {
  static const char* const kNames[] = {
      "format",     "format_map", "zfill",     "center",   "ljust",        "rjust",       "partition",
      "rpartition", "expandtabs", "casefold",  "swapcase", "translate",    "encode",      "index",
      "rindex",     "isnumeric",  "isdecimal", "istitle",  "isidentifier", "isprintable", "maketrans"};
  return std::find(std::begin(kNames), std::end(kNames), n) != std::end(kNames);
}

List split_string(const std::string& s, const Value* sep, int64_t maxsplit, const Pos& pos) {
  List out;
  if (sep == nullptr || sep->is_none()) {
    size_t i = 0;
    int64_t done = 0;
    while (true) {
      while (i < s.size() && is_py_space(s[i])) ++i;
      if (i >= s.size()) break;
      if (maxsplit >= 0 && done >= maxsplit) {
        size_t e = s.size();
        while (e > i && is_py_space(s[e - 1])) --e;
        out.push_back(Value::string(s.substr(i, e - i)));
        break;
      }
      size_t j = i;
      while (j < s.size() && !is_py_space(s[j])) ++j;
      out.push_back(Value::string(s.substr(i, j - i)));
      ++done;
      i = j;
    }
    return out;
  }
  if (!sep->is_string()) fail_at(pos, cat("split: separator must be a string, not '", type_name(*sep), "'"));
  if (sep->s.empty()) fail_at(pos, "split: empty separator");
  size_t i = 0;
  int64_t done = 0;
  while (maxsplit < 0 || done < maxsplit) {
    const size_t k = s.find(sep->s, i);
    if (k == std::string::npos) break;
    out.push_back(Value::string(s.substr(i, k - i)));
    i = k + sep->s.size();
    ++done;
  }
  out.push_back(Value::string(s.substr(i)));
  return out;
}

List splitlines(const std::string& s, bool keepends) {
  List out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i;
    while (j < s.size() && s[j] != '\n' && s[j] != '\r') ++j;
    size_t e = j;
    if (j < s.size()) e = (s[j] == '\r' && j + 1 < s.size() && s[j + 1] == '\n') ? j + 2 : j + 1;
    out.push_back(Value::string(s.substr(i, (keepends ? e : j) - i)));
    i = e;
  }
  return out;
}

Value str_method(const std::string& name, const std::string& s, CallArgs& a, const Pos& pos) {
  const std::string what = "str." + name;
  auto affix = [&](bool prefix) {
    const Value* p = arg(a, 0, prefix ? "prefix" : "suffix");
    if (p == nullptr) fail_at(pos, what + "() takes at least 1 argument");
    std::string sub = s;
    if (a.pos.size() > 1) {
      const std::vector<std::string_view> cps = code_points(s);
      const auto n = static_cast<int64_t>(cps.size());
      auto clamp = [&](int64_t x) { return std::clamp<int64_t>(x < 0 ? x + n : x, 0, n); };
      const int64_t from = clamp(arg_int(a, 1, "start", 0, pos, what.c_str()));
      const int64_t to = clamp(arg_int(a, 2, "end", n, pos, what.c_str()));
      sub.clear();
      for (int64_t k = from; k < to; ++k) sub += cps[static_cast<size_t>(k)];
    }
    auto test = [&](const Value& x) {
      if (!x.is_string()) fail_at(pos, cat(what, "() arguments must be strings, not '", type_name(x), "'"));
      if (x.s.size() > sub.size()) return false;
      return prefix ? sub.compare(0, x.s.size(), x.s) == 0 : sub.compare(sub.size() - x.s.size(), x.s.size(), x.s) == 0;
    };
    if (p->is_list()) return Value::boolean(std::any_of(p->list->begin(), p->list->end(), test));
    return Value::boolean(test(*p));
  };
  if (name == "strip" || name == "lstrip" || name == "rstrip")
    return Value::string(py_strip(s, arg(a, 0, "chars"), name != "rstrip", name != "lstrip"));
  if (name == "split" || name == "rsplit") {
    const int64_t maxsplit = arg_int(a, 1, "maxsplit", -1, pos, what.c_str());
    if (name == "rsplit" && maxsplit >= 0) {
      // Split from the right: reverse the parts of a full split and join the leftover.
      List all = split_string(s, arg(a, 0, "sep"), -1, pos);
      const Value* sep = arg(a, 0, "sep");
      if (sep == nullptr || sep->is_none() || static_cast<int64_t>(all.size()) <= maxsplit + 1)
        return Value::make_list(all);
      const size_t keep = all.size() - static_cast<size_t>(maxsplit);
      std::string head;
      for (size_t k = 0; k < keep; ++k) head += (k ? sep->s : "") + all[k].s;
      List out{Value::string(head)};
      out.insert(out.end(), all.begin() + static_cast<std::ptrdiff_t>(keep), all.end());
      return Value::make_list(std::move(out));
    }
    return Value::make_list(split_string(s, arg(a, 0, "sep"), maxsplit, pos));
  }
  if (name == "startswith") return affix(true);
  if (name == "endswith") return affix(false);
  if (name == "upper") return Value::string(upper(s));
  if (name == "lower") return Value::string(lower(s));
  if (name == "title") return Value::string(map_case(s, CaseMode::Title));
  if (name == "capitalize") return Value::string(map_case(s, CaseMode::Capitalize));
  if (name == "replace") {
    const std::string old = arg_str(a, 0, "old", "", pos, what.c_str());
    const std::string with = arg_str(a, 1, "new", "", pos, what.c_str());
    if (arg(a, 0, "old") == nullptr || arg(a, 1, "new") == nullptr) fail_at(pos, "str.replace() takes 2 arguments");
    return Value::string(py_replace(s, old, with, arg_int(a, 2, "count", -1, pos, what.c_str())));
  }
  if (name == "find" || name == "rfind" || name == "count") {
    const std::string sub = arg_str(a, 0, "sub", "", pos, what.c_str());
    if (name == "count") {
      if (sub.empty()) return Value::integer(cp_length(s) + 1);
      int64_t c = 0;
      for (size_t k = s.find(sub); k != std::string::npos; k = s.find(sub, k + sub.size())) ++c;
      return Value::integer(c);
    }
    const size_t k = name == "find" ? s.find(sub) : s.rfind(sub);
    return Value::integer(k == std::string::npos ? -1 : cp_length(std::string_view(s).substr(0, k)));
  }
  if (name == "join") {
    const Value* items = arg(a, 0, "iterable");
    if (items == nullptr) fail_at(pos, "str.join() takes 1 argument");
    std::string out;
    bool first = true;
    for (const Value& x : iterate(*items, pos)) {
      if (!first) out += s;
      first = false;
      out += to_str(x);
    }
    return Value::string(std::move(out));
  }
  if (name == "splitlines") return Value::make_list(splitlines(s, arg_bool(a, 0, "keepends", false)));
  if (name == "removeprefix" || name == "removesuffix") {
    const std::string x = arg_str(a, 0, "affix", "", pos, what.c_str());
    if (name == "removeprefix") return Value::string(s.compare(0, x.size(), x) == 0 ? s.substr(x.size()) : s);
    if (x.size() <= s.size() && s.compare(s.size() - x.size(), x.size(), x) == 0)
      return Value::string(s.substr(0, s.size() - x.size()));
    return Value::string(s);
  }
  // is* predicates (ASCII)
  if (s.empty()) return Value::boolean(false);
  auto all = [&](auto pred) { return Value::boolean(std::all_of(s.begin(), s.end(), pred)); };
  if (name == "isdigit") return all(is_digit);
  if (name == "isalpha") return all(is_alpha);
  if (name == "isalnum") return all([](char c) { return is_alpha(c) || is_digit(c); });
  if (name == "isspace") return all(is_py_space);
  return Value::boolean(has_case(s, name == "islower"));
}

Value Interp::get_attr(const Value& obj, const std::string& name, const Pos& /*pos*/) {
  switch (obj.kind) {
    case Value::Kind::Undefined: return obj;
    case Value::Kind::Dict: {
      const Dict& d = *obj.dict;
      if (!d.is_namespace && (name == "get" || name == "items" || name == "keys" || name == "values")) {
        const Value self = obj;
        return Value::function("dict." + name, [self, name](CallArgs& a, const Pos& p) {
          const Dict& dd = *self.dict;
          if (name == "get") {
            const Value* key = arg(a, 0, "key");
            if (key == nullptr) fail_at(p, "dict.get() takes at least 1 argument");
            const Value* v = key->is_string() ? dd.find(key->s) : nullptr;
            if (v != nullptr) return *v;
            const Value* def = arg(a, 1, "default");
            return def != nullptr ? *def : Value::none();
          }
          List out;
          for (const auto& [k, v] : dd.items) {
            if (name == "items") {
              out.push_back(Value::make_tuple({Value::string(k), v}));
            } else {
              out.push_back(name == "keys" ? Value::string(k) : v);
            }
          }
          return Value::make_list(std::move(out));
        });
      }
      const Value* v = d.find(name);
      if (v != nullptr) return *v;
      return Value::undefined(cat("'", type_name(obj), " object' has no attribute '", name, "'"));
    }
    case Value::Kind::String: {
      if (is_str_method(name)) {
        const std::string self = obj.s;
        return Value::function("str." + name,
                               [self, name](CallArgs& a, const Pos& p) { return str_method(name, self, a, p); });
      }
      if (is_unsupported_str_method(name)) return Value::undefined(cat("unsupported method 'str.", name, "'"));
      return Value::undefined(cat("'str object' has no attribute '", name, "'"));
    }
    case Value::Kind::List: {
      if (name == "index" || name == "count") {
        const Value self = obj;
        return Value::function("list." + name, [self, name](CallArgs& a, const Pos& p) {
          const Value* x = arg(a, 0, "value");
          if (x == nullptr) fail_at(p, cat("list.", name, "() takes 1 argument"));
          int64_t c = 0;
          for (size_t k = 0; k < self.list->size(); ++k) {
            if (!equal((*self.list)[k], *x)) continue;
            if (name == "index") return Value::integer(static_cast<int64_t>(k));
            ++c;
          }
          if (name == "index") fail_at(p, cat(repr(*x), " is not in list"));
          return Value::integer(c);
        });
      }
      static const char* const kMutating[] = {"append", "extend", "insert",  "pop",
                                              "remove", "sort",   "reverse", "clear"};
      if (std::find(std::begin(kMutating), std::end(kMutating), name) != std::end(kMutating))
        return Value::undefined(cat("unsupported method 'list.", name,
                                    "' (templates are rendered immutable, as Hugging Face renders them)"));
      return Value::undefined(cat("'list object' has no attribute '", name, "'"));
    }
    default: return Value::undefined(cat("'", type_name(obj), " object' has no attribute '", name, "'"));
  }
}

Value Interp::get_item(const Value& obj, const Value& key, const Pos& pos) {
  switch (obj.kind) {
    case Value::Kind::Undefined: return obj;
    case Value::Kind::List:
    case Value::Kind::String: {
      if (!is_intlike(key)) {
        if (key.is_string()) return get_attr(obj, key.s, pos);
        return Value::undefined(cat("'", type_name(obj), "' indices must be integers, not '", type_name(key), "'"));
      }
      int64_t k = as_int(key);
      if (obj.is_list()) {
        const auto n = static_cast<int64_t>(obj.list->size());
        if (k < 0) k += n;
        if (k < 0 || k >= n) return Value::undefined(cat("list index ", as_int(key), " out of range"));
        return (*obj.list)[static_cast<size_t>(k)];
      }
      const std::vector<std::string_view> cps = code_points(obj.s);
      const auto n = static_cast<int64_t>(cps.size());
      if (k < 0) k += n;
      if (k < 0 || k >= n) return Value::undefined(cat("string index ", as_int(key), " out of range"));
      return Value::string(std::string(cps[static_cast<size_t>(k)]));
    }
    case Value::Kind::Dict: {
      if (!key.is_string()) return Value::undefined(cat("no key ", repr(key)));
      const Value* v = obj.dict->find(key.s);
      if (v != nullptr) return *v;
      return get_attr(obj, key.s, pos);
    }
    default: return Value::undefined(cat("'", type_name(obj), "' object is not subscriptable"));
  }
}

// ---- filters ------------------------------------------------------------------------------

// Jinja's attribute getter for filters: "a.b.0" walks attributes and indexes.
Value attr_path(Interp& in, const Value& v, const std::string& path, const Pos& pos) {
  Value cur = v;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('.', i);
    if (j == std::string::npos) j = path.size();
    const std::string part = path.substr(i, j - i);
    const bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), is_digit);
    cur =
        numeric ? in.get_item(cur, Value::integer(std::stoll(part)), pos) : in.get_item(cur, Value::string(part), pos);
    i = j + 1;
  }
  return cur;
}

std::optional<std::string> attribute_arg(const CallArgs& a, size_t index, const Pos& pos, const char* what) {
  const Value* v = arg(a, index, "attribute");
  if (v == nullptr || v->is_none() || v->is_undefined()) return std::nullopt;
  if (is_intlike(*v)) return std::to_string(as_int(*v));
  if (!v->is_string()) fail_at(pos, cat(what, ": attribute must be a string"));
  return v->s;
}

Value f_length(Interp&, const Value& v, CallArgs&, const Pos& pos) {
  switch (v.kind) {
    case Value::Kind::String: return Value::integer(cp_length(v.s));
    case Value::Kind::List: return Value::integer(static_cast<int64_t>(v.list->size()));
    case Value::Kind::Dict: return Value::integer(static_cast<int64_t>(v.dict->items.size()));
    case Value::Kind::Undefined: return Value::integer(0);
    default: fail_at(pos, cat("object of type '", type_name(v), "' has no len()"));
  }
}

Value f_trim(Interp&, const Value& v, CallArgs& a, const Pos&) {
  return Value::string(py_strip(to_str(v), arg(a, 0, "chars"), true, true));
}
Value f_upper(Interp&, const Value& v, CallArgs&, const Pos&) {
  return Value::string(upper(to_str(v)));
}
Value f_lower(Interp&, const Value& v, CallArgs&, const Pos&) {
  return Value::string(lower(to_str(v)));
}
Value f_capitalize(Interp&, const Value& v, CallArgs&, const Pos&) {
  return Value::string(map_case(to_str(v), CaseMode::Capitalize));
}
Value f_title(Interp&, const Value& v, CallArgs&, const Pos&) {
  return Value::string(map_case(to_str(v), CaseMode::JinjaTitle));
}
Value f_string(Interp&, const Value& v, CallArgs&, const Pos&) {
  return Value::string(to_str(v));
}

Value f_default(Interp&, const Value& v, CallArgs& a, const Pos&) {
  const Value* def = arg(a, 0, "default_value");
  const bool boolean = arg_bool(a, 1, "boolean", false);
  if (v.is_undefined() || (boolean && !truthy(v))) return def != nullptr ? *def : Value::string("");
  return v;
}

Value f_join(Interp& in, const Value& v, CallArgs& a, const Pos& pos) {
  const std::string sep = arg_str(a, 0, "d", "", pos, "join");
  const std::optional<std::string> attribute = attribute_arg(a, 1, pos, "join");
  std::string out;
  bool first = true;
  for (const Value& x : iterate(v, pos)) {
    if (!first) out += sep;
    first = false;
    out += to_str(attribute ? attr_path(in, x, *attribute, pos) : x);
    in.check_size(out.size(), pos);
  }
  return Value::string(std::move(out));
}

// transformers' tojson: json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)
Value f_tojson(Interp& in, const Value& v, CallArgs& a, const Pos& pos) {
  JsonStyle st;
  st.ensure_ascii = arg_bool(a, 0, "ensure_ascii", false);
  const Value* indent = arg(a, 1, "indent");
  if (indent != nullptr && !indent->is_none() && !indent->is_undefined()) {
    if (indent->is_string()) {
      st.indent = indent->s;
    } else if (is_intlike(*indent)) {
      st.indent = std::string(static_cast<size_t>(std::clamp<int64_t>(as_int(*indent), 0, 64)), ' ');
    } else {
      fail_at(pos, "tojson: indent must be an integer or a string");
    }
    st.item_sep = ",";
  }
  const Value* seps = arg(a, 2, "separators");
  if (seps != nullptr && !seps->is_none() && !seps->is_undefined()) {
    if (!seps->is_list() || seps->list->size() != 2 || !(*seps->list)[0].is_string() || !(*seps->list)[1].is_string())
      fail_at(pos, "tojson: separators must be a pair of strings");
    st.item_sep = (*seps->list)[0].s;
    st.key_sep = (*seps->list)[1].s;
  }
  st.sort_keys = arg_bool(a, 3, "sort_keys", false);
  std::string out;
  dump_json(v, st, 0, out, pos, in.options().max_output);
  return Value::string(std::move(out));
}

Value f_first(Interp&, const Value& v, CallArgs&, const Pos& pos) {
  List items = iterate(v, pos);
  if (items.empty()) return Value::undefined("first: the sequence was empty");
  return items.front();
}
Value f_last(Interp&, const Value& v, CallArgs&, const Pos& pos) {
  List items = iterate(v, pos);
  if (items.empty()) return Value::undefined("last: the sequence was empty");
  return items.back();
}
Value f_list(Interp&, const Value& v, CallArgs&, const Pos& pos) {
  return Value::make_list(iterate(v, pos));
}

Value f_items(Interp&, const Value& v, CallArgs&, const Pos& pos) {
  if (v.is_undefined()) return Value::make_list();
  if (!v.is_dict() || v.dict->is_namespace) fail_at(pos, "items: can only get item pairs from a mapping");
  List out;
  for (const auto& [k, x] : v.dict->items) out.push_back(Value::make_tuple({Value::string(k), x}));
  return Value::make_list(std::move(out));
}

Value f_replace(Interp& in, const Value& v, CallArgs& a, const Pos& pos) {
  if (arg(a, 0, "old") == nullptr || arg(a, 1, "new") == nullptr)
    fail_at(pos, "replace: needs the old and new strings");
  const std::string old = to_str(*arg(a, 0, "old"));
  const std::string with = to_str(*arg(a, 1, "new"));
  std::string out = py_replace(to_str(v), old, with, arg_int(a, 2, "count", -1, pos, "replace"));
  in.check_size(out.size(), pos);
  return Value::string(std::move(out));
}

// Python's int(str, base) / float(str): surrounding whitespace and underscores between digits.
std::optional<int64_t> parse_int(const std::string& text, int base) {
  std::string s = py_strip(text, nullptr, true, true);
  std::string digits;
  bool neg = false;
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  if (base == 16 && s.compare(i, 2, "0x") == 0) i += 2;
  for (; i < s.size(); ++i) {
    if (s[i] == '_' && !digits.empty() && i + 1 < s.size() && s[i + 1] != '_') continue;
    digits += s[i];
  }
  if (digits.empty()) return std::nullopt;
  int64_t out = 0;
  const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), out, base);
  if (r.ec != std::errc() || r.ptr != digits.data() + digits.size()) return std::nullopt;
  return neg ? -out : out;
}
std::optional<double> parse_float(const std::string& text) {
  const std::string s = py_strip(text, nullptr, true, true);
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  const double d = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return std::nullopt;
  return d;
}

Value f_int(Interp&, const Value& v, CallArgs& a, const Pos& pos) {
  const Value* def = arg(a, 0, "default");
  Value fallback = def != nullptr ? *def : Value::integer(0);
  const int64_t base = arg_int(a, 1, "base", 10, pos, "int");
  if (is_intlike(v)) return Value::integer(as_int(v));
  if (v.kind == Value::Kind::Float) {
    if (!std::isfinite(v.f) || std::fabs(v.f) > 9.2e18) return fallback;
    return Value::integer(static_cast<int64_t>(v.f));
  }
  if (v.is_string()) {
    if (base >= 2 && base <= 36) {
      if (std::optional<int64_t> i = parse_int(v.s, static_cast<int>(base))) return Value::integer(*i);
    }
    if (std::optional<double> d = parse_float(v.s)) {
      if (std::isfinite(*d) && std::fabs(*d) < 9.2e18) return Value::integer(static_cast<int64_t>(*d));
    }
  }
  return fallback;
}

Value f_float(Interp&, const Value& v, CallArgs& a, const Pos&) {
  const Value* def = arg(a, 0, "default");
  if (v.is_number()) return Value::real(as_double(v));
  if (v.is_string())
    if (std::optional<double> d = parse_float(v.s)) return Value::real(*d);
  return def != nullptr ? *def : Value::real(0.0);
}

Value f_safe(Interp&, const Value& v, CallArgs&, const Pos&) {
  return Value::string(to_str(v));
}

Value f_escape(Interp&, const Value& v, CallArgs&, const Pos&) {
  std::string out;
  for (char c : to_str(v)) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return Value::string(std::move(out));
}

// Jinja's indent: the first line (unless first=True) and blank lines (unless blank=True) stay.
Value f_indent(Interp& in, const Value& v, CallArgs& a, const Pos& pos) {
  const Value* w = arg(a, 0, "width");
  std::string indention = "    ";
  if (w != nullptr && w->is_string()) {
    indention = w->s;
  } else if (w != nullptr && is_intlike(*w)) {
    indention = std::string(static_cast<size_t>(std::clamp<int64_t>(as_int(*w), 0, 1024)), ' ');
  }
  const bool first = arg_bool(a, 1, "first", false);
  const bool blank = arg_bool(a, 2, "blank", false);
  const List lines = splitlines(to_str(v) + "\n", false);
  std::string out;
  for (size_t k = 0; k < lines.size(); ++k) {
    if (k > 0) out += '\n';
    const std::string& line = lines[k].s;
    if (k == 0 || (!blank && line.empty())) {
      out += line;
    } else {
      out += indention + line;
    }
    in.check_size(out.size(), pos);
  }
  if (first) out = indention + out;
  return Value::string(std::move(out));
}

// select / reject / selectattr / rejectattr
Value select_impl(Interp& in, const Value& v, CallArgs& a, const Pos& pos, bool attr, bool keep) {
  const char* what = attr ? (keep ? "selectattr" : "rejectattr") : (keep ? "select" : "reject");
  size_t next = 0;
  std::string attribute;
  if (attr) {
    if (a.pos.empty() || !a.pos[0].is_string()) fail_at(pos, cat(what, ": needs an attribute name"));
    attribute = a.pos[0].s;
    next = 1;
  }
  std::string test;
  if (next < a.pos.size()) {
    if (!a.pos[next].is_string()) fail_at(pos, cat(what, ": the test name must be a string"));
    test = a.pos[next].s;
    if (!has_test(test)) fail_at(pos, cat("unsupported test '", test, "'"));
    ++next;
  }
  CallArgs targs;
  targs.pos.assign(a.pos.begin() + static_cast<std::ptrdiff_t>(std::min(next, a.pos.size())), a.pos.end());
  targs.kw = a.kw;
  List out;
  for (const Value& x : iterate(v, pos)) {
    const Value subject = attr ? attr_path(in, x, attribute, pos) : x;
    const bool ok = test.empty() ? truthy(subject) : in.apply_test(test, subject, targs, pos);
    if (ok == keep) out.push_back(x);
  }
  return Value::make_list(std::move(out));
}
Value f_select(Interp& in, const Value& v, CallArgs& a, const Pos& p) {
  return select_impl(in, v, a, p, false, true);
}
Value f_reject(Interp& in, const Value& v, CallArgs& a, const Pos& p) {
  return select_impl(in, v, a, p, false, false);
}
Value f_selectattr(Interp& in, const Value& v, CallArgs& a, const Pos& p) {
  return select_impl(in, v, a, p, true, true);
}
Value f_rejectattr(Interp& in, const Value& v, CallArgs& a, const Pos& p) {
  return select_impl(in, v, a, p, true, false);
}

Value f_map(Interp& in, const Value& v, CallArgs& a, const Pos& pos) {
  List out;
  const std::optional<std::string> attribute = attribute_arg(a, 99, pos, "map");
  if (attribute) {
    const Value* def = nullptr;
    for (const auto& kv : a.kw)
      if (kv.first == "default") def = &kv.second;
    for (const Value& x : iterate(v, pos)) {
      Value y = attr_path(in, x, *attribute, pos);
      out.push_back(y.is_undefined() && def != nullptr ? *def : y);
    }
    return Value::make_list(std::move(out));
  }
  if (a.pos.empty() || !a.pos[0].is_string()) fail_at(pos, "map: needs a filter name or attribute=");
  const std::string filter = a.pos[0].s;
  if (!has_filter(filter)) fail_at(pos, cat("unsupported filter '", filter, "'"));
  CallArgs fargs;
  fargs.pos.assign(a.pos.begin() + 1, a.pos.end());
  fargs.kw = a.kw;
  for (const Value& x : iterate(v, pos)) out.push_back(in.apply_filter(filter, x, fargs, pos));
  return Value::make_list(std::move(out));
}

// Sort key: strings lower-cased unless case_sensitive.
Value sort_key(Interp& in, const Value& x, const std::optional<std::string>& attribute, bool case_sensitive,
               const Pos& pos) {
  Value k = attribute ? attr_path(in, x, *attribute, pos) : x;
  if (!case_sensitive && k.is_string()) k.s = lower(k.s);
  return k;
}

Value f_sort(Interp& in, const Value& v, CallArgs& a, const Pos& pos) {
  const bool reverse = arg_bool(a, 0, "reverse", false);
  const bool cs = arg_bool(a, 1, "case_sensitive", false);
  const std::optional<std::string> attribute = attribute_arg(a, 2, pos, "sort");
  List items = iterate(v, pos);
  std::vector<std::pair<Value, Value>> keyed;
  for (const Value& x : items) keyed.emplace_back(sort_key(in, x, attribute, cs, pos), x);
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& p, const auto& q) {
    return reverse ? order(q.first, p.first, pos, "<") < 0 : order(p.first, q.first, pos, "<") < 0;
  });
  List out;
  for (auto& kv : keyed) out.push_back(std::move(kv.second));
  return Value::make_list(std::move(out));
}

Value f_dictsort(Interp&, const Value& v, CallArgs& a, const Pos& pos) {
  if (!v.is_dict()) fail_at(pos, "dictsort: needs a mapping");
  const bool cs = arg_bool(a, 0, "case_sensitive", false);
  const std::string by = arg_str(a, 1, "by", "key", pos, "dictsort");
  const bool reverse = arg_bool(a, 2, "reverse", false);
  if (by != "key" && by != "value") fail_at(pos, "dictsort: 'by' must be 'key' or 'value'");
  std::vector<std::pair<Value, Value>> keyed;
  for (const auto& [k, x] : v.dict->items) {
    Value key = by == "key" ? Value::string(k) : x;
    if (!cs && key.is_string()) key.s = lower(key.s);
    keyed.emplace_back(key, Value::make_tuple({Value::string(k), x}));
  }
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& p, const auto& q) {
    return reverse ? order(q.first, p.first, pos, "<") < 0 : order(p.first, q.first, pos, "<") < 0;
  });
  List out;
  for (auto& kv : keyed) out.push_back(std::move(kv.second));
  return Value::make_list(std::move(out));
}

Value f_unique(Interp& in, const Value& v, CallArgs& a, const Pos& pos) {
  const bool cs = arg_bool(a, 0, "case_sensitive", false);
  const std::optional<std::string> attribute = attribute_arg(a, 1, pos, "unique");
  List out, seen;
  for (const Value& x : iterate(v, pos)) {
    Value k = sort_key(in, x, attribute, cs, pos);
    if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return equal(s, k); })) continue;
    seen.push_back(k);
    out.push_back(x);
  }
  return Value::make_list(std::move(out));
}

Value f_reverse(Interp&, const Value& v, CallArgs&, const Pos& pos) {
  if (v.is_string()) {
    std::vector<std::string_view> cps = code_points(v.s);
    std::string out;
    for (auto it = cps.rbegin(); it != cps.rend(); ++it) out += *it;
    return Value::string(std::move(out));
  }
  List items = iterate(v, pos);
  std::reverse(items.begin(), items.end());
  return Value::make_list(std::move(items));
}

Value f_minmax(Interp& in, const Value& v, CallArgs& a, const Pos& pos, bool want_max) {
  const bool cs = arg_bool(a, 0, "case_sensitive", false);
  const std::optional<std::string> attribute = attribute_arg(a, 1, pos, want_max ? "max" : "min");
  List items = iterate(v, pos);
  if (items.empty()) return Value::undefined(cat(want_max ? "max" : "min", ": the sequence was empty"));
  size_t best = 0;
  Value best_key = sort_key(in, items[0], attribute, cs, pos);
  for (size_t k = 1; k < items.size(); ++k) {
    Value key = sort_key(in, items[k], attribute, cs, pos);
    const int c = order(key, best_key, pos, want_max ? ">" : "<");
    if (want_max ? c > 0 : c < 0) {
      best = k;
      best_key = key;
    }
  }
  return items[best];
}
Value f_min(Interp& in, const Value& v, CallArgs& a, const Pos& p) {
  return f_minmax(in, v, a, p, false);
}
Value f_max(Interp& in, const Value& v, CallArgs& a, const Pos& p) {
  return f_minmax(in, v, a, p, true);
}

Value f_sum(Interp& in, const Value& v, CallArgs& a, const Pos& pos) {
  const std::optional<std::string> attribute = attribute_arg(a, 0, pos, "sum");
  const Value* start = arg(a, 1, "start");
  Value acc = start != nullptr ? *start : Value::integer(0);
  for (const Value& x : iterate(v, pos)) {
    const Value y = attribute ? attr_path(in, x, *attribute, pos) : x;
    if (!acc.is_number() || !y.is_number()) fail_at(pos, cat("sum: cannot add '", type_name(y), "'"));
    if (is_intlike(acc) && is_intlike(y)) {
      int64_t r = 0;
      if (__builtin_add_overflow(as_int(acc), as_int(y), &r)) fail_at(pos, "integer overflow");
      acc = Value::integer(r);
    } else {
      acc = Value::real(as_double(acc) + as_double(y));
    }
  }
  return acc;
}

Value f_abs(Interp&, const Value& v, CallArgs&, const Pos& pos) {
  if (is_intlike(v)) {
    if (as_int(v) == std::numeric_limits<int64_t>::min()) fail_at(pos, "integer overflow");
    return Value::integer(std::llabs(as_int(v)));
  }
  if (v.kind == Value::Kind::Float) return Value::real(std::fabs(v.f));
  fail_at(pos, cat("bad operand type for abs(): '", type_name(v), "'"));
}

Value f_round(Interp&, const Value& v, CallArgs& a, const Pos& pos) {
  const int64_t precision = arg_int(a, 0, "precision", 0, pos, "round");
  const std::string method = arg_str(a, 1, "method", "common", pos, "round");
  if (!v.is_number()) fail_at(pos, cat("round: needs a number, not '", type_name(v), "'"));
  if (method == "common" && is_intlike(v)) return Value::integer(as_int(v));
  const double scale = std::pow(10.0, static_cast<double>(std::clamp<int64_t>(precision, -300, 300)));
  const double x = as_double(v) * scale;
  double r = 0;
  if (method == "common") {
    r = std::nearbyint(x);  // half to even, as Python's round()
  } else if (method == "ceil") {
    r = std::ceil(x);
  } else if (method == "floor") {
    r = std::floor(x);
  } else {
    fail_at(pos, "round: method must be 'common', 'ceil' or 'floor'");
  }
  return Value::real(r / scale);
}

Value f_wordcount(Interp&, const Value& v, CallArgs&, const Pos&) {
  const std::string s = to_str(v);
  int64_t n = 0;
  bool in_word = false;
  for (char c : s) {
    const bool w = is_alpha(c) || is_digit(c) || c == '_' || (static_cast<unsigned char>(c) & 0x80) != 0;
    if (w && !in_word) ++n;
    in_word = w;
  }
  return Value::integer(n);
}

Value f_attr(Interp& in, const Value& v, CallArgs& a, const Pos& pos) {
  const std::string name = arg_str(a, 0, "name", "", pos, "attr");
  return in.get_attr(v, name, pos);
}

Value f_center(Interp&, const Value& v, CallArgs& a, const Pos& pos) {
  const std::string s = to_str(v);
  const int64_t width = std::clamp<int64_t>(arg_int(a, 0, "width", 80, pos, "center"), 0, 1 << 20);
  const int64_t len = cp_length(s);
  if (width <= len) return Value::string(s);
  const int64_t pad = width - len, left = pad / 2 + (pad & width & 1);
  return Value::string(std::string(static_cast<size_t>(left), ' ') + s +
                       std::string(static_cast<size_t>(pad - left), ' '));
}

const std::pair<const char*, FilterFn> kFilters[] = {
    {"abs", f_abs},
    {"attr", f_attr},
    {"capitalize", f_capitalize},
    {"center", f_center},
    {"count", f_length},
    {"d", f_default},
    {"default", f_default},
    {"dictsort", f_dictsort},
    {"e", f_escape},
    {"escape", f_escape},
    {"first", f_first},
    {"float", f_float},
    {"indent", f_indent},
    {"int", f_int},
    {"items", f_items},
    {"join", f_join},
    {"last", f_last},
    {"length", f_length},
    {"list", f_list},
    {"lower", f_lower},
    {"map", f_map},
    {"max", f_max},
    {"min", f_min},
    {"reject", f_reject},
    {"rejectattr", f_rejectattr},
    {"replace", f_replace},
    {"reverse", f_reverse},
    {"round", f_round},
    {"safe", f_safe},
    {"select", f_select},
    {"selectattr", f_selectattr},
    {"sort", f_sort},
    {"string", f_string},
    {"sum", f_sum},
    {"title", f_title},
    {"tojson", f_tojson},
    {"trim", f_trim},
    {"unique", f_unique},
    {"upper", f_upper},
    {"wordcount", f_wordcount},
};

const FilterFn* find_filter(std::string_view name) {
  for (const auto& [n, f] : kFilters)
    if (name == n) return &f;
  return nullptr;
}

// ---- tests --------------------------------------------------------------------------------

const Value& test_arg(const CallArgs& a, const char* name, const Pos& pos, const char* test) {
  const Value* v = arg(a, 0, name);
  if (v == nullptr) fail_at(pos, cat("test '", test, "' needs an argument"));
  return *v;
}

bool t_defined(Interp&, const Value& v, CallArgs&, const Pos&) {
  return !v.is_undefined();
}
bool t_undefined(Interp&, const Value& v, CallArgs&, const Pos&) {
  return v.is_undefined();
}
bool t_none(Interp&, const Value& v, CallArgs&, const Pos&) {
  return v.is_none();
}
bool t_boolean(Interp&, const Value& v, CallArgs&, const Pos&) {
  return v.kind == Value::Kind::Bool;
}
bool t_true(Interp&, const Value& v, CallArgs&, const Pos&) {
  return v.kind == Value::Kind::Bool && v.b;
}
bool t_false(Interp&, const Value& v, CallArgs&, const Pos&) {
  return v.kind == Value::Kind::Bool && !v.b;
}
bool t_integer(Interp&, const Value& v, CallArgs&, const Pos&) {
  return v.kind == Value::Kind::Int;
}
bool t_float(Interp&, const Value& v, CallArgs&, const Pos&) {
  return v.kind == Value::Kind::Float;
}
bool t_number(Interp&, const Value& v, CallArgs&, const Pos&) {
  return v.is_number();
}
bool t_string(Interp&, const Value& v, CallArgs&, const Pos&) {
  return v.is_string();
}
bool t_mapping(Interp&, const Value& v, CallArgs&, const Pos&) {
  return v.is_dict() && !v.dict->is_namespace;
}
bool t_iterable(Interp&, const Value& v, CallArgs&, const Pos&) {
  return v.is_string() || v.is_list() || (v.is_dict() && !v.dict->is_namespace) || v.is_undefined();
}
bool t_sequence(Interp&, const Value& v, CallArgs&, const Pos&) {
  return v.is_string() || v.is_list() || (v.is_dict() && !v.dict->is_namespace);
}
bool t_callable(Interp&, const Value& v, CallArgs&, const Pos&) {
  return v.kind == Value::Kind::Function;
}
bool t_even(Interp&, const Value& v, CallArgs&, const Pos& pos) {
  if (!is_intlike(v)) fail_at(pos, "test 'even' needs an integer");
  return as_int(v) % 2 == 0;
}
bool t_odd(Interp&, const Value& v, CallArgs&, const Pos& pos) {
  if (!is_intlike(v)) fail_at(pos, "test 'odd' needs an integer");
  return as_int(v) % 2 != 0;
}
bool t_divisibleby(Interp&, const Value& v, CallArgs& a, const Pos& pos) {
  const Value& n = test_arg(a, "num", pos, "divisibleby");
  if (!is_intlike(v) || !is_intlike(n) || as_int(n) == 0) fail_at(pos, "test 'divisibleby' needs nonzero integers");
  return as_int(v) % as_int(n) == 0;
}
bool t_eq(Interp&, const Value& v, CallArgs& a, const Pos& pos) {
  return equal(v, test_arg(a, "other", pos, "eq"));
}
bool t_ne(Interp&, const Value& v, CallArgs& a, const Pos& pos) {
  return !equal(v, test_arg(a, "other", pos, "ne"));
}
bool t_lt(Interp&, const Value& v, CallArgs& a, const Pos& pos) {
  return order(v, test_arg(a, "other", pos, "lt"), pos, "<") < 0;
}
bool t_le(Interp&, const Value& v, CallArgs& a, const Pos& pos) {
  return order(v, test_arg(a, "other", pos, "le"), pos, "<=") <= 0;
}
bool t_gt(Interp&, const Value& v, CallArgs& a, const Pos& pos) {
  return order(v, test_arg(a, "other", pos, "gt"), pos, ">") > 0;
}
bool t_ge(Interp&, const Value& v, CallArgs& a, const Pos& pos) {
  return order(v, test_arg(a, "other", pos, "ge"), pos, ">=") >= 0;
}
bool t_in(Interp&, const Value& v, CallArgs& a, const Pos& pos) {
  return contains(test_arg(a, "seq", pos, "in"), v, pos);
}
bool t_sameas(Interp&, const Value& v, CallArgs& a, const Pos& pos) {
  const Value& o = test_arg(a, "other", pos, "sameas");
  if (v.kind != o.kind) return false;
  switch (v.kind) {
    case Value::Kind::List: return v.list == o.list;
    case Value::Kind::Dict: return v.dict == o.dict;
    case Value::Kind::Function: return v.fn == o.fn;
    default: return equal(v, o);
  }
}
bool t_lower(Interp&, const Value& v, CallArgs&, const Pos&) {
  return has_case(to_str(v), true);
}
bool t_upper(Interp&, const Value& v, CallArgs&, const Pos&) {
  return has_case(to_str(v), false);
}
bool t_escaped(Interp&, const Value&, CallArgs&, const Pos&) {
  return false;
}

const std::pair<const char*, TestFn> kTests[] = {
    {"!=", t_ne},
    {"<", t_lt},
    {"<=", t_le},
    {"==", t_eq},
    {">", t_gt},
    {">=", t_ge},
    {"boolean", t_boolean},
    {"callable", t_callable},
    {"defined", t_defined},
    {"divisibleby", t_divisibleby},
    {"eq", t_eq},
    {"equalto", t_eq},
    {"escaped", t_escaped},
    {"even", t_even},
    {"false", t_false},
    {"float", t_float},
    {"ge", t_ge},
    {"greaterthan", t_gt},
    {"gt", t_gt},
    {"in", t_in},
    {"integer", t_integer},
    {"iterable", t_iterable},
    {"le", t_le},
    {"lessthan", t_lt},
    {"lower", t_lower},
    {"lt", t_lt},
    {"mapping", t_mapping},
    {"ne", t_ne},
    {"none", t_none},
    {"number", t_number},
    {"odd", t_odd},
    {"sameas", t_sameas},
    {"sequence", t_sequence},
    {"string", t_string},
    {"true", t_true},
    {"undefined", t_undefined},
    {"upper", t_upper},
};

const TestFn* find_test(std::string_view name) {
  for (const auto& [n, t] : kTests)
    if (name == n) return &t;
  return nullptr;
}

// ---- globals ------------------------------------------------------------------------------

// Namespaces are the only mutable values, so the only way to a reference cycle; render_jinja
// empties them all when it is done.
using NamespaceList = std::vector<std::weak_ptr<Dict>>;

void add_globals(Scope& g, const JinjaOptions& opt, const std::shared_ptr<NamespaceList>& namespaces) {
  g.set("range", Value::function("range", [](CallArgs& a, const Pos& pos) {
          if (a.pos.empty() || a.pos.size() > 3 || !a.kw.empty())
            fail_at(pos, "range() takes 1 to 3 integer arguments");
          for (const Value& v : a.pos)
            if (!is_intlike(v)) fail_at(pos, cat("range() arguments must be integers, not '", type_name(v), "'"));
          const int64_t start = a.pos.size() == 1 ? 0 : as_int(a.pos[0]);
          const int64_t stop = a.pos.size() == 1 ? as_int(a.pos[0]) : as_int(a.pos[1]);
          const int64_t step = a.pos.size() == 3 ? as_int(a.pos[2]) : 1;
          if (step == 0) fail_at(pos, "range() step must not be zero");
          const double count =
              std::ceil((static_cast<double>(stop) - static_cast<double>(start)) / static_cast<double>(step));
          if (count > static_cast<double>(kMaxRange))
            fail_at(pos, cat("range() of more than ", kMaxRange, " items (the sandbox's limit)"));
          List items;
          for (int64_t k = start; step > 0 ? k < stop : k > stop; k += step) items.push_back(Value::integer(k));
          return Value::make_list(std::move(items));
        }));
  auto make_dict = [namespaces](CallArgs& a, const Pos& pos, bool ns) {
    Value d = Value::make_dict();
    d.dict->is_namespace = ns;
    if (ns) namespaces->push_back(d.dict);
    for (const Value& v : a.pos) {
      if (!v.is_dict()) fail_at(pos, cat(ns ? "namespace" : "dict", "() positional arguments must be mappings"));
      for (const auto& [k, x] : v.dict->items) d.dict->set(k, x);
    }
    for (const auto& [k, x] : a.kw) d.dict->set(k, x);
    return d;
  };
  g.set("namespace",
        Value::function("namespace", [make_dict](CallArgs& a, const Pos& pos) { return make_dict(a, pos, true); }));
  g.set("dict", Value::function("dict", [make_dict](CallArgs& a, const Pos& pos) { return make_dict(a, pos, false); }));
  g.set("raise_exception", Value::function("raise_exception", [](CallArgs& a, const Pos& pos) -> Value {
          fail_at(pos, "raise_exception: " + (a.pos.empty() ? std::string() : to_str(a.pos[0])));
        }));
  const std::time_t now = opt.now;
  g.set("strftime_now", Value::function("strftime_now", [now](CallArgs& a, const Pos& pos) {
          const std::string fmt = arg_str(a, 0, "format", "", pos, "strftime_now");
          const std::time_t t = now < 0 ? std::time(nullptr) : now;
          std::tm tm{};
          localtime_r(&t, &tm);
          if (fmt.empty()) return Value::string("");
          for (size_t cap = 256; cap <= (1u << 16); cap *= 4) {
            std::string buf(cap, '\0');
            const size_t n = std::strftime(buf.data(), buf.size(), fmt.c_str(), &tm);
            if (n > 0) {
              buf.resize(n);
              return Value::string(buf);
            }
          }
          return Value::string("");
        }));
  g.set("joiner", Value::function("joiner", [](CallArgs& a, const Pos& pos) {
          const std::string sep = arg_str(a, 0, "sep", ", ", pos, "joiner");
          auto used = std::make_shared<bool>(false);
          return Value::function("joiner", [sep, used](CallArgs&, const Pos&) {
            if (!*used) {
              *used = true;
              return Value::string("");
            }
            return Value::string(sep);
          });
        }));
}

}  // namespace

bool has_filter(std::string_view name) {
  return find_filter(name) != nullptr;
}
bool has_test(std::string_view name) {
  return find_test(name) != nullptr;
}

}  // namespace jinja

std::string render_jinja(const std::string& source, const nlohmann::ordered_json& context,
                         const JinjaOptions& options) {
  using namespace jinja;
  const Body body = parse_template(source);
  auto namespaces = std::make_shared<NamespaceList>();
  struct CycleBreaker {
    std::shared_ptr<NamespaceList> list;
    ~CycleBreaker() {
      for (const auto& w : *list)
        if (auto d = w.lock()) d->items.clear();
    }
  } breaker{namespaces};
  Scope globals(nullptr);
  add_globals(globals, options, namespaces);
  if (!context.is_null()) {
    if (!context.is_object()) fail("chat template: the context must be a JSON object");
    for (auto it = context.begin(); it != context.end(); ++it) globals.set(it.key(), from_json(it.value()));
  }
  Scope root(&globals);
  Interp interp(options, root);
  return interp.render(body);
}

void check_jinja(const std::string& source) {
  (void)jinja::parse_template(source);
}

}  // namespace loupe
