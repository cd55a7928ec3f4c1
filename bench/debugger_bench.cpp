// An idle debugger costs nothing: a prompt's forward pass under `loupe debug` (a Session with
// no breakpoints, watches or edits) against what `loupe logits` runs (forward() with every
// position's logits), and greedy decoding under the debugger against generate().
// Run: ./build/release/debugger_bench
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <memory>

#include "bench_model.h"
#include "debugger/session.h"
#include "engine/driver.h"
#include "model/weights.h"

namespace loupe {
namespace {

const Model& bench_model() {
  return bench::small_llama("loupe-debugger-bench");
}

std::vector<int32_t> bench_tokens(int64_t n) {
  std::vector<int32_t> tokens(static_cast<size_t>(n));
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<int32_t>(100 + i * 7);
  return tokens;
}

constexpr int64_t kPrompt = 128;

// What `loupe logits` does: every position's logits, copied out.
void BM_LogitsCommand(benchmark::State& state) {
  const Model& m = bench_model();
  Interpreter interp(m, RunOptions{1, 512, 256});
  const auto tokens = bench_tokens(kPrompt);
  const int64_t V = m.config.d_vocab;
  std::vector<float> all(tokens.size() * static_cast<size_t>(V));
  for (auto _ : state) {
    interp.rewind(0);
    forward(interp, tokens, true,
            [&](const float* l, int64_t rows, int64_t first) { std::copy_n(l, rows * V, all.data() + first * V); });
  }
  state.SetItemsProcessed(state.iterations() * kPrompt);
}

// `run` in `loupe debug` with no breakpoints.
void BM_DebugRun(benchmark::State& state) {
  const Model& m = bench_model();
  dbg::Session session(m, RunOptions{1, 512, 256});
  const auto tokens = bench_tokens(kPrompt);
  for (auto _ : state) benchmark::DoNotOptimize(session.run(tokens));
  state.SetItemsProcessed(state.iterations() * kPrompt);
}

constexpr int64_t kDecode = 32;

void BM_GenerateGreedy(benchmark::State& state) {
  const Model& m = bench_model();
  Interpreter interp(m, RunOptions{1, 512, 256});
  const auto tokens = bench_tokens(8);
  GenerateOptions go;
  go.n_predict = kDecode + 1;  // the last sampled token is not fed
  go.sampler.temperature = 0;
  for (auto _ : state) {
    interp.rewind(0);
    benchmark::DoNotOptimize(generate(interp, tokens, go));
  }
  state.SetItemsProcessed(state.iterations() * kDecode);
}

void BM_DebugGenerate(benchmark::State& state) {
  const Model& m = bench_model();
  dbg::Session session(m, RunOptions{1, 512, 256});
  const auto tokens = bench_tokens(8);
  for (auto _ : state) {
    session.run(tokens);
    benchmark::DoNotOptimize(session.generate(kDecode));
  }
  state.SetItemsProcessed(state.iterations() * kDecode);
}

BENCHMARK(BM_LogitsCommand)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DebugRun)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_GenerateGreedy)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DebugGenerate)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace loupe

BENCHMARK_MAIN();
