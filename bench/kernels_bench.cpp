// Matmul kernels per weight type, instruction-set level and shape: decode (1 activation row)
// and prefill (64 rows), on a 768 x 768 weight (the shape of a 134M llama's attention), and
// decode on a 16384 x 4096 weight that streams from memory.
// Reports weight bytes read per second and FLOP/s as counters.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <random>
#include <vector>

#include "core/thread_pool.h"
#include "tensor/kernels.h"
#include "tensor/matmul.h"

namespace loupe {
namespace {

constexpr int64_t kRows = 768, kCols = 768;

// range(3) = 1: a weight of 16384 x 4096 (64 Mi elements), far past the caches, as the big
// matrices of a decode step stream from memory.
void BM_Matmul(benchmark::State& state) {
  const auto type = static_cast<DType>(state.range(0));
  const int64_t m = state.range(1);
  const bool q8 = state.range(2) != 0;
  const bool large = state.range(3) != 0;
  const int64_t rows = large ? 16384 : kRows, cols = large ? 4096 : kCols;
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> f(static_cast<size_t>(rows * cols));
  for (auto& v : f) v = d(rng);
  std::vector<uint8_t> bytes(row_bytes(type, cols) * rows);
  quantize_row(type, f.data(), bytes.data(), rows * cols);
  Weight w;
  w.name = "bench";
  w.type = type;
  w.rows = rows;
  w.cols = cols;
  w.data = bytes.data();
  // With q8 activations a model packs panels at load where the tier has them; so does this.
  std::vector<uint8_t> panels;
  if (q8 && packs_panels(w)) {
    panels = pack_panels(w);
    w.panels = panels.data();
  }
  std::vector<float> x(static_cast<size_t>(m * cols)), y(static_cast<size_t>(m * rows));
  for (auto& v : x) v = d(rng);
  ThreadPool pool(1);
  for (auto _ : state) {
    matmul(pool, w, x.data(), m, y.data(), nullptr, q8 ? Numerics::Q8 : Numerics::Exact);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetLabel(std::string(dtype_name(type)) + (q8 ? " q8-act " : " ") + isa_name(active_isa()) + " " +
                 matmul_route_name(matmul_route(w, m, q8 ? Numerics::Q8 : Numerics::Exact)));
  state.counters["bytes/s"] =
      benchmark::Counter(static_cast<double>(bytes.size()), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["FLOP/s"] =
      benchmark::Counter(2.0 * static_cast<double>(m * rows * cols), benchmark::Counter::kIsIterationInvariantRate);
}

void args(benchmark::internal::Benchmark* b) {
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K,
                  DType::IQ4_XS})
    for (int64_t m : {1, 64})
      for (int q8 : {0, 1}) {
        const bool quant = t != DType::F32 && t != DType::F16 && t != DType::BF16;
        if (q8 && !quant) continue;
        b->Args({static_cast<int64_t>(t), m, q8, 0});
      }
  for (DType t : {DType::F32, DType::F16, DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K})
    for (int q8 : {0, 1})
      if (q8 == 0 || (t != DType::F32 && t != DType::F16)) b->Args({static_cast<int64_t>(t), 1, q8, 1});
}

BENCHMARK(BM_Matmul)->Apply(args);

// One decode step's matmuls of the 134M llama of the performance issue (d 768, 12 layers, d_mlp
// 2048, 32000-token unembedding), one activation row, on range(1) threads: the weights stream
// from memory as in `loupe bench`, without attention or norms. bytes/s against the read
// bandwidth says how close the kernels and the pool's hand-offs come to the limit.
// range(3): the weights' copy: 0 rows in place, 1 interleaved tiles (what load_model gives the
// block-quantised types), 2 VNNI panels (what --q8-act gives Q8_0, Q4_0 and Q4_K).
void model_step(benchmark::State& state, int64_t m) {
  const auto type = static_cast<DType>(state.range(0));
  const int threads = static_cast<int>(state.range(1));
  const bool q8 = state.range(2) != 0;
  const int copy = static_cast<int>(state.range(3));
  struct Shape {
    int64_t rows, cols;
  };
  std::vector<Shape> shapes;
  for (int l = 0; l < 12; ++l)
    for (Shape s : {Shape{768, 768}, Shape{768, 768}, Shape{768, 768}, Shape{768, 768}, Shape{2048, 768},
                    Shape{2048, 768}, Shape{768, 2048}})
      shapes.push_back(s);
  shapes.push_back({32000, 768});
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<std::vector<uint8_t>> data;
  std::vector<Weight> ws;
  std::vector<std::vector<uint8_t>> copies;
  size_t total = 0;
  for (const Shape& s : shapes) {
    std::vector<float> f(static_cast<size_t>(s.rows * s.cols));
    for (auto& v : f) v = d(rng);
    data.emplace_back(row_bytes(type, s.cols) * s.rows);
    quantize_row(type, f.data(), data.back().data(), s.rows * s.cols);
    total += data.back().size();
  }
  for (size_t i = 0; i < shapes.size(); ++i) {
    Weight w;
    w.name = "bench";
    w.type = type;
    w.rows = shapes[i].rows;
    w.cols = shapes[i].cols;
    w.data = data[i].data();
    if (copy == 1 && packs_tiles(w)) {
      copies.push_back(pack_tiles(w));
      w.tiles = copies.back().data();
    } else if (copy == 2 && packs_panels(w)) {
      copies.push_back(pack_panels(w));
      w.panels = copies.back().data();
    }
    ws.push_back(w);
  }
  std::vector<float> x(static_cast<size_t>(m * 2048)), y(static_cast<size_t>(m * 32000));
  for (auto& v : x) v = d(rng);
  ThreadPool pool(threads);
  for (auto _ : state) {
    for (const Weight& w : ws) matmul(pool, w, x.data(), m, y.data(), nullptr, q8 ? Numerics::Q8 : Numerics::Exact);
    benchmark::DoNotOptimize(y.data());
  }
  const char* copy_name[] = {"", "tiles ", "panels "};
  state.SetLabel(std::string(dtype_name(type)) + (q8 ? " q8-act " : " ") + (copies.empty() ? "" : copy_name[copy]) +
                 isa_name(active_isa()));
  state.counters["bytes/s"] =
      benchmark::Counter(static_cast<double>(total), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["tok/s"] = benchmark::Counter(static_cast<double>(m), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_DecodeStep(benchmark::State& state) {
  model_step(state, 1);
}

// The same matmuls for 256 activation rows (all of them through the unembedding too, which a
// prompt computes for its last row only).
void BM_PrefillStep(benchmark::State& state) {
  model_step(state, 256);
}

void step_args(benchmark::internal::Benchmark* b) {
  for (DType t : {DType::F32, DType::F16, DType::Q8_0, DType::Q4_0, DType::Q4_K})
    for (int q8 : {0, 1})
      if (q8 == 0 || (t != DType::F32 && t != DType::F16))
        for (int th : {1, 2})
          for (int copy : {0, 1, 2}) {
            const bool quant = t != DType::F32 && t != DType::F16;
            const bool tiles_used = q8 == 0 && quant;
            const bool panels_used = q8 == 1 && quant;
            if (copy == 0 || (copy == 1 && tiles_used) || (copy == 2 && panels_used))
              b->Args({static_cast<int64_t>(t), th, q8, copy});
          }
}

// Attention of one layer of the 134M llama (12 heads of 64, keys 768 floats apart in the cache)
// for a causal prompt of range(0) tokens, one thread: scores and value mix of all query rows
// with the attention kernels (range(1) = 1, as the interpreter runs a head) or one query row and
// one key at a time through dot_f32 / axpy_f32.
void BM_Attention(benchmark::State& state) {
  const int64_t n = state.range(0);
  const bool kernel = state.range(1) != 0;
  constexpr int64_t kHeads = 12, kHead = 64, kStride = kHeads * kHead;
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> q(static_cast<size_t>(n * kStride)), k(q.size()), v(q.size()), z(q.size());
  for (auto* a : {&q, &k, &v})
    for (auto& x : *a) x = d(rng);
  std::vector<float> row(static_cast<size_t>(n)), rows(static_cast<size_t>(n * n));
  for (auto _ : state) {
    for (int64_t h = 0; h < kHeads; ++h) {
      if (kernel) {  // as the interpreter runs a head: all its query rows at once
        const float* kh = k.data() + h * kHead;
        attn_scores_rows(q.data() + h * kHead, kStride, n, kh, kStride, 1, kHead, 0.125f, rows.data(), n);
        for (int64_t i = 0; i < n; ++i) std::fill(rows.begin() + i * n + i + 1, rows.begin() + (i + 1) * n, 0.0f);
        attn_mix_rows(rows.data(), n, n, n, v.data() + h * kHead, kStride, kHead, z.data() + h * kHead, kStride);
        continue;
      }
      for (int64_t i = 0; i < n; ++i) {
        const float* qi = q.data() + i * kStride + h * kHead;
        const float* kh = k.data() + h * kHead;
        const float* vh = v.data() + h * kHead;
        float* zi = z.data() + i * kStride + h * kHead;
        for (int64_t j = 0; j <= i; ++j) row[static_cast<size_t>(j)] = dot_f32(qi, kh + j * kStride, kHead) * 0.125f;
        std::fill_n(zi, kHead, 0.0f);
        for (int64_t j = 0; j <= i; ++j) axpy_f32(row[static_cast<size_t>(j)], vh + j * kStride, zi, kHead);
      }
    }
    benchmark::DoNotOptimize(z.data());
  }
  state.SetLabel(kernel ? "kernels" : "one key at a time");
  state.counters["FLOP/s"] = benchmark::Counter(4.0 * kHeads * kHead * static_cast<double>(n * (n + 1) / 2),
                                                benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_Attention)->ArgsProduct({{64, 256}, {0, 1}});

BENCHMARK(BM_DecodeStep)->Apply(step_args)->UseRealTime();
BENCHMARK(BM_PrefillStep)->Apply(step_args)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace loupe

BENCHMARK_MAIN();
