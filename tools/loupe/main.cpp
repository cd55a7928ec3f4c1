// loupe: a debugger for transformer language models.
#include <cctype>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "commands.h"
#include "core/error.h"
#include "core/suggest.h"
#include "options.h"
#include "ranks.h"

namespace {

// The README's promise for a wrong command line: one "error: " line, exit status 1 (CLI11's own
// codes translated), and a "did you mean" for a misspelt subcommand or flag. --help and
// --version still print and exit 0.
int parse_failure(CLI::App& app, const CLI::ParseError& e, int argc, char** argv) {
  if (e.get_exit_code() == 0) return app.exit(e);
  // Follow the subcommands named on the line, as CLI11 did.
  CLI::App* current = &app;
  std::string path = "loupe";
  std::string hint;
  bool positional_seen = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.empty() || arg[0] == '-' || positional_seen) continue;
    const auto named = current->get_subcommands([&](CLI::App* a) { return a->check_name(arg); });
    if (CLI::App* sub = named.empty() ? nullptr : named.front()) {
      current = sub;
      path += " " + arg;
      continue;
    }
    const auto subs = current->get_subcommands([](CLI::App*) { return true; });
    if (!subs.empty() && current->get_subcommands().empty()) {
      std::vector<std::string> names;
      names.reserve(subs.size());
      for (const CLI::App* s : subs) names.push_back(s->get_name());
      if (current == &app || !names.empty()) hint = "unknown command '" + arg + "'" + loupe::did_you_mean(arg, names);
      break;
    }
    positional_seen = true;  // an argument of the subcommand: the rest are its arguments too
  }
  std::vector<std::string> flags;
  for (const CLI::Option* o : current->get_options()) {
    for (const std::string& n : o->get_lnames()) flags.push_back("--" + n);
    for (const std::string& n : o->get_snames()) flags.push_back("-" + n);
  }
  std::string unknown_flags;
  for (int i = 1; i < argc && hint.empty(); ++i) {
    std::string arg = argv[i];
    if (arg.size() < 2 || arg[0] != '-' || std::isdigit(static_cast<unsigned char>(arg[1])) != 0) continue;
    if (arg == "--") break;
    arg = arg.substr(0, arg.find('='));
    if (std::find(flags.begin(), flags.end(), arg) != flags.end()) continue;
    // Flags of the commands above (e.g. --version) are not this command's, but not unknown.
    if (current != &app && app.get_option_no_throw(arg) != nullptr) continue;
    unknown_flags += " " + arg + loupe::did_you_mean(arg, flags);
  }
  std::string message = e.what();
  if (message.size() > 1 && std::isupper(static_cast<unsigned char>(message[1])) == 0)
    message[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(message[0])));
  std::string line = "error: " + path + ": ";
  if (!hint.empty()) {
    line += hint;
  } else if (!unknown_flags.empty()) {
    line += "unknown option" + unknown_flags;
  } else {
    line += message;
  }
  std::fprintf(stderr, "%s; see '%s --help'\n", line.c_str(), path.c_str());
  return 1;
}

// "rank N of M: " in an MPI job's errors, so the failing process is named.
std::string rank_prefix() {
  const loupe::cli::Ranks r = loupe::cli::ranks();
  return r.multi() ? "rank " + std::to_string(r.rank) + " of " + std::to_string(r.size) + ": " : "";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"loupe: a debugger for transformer language models (GGUF, Hugging Face, llama2.c)", "loupe"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "loupe 0.1.0");
  loupe::cli::Action action;
  loupe::cli::set_command_line(argc, argv);
  loupe::cli::add_info(app, action);
  loupe::cli::add_tensor(app, action);
  loupe::cli::add_tokenize(app, action);
  loupe::cli::add_generate(app, action);
  loupe::cli::add_logits(app, action);
  loupe::cli::add_trace(app, action);
  loupe::cli::add_bench(app, action);
  loupe::cli::add_profile(app, action);
  loupe::cli::add_model(app, action);
  loupe::cli::add_debug(app, action);
  loupe::cli::add_explore(app, action);
  loupe::cli::add_diff(app, action);
  loupe::cli::add_eval(app, action);
  loupe::cli::add_lens(app, action);
  loupe::cli::add_attribute(app, action);
  loupe::cli::add_optimize(app, action);
  loupe::cli::add_attention(app, action);
  loupe::cli::add_activations(app, action);
  loupe::cli::add_analyze(app, action);
  loupe::cli::add_runs(app, action);
  loupe::cli::add_check(app, action);
  loupe::cli::add_serve(app, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return parse_failure(app, e, argc, argv);
  }
  int code = 0;
  try {
    if (action) action();
  } catch (const loupe::cli::ExitWith& e) {
    code = e.code;
  } catch (const loupe::Error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: %s%s\n", rank_prefix().c_str(), e.what());
    code = 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "error: %sout of memory\n", rank_prefix().c_str());
    code = 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s%s\n", rank_prefix().c_str(), e.what());
    code = 1;
  }
  std::fflush(stdout);
  loupe::cli::end_ranks(code);
  return code;
}
