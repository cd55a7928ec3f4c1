// loupe bench MODEL [-p 256] [-n 64] [--threads N] [--repeat R] [--json] [--numerics exact|llama.cpp]
//                   [--observe none|resid|nan] [--bandwidth]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "commands.h"
#include "core/error.h"
#include "engine/driver.h"
#include "options.h"
#include "perf/bandwidth.h"
#include "perf/observers.h"
#include "tensor/kernels.h"
#include "tensor/kernels_matmul.h"
#include "tensor/matmul.h"

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

// Subscribes the observers of --observe: every residual-stream hook traced (copied), or a NaN
// check on every hook.
void attach(Interpreter& interp, const std::string& what, perf::CopyTracer& tracer, perf::NanCheck& nan) {
  if (what == "none") return;
  for (int h = 0; h < interp.hooks().size(); ++h) {
    const HookKind k = interp.hooks()[h].kind;
    if (what == "nan") {
      interp.observe(h, &nan);
    } else if (k == HookKind::ResidPre || k == HookKind::ResidMid || k == HookKind::ResidPost) {
      interp.observe(h, &tracer);
    }
  }
}

// Per weight type of the model's matmuls: tensors, bytes, and how matmul computes them at one
// activation row (decode) and at a prompt's rows on this machine.
struct KernelUse {
  int tensors = 0;
  size_t bytes = 0;
  MatmulRoute decode{}, prompt{};
};

std::map<std::string, KernelUse> kernel_uses(Model& model, int64_t prompt_rows, Numerics numerics) {
  std::map<std::string, KernelUse> uses;
  model.for_each_matmul_weight([&](Weight& w) {
    if (w.empty()) return;
    KernelUse& u = uses[std::string(dtype_name(w.type))];
    ++u.tensors;
    u.bytes += row_bytes(w.type, w.cols) * static_cast<size_t>(w.rows);
    u.decode = matmul_route(w, 1, numerics);
    u.prompt = matmul_route(w, prompt_rows, numerics);
  });
  return uses;
}

}  // namespace

void add_bench(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("bench", "prompt-processing and generation speed (like llama-bench)");
  auto mf = std::make_shared<ModelFlags>();
  auto n_prompt = std::make_shared<int64_t>(256);
  auto n_gen = std::make_shared<int64_t>(64);
  auto repeat = std::make_shared<int>(3);
  auto json_out = std::make_shared<bool>(false);
  auto observe = std::make_shared<std::string>("none");
  auto bandwidth = std::make_shared<bool>(false);
  auto sf = std::make_shared<StoreFlags>();
  mf->add(cmd);
  sf->add(cmd);
  cmd->add_option("-p,--n-prompt", *n_prompt, "prompt tokens (default 256; 0 = skip)")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 20));
  cmd->add_option("-n,--n-gen", *n_gen, "generated tokens (default 64; 0 = skip)")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 20));
  cmd->add_option("-r,--repeat", *repeat, "repetitions (default 3)")->check(CLI::Range(1, 1000));
  cmd->add_flag("--json", *json_out, "print a JSON array like llama-bench -o json");
  cmd->add_option("--observe", *observe,
                  "observers while timing: none, resid (trace every resid hook), nan (check every hook)")
      ->check(CLI::IsMember({"none", "resid", "nan"}));
  cmd->add_flag("--bandwidth", *bandwidth,
                "measure read bandwidth and report the generation bound (bytes per token / bandwidth)");
  cmd->callback([=, &action] {
    action = [=] {
      auto model = mf->load();
      RunOptions ro = mf->run_options();
      if (ro.n_ctx == 0) ro.n_ctx = std::max<int64_t>(*n_prompt, *n_gen) + 1;
      ro.max_batch = std::max<int64_t>(*n_prompt, 1);
      Interpreter interp(*model, ro);
      perf::CopyTracer tracer;
      perf::NanCheck nan(&interp.pool());
      const bool observing = *observe != "none";
      std::mt19937 rng(1234);
      std::uniform_int_distribution<int32_t> dist(0, static_cast<int32_t>(model->config.d_vocab - 1));
      auto timed = [&](int64_t np, int64_t ng) {
        interp.rewind(0);
        std::vector<int32_t> toks(static_cast<size_t>(np > 0 ? np : 1));
        for (auto& t : toks) t = dist(rng);
        auto t0 = std::chrono::steady_clock::now();
        if (np > 0) {
          forward(interp, toks, false, nullptr);
        } else {
          for (int64_t k = 0; k < ng; ++k) {
            decode(interp, toks[0]);
            toks[0] = dist(rng);
          }
        }
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        return static_cast<double>(np > 0 ? np : ng) / s;
      };
      // With --observe, every repetition runs the test twice, with and without the observers,
      // in alternating order, so the cost is measured side by side (the machine's speed drifts
      // between runs far more than observing costs).
      auto run_test = [&](int64_t np, int64_t ng, Stats& unobserved) {
        std::vector<double> with, without;
        for (int r = -1; r < *repeat; ++r) {  // r = -1 is a warm-up run
          for (int half = 0; half < (observing ? 2 : 1); ++half) {
            const bool on = observing && (half == 0) == (r % 2 == 0);
            if (on) attach(interp, *observe, tracer, nan);
            const double ts = timed(np, ng);
            if (on) {
              interp.unobserve(&tracer);
              interp.unobserve(&nan);
            }
            if (r >= 0) (on || !observing ? with : without).push_back(ts);
          }
        }
        if (observing) unobserved = stats(without);
        return stats(with);
      };
      int64_t n_params = 0;
      for (const auto& t : model->tensors) {
        int64_t e = 1;
        for (int64_t d : t.shape) e *= d;
        n_params += e;
      }
      nlohmann::ordered_json arr = nlohmann::ordered_json::array();
      const std::string type = model->config.file_type;
      const std::string desc = model->config.arch_label + " " + type;
      if (!*json_out) {
        std::printf("| %-28s | %10s | %7s | %8s | %14s |\n", "model", "size", "threads", "test", "t/s");
        std::printf("| %-28s | %10s | %7s | %8s | %14s |\n", "---", "---:", "---:", "---:", "---:");
      }
      Stats tg;
      for (int which = 0; which < 2; ++which) {
        const int64_t np = which == 0 ? *n_prompt : 0;
        const int64_t ng = which == 1 ? *n_gen : 0;
        if (np == 0 && ng == 0) continue;
        Stats base;
        Stats s = run_test(np, ng, base);
        if (ng > 0) tg = s;
        const double cost = observing && base.mean > 0 ? 100.0 * (1.0 - s.mean / base.mean) : 0.0;
        const std::string test = np > 0 ? cat("pp", np) : cat("tg", ng);
        {  // the JSON row is made either way: --store keeps it
          arr.push_back({{"model_filename", model->path},
                         {"model_type", desc},
                         {"model_size", model->weight_bytes()},
                         {"n_params", n_params},
                         {"n_threads", interp.n_threads()},
                         {"n_prompt", np},
                         {"n_gen", ng},
                         {"avg_ts", s.mean},
                         {"stddev_ts", s.stddev},
                         {"backend", "CPU"},
                         {"cpu_info", isa_name(active_isa())},
                         {"type_k", "f32"},
                         {"type_v", "f32"},
                         {"observe", *observe},
                         {"unobserved_avg_ts", observing ? base.mean : s.mean},
                         {"observe_cost_percent", cost},
                         {"traced_bytes", tracer.bytes_copied()},
                         {"non_finite", nan.non_finite()},
                         {"numerics", numerics_name(mf->numerics_mode())},
                         {"q8_activations", mf->numerics_mode() == Numerics::Q8},
                         {"build", "loupe 0.1.0"}});
        }
        if (!*json_out) {
          std::printf("| %-28s | %6.2f MiB | %7d | %8s | %7.2f ± %4.2f |\n", desc.c_str(),
                      static_cast<double>(model->weight_bytes()) / 1048576.0, interp.n_threads(), test.c_str(), s.mean,
                      s.stddev);
          if (observing)
            std::printf("  observing %s: %.2f t/s without, %.2f with: costs %.1f%% (alternating runs)\n",
                        observe->c_str(), base.mean, s.mean, cost);
        }
      }
      if (*bandwidth && *n_gen > 0) {
        const double bw = perf::read_bandwidth(interp.pool());
        const double bytes = static_cast<double>(perf::decode_bytes(interp, *n_gen / 2));
        const double bound = bw / bytes;
        arr.back()["bytes_per_token"] = bytes;
        arr.back()["read_bandwidth_gbs"] = bw / 1e9;
        arr.back()["bound_ts"] = bound;
        if (!*json_out) {
          std::printf(
              "generation bound: %.1f MB per token / %.1f GB/s read bandwidth = %.1f t/s; measured %.1f t/s (%.0f%%)\n",
              bytes / 1e6, bw / 1e9, bound, tg.mean, 100.0 * tg.mean / bound);
        }
      }
      const auto uses = kernel_uses(*model, std::max<int64_t>(*n_prompt, 1), mf->numerics_mode());
      nlohmann::ordered_json k = nlohmann::ordered_json::object();
      for (const auto& [type, u] : uses)
        k[type] = {{"tensors", u.tensors},
                   {"bytes", u.bytes},
                   {"decode", matmul_route_name(u.decode)},
                   {"prompt", matmul_route_name(u.prompt)}};
      for (auto& row : arr) {
        row["isa"] = isa_name(active_isa());
        row["kernels"] = k;
      }
      if (!*json_out) {
        std::printf("isa: %s (--isa lowers it); matmul kernels per weight type:\n", isa_name(active_isa()));
        for (const auto& [type, u] : uses)
          std::printf("  %-7s %3d tensors %9.2f MiB  decode: %s; prompt: %s\n", type.c_str(), u.tensors,
                      static_cast<double>(u.bytes) / 1048576.0, matmul_route_name(u.decode),
                      matmul_route_name(u.prompt));
        switch (mf->numerics_mode()) {
          case Numerics::Exact:
            std::printf(
                "numerics: exact (the default: float activations, reference numbers); --numerics q8 (--q8-act) is the "
                "fast mode, --numerics llama.cpp computes as llama.cpp does\n");
            break;
          case Numerics::LlamaCpp:
            std::printf(
                "numerics: llama.cpp (ggml's operations in ggml's order: llama.cpp's numbers; --numerics q8 is the "
                "fast mode)\n");
            break;
          case Numerics::Q8:
            std::printf(
                "numerics: q8 (--q8-act): llama.cpp's activation conversions with loupe's int8 kernels; the fast mode "
                "and the like-for-like comparison with llama-bench\n");
            break;
        }
      }
      if (*observe == "nan" && nan.non_finite() > 0)
        std::fprintf(stderr, "note: %lld non-finite values, first at %s\n", static_cast<long long>(nan.non_finite()),
                     interp.hooks()[nan.first_hook()].name.c_str());
      sf->record("bench", {mf->model}, model->config.format + " " + model->config.file_type, interp.n_threads(), arr);
      if (*json_out) std::printf("%s\n", arr.dump(2).c_str());
    };
  });
}

}  // namespace loupe::cli
