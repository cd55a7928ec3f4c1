// loupe serve MODEL [--reference MODEL2] [--data FILE ...] [--store FILE.db] [--port P] [--host H]:
// the debugger and its pictures in a browser (src/serve, web/, docs/serve.md).
#include "commands.h"
#include "core/error.h"

#ifdef LOUPE_SERVE

#include <pthread.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "options.h"
#include "serve/server.h"

namespace loupe::cli {

namespace {

// The built page: $LOUPE_WEB_DIR, else web/ beside the binary (the build puts it there).
std::string default_web_dir() {
  if (const char* env = std::getenv("LOUPE_WEB_DIR"); env && *env) return env;
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  for (const auto& p : {exe.parent_path() / "web", exe.parent_path() / ".." / "share" / "loupe" / "web"})
    if (std::filesystem::is_regular_file(p / "index.html")) return p.string();
  return {};
}

}  // namespace

void add_serve(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("serve", "the debugger and its pictures in a browser (a local web server)");
  auto mf = std::make_shared<ModelFlags>();
  auto o = std::make_shared<serve::ServeOptions>();
  mf->add(cmd);
  cmd->add_option("--reference", o->reference, "a second model: the diff view compares the model to it");
  cmd->add_option("--data", o->data, "corpus files the page may analyse (activations, diff, explore)");
  cmd->add_option("--store", o->store, "a run store (loupe runs): /metrics serves its figures as OpenMetrics");
  cmd->add_option("--port", o->port, "the port (default: any free one)")->check(CLI::Range(0, 65535));
  cmd->add_option("--host", o->host,
                  "the address to listen on (default 127.0.0.1: this machine only; anything else warns)")
      ->capture_default_str();
  cmd->add_option("--web-dir", o->web_dir, "the built page (default: $LOUPE_WEB_DIR, or web/ beside loupe)");
  cmd->callback([=, &action] {
    action = [=] {
      // Ctrl-C and SIGTERM go to one watcher thread, which stops the server cleanly: blocked
      // before any thread starts (the model's pool included), so every thread inherits it.
      sigset_t set;
      sigemptyset(&set);
      sigaddset(&set, SIGINT);
      sigaddset(&set, SIGTERM);
      pthread_sigmask(SIG_BLOCK, &set, nullptr);
      serve::ServeOptions opt = *o;
      opt.model = mf->model;
      opt.tokenizer = mf->tokenizer;
      opt.run = mf->run_options();
      if (opt.web_dir.empty()) opt.web_dir = default_web_dir();
      serve::Server server(opt);
      server.bind();
      if (!serve::is_loopback(opt.host))
        std::fprintf(stderr,
                     "warning: listening on %s: other machines can reach this server (the token still guards "
                     "it; the traffic is not encrypted)\n",
                     opt.host.c_str());
      if (!server.has_page())
        std::fprintf(stderr,
                     "warning: the page is not built (npm ci && npm run build in web/); serving the API only\n");
      std::printf("%s\n", server.url().c_str());
      std::fflush(stdout);
      std::atomic<bool> done{false};
      std::thread watcher([&server, &done, set] {
        const timespec tick{0, 200 * 1000 * 1000};
        while (!done) {
          if (sigtimedwait(&set, nullptr, &tick) > 0) {
            server.stop();
            return;
          }
        }
      });
      server.run();
      done = true;
      watcher.join();
      std::fprintf(stderr, "loupe serve: stopped\n");
    };
  });
}

}  // namespace loupe::cli

#else

namespace loupe::cli {

void add_serve(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("serve", "the debugger in a browser (not in this build: it needs cpp-httplib)");
  cmd->allow_extras();
  cmd->callback([&action] {
    action = [] { fail("loupe serve is not in this build (install libcpp-httplib-dev and build again)"); };
  });
}

}  // namespace loupe::cli

#endif
