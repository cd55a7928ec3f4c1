// Profiler, op work model, peaks, memory and the profile report.
#include "perf/profile.h"

#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>

#include "core/error.h"
#include "perf/bandwidth.h"
#include "perf/peaks.h"
#include "tensor/kernels_matmul.h"
#include "tensor/matmul.h"

namespace loupe::perf {

std::string_view phase_name(Phase p) {
  return p == Phase::Prefill ? "prefill" : "decode";
}

OpWork op_work(const Model& model, const Op& op, int64_t rows, int64_t n, int64_t pos0, Numerics numerics) {
  const ModelConfig& c = model.config;
  const auto r = static_cast<double>(rows);
  const auto d = static_cast<double>(c.d_model);
  const auto heads = static_cast<double>(c.n_heads);
  const auto dh = static_cast<double>(c.d_head);
  const auto dkv = static_cast<double>(c.d_kv());
  const auto dmlp = static_cast<double>(c.d_mlp);
  const double kv = static_cast<double>(pos0 + n);
  // Key positions attended by all rows: sum over i of (pos0 + i + 1).
  int64_t exact_pairs = n * pos0 + n * (n + 1) / 2;  // an integer: n (n + 1) is even
  const int64_t window = op.layer >= 0 ? c.layers[static_cast<size_t>(op.layer)].window : 0;
  if (window > 0) {  // a sliding window: min(pos + 1, window) keys per row
    exact_pairs = 0;
    for (int64_t i = 0; i < n; ++i) exact_pairs += std::min(pos0 + i + 1, window);
  }
  const auto pairs = static_cast<double>(exact_pairs);
  constexpr double f = sizeof(float);
  OpWork w;
  switch (op.kind) {
    case OpKind::Embed:
    case OpKind::PosEmbed:
      w.bytes =
          r * static_cast<double>(op.w->nbytes()) / static_cast<double>(std::max<int64_t>(op.w->rows, 1)) + r * d * f;
      break;
    case OpKind::Mark: break;
    case OpKind::Add:
      w.flops = r * d;
      w.bytes = 3 * r * d * f;
      break;
    case OpKind::NormScale:
      w.flops = (c.norm == NormKind::LayerNorm ? 4 : 2) * r * d;
      w.bytes = r * d * f + r * f;
      break;
    case OpKind::NormApply:
      w.flops = (c.norm == NormKind::LayerNorm ? 5 : 2) * r * d;
      w.bytes = 2 * r * d * f + (op.beta ? 2 : 1) * d * f;
      break;
    case OpKind::MatMul: {
      const auto in = static_cast<double>(op.w->cols), out = static_cast<double>(op.w->rows);
      w.flops = 2 * r * in * out + (op.bias ? r * out : 0);
      if (matmul_takes_q8(*op.w, numerics)) w.int8_ops = 2 * r * in * out;
      w.bytes = static_cast<double>(op.w->nbytes()) + r * (in + out) * f + (op.bias ? out * f : 0);
      break;
    }
    case OpKind::Rope: {
      const double width = op.out == Buf::RotQ ? static_cast<double>(c.d_q()) : dkv;
      w.flops = 3 * r * width;
      w.bytes = 2 * r * width * f;
      break;
    }
    case OpKind::KvStore: w.bytes = 2 * 2 * r * dkv * f; break;
    case OpKind::AttnScores:
      w.flops = 2 * heads * pairs * dh + heads * pairs;
      w.bytes = kv * dkv * f + r * heads * dh * f + heads * r * kv * f;
      break;
    case OpKind::Softmax:
      w.flops = 4 * heads * pairs;
      w.bytes = 2 * heads * r * kv * f;
      break;
    case OpKind::AttnMix:
      w.flops = 2 * heads * pairs * dh;
      w.bytes = kv * dkv * f + heads * r * kv * f + r * heads * dh * f;
      break;
    case OpKind::Gelu:
      w.flops = 9 * r * dmlp;
      w.bytes = 2 * r * dmlp * f;
      break;
    case OpKind::SiluMul:
    case OpKind::GeluMul:
    case OpKind::SwigluOai:
      w.flops = (op.kind == OpKind::GeluMul ? 10 : 6) * r * dmlp;
      w.bytes = 3 * r * dmlp * f;
      break;
    case OpKind::HeadNorm: {
      const double width = op.out == Buf::QNorm ? static_cast<double>(c.d_q()) : dkv;
      w.flops = 4 * r * width;
      w.bytes = 2 * r * width * f + dh * f;
      break;
    }
    case OpKind::MoeSelect:
    case OpKind::MoeWeights: {
      const auto e = static_cast<double>(c.n_experts);
      w.flops = 4 * r * e;
      w.bytes = r * e * f + r * static_cast<double>(c.n_experts_used) * f;
      break;
    }
    case OpKind::MoeExperts: {
      // The k chosen experts of each row: three matmuls and the activation; bytes count each
      // expert's weights once per pass (an upper bound when rows share experts).
      const double k = static_cast<double>(c.n_experts_used);
      w.flops = r * k * (6 * d * dmlp + 6 * dmlp);
      const Weight& g = model.layers[static_cast<size_t>(op.layer)].expert_gate.front();
      const double per_expert = 3 * static_cast<double>(g.nbytes());
      w.bytes = std::min(r * k, static_cast<double>(c.n_experts)) * per_expert + r * (d + k * d) * f;
      break;
    }
    case OpKind::MoeCombine: {
      const double k = static_cast<double>(c.n_experts_used);
      w.flops = 2 * r * k * d;
      w.bytes = r * (k * d + d + k) * f;
      break;
    }
    case OpKind::SoftCap: {
      const double width = static_cast<double>(c.d_vocab);
      w.flops = 3 * r * width;
      w.bytes = 2 * r * width * f;
      break;
    }
  }
  return w;
}

Profiler::Profiler(Interpreter& interp, bool keep_events)
    : interp_(interp), keep_events_(keep_events), origin_(Clock::now()) {
  for (auto& t : totals_) t.assign(interp.program().ops.size(), OpTotals{});
  interp_.add_op_listener(this);
}

Profiler::~Profiler() {
  interp_.remove_op_listener(this);
}

void Profiler::before_op(int op_index) {
  op_start_ = Clock::now();
  if (op_index == 0) pass_start_ = op_start_;
}

void Profiler::after_op(int op_index) {
  const Clock::time_point end = Clock::now();
  const auto p = static_cast<size_t>(phase_);
  const Op& op = interp_.program().ops[static_cast<size_t>(op_index)];
  const int64_t n = static_cast<int64_t>(interp_.batch_tokens().size());
  const int64_t pos0 = interp_.batch_pos0();
  const int64_t rows = op.final_rows ? interp_.final_rows() : n;
  const double seconds = std::chrono::duration<double>(end - op_start_).count();
  const OpWork w = op_work(interp_.model(), op, rows, n, pos0, interp_.numerics());
  OpTotals& t = totals_[p][static_cast<size_t>(op_index)];
  ++t.calls;
  t.seconds += seconds;
  t.flops += w.flops;
  t.int8_ops += w.int8_ops;
  t.bytes += w.bytes;
  if (keep_events_ && op.kind != OpKind::Mark)
    events_.push_back({op_index, phase_, static_cast<int32_t>(passes_[p]), rows, pos0,
                       std::chrono::duration<double>(op_start_ - origin_).count(), seconds});
  if (op_index + 1 == static_cast<int>(interp_.program().ops.size())) {
    const double pass = std::chrono::duration<double>(end - pass_start_).count();
    pass_seconds_[p] += pass;
    tokens_[p] += n;
    if (keep_events_)
      events_.push_back({-1, phase_, static_cast<int32_t>(passes_[p]), n, pos0,
                         std::chrono::duration<double>(pass_start_ - origin_).count(), pass});
    ++passes_[p];
  }
}

namespace {

// The last-level cache's size from sysfs (the highest index of cpu0), 8 MiB when unknown.
int64_t last_level_cache_bytes() {
  int64_t best = 0;
  for (int i = 0; i < 8; ++i) {
    std::ifstream f("/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/size");
    std::string v;
    if (!(f >> v) || v.empty()) continue;
    int64_t n = 0;
    size_t k = 0;
    while (k < v.size() && std::isdigit(static_cast<unsigned char>(v[k]))) n = n * 10 + (v[k++] - '0');
    if (k < v.size() && (v[k] == 'K' || v[k] == 'k')) n <<= 10;
    if (k < v.size() && (v[k] == 'M' || v[k] == 'm')) n <<= 20;
    best = std::max(best, n);
  }
  return best > 0 ? best : int64_t{8} << 20;
}

}  // namespace

Peaks measure_peaks(ThreadPool& pool) {
  Peaks p;
  p.isa = active_isa();
  p.read_bytes_per_s = read_bandwidth(pool, int64_t(256) << 20, 3);
  p.cache_bytes = last_level_cache_bytes();
  // A buffer a quarter of the last-level cache, read many times: it stays in the caches.
  p.cache_read_bytes_per_s = read_bandwidth(pool, std::max<int64_t>(int64_t{256} << 10, p.cache_bytes / 4), 20);
  p.fma_flops_per_s = fma_peak(pool, p.isa);
  p.int8_ops_per_s = int8_peak(pool, p.isa);
  return p;
}

namespace {

// Bytes of [data, data + size) in RAM now.
int64_t resident(const uint8_t* data, size_t size) {
  if (data == nullptr || size == 0) return 0;
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = reinterpret_cast<uintptr_t>(data) & ~(page - 1);
  const uintptr_t end = reinterpret_cast<uintptr_t>(data) + size;
  const size_t pages = (end - begin + page - 1) / page;
  std::vector<unsigned char> in(pages);
  if (mincore(reinterpret_cast<void*>(begin), end - begin, in.data()) != 0) return -1;
  int64_t n = 0;
  for (unsigned char v : in) n += v & 1;
  return n * static_cast<int64_t>(page);
}

}  // namespace

MemoryUse memory_use(const Interpreter& interp) {
  const Model& m = interp.model();
  MemoryUse u;
  u.weights_stored = static_cast<int64_t>(m.weight_bytes());
  for (const auto& f : m.files) {
    u.weights_mapped += static_cast<int64_t>(f->size());
    const int64_t r = resident(f->data(), f->size());
    if (r > 0) u.weights_resident += r;
  }
  for (const auto& v : m.owned) u.weights_owned += static_cast<int64_t>(v.size() * sizeof(float));
  for (const auto& v : m.tile_copies) u.weights_tiles += static_cast<int64_t>(v.size());
  for (const auto& v : m.panel_copies) u.weights_panels += static_cast<int64_t>(v.size());
  u.kv_cache = interp.kv_cache_bytes();
  u.scratch = interp.scratch_bytes();
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  u.peak_rss = static_cast<int64_t>(ru.ru_maxrss) * 1024;
  return u;
}

namespace {

using ojson = nlohmann::ordered_json;

struct Sum {
  int64_t calls = 0;
  double seconds = 0, flops = 0, int8_ops = 0, bytes = 0;
  double cached_bytes = 0;  // of ops whose bytes per call fit in the cache
  void add(const Profiler::OpTotals& t, const Peaks& peaks) {
    calls += t.calls;
    seconds += t.seconds;
    flops += t.flops;
    int8_ops += t.int8_ops;
    bytes += t.bytes;
    if (t.calls > 0 && t.bytes / static_cast<double>(t.calls) <= static_cast<double>(peaks.cache_bytes) / 2)
      cached_bytes += t.bytes;
  }
};

bool have_peaks(const Peaks& p) {
  return p.fma_flops_per_s > 0 && p.int8_ops_per_s > 0 && p.read_bytes_per_s > 0;
}

// Seconds the peaks allow for a group's work: compute and memory.
std::pair<double, double> roof_seconds(const Sum& s, const Peaks& peaks) {
  // Float operations at the FMA peak, int8 products at the int8 peak.
  const double t_compute = (s.flops - s.int8_ops) / peaks.fma_flops_per_s + s.int8_ops / peaks.int8_ops_per_s;
  const double cache_bw = std::max(peaks.cache_read_bytes_per_s, peaks.read_bytes_per_s);
  const double t_memory = (s.bytes - s.cached_bytes) / peaks.read_bytes_per_s + s.cached_bytes / cache_bw;
  return {t_compute, t_memory};
}

// Adds the figures of a group to j: achieved rates, the time the peaks allow, and which bound.
ojson group_json(ojson j, const Sum& s, double phase_seconds, const Peaks& peaks, double raise) {
  j["calls"] = s.calls;
  j["ms"] = s.seconds * 1e3;
  j["percent"] = phase_seconds > 0 ? 100.0 * s.seconds / phase_seconds : 0.0;
  j["gflop"] = s.flops / 1e9;
  j["gbytes"] = s.bytes / 1e9;
  j["gflops"] = s.seconds > 0 ? s.flops / s.seconds / 1e9 : 0.0;
  j["gbs"] = s.seconds > 0 ? s.bytes / s.seconds / 1e9 : 0.0;
  if (have_peaks(peaks)) {
    const auto [t_compute, t_memory] = roof_seconds(s, peaks);
    j["bound"] = t_compute >= t_memory ? "compute" : "memory";
    // Roofline time over measured time: 100% = at the machine's peak. raise >= 1 lifts the
    // peaks to what the fastest op reached, so no group passes 100%.
    j["roofline_percent"] = s.seconds > 0 ? 100.0 * std::max(t_compute, t_memory) / s.seconds / raise : 0.0;
  }
  return j;
}

std::string op_type(const Op& op) {
  return op.w != nullptr ? std::string(dtype_name(op.w->type)) : "f32";
}

}  // namespace

ojson profile_json(const Interpreter& interp, const Profiler& prof, const Peaks& peaks, const MemoryUse& mem) {
  const Program& prog = interp.program();
  const Model& m = interp.model();
  ojson j;
  j["model"] = m.path;
  j["model_type"] = m.config.arch_label + " " + m.config.file_type;
  j["n_threads"] = interp.n_threads();
  // Any group's roofline share is at most its fastest op's (a sum of times over a sum of times),
  // so lifting the peaks by the largest op share over 1 keeps every figure at 100% or below.
  double raise = 1;
  if (have_peaks(peaks))
    for (int pi = 0; pi < kPhaseCount; ++pi) {
      const auto phase = static_cast<Phase>(pi);
      if (prof.passes(phase) == 0) continue;
      for (const Profiler::OpTotals& t : prof.totals(phase)) {
        if (t.calls == 0 || t.seconds <= 0) continue;
        Sum s;
        s.add(t, peaks);
        const auto [tc, tm] = roof_seconds(s, peaks);
        raise = std::max(raise, std::max(tc, tm) / t.seconds);
      }
    }
  j["peaks"] = {{"isa", isa_name(peaks.isa)},
                {"read_gbs", peaks.read_bytes_per_s / 1e9},
                {"cache_read_gbs", peaks.cache_read_bytes_per_s / 1e9},
                {"cache_bytes", peaks.cache_bytes},
                {"fma_gflops", peaks.fma_flops_per_s / 1e9},
                {"int8_gops", peaks.int8_ops_per_s / 1e9},
                {"raised_by", raise}};
  ojson phases = ojson::array();
  for (int pi = 0; pi < kPhaseCount; ++pi) {
    const auto phase = static_cast<Phase>(pi);
    if (prof.passes(phase) == 0) continue;
    const std::vector<Profiler::OpTotals>& t = prof.totals(phase);
    const double pass_s = prof.pass_seconds(phase);
    Sum ops_total;
    std::map<std::string, Sum> kinds;
    std::map<int, Sum> layers;
    for (size_t i = 0; i < prog.ops.size(); ++i) {
      ops_total.add(t[i], peaks);
      kinds[std::string(op_kind_name(prog.ops[i].kind))].add(t[i], peaks);
      layers[prog.ops[i].layer].add(t[i], peaks);
    }
    ojson ph;
    ph["phase"] = phase_name(phase);
    ph["passes"] = prof.passes(phase);
    ph["tokens"] = prof.tokens(phase);
    ph["seconds"] = pass_s;
    ph["tokens_per_s"] = pass_s > 0 ? static_cast<double>(prof.tokens(phase)) / pass_s : 0.0;
    ph["ops_seconds"] = ops_total.seconds;
    ph["total"] = group_json(ojson::object(), ops_total, pass_s, peaks, raise);
    std::vector<std::pair<std::string, Sum>> by_kind(kinds.begin(), kinds.end());
    std::sort(by_kind.begin(), by_kind.end(),
              [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
    ojson jk = ojson::array();
    for (const auto& [name, s] : by_kind) {
      if (s.calls == 0) continue;
      jk.push_back(group_json({{"kind", name}}, s, pass_s, peaks, raise));
    }
    ph["by_kind"] = jk;
    ojson jl = ojson::array();
    for (const auto& [layer, s] : layers) {
      jl.push_back(group_json({{"layer", layer}}, s, pass_s, peaks, raise));  // -1: embeddings, final norm, unembed
    }
    ph["by_layer"] = jl;
    std::vector<size_t> order(prog.ops.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&t](size_t a, size_t b) { return t[a].seconds > t[b].seconds; });
    ojson jo = ojson::array();
    for (size_t i : order) {
      const Op& op = prog.ops[i];
      if (t[i].calls == 0 || op.kind == OpKind::Mark) continue;
      Sum s;
      s.add(t[i], peaks);
      jo.push_back(group_json({{"op", static_cast<int64_t>(i)},
                               {"label", op.label},
                               {"kind", op_kind_name(op.kind)},
                               {"layer", op.layer},
                               {"type", op_type(op)}},
                              s, pass_s, peaks, raise));
    }
    ph["ops"] = jo;
    phases.push_back(ph);
  }
  j["phases"] = phases;
  j["memory"] = {{"weights_stored", mem.weights_stored},
                 {"weights_mapped", mem.weights_mapped},
                 {"weights_resident", mem.weights_resident},
                 {"weights_owned", mem.weights_owned},
                 {"weights_tiles", mem.weights_tiles},
                 {"weights_panels", mem.weights_panels},
                 {"kv_cache", mem.kv_cache},
                 {"scratch", mem.scratch},
                 {"peak_rss", mem.peak_rss}};
  return j;
}

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string mib(int64_t bytes) {
  return fmt("%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
}

void table_rows(std::string& out, const ojson& list, const char* key, size_t limit) {
  char line[256];
  std::snprintf(line, sizeof line, "  %-32s %7s %9s %6s %9s %8s %8s %8s %-7s\n", key, "calls", "ms", "%", "GFLOP",
                "GFLOP/s", "GB/s", "roof%", "bound");
  out += line;
  size_t n = 0;
  for (const ojson& g : list) {
    if (n++ >= limit) break;
    std::string name;
    if (g.contains("label"))
      name = g["label"].get<std::string>() + " (" + g["type"].get<std::string>() + ")";
    else if (g.contains("kind"))
      name = g["kind"].get<std::string>();
    else
      name = g["layer"].get<int>() < 0 ? "embed/final" : "layer " + std::to_string(g["layer"].get<int>());
    if (name.size() > 32) name = name.substr(0, 31) + "~";
    const std::string roof = g.contains("roofline_percent") ? fmt("%.0f", g["roofline_percent"].get<double>()) : "-";
    const std::string bound = g.contains("bound") ? g["bound"].get<std::string>() : "-";
    // Three significant digits however small the model: 0.000123, not 0.000.
    const auto sig3 = [](double v) { return v == 0 ? std::string("0") : v >= 100 ? fmt("%.0f", v) : fmt("%.3g", v); };
    std::snprintf(line, sizeof line, "  %-32s %7lld %9s %6.1f %9s %8.1f %8.1f %8s %-7s\n", name.c_str(),
                  static_cast<long long>(g["calls"].get<int64_t>()), sig3(g["ms"].get<double>()).c_str(),
                  g["percent"].get<double>(), sig3(g["gflop"].get<double>()).c_str(), g["gflops"].get<double>(),
                  g["gbs"].get<double>(), roof.c_str(), bound.c_str());
    out += line;
  }
}

}  // namespace

std::string profile_text(const ojson& r, int top_ops) {
  std::string out;
  out += "model " + r["model"].get<std::string>() + " (" + r["model_type"].get<std::string>() + "), " +
         std::to_string(r["n_threads"].get<int>()) + " threads\n";
  const ojson& pk = r["peaks"];
  const double bw = pk["read_gbs"].get<double>();
  if (bw > 0) {
    out += "measured peaks (" + pk["isa"].get<std::string>() + "): read " + fmt("%.1f", bw) + " GB/s (" +
           fmt("%.1f", pk["cache_read_gbs"].get<double>()) + " GB/s within the " +
           mib(pk["cache_bytes"].get<int64_t>()) + " cache), float FMA " + fmt("%.1f", pk["fma_gflops"].get<double>()) +
           " GFLOP/s, int8 products " + fmt("%.1f", pk["int8_gops"].get<double>()) +
           " GOP/s (roof% = time at these peaks / measured time; int8 matmuls at the int8 peak; ops whose bytes fit "
           "in half the cache at the cache's rate)\n";
    const double raised = pk["raised_by"].get<double>();
    if (raised > 1.0)
      out += "peaks raised " + fmt("%.2f", raised) +
             "x to the fastest op's rate (it beat the measured loops), so roof% stays at or under 100\n";
  }
  for (const ojson& ph : r["phases"]) {
    out += "\n== " + ph["phase"].get<std::string>() + ": " + std::to_string(ph["tokens"].get<int64_t>()) +
           " tokens in " + std::to_string(ph["passes"].get<int64_t>()) + " passes, " +
           fmt("%.1f", ph["seconds"].get<double>() * 1e3) + " ms, " + fmt("%.1f", ph["tokens_per_s"].get<double>()) +
           " tokens/s; ops " + fmt("%.1f", ph["ops_seconds"].get<double>() * 1e3) + " ms\n";
    out += "by op kind\n";
    table_rows(out, ph["by_kind"], "kind", 100);
    out += "by layer\n";
    table_rows(out, ph["by_layer"], "layer", 1000);
    out += "slowest ops\n";
    table_rows(out, ph["ops"], "op", static_cast<size_t>(top_ops));
  }
  const ojson& m = r["memory"];
  out += "\nmemory: weights " + mib(m["weights_stored"].get<int64_t>()) + " stored, " +
         mib(m["weights_mapped"].get<int64_t>()) + " mapped (" + mib(m["weights_resident"].get<int64_t>()) +
         " resident), " + mib(m["weights_owned"].get<int64_t>()) + " converted, " +
         mib(m["weights_tiles"].get<int64_t>()) + " interleaved for decode, " +
         mib(m["weights_panels"].get<int64_t>()) + " int8 panels; KV cache " + mib(m["kv_cache"].get<int64_t>()) +
         "; scratch " + mib(m["scratch"].get<int64_t>()) + "; peak RSS " + mib(m["peak_rss"].get<int64_t>()) + "\n";
  return out;
}

ojson chrome_trace(const Interpreter& interp, const Profiler& prof) {
  const Program& prog = interp.program();
  const ModelConfig& c = interp.model().config;
  ojson events = ojson::array();
  events.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", 1}, {"tid", 1}, {"args", {{"name", "passes"}}}});
  events.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", 1}, {"tid", 2}, {"args", {{"name", "ops"}}}});
  for (const Profiler::Event& e : prof.events()) {
    ojson ev;
    if (e.op < 0) {
      ev["name"] = std::string(phase_name(e.phase)) + " " + std::to_string(e.pass);
      ev["cat"] = "pass";
      ev["tid"] = 1;
      ev["args"] = {{"phase", phase_name(e.phase)}, {"pass", e.pass}, {"pos0", e.pos0}, {"tokens", e.rows}};
    } else {
      const Op& op = prog.ops[static_cast<size_t>(e.op)];
      ev["name"] = op.label;
      ev["cat"] = op_kind_name(op.kind);
      ev["tid"] = 2;
      std::vector<int64_t> shape = {e.rows};
      if (op.w != nullptr && op.kind == OpKind::MatMul)
        shape.push_back(op.w->rows);
      else if (op.kind == OpKind::AttnScores || op.kind == OpKind::Softmax || op.kind == OpKind::AttnMix)
        shape = {c.n_heads, e.rows, e.pos0 + static_cast<int64_t>(e.rows)};
      ev["args"] = {{"layer", op.layer}, {"op", e.op},          {"kind", op_kind_name(op.kind)},
                    {"shape", shape},    {"type", op_type(op)}, {"phase", phase_name(e.phase)},
                    {"pass", e.pass}};
    }
    ev["ph"] = "X";
    ev["pid"] = 1;
    ev["ts"] = std::round(e.start * 1e7) / 10.0;  // microseconds, 0.1 us resolution
    ev["dur"] = std::round(e.seconds * 1e7) / 10.0;
    events.push_back(std::move(ev));
  }
  ojson j;
  j["traceEvents"] = std::move(events);
  j["displayTimeUnit"] = "ms";
  return j;
}

}  // namespace loupe::perf
