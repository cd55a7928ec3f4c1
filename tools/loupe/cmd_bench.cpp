// loupe bench MODEL [-p 256] [-n 64] [--threads N] [--repeat R] [--json]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>

#include "commands.h"
#include "core/error.h"
#include "engine/driver.h"
#include "options.h"

namespace loupe::cli {

namespace {

struct Stats {
  double mean = 0, stddev = 0;
};

Stats stats(const std::vector<double>& v) {
  Stats s;
  for (double x : v) s.mean += x;
  s.mean /= static_cast<double>(v.size());
  if (v.size() > 1) {
    double ss = 0;
    for (double x : v) ss += (x - s.mean) * (x - s.mean);
    s.stddev = std::sqrt(ss / static_cast<double>(v.size() - 1));
  }
  return s;
}

}  // namespace

void add_bench(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("bench", "prompt-processing and generation speed (like llama-bench)");
  auto mf = std::make_shared<ModelFlags>();
  auto n_prompt = std::make_shared<int64_t>(256);
  auto n_gen = std::make_shared<int64_t>(64);
  auto repeat = std::make_shared<int>(3);
  auto json_out = std::make_shared<bool>(false);
  mf->add(cmd);
  cmd->add_option("-p,--n-prompt", *n_prompt, "prompt tokens (default 256; 0 = skip)")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 20));
  cmd->add_option("-n,--n-gen", *n_gen, "generated tokens (default 64; 0 = skip)")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 20));
  cmd->add_option("-r,--repeat", *repeat, "repetitions (default 3)")->check(CLI::Range(1, 1000));
  cmd->add_flag("--json", *json_out, "print a JSON array like llama-bench -o json");
  cmd->callback([=, &action] {
    action = [=] {
      auto model = mf->load();
      RunOptions ro = mf->run_options();
      if (ro.n_ctx == 0) ro.n_ctx = std::max<int64_t>(*n_prompt, *n_gen) + 1;
      ro.max_batch = std::max<int64_t>(*n_prompt, 1);
      Interpreter interp(*model, ro);
      std::mt19937 rng(1234);
      std::uniform_int_distribution<int32_t> dist(0, static_cast<int32_t>(model->config.d_vocab - 1));
      auto run_test = [&](int64_t np, int64_t ng) {
        std::vector<double> ts;
        for (int r = -1; r < *repeat; ++r) {  // r = -1 is a warm-up run
          interp.rewind(0);
          std::vector<int32_t> toks(static_cast<size_t>(np > 0 ? np : 1));
          for (auto& t : toks) t = dist(rng);
          auto t0 = std::chrono::steady_clock::now();
          if (np > 0) {
            forward(interp, toks, false, nullptr);
          } else {
            for (int64_t k = 0; k < ng; ++k) {
              const int32_t one[1] = {toks[0]};
              interp.begin(one, false);
              interp.finish();
              toks[0] = dist(rng);
            }
          }
          double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          if (r >= 0) ts.push_back(static_cast<double>(np > 0 ? np : ng) / s);
        }
        return stats(ts);
      };
      nlohmann::ordered_json arr = nlohmann::ordered_json::array();
      const std::string type = model->config.file_type;
      const std::string desc = model->config.arch_label + " " + type;
      if (!*json_out) {
        std::printf("| %-28s | %10s | %7s | %8s | %14s |\n", "model", "size", "threads", "test", "t/s");
        std::printf("| %-28s | %10s | %7s | %8s | %14s |\n", "---", "---:", "---:", "---:", "---:");
      }
      for (int which = 0; which < 2; ++which) {
        const int64_t np = which == 0 ? *n_prompt : 0;
        const int64_t ng = which == 1 ? *n_gen : 0;
        if (np == 0 && ng == 0) continue;
        Stats s = run_test(np, ng);
        const std::string test = np > 0 ? cat("pp", np) : cat("tg", ng);
        if (*json_out) {
          arr.push_back({{"model_filename", model->path},
                         {"model_type", desc},
                         {"model_size", model->weight_bytes()},
                         {"n_params", 0},
                         {"n_threads", interp.n_threads()},
                         {"n_prompt", np},
                         {"n_gen", ng},
                         {"avg_ts", s.mean},
                         {"stddev_ts", s.stddev},
                         {"backend", "CPU"},
                         {"build", "loupe 0.1.0"}});
          int64_t n = 0;
          for (const auto& t : model->tensors) {
            int64_t e = 1;
            for (int64_t d : t.shape) e *= d;
            n += e;
          }
          arr.back()["n_params"] = n;
        } else {
          std::printf("| %-28s | %6.2f MiB | %7d | %8s | %7.2f ± %4.2f |\n", desc.c_str(),
                      static_cast<double>(model->weight_bytes()) / 1048576.0, interp.n_threads(), test.c_str(), s.mean,
                      s.stddev);
        }
      }
      if (*json_out) std::printf("%s\n", arr.dump(2).c_str());
    };
  });
}

}  // namespace loupe::cli
