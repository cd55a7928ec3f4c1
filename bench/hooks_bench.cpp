// The cost of hooks: a forward pass with no observer (every hook point is one untaken branch)
// against the same pass with a no-op observer on every hook point, and with a copy of every
// residual-stream hook (what `loupe trace` does). Run: ./build/release/hooks_bench
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <memory>

#include "bench_model.h"
#include "engine/driver.h"
#include "model/weights.h"

namespace loupe {
namespace {

const Model& bench_model() {
  return bench::small_llama("loupe-hooks-bench");
}

struct Noop : Observer {
  int64_t calls = 0;
  void on_hook(const HookEvent&) override { ++calls; }
};

struct CopyAll : Observer {
  std::vector<float> sink;
  void on_hook(const HookEvent& e) override { sink.assign(e.data, e.data + e.shape.numel()); }
};

enum Mode { kNone = 0, kNoopAll = 1, kCopyResid = 2 };

void run(benchmark::State& state, int64_t n_tokens) {
  const Model& m = bench_model();
  Interpreter interp(m, RunOptions{1, 512, 256});
  Noop noop;
  CopyAll copy;
  const Mode mode = static_cast<Mode>(state.range(0));
  if (mode == kNoopAll)
    for (int h = 0; h < interp.hooks().size(); ++h) interp.observe(h, &noop);
  if (mode == kCopyResid)
    for (const char* g : {"hook_embed", "blocks.*.hook_resid_*"})
      for (int h : interp.hooks().resolve(g)) interp.observe(h, &copy);
  std::vector<int32_t> tokens(static_cast<size_t>(n_tokens));
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<int32_t>(100 + i * 7);
  for (auto _ : state) {
    interp.rewind(0);
    forward(interp, tokens, false, nullptr);
  }
  state.SetItemsProcessed(state.iterations() * n_tokens);
  state.SetLabel(mode == kNone      ? "no observers"
                 : mode == kNoopAll ? "no-op observer on every hook"
                                    : "copy resid hooks");
}

void BM_Prefill64(benchmark::State& state) {
  run(state, 64);
}
void BM_Decode1(benchmark::State& state) {
  run(state, 1);
}

BENCHMARK(BM_Prefill64)->Arg(kNone)->Arg(kNoopAll)->Arg(kCopyResid)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Decode1)->Arg(kNone)->Arg(kNoopAll)->Arg(kCopyResid)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace loupe

BENCHMARK_MAIN();
