// loupe: a debugger for transformer language models.
#include <cstdio>
#include <exception>

#include "commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"loupe: a debugger for transformer language models (GGUF, Hugging Face, llama2.c)", "loupe"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "loupe 0.1.0");
  loupe::cli::Action action;
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
  loupe::cli::add_attention(app, action);
  loupe::cli::add_activations(app, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (action) action();
  } catch (const loupe::Error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
