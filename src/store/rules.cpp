#include "store/rules.h"

#include <toml++/toml.h>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <memory>
#include <optional>

#include "core/error.h"
#include "core/suggest.h"

namespace loupe::store {
namespace {

// ---- expressions ----------------------------------------------------------------------------

struct Node {
  enum Kind { Number, Metric, Baseline, Call, Unary, Binary } kind = Number;
  double number = 0;
  std::string command, path;  // Metric
  std::string text;           // Baseline: the ref; Call: the function; Unary / Binary: the operator
  std::vector<std::unique_ptr<Node>> args;
};
using NodePtr = std::unique_ptr<Node>;

class Parser {
 public:
  explicit Parser(const std::string& s) : s_(s) {}

  NodePtr parse() {
    NodePtr n = parse_or();
    skip();
    if (i_ < s_.size()) error("unexpected '" + s_.substr(i_, 1) + "'");
    return n;
  }

 private:
  [[noreturn]] void error(const std::string& what) const { fail("expression '", s_, "', column ", i_ + 1, ": ", what); }
  void skip() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  bool eat(const std::string& tok) {
    skip();
    if (s_.compare(i_, tok.size(), tok) != 0) return false;
    // A word operator must not run on into an identifier ("order" is not "or" + "der").
    if (std::isalpha(static_cast<unsigned char>(tok[0])) && i_ + tok.size() < s_.size() &&
        (std::isalnum(static_cast<unsigned char>(s_[i_ + tok.size()])) || s_[i_ + tok.size()] == '_'))
      return false;
    i_ += tok.size();
    return true;
  }
  static NodePtr binary(const std::string& op, NodePtr a, NodePtr b) {
    auto n = std::make_unique<Node>();
    n->kind = Node::Binary;
    n->text = op;
    n->args.push_back(std::move(a));
    n->args.push_back(std::move(b));
    return n;
  }
  NodePtr parse_or() {
    NodePtr a = parse_and();
    while (eat("or") || eat("||")) a = binary("or", std::move(a), parse_and());
    return a;
  }
  NodePtr parse_and() {
    NodePtr a = parse_not();
    while (eat("and") || eat("&&")) a = binary("and", std::move(a), parse_not());
    return a;
  }
  NodePtr parse_not() {
    if (eat("not") || (peek_bang() && eat("!"))) {
      auto n = std::make_unique<Node>();
      n->kind = Node::Unary;
      n->text = "not";
      n->args.push_back(parse_not());
      return n;
    }
    return parse_cmp();
  }
  bool peek_bang() {
    skip();
    return i_ + 1 <= s_.size() && s_[i_] == '!' && (i_ + 1 == s_.size() || s_[i_ + 1] != '=');
  }
  NodePtr parse_cmp() {
    NodePtr a = parse_sum();
    for (const char* op : {"<=", ">=", "==", "!=", "<", ">"})
      if (eat(op)) return binary(op, std::move(a), parse_sum());
    return a;
  }
  NodePtr parse_sum() {
    NodePtr a = parse_prod();
    for (;;) {
      if (eat("+"))
        a = binary("+", std::move(a), parse_prod());
      else if (eat("-"))
        a = binary("-", std::move(a), parse_prod());
      else
        return a;
    }
  }
  NodePtr parse_prod() {
    NodePtr a = parse_unary();
    for (;;) {
      if (eat("*"))
        a = binary("*", std::move(a), parse_unary());
      else if (eat("/"))
        a = binary("/", std::move(a), parse_unary());
      else
        return a;
    }
  }
  NodePtr parse_unary() {
    if (eat("-")) {
      auto n = std::make_unique<Node>();
      n->kind = Node::Unary;
      n->text = "-";
      n->args.push_back(parse_unary());
      return n;
    }
    return parse_primary();
  }
  std::string word() {
    skip();
    const size_t b = i_;
    while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '_')) ++i_;
    return s_.substr(b, i_ - b);
  }
  NodePtr parse_primary() {
    skip();
    if (i_ >= s_.size()) error("the expression ends early");
    if (eat("(")) {
      NodePtr n = parse_or();
      if (!eat(")")) error("')' expected");
      return n;
    }
    const char c = s_[i_];
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
      const char* start = s_.c_str() + i_;
      char* end = nullptr;
      const double v = std::strtod(start, &end);
      if (end == start) error("a number expected");
      i_ += static_cast<size_t>(end - start);
      auto n = std::make_unique<Node>();
      n->number = v;
      return n;
    }
    if (!(std::isalpha(static_cast<unsigned char>(c)) || c == '_')) error("unexpected '" + std::string(1, c) + "'");
    const std::string first = word();
    if (eat("(")) return call(first);
    auto n = std::make_unique<Node>();
    n->kind = Node::Metric;
    n->command = first;
    while (true) {
      skip();
      if (i_ < s_.size() && s_[i_] == '.') {
        ++i_;
        const std::string part = word();
        if (part.empty()) error("a name expected after '.'");
        n->path += (n->path.empty() ? "" : ".") + part;
      } else {
        break;
      }
    }
    if (n->path.empty()) error("'" + first + "' names no figure (write COMMAND.PATH, such as diff.kld.mean)");
    return n;
  }
  NodePtr call(const std::string& fn) {
    auto n = std::make_unique<Node>();
    if (fn == "baseline") {
      n->kind = Node::Baseline;
      skip();
      if (i_ >= s_.size() || (s_[i_] != '"' && s_[i_] != '\''))
        error("baseline takes a quoted name: baseline(\"main\")");
      const char q = s_[i_++];
      const size_t b = i_;
      while (i_ < s_.size() && s_[i_] != q) ++i_;
      if (i_ >= s_.size()) error("an unterminated string");
      n->text = s_.substr(b, i_ - b);
      ++i_;
      if (!eat(")")) error("')' expected");
      return n;
    }
    const int arity = fn == "abs" ? 1 : (fn == "min" || fn == "max") ? 2 : -1;
    if (arity < 0) error("no function '" + fn + "' (abs, min, max, baseline)");
    n->kind = Node::Call;
    n->text = fn;
    for (int k = 0; k < arity; ++k) {
      if (k > 0 && !eat(",")) error("',' expected");
      n->args.push_back(parse_or());
    }
    if (!eat(")")) error("')' expected");
    return n;
  }

  const std::string& s_;
  size_t i_ = 0;
};

const Node* first_metric(const Node& n) {
  if (n.kind == Node::Metric) return &n;
  for (const auto& a : n.args)
    if (const Node* m = first_metric(*a)) return m;
  return nullptr;
}

// A figure that cannot be read ends the rule as an Error (exit 2), not as a failed comparison.
struct Unavailable {
  std::string why;
};

class Evaluator {
 public:
  Evaluator(const Store& store, const Node* primary) : store_(store), primary_(primary) {}
  std::vector<Figure> figures;

  double eval(const Node& n) {
    switch (n.kind) {
      case Node::Number: return n.number;
      case Node::Metric: return metric(n, "", 0, n.command + "." + n.path);
      case Node::Baseline: {
        if (primary_ == nullptr) throw Unavailable{"baseline(\"" + n.text + "\") needs a figure in the expression"};
        const int64_t except = run_of(primary_->command);
        return metric(*primary_, n.text, except, "baseline(\"" + n.text + "\")");
      }
      case Node::Call: {
        const double a = eval(*n.args[0]);
        if (n.text == "abs") return std::fabs(a);
        const double b = eval(*n.args[1]);
        return n.text == "min" ? std::min(a, b) : std::max(a, b);
      }
      case Node::Unary: return n.text == "-" ? -eval(*n.args[0]) : (truth(eval(*n.args[0])) ? 0.0 : 1.0);
      case Node::Binary: {
        const std::string& op = n.text;
        if (op == "and") return truth(eval(*n.args[0])) && truth(eval(*n.args[1])) ? 1.0 : 0.0;
        if (op == "or") return truth(eval(*n.args[0])) || truth(eval(*n.args[1])) ? 1.0 : 0.0;
        const double a = eval(*n.args[0]), b = eval(*n.args[1]);
        if (op == "+") return a + b;
        if (op == "-") return a - b;
        if (op == "*") return a * b;
        if (op == "/") return a / b;
        if (op == "<") return a < b;
        if (op == "<=") return a <= b;
        if (op == ">") return a > b;
        if (op == ">=") return a >= b;
        if (op == "==") return a == b;
        return a != b;
      }
    }
    return 0;
  }
  static bool truth(double v) { return v != 0 && !std::isnan(v); }

 private:
  int64_t run_of(const std::string& command) {
    const auto it = newest_.find(command);
    if (it != newest_.end()) return it->second;
    const std::optional<Run> r = store_.newest(command);
    const int64_t id = r ? r->id : 0;
    newest_[command] = id;
    return id;
  }

  double metric(const Node& n, const std::string& ref, int64_t except, const std::string& label) {
    const std::optional<Run> run = ref.empty() ? store_.newest(n.command) : store_.newest(n.command, ref, except);
    if (!run) {
      throw Unavailable{ref.empty() ? "no '" + n.command + "' run in " + store_.path()
                                    : "no other '" + n.command + "' run labelled, on branch or at commit '" + ref +
                                          "' in " + store_.path()};
    }
    const std::map<std::string, double> m = store_.metrics(run->id);
    // "_" may stand for "." (diff.ppl_ratio = ppl.ratio): try the path as written, then with
    // each underscore in turn read as a dot, fewest changes first.
    std::vector<std::string> candidates{n.path};
    for (size_t k = 0; k < candidates.size() && candidates.size() < 64; ++k)
      for (size_t p = candidates[k].find('_'); p != std::string::npos; p = candidates[k].find('_', p + 1)) {
        std::string c = candidates[k];
        c[p] = '.';
        if (std::find(candidates.begin(), candidates.end(), c) == candidates.end()) candidates.push_back(c);
      }
    for (const std::string& c : candidates) {
      const auto it = m.find(c);
      if (it != m.end()) {
        figures.push_back({label, it->second, run->id});
        return it->second;
      }
    }
    std::vector<std::string> names;
    names.reserve(m.size());
    for (const auto& [k, v] : m) names.push_back(k);
    throw Unavailable{"run " + std::to_string(run->id) + " (" + n.command + ") has no figure '" + n.path + "'" +
                      did_you_mean(n.path, names)};
  }

  const Store& store_;
  const Node* primary_;
  std::map<std::string, int64_t> newest_;
};

}  // namespace

void parse_expression(const std::string& expr) {
  Parser(expr).parse();
}

RuleResult evaluate_rule(const Rule& rule, const Store& store) {
  RuleResult r;
  r.rule = rule;
  NodePtr ast;
  try {
    ast = Parser(rule.expr).parse();
  } catch (const Error& e) {
    r.message = e.what();
    return r;
  }
  Evaluator ev(store, first_metric(*ast));
  try {
    const double v = ev.eval(*ast);
    r.verdict = Evaluator::truth(v) ? Verdict::Pass : Verdict::Fail;
  } catch (const Unavailable& u) {
    r.message = u.why;
  } catch (const Error& e) {
    r.message = e.what();
  }
  r.figures = std::move(ev.figures);
  return r;
}

std::vector<Rule> read_rules(const std::string& path) {
  toml::table doc;
  try {
    doc = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    fail(path, ":", at.line, ":", at.column, ": ", e.description());
  }
  for (const auto& [key, value] : doc)
    if (key.str() != "rule") fail(path, ": unknown top-level key '", key.str(), "' (rules are [[rule]] tables)");
  const toml::array* arr = doc["rule"].as_array();
  if (arr == nullptr || arr->empty()) fail(path, ": no [[rule]] tables");
  std::vector<Rule> rules;
  for (size_t i = 0; i < arr->size(); ++i) {
    const toml::table* t = (*arr)[i].as_table();
    const std::string where = path + ": rule " + std::to_string(i + 1);
    if (t == nullptr) fail(where, ": not a table (write [[rule]])");
    Rule r;
    for (const auto& [key, value] : *t) {
      const std::string k(key.str());
      const std::optional<std::string> s = value.value<std::string>();
      if (k != "name" && k != "expr" && k != "command")
        fail(where, ": unknown key '", k, "'", did_you_mean(k, {"name", "expr", "command"}));
      if (!s) fail(where, ": '", k, "' must be a string");
      (k == "name" ? r.name : k == "expr" ? r.expr : r.command) = *s;
    }
    if (r.name.empty()) fail(where, ": no name");
    if (r.expr.empty()) fail(where, " (", r.name, "): no expr");
    try {
      parse_expression(r.expr);
    } catch (const Error& e) {
      fail(where, " (", r.name, "): ", e.what());
    }
    rules.push_back(std::move(r));
  }
  return rules;
}

}  // namespace loupe::store
