// The debugger's commands: one table of {name, alias, arguments, help, handler} from which
// dispatch, `help`, usage errors and completion are derived. Each command returns its result
// twice: as text for people and as one JSON object for scripts (`loupe debug --json`).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "debugger/session.h"

namespace loupe::dbg {

struct Reply {
  std::string text;             // lines, each ending in '\n'
  nlohmann::ordered_json json;  // the result as an object
};

class Debugger;

struct CommandSpec {
  std::string_view name;
  std::string_view alias;  // short form ("b", "c", ...) or empty
  std::string_view args;   // usage after the name
  std::string_view help;
  Reply (Debugger::*handler)(const std::vector<std::string>& args);
  bool repeats = false;  // a blank line at the terminal runs it again (step, next, continue, ...)
};

class Debugger {
 public:
  // default_prompt is what a bare `run` runs.
  Debugger(Session& session, std::string default_prompt);

  // Runs one command line. A command is named in full, by its alias or by a unique prefix
  // ("cont", "disp"). A comment (#) gives an empty reply, and so does a blank line unless
  // repeat_on_blank is set (the terminal: it runs the last step / next / continue / generate /
  // list again, as gdb does). Throws Error with a message naming the command for anything
  // wrong; the session stays usable. After `commands N`, lines are collected up to `end`.
  Reply execute(std::string_view line);
  bool quit_requested() const { return quit_; }
  void set_repeat_on_blank(bool on) { repeat_on_blank_ = on; }
  // Whether lines are being collected for `commands N` (the terminal prompts with ">").
  bool collecting() const { return collecting_ >= 0; }
  // The command a word names: exact name or alias, else the one command it is a prefix of.
  static const CommandSpec& find_command(std::string_view word);

  static const std::vector<CommandSpec>& commands();
  // Candidates for completing `word` (command names for the first word, else hook names and
  // keywords).
  std::vector<std::string> complete(std::string_view word, bool first_word) const;

 private:
  Reply cmd_help(const std::vector<std::string>& a);
  Reply cmd_run(const std::vector<std::string>& a);
  Reply cmd_restart(const std::vector<std::string>& a);
  Reply cmd_generate(const std::vector<std::string>& a);
  Reply cmd_break(const std::vector<std::string>& a);
  Reply cmd_tbreak(const std::vector<std::string>& a);
  Reply cmd_delete(const std::vector<std::string>& a);
  Reply cmd_disable(const std::vector<std::string>& a);
  Reply cmd_enable(const std::vector<std::string>& a);
  Reply cmd_info(const std::vector<std::string>& a);
  Reply cmd_step(const std::vector<std::string>& a);
  Reply cmd_next(const std::vector<std::string>& a);
  Reply cmd_continue(const std::vector<std::string>& a);
  Reply cmd_finish(const std::vector<std::string>& a);
  Reply cmd_where(const std::vector<std::string>& a);
  Reply cmd_list(const std::vector<std::string>& a);
  Reply cmd_print(const std::vector<std::string>& a);
  Reply cmd_stats(const std::vector<std::string>& a);
  Reply cmd_topk(const std::vector<std::string>& a);
  Reply cmd_lens(const std::vector<std::string>& a);
  Reply cmd_watch(const std::vector<std::string>& a);
  Reply cmd_unwatch(const std::vector<std::string>& a);
  Reply cmd_save(const std::vector<std::string>& a);
  Reply cmd_backward(const std::vector<std::string>& a);
  Reply cmd_grad(const std::vector<std::string>& a);
  Reply cmd_edit(const std::vector<std::string>& a);
  Reply cmd_undo(const std::vector<std::string>& a);
  Reply cmd_condition(const std::vector<std::string>& a);
  Reply cmd_ignore(const std::vector<std::string>& a);
  Reply cmd_commands(const std::vector<std::string>& a);
  Reply cmd_display(const std::vector<std::string>& a);
  Reply cmd_set(const std::vector<std::string>& a);
  Reply cmd_analyze(const std::vector<std::string>& a);
  Reply cmd_quit(const std::vector<std::string>& a);

  Reply add_break(const std::vector<std::string>& a, bool temporary);
  Reply report(const Stop& stop);
  nlohmann::ordered_json where_json();
  std::string where_text();
  Reply collect(std::string_view line);
  void run_breakpoint_commands(int id, Reply& reply);
  void show_generated(Reply& reply);
  std::string token_text(int32_t id) const;  // quoted and escaped, for the terminal: "\" there\""
  std::string raw_text(int32_t id) const;    // the text itself, for JSON: " there" ("<s>" for control)
  std::vector<int32_t> tokens_of(const std::vector<std::string>& words, size_t first) const;
  void bad_report(const BadOpReport& r, Reply& reply);
  void show_watches(Reply& reply, size_t first = 0);  // the displays from index first on
  Value residual(const std::vector<std::string>& a, size_t& next);

  Session& s_;
  std::string prompt_;
  std::vector<int32_t> last_tokens_;
  std::vector<TensorExpr> watches_;
  std::vector<int> watch_ids_;
  int next_watch_id_ = 1;
  bool quit_ = false;

  bool repeat_on_blank_ = false;
  std::string last_repeatable_;                       // the line a blank line runs again
  std::map<int, std::vector<std::string>> commands_;  // breakpoint id -> its command lines
  int collecting_ = -1;                               // breakpoint whose commands are being typed
  std::vector<std::string> collected_;
  int command_depth_ = 0;     // breakpoint commands that resumed and stopped at another breakpoint
  size_t tokens_before_ = 0;  // tokens fed before the command now running
};

}  // namespace loupe::dbg
