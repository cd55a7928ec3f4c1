// Internals of the Jinja subset (jinja.h): values, the syntax tree, the parser's entry point.
// Values follow Python's: int and float apart, strings of UTF-8 indexed by code point, lists
// and dicts shared by reference (dicts keep insertion order and have string keys).
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace loupe::jinja {

struct Pos {
  int line = 1;
  int col = 1;
};

// Throws Error "chat template line L, column C: <message>".
[[noreturn]] void fail_at(const Pos& pos, const std::string& message);

struct Value;
using List = std::vector<Value>;
struct Dict;
struct Function;
struct CallArgs;

struct Value {
  enum class Kind { Undefined, None, Bool, Int, Float, String, List, Dict, Function };
  Kind kind = Kind::Undefined;
  bool b = false;
  bool tuple = false;  // a List that Python would hold as a tuple (printed "(a, b)")
  uint32_t nest = 0;   // List: nesting depth, 1 + its deepest item's
  int64_t i = 0;
  double f = 0;
  std::string s;  // String; for Undefined, what was undefined ("'x' is undefined")
  std::shared_ptr<List> list;
  std::shared_ptr<Dict> dict;
  std::shared_ptr<const Function> fn;

  static Value undefined(std::string why = "") {
    Value v;
    v.s = std::move(why);
    return v;
  }
  static Value none() {
    Value v;
    v.kind = Kind::None;
    return v;
  }
  static Value boolean(bool x) {
    Value v;
    v.kind = Kind::Bool;
    v.b = x;
    return v;
  }
  static Value integer(int64_t x) {
    Value v;
    v.kind = Kind::Int;
    v.i = x;
    return v;
  }
  static Value real(double x) {
    Value v;
    v.kind = Kind::Float;
    v.f = x;
    return v;
  }
  static Value string(std::string x) {
    Value v;
    v.kind = Kind::String;
    v.s = std::move(x);
    return v;
  }
  static Value make_list(List items = {});
  static Value make_tuple(List items);
  static Value make_dict();
  static Value function(std::string name, std::function<Value(CallArgs&, const Pos&)> call);

  bool is_undefined() const { return kind == Kind::Undefined; }
  bool is_none() const { return kind == Kind::None; }
  bool is_string() const { return kind == Kind::String; }
  bool is_list() const { return kind == Kind::List; }
  bool is_dict() const { return kind == Kind::Dict; }
  bool is_number() const { return kind == Kind::Int || kind == Kind::Float || kind == Kind::Bool; }
};

// Lists and dicts nest at most this deep (deeper ones would overflow the stack when printed,
// compared or freed); building a deeper one throws Error.
constexpr uint32_t kMaxNesting = 512;
[[noreturn]] void fail_nesting();

inline uint32_t nesting(const Value& v);

struct Dict {
  std::vector<std::pair<std::string, Value>> items;  // insertion order
  bool is_namespace = false;                         // namespace(): attributes may be assigned
  uint32_t nest = 1;                                 // 1 + the deepest value's nesting (may grow)

  const Value* find(std::string_view key) const {
    for (const auto& kv : items)
      if (kv.first == key) return &kv.second;
    return nullptr;
  }
  void set(const std::string& key, Value v) {
    nest = std::max(nest, nesting(v) + 1);
    if (nest > kMaxNesting) fail_nesting();
    for (auto& kv : items)
      if (kv.first == key) {
        kv.second = std::move(v);
        return;
      }
    items.emplace_back(key, std::move(v));
  }
};

inline uint32_t nesting(const Value& v) {
  if (v.kind == Value::Kind::List) return v.nest;
  if (v.kind == Value::Kind::Dict) return v.dict->nest;
  return 0;
}

inline Value Value::make_list(List items) {
  Value v;
  v.kind = Kind::List;
  uint32_t deepest = 0;
  for (const Value& x : items) deepest = std::max(deepest, nesting(x));
  if (deepest + 1 > kMaxNesting) fail_nesting();
  v.nest = deepest + 1;
  v.list = std::make_shared<List>(std::move(items));
  return v;
}

inline Value Value::make_tuple(List items) {
  Value v = make_list(std::move(items));
  v.tuple = true;
  return v;
}

inline Value Value::make_dict() {
  Value v;
  v.kind = Kind::Dict;
  v.dict = std::make_shared<Dict>();
  return v;
}

struct CallArgs {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;

  // The argument at position `index` or named `name`; nullptr when absent.
  const Value* get(size_t index, std::string_view name) const {
    if (index < pos.size()) return &pos[index];
    for (const auto& kv : kw)
      if (kv.first == name) return &kv.second;
    return nullptr;
  }
};

struct Function {
  std::string name;
  std::function<Value(CallArgs&, const Pos&)> call;
};

inline Value Value::function(std::string name, std::function<Value(CallArgs&, const Pos&)> call) {
  Value v;
  v.kind = Kind::Function;
  auto fn = std::make_shared<Function>();
  fn->name = std::move(name);
  fn->call = std::move(call);
  v.fn = std::move(fn);
  return v;
}

// ---- the syntax tree ----------------------------------------------------------------------

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    Literal,  // value
    Name,     // name
    List,     // args: items
    Dict,     // args: key, value, key, value, ...
    Attr,     // args[0].name
    Item,     // args[0][args[1]]
    Slice,    // args[0][args[1]:args[2]:args[3]], each bound may be null
    Call,     // args[0](args[1..], kwargs)
    Filter,   // args[0] | name(args[1..], kwargs); args[0] null in {% filter %} blocks
    Test,     // args[0] is [not] name(args[1..])
    Neg,      // -args[0]
    Plus,     // +args[0]
    Not,      // not args[0]
    And,      // args[0] and args[1]
    Or,       // args[0] or args[1]
    Binary,   // args[0] <name> args[1]: + - * / // % ** ~
    Compare,  // args[0] ops[0] args[1] ops[1] args[2] ...: == != < > <= >= in "not in"
    Cond,     // args[0] if args[1] else args[2] (args[2] may be null)
  };
  Kind kind = Kind::Literal;
  Pos pos;
  Value value;
  std::string name;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;
  bool negated = false;
  bool tuple = false;  // List: written as a tuple, (a, b) or a, b
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Stmt {
  enum class Kind {
    Text,         // text
    Output,       // {{ expr }}
    If,           // branches: (condition, body); the else branch has a null condition
    For,          // for targets in expr [if filter]: body [else: else_body]
    Set,          // set targets = expr; or set targets[0].attr = expr (namespace attribute)
    SetBlock,     // set targets[0] [| filter]: body
    Macro,        // macro name(params): body
    FilterBlock,  // filter <expr with a null operand>: body
    Break,
    Continue,
  };
  Kind kind = Kind::Text;
  Pos pos;
  std::string text;
  ExprPtr expr;
  ExprPtr filter;
  std::vector<std::pair<ExprPtr, Body>> branches;
  std::vector<std::string> targets;
  std::string attr;
  Body body;
  Body else_body;
  std::string name;
  std::vector<std::pair<std::string, ExprPtr>> params;  // default may be null
};

// Lexes and parses a whole template (after Jinja's newline normalisation).
Body parse_template(const std::string& source);

// Whether a filter / test of that name exists (the parser rejects others up front).
bool has_filter(std::string_view name);
bool has_test(std::string_view name);

}  // namespace loupe::jinja
