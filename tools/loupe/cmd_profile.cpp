// loupe profile MODEL -p PROMPT [-n N] [--json] [--trace OUT.json] [--top K] [--no-peaks] [--numerics exact|llama.cpp]
// [--no-warmup]:
// time per op, by op kind, layer and phase, with a roofline against measured peaks and memory.
#include <algorithm>
#include <cstdio>

#include "commands.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "engine/driver.h"
#include "engine/run.h"
#include "options.h"
#include "perf/profile.h"

namespace loupe::cli {

void add_profile(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand(
      "profile", "time, FLOPs and bytes per op, op kind, layer and phase (prefill / decode), with a roofline");
  auto mf = std::make_shared<ModelFlags>();
  auto pf = std::make_shared<PromptFlags>();
  auto n_gen = std::make_shared<int64_t>(16);
  auto json = std::make_shared<bool>(false);
  auto trace = std::make_shared<std::string>();
  auto top = std::make_shared<int>(15);
  auto no_peaks = std::make_shared<bool>(false);
  auto no_warmup = std::make_shared<bool>(false);
  auto sf = std::make_shared<StoreFlags>();
  mf->add(cmd);
  sf->add(cmd);
  pf->add(cmd, true);
  cmd->add_option("-n,--n-gen", *n_gen, "tokens to generate greedily after the prompt (default 16; no EOS stop)")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 20));
  cmd->add_flag("--json", *json, "print the report as JSON");
  cmd->add_option("--trace", *trace, "write Chrome trace-event JSON (open in Perfetto or chrome://tracing)");
  cmd->add_option("--top", *top, "slowest ops listed per phase (default 15)")->check(CLI::Range(1, 100000));
  cmd->add_flag("--no-peaks", *no_peaks, "do not measure the machine's peaks (no roofline columns)");
  cmd->add_flag("--no-warmup", *no_warmup,
                "profile the first pass over the prompt (by default one unprofiled pass runs first, as loupe bench "
                "does, so first-touch page faults and cold caches stay out of the times)");
  cmd->callback([=, &action] {
    action = [=] {
      auto model = mf->load();
      RunOptions ro = mf->run_options();
      std::vector<int32_t> prompt;
      prompt = pf->resolve(*model, effective_context(model->config, ro.n_ctx));
      // The context every command gets (engine/run.h).
      const int64_t n_ctx = effective_context(model->config, ro.n_ctx);
      if (static_cast<int64_t>(prompt.size()) + *n_gen > n_ctx)
        fail("--n-gen ", *n_gen, ": ", prompt.size(), " prompt tokens + ", *n_gen, " generated exceed the context of ",
             n_ctx, " positions (--ctx)");
      ro.max_batch = std::max<int64_t>(static_cast<int64_t>(prompt.size()), 1);
      Interpreter interp(*model, ro);
      if (!*no_warmup) {
        forward(interp, prompt, false, nullptr);
        interp.rewind(0);
      }
      perf::Profiler prof(interp, !trace->empty());
      prof.set_phase(perf::Phase::Prefill);
      forward(interp, prompt, false, nullptr);
      prof.set_phase(perf::Phase::Decode);
      const int64_t vocab = model->config.d_vocab;
      const float* logits = interp.logits() + (interp.logit_rows() - 1) * vocab;
      for (int64_t k = 0; k < *n_gen; ++k)
        logits = decode(interp, static_cast<int32_t>(std::max_element(logits, logits + vocab) - logits));
      perf::Peaks peaks;
      if (!*no_peaks) {
        peaks = perf::measure_peaks(interp.pool());
      }
      const auto report = perf::profile_json(interp, prof, peaks, perf::memory_use(interp));
      if (!trace->empty()) write_file_atomic(*trace, perf::chrome_trace(interp, prof).dump());
      sf->record("profile", {mf->model}, model->config.format + " " + model->config.file_type, interp.n_threads(),
                 report);
      if (*json) {
        std::printf("%s\n", report.dump(1).c_str());
      } else {
        std::fputs(perf::profile_text(report, *top).c_str(), stdout);
        if (!trace->empty()) std::printf("trace: %s (%zu events)\n", trace->c_str(), prof.events().size());
      }
    };
  });
}

}  // namespace loupe::cli
