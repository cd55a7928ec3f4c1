// CI gates: rules over the figures in a run store (`loupe check RULES.toml`).
//
// A rules file holds [[rule]] tables with `name`, `expr` and optionally `command` (a loupe command
// line run first, its run kept in the store). An expression compares figures of the newest runs:
//
//   diff.kld.mean < 0.01
//   diff.ppl_ratio <= 1.02                    ("_" may stand for "." in a path: ppl.ratio)
//   bench.tg >= 0.95 * baseline("main")       (the same figure in the newest run labelled
//                                              main, on branch main, or at a commit starting so)
//   activations.nan == 0 and eval.ppl < 20
//
// The first word names the command, the rest the figure's path in its JSON (metrics_of). Numbers,
// + - * /, parentheses, < <= > >= == !=, and / or / not, abs(x), min(a, b), max(a, b).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "store/store.h"

namespace loupe::store {

struct Rule {
  std::string name;
  std::string expr;
  std::string command;  // run first when set (args after "loupe")
};

// Reads a rules file. Throws Error naming the file, line and column of a TOML error, and the rule
// of a missing or unknown key.
std::vector<Rule> read_rules(const std::string& path);

enum class Verdict { Pass, Fail, Error };

struct Figure {
  std::string name;  // "diff.kld.mean" or "baseline(\"main\")"
  double value = 0;
  int64_t run = 0;
};

struct RuleResult {
  Rule rule;
  Verdict verdict = Verdict::Error;
  std::string message;  // why it could not be evaluated (Error)
  std::vector<Figure> figures;
};

// Evaluates one expression against the store: Pass or Fail with the figures it read, or Error
// (a syntax error with its column, a command with no run, a figure no run has: named, with the
// nearest names).
RuleResult evaluate_rule(const Rule& rule, const Store& store);

// Checks syntax only (throws Error with the column).
void parse_expression(const std::string& expr);

}  // namespace loupe::store
