// The loupe subcommands. Each add_* registers one subcommand (its flags are a contract other
// tools rely on; see docs/cli.md) on the CLI11 app.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

namespace loupe::cli {

// Runs a command body, turning loupe::Error into "error: ..." on stderr and exit code 1.
using Action = std::function<void()>;

void add_info(CLI::App& app, Action& action);
void add_tokenize(CLI::App& app, Action& action);
void add_generate(CLI::App& app, Action& action);
void add_logits(CLI::App& app, Action& action);
void add_trace(CLI::App& app, Action& action);
void add_bench(CLI::App& app, Action& action);
void add_model(CLI::App& app, Action& action);
void add_debug(CLI::App& app, Action& action);
void add_explore(CLI::App& app, Action& action);
void add_diff(CLI::App& app, Action& action);
void add_eval(CLI::App& app, Action& action);
void add_lens(CLI::App& app, Action& action);
void add_attention(CLI::App& app, Action& action);
void add_activations(CLI::App& app, Action& action);
void add_analyze(CLI::App& app, Action& action);
void add_attribute(CLI::App& app, Action& action);
void add_profile(CLI::App& app, Action& action);
void add_tensor(CLI::App& app, Action& action);
void add_runs(CLI::App& app, Action& action);
void add_check(CLI::App& app, Action& action);
void add_serve(CLI::App& app, Action& action);
void add_optimize(CLI::App& app, Action& action);  // quantize, prune, monitor, distill

// Thrown by a command that ends with an exit code of its own (loupe check: 0 / 1 / 2), after it
// printed what it has to say.
struct ExitWith {
  int code = 0;
};

}  // namespace loupe::cli
