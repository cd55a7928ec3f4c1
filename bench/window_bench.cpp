// Sliding windows make long-context decode cheaper: one decoded token at context position P
// of a Gemma-3-shaped model (five local layers with a 256-key window to one global), against
// the same weights with every layer global (the window turned off in the loaded config), for
// P = 512 .. 4096. The local layers' scores, softmax and value mix touch 256 keys instead of
// P, and their KV cache is a 256 + batch ring. Run: ./build/release/window_bench
#include <benchmark/benchmark.h>

#include <filesystem>
#include <memory>

#include "bench_model.h"
#include "engine/driver.h"
#include "model/synth.h"
#include "model/weights.h"

namespace loupe {
namespace {

constexpr int64_t kCtx = 4096 + 64;

std::unique_ptr<Model> gemma3(bool windows) {
  SynthSpec s;
  s.arch = Arch::Gemma3;
  s.d_model = 256;
  s.n_layers = 6;
  s.n_heads = 4;
  s.n_kv_heads = 1;
  s.d_head = 64;
  s.d_mlp = 512;
  s.n_ctx = kCtx;
  s.window = 256;
  s.vocab_path = bench::shared_dir() + "/models/stories260K-gguf/stories260K-f32.gguf";
  const std::string path = (std::filesystem::temp_directory_path() / "loupe-window-bench.gguf").string();
  write_synth_gguf(make_synth_model(s), s, path, nullptr);
  auto m = load_model(path);
  if (!windows)
    for (LayerSpec& l : m->config.layers) l.window = 0;
  return m;
}

void decode_at(benchmark::State& state, bool windows) {
  static std::unique_ptr<Model> with = gemma3(true), without = gemma3(false);
  const Model& m = windows ? *with : *without;
  const int64_t pos = state.range(0);
  RunOptions ro;
  ro.n_threads = 1;
  ro.n_ctx = kCtx;
  ro.max_batch = 256;
  Interpreter interp(m, ro);
  std::vector<int32_t> prompt(static_cast<size_t>(pos));
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int32_t>(3 + i * 7 % 500);
  forward(interp, prompt, false, nullptr);
  const int32_t next = 42;
  for (auto _ : state) {
    interp.rewind(pos);
    interp.begin({&next, 1}, false);
    interp.finish();
  }
  state.counters["kv_cache_MiB"] = static_cast<double>(interp.kv_cache_bytes()) / (1024.0 * 1024.0);
  state.SetItemsProcessed(state.iterations());
}

void BM_DecodeWindowed(benchmark::State& state) {
  decode_at(state, true);
}
void BM_DecodeAllGlobal(benchmark::State& state) {
  decode_at(state, false);
}
BENCHMARK(BM_DecodeWindowed)->Arg(512)->Arg(1024)->Arg(2048)->Arg(4096)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_DecodeAllGlobal)->Arg(512)->Arg(1024)->Arg(2048)->Arg(4096)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace loupe

BENCHMARK_MAIN();
