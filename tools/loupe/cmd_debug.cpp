// loupe debug: the REPL over a running model. Interactive sessions use libedit (history, tab
// completion of commands and hook names); scripts (-x FILE) and piped input are read line by
// line with each command echoed, so a transcript reads the same every time.
#include <editline/readline.h>
#include <unistd.h>

#include <csignal>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>

#include "commands.h"
#include "core/error.h"
#include "debugger/commands.h"
#include "engine/driver.h"
#include "options.h"
#include "tokenizer/tokenizer.h"

namespace loupe::cli {
namespace {

dbg::Debugger* g_completion_target = nullptr;  // libedit's completion callbacks take no context

void on_interrupt(int /*signal*/) {
  dbg::Session::interrupt();
}

// Ctrl-C while a command runs stops the pass after the op in progress (the REPL stays); the
// previous handler comes back when the command returns.
class InterruptScope {
 public:
  explicit InterruptScope(bool on) : on_(on) {
    if (!on_) return;
    struct sigaction sa {};
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &previous_);
  }
  ~InterruptScope() {
    if (on_) sigaction(SIGINT, &previous_, nullptr);
  }
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

 private:
  bool on_;
  struct sigaction previous_ {};
};

char* completion_generator(const char* text, int state) {
  static std::vector<std::string> matches;
  static size_t index = 0;
  if (state == 0) {
    const bool first =
        rl_line_buffer == nullptr || std::strspn(rl_line_buffer, " \t") == static_cast<size_t>(rl_point) ||
        std::strchr(rl_line_buffer, ' ') == nullptr || std::strchr(rl_line_buffer, ' ') - rl_line_buffer >= rl_point;
    matches = g_completion_target->complete(text, first);
    index = 0;
  }
  if (index >= matches.size()) return nullptr;
  return strdup(matches[index++].c_str());
}

char** completion(const char* text, int /*start*/, int /*end*/) {
  rl_attempted_completion_over = 1;
  return rl_completion_matches(text, completion_generator);
}

struct Shell {
  dbg::Debugger& debugger;
  bool json = false;
  bool echo = false;
  bool interactive = false;  // a person at a terminal: Ctrl-C interrupts, Enter repeats
  int failures = 0;

  // Runs one line and prints its result; never throws for a bad command.
  void execute(const std::string& line) {
    const size_t first = line.find_first_not_of(" \t");
    const bool blank = first == std::string::npos;
    if ((blank && !interactive) || (!blank && line[first] == '#')) return;  // blank lines and comments
    if (echo && !json) std::printf("%s%s\n", debugger.collecting() ? ">" : "(loupe) ", line.c_str());
    try {
      const InterruptScope ctrl_c(interactive);
      dbg::Reply r = debugger.execute(line);
      if (json) {
        if (r.json.is_null()) return;  // blank line or comment
        nlohmann::ordered_json out = {{"command", line}, {"ok", true}, {"result", r.json}};
        std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      } else {
        std::fwrite(r.text.data(), 1, r.text.size(), stdout);
      }
    } catch (const Error& e) {
      ++failures;
      if (json) {
        nlohmann::ordered_json out = {{"command", line}, {"ok", false}, {"error", e.what()}};
        std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      } else {
        std::printf("error: %s\n", e.what());
      }
    }
    std::fflush(stdout);
  }

  void run_stream(std::istream& in) {
    std::string line;
    while (!debugger.quit_requested() && std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      execute(line);
    }
  }

  void run_terminal() {
    g_completion_target = &debugger;
    rl_attempted_completion_function = completion;
    const char* home = std::getenv("HOME");
    const std::string history = home != nullptr ? std::string(home) + "/.loupe_history" : "";
    if (!history.empty()) read_history(history.c_str());
    while (!debugger.quit_requested()) {
      char* raw = readline(debugger.collecting() ? ">" : "(loupe) ");
      if (raw == nullptr) break;  // end of input (Ctrl-D)
      std::string line(raw);
      std::free(raw);
      if (line.find_first_not_of(" \t") != std::string::npos) add_history(line.c_str());
      execute(line);
    }
    if (!history.empty()) write_history(history.c_str());
    g_completion_target = nullptr;
  }
};

}  // namespace

void add_debug(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("debug", "a gdb-like debugger over a forward pass: breakpoints, stepping, edits");
  auto mf = std::make_shared<ModelFlags>();
  auto prompt = std::make_shared<std::string>();
  auto chat = std::make_shared<std::string>();
  auto script = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  mf->add(cmd);
  cmd->add_option("-p,--prompt", *prompt, "the prompt a bare 'run' runs");
  cmd->add_option("--chat", *chat,
                  "one user message, put through the model's chat template: the prompt a bare 'run' runs");
  cmd->add_option("-x,--script", *script, "run the commands in FILE (then read standard input when it is a terminal)");
  cmd->add_flag("--json", *json, "print one JSON object per command");
  auto cache_mb = std::make_shared<double>(1024);
  cmd->add_option("--cache-mb", *cache_mb,
                  "memory for the hook tensors kept after their op (every hook of the run, readable by print, "
                  "stats, save; 0: none)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e9));
  cmd->callback([=, &action] {
    action = [=] {
      std::ifstream file;
      if (!script->empty()) {
        file.open(*script);
        if (!file) fail(*script, ": cannot open script");
      }
      if (!chat->empty() && !prompt->empty()) fail("give either -p PROMPT or --chat TEXT, not both");
      auto model = mf->load();
      std::string default_prompt = *prompt;
      if (!chat->empty()) {
        default_prompt = chat_prompt_text(*model, *chat);
        // The debugger's encoder adds the BOS the model wants; the template's own then goes.
        if (default_add_bos(*model) && starts_with_bos_text(*model, default_prompt))
          default_prompt.erase(0, model->tokenizer->token_text(model->tokenizer->bos_id()).size());
      }
      dbg::Session session(*model, mf->run_options());
      session.set_cache_budget(static_cast<int64_t>(*cache_mb * 1024 * 1024));
      dbg::Debugger debugger(session, default_prompt);
      const bool tty = isatty(STDIN_FILENO) != 0;
      Shell shell{debugger, *json, !tty || !script->empty(), false, 0};
      if (!script->empty()) shell.run_stream(file);
      if (!debugger.quit_requested()) {
        shell.echo = !tty;
        if (tty && !*json) {
          shell.interactive = true;
          debugger.set_repeat_on_blank(true);
          shell.run_terminal();
        } else {
          shell.run_stream(std::cin);
        }
      }
      if (shell.failures > 0 && !tty) fail(shell.failures, " command", shell.failures == 1 ? "" : "s", " failed");
    };
  });
}

}  // namespace loupe::cli
