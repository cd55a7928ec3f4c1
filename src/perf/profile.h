// The profiler behind `loupe profile`: an op listener that times every op of every pass, the
// work each op does (floating-point operations and bytes moved, from its kind and shapes), and
// the reductions a user reads: by op kind, by layer, by phase, a roofline against the machine's
// measured peaks, memory, and a Chrome trace-event file (Perfetto, chrome://tracing).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/interpreter.h"
#include "tensor/kernels.h"

namespace loupe::perf {

enum class Phase : uint8_t { Prefill, Decode };
constexpr int kPhaseCount = 2;
std::string_view phase_name(Phase p);

// What one op does in one pass of `rows` positions starting at pos0.
struct OpWork {
  double flops = 0;     // multiply and add count as two; exp, tanh and division as one
  double int8_ops = 0;  // of the flops, those done as int8 products (q8 activations)
  double bytes = 0;     // weights read (as stored), KV cache read or written, activations in and out
};
// numerics: the run's arithmetic (with llama.cpp's, the matmuls of types with an int8 pairing are int8).
OpWork op_work(const Model& model, const Op& op, int64_t rows, int64_t n, int64_t pos0,
               Numerics numerics = Numerics::Exact);

class Profiler : public OpListener {
 public:
  // keep_events: record one event per op run (for --trace); otherwise only totals.
  Profiler(Interpreter& interp, bool keep_events);
  ~Profiler() override;
  Profiler(const Profiler&) = delete;
  Profiler& operator=(const Profiler&) = delete;

  // Passes begun from now on count as this phase.
  void set_phase(Phase p) { phase_ = p; }

  void before_op(int op_index) override;
  void after_op(int op_index) override;

  struct OpTotals {
    int64_t calls = 0;
    double seconds = 0;
    double flops = 0;
    double int8_ops = 0;
    double bytes = 0;
  };
  // Per phase, per op index.
  const std::vector<OpTotals>& totals(Phase p) const { return totals_[static_cast<size_t>(p)]; }
  int64_t passes(Phase p) const { return passes_[static_cast<size_t>(p)]; }
  int64_t tokens(Phase p) const { return tokens_[static_cast<size_t>(p)]; }
  // Wall time of the passes of a phase (first op start to last op end of each pass).
  double pass_seconds(Phase p) const { return pass_seconds_[static_cast<size_t>(p)]; }

  struct Event {
    int op = 0;
    Phase phase = Phase::Prefill;
    int32_t pass = 0;  // index of the pass within its phase
    int64_t rows = 0;  // positions the op ran on
    int64_t pos0 = 0;  // first position of the pass
    double start = 0;  // seconds since the profiler was made
    double seconds = 0;
  };
  const std::vector<Event>& events() const { return events_; }

 private:
  using Clock = std::chrono::steady_clock;
  Interpreter& interp_;
  bool keep_events_;
  Phase phase_ = Phase::Prefill;
  Clock::time_point origin_;
  Clock::time_point op_start_;
  Clock::time_point pass_start_;
  std::vector<OpTotals> totals_[kPhaseCount];
  int64_t passes_[kPhaseCount] = {0, 0};
  int64_t tokens_[kPhaseCount] = {0, 0};
  double pass_seconds_[kPhaseCount] = {0, 0};
  std::vector<Event> events_;
};

// The machine's peaks, measured now with every thread of `pool` at the tier the kernels run
// (perf/peaks.h): what the hardware does, not what loupe's kernels reach.
// An op whose bytes per call fit in half the last-level cache is held to the cache's read rate
// (a model that fits reads its weights from cache, far past DRAM's rate), a larger one to DRAM's.
struct Peaks {
  Isa isa = Isa::Scalar;
  double read_bytes_per_s = 0;        // streaming read bandwidth from DRAM (perf::read_bandwidth)
  double cache_read_bytes_per_s = 0;  // the same over a buffer that stays in the caches
  int64_t cache_bytes = 0;            // the last-level cache (sysfs; 8 MiB when unknown)
  double fma_flops_per_s = 0;         // float multiply-adds in registers (perf::fma_peak)
  double int8_ops_per_s = 0;          // int8 products in registers (perf::int8_peak)
};
Peaks measure_peaks(ThreadPool& pool);

// Memory figures of a loaded model and its interpreter.
struct MemoryUse {
  int64_t weights_stored = 0;    // bytes of all weights as stored in the file(s)
  int64_t weights_mapped = 0;    // bytes of the mapped files
  int64_t weights_resident = 0;  // of the mapped bytes, those in RAM now (mincore)
  int64_t weights_owned = 0;     // small vectors converted to f32 at load (heap)
  int64_t weights_tiles = 0;     // interleaved copies for decode (Model::pack_tiles, heap)
  int64_t weights_panels = 0;    // VNNI panels for q8 activations (Model::pack_panels, heap)
  int64_t kv_cache = 0;
  int64_t scratch = 0;  // activation buffers
  int64_t peak_rss = 0;
};
MemoryUse memory_use(const Interpreter& interp);

// The report: per phase, op kinds, layers and the slowest ops with their roofline figures.
// peaks may be zero (not measured): then no attainable figures are given.
nlohmann::ordered_json profile_json(const Interpreter& interp, const Profiler& prof, const Peaks& peaks,
                                    const MemoryUse& mem);
// The same as readable tables.
std::string profile_text(const nlohmann::ordered_json& report, int top_ops);

// Chrome trace-event JSON: one complete ("X") event per op run with its layer, op, shape and
// type, and one per pass; timestamps in microseconds.
nlohmann::ordered_json chrome_trace(const Interpreter& interp, const Profiler& prof);

}  // namespace loupe::perf
