// loupe profile on stories260K: the profiler sees every op of every pass, leaves the logits
// bit-identical, its work figures follow the shapes, the groupings add up, and the Chrome trace
// carries layer, op, shape and type on every event. loupe bench's JSON and text.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/driver.h"
#include "model/weights.h"
#include "perf/peaks.h"
#include "perf/profile.h"
#include "tensor/kernels.h"
#include "test_support.h"

namespace loupe {
namespace {

const std::string kF32 = "models/stories260K-gguf/stories260K-f32.gguf";
const std::string kQ8 = "models/stories260K-gguf/stories260K-q8_0.gguf";
const std::vector<int32_t> kPrompt = {1, 403, 407, 261, 378, 429};

// The last logits row after the prompt and 3 decode steps.
std::vector<float> run(const Model& m, perf::Profiler* prof, Interpreter& interp) {
  if (prof) prof->set_phase(perf::Phase::Prefill);
  forward(interp, kPrompt, false, nullptr);
  if (prof) prof->set_phase(perf::Phase::Decode);
  for (int32_t t : {300, 301, 302}) {
    const int32_t one[1] = {t};
    interp.begin(one, false);
    interp.finish();
  }
  const int64_t v = m.config.d_vocab;
  return std::vector<float>(interp.logits(), interp.logits() + v);
}

TEST(Profile, SeesEveryOpAndChangesNothing) {
  auto m = load_model(test::shared(kF32));
  Interpreter plain(*m, RunOptions{2, 64, 64});
  const std::vector<float> a = run(*m, nullptr, plain);
  Interpreter interp(*m, RunOptions{2, 64, 64});
  perf::Profiler prof(interp, true);
  const std::vector<float> b = run(*m, &prof, interp);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);

  EXPECT_EQ(prof.passes(perf::Phase::Prefill), 1);
  EXPECT_EQ(prof.tokens(perf::Phase::Prefill), static_cast<int64_t>(kPrompt.size()));
  EXPECT_EQ(prof.passes(perf::Phase::Decode), 3);
  EXPECT_EQ(prof.tokens(perf::Phase::Decode), 3);
  const Program& prog = interp.program();
  const ModelConfig& c = m->config;
  for (size_t i = 0; i < prog.ops.size(); ++i) {
    const Op& op = prog.ops[i];
    const auto& pre = prof.totals(perf::Phase::Prefill)[i];
    const auto& dec = prof.totals(perf::Phase::Decode)[i];
    EXPECT_EQ(pre.calls, 1) << op.label;
    EXPECT_EQ(dec.calls, 3) << op.label;
    EXPECT_GE(pre.seconds, 0.0);
    if (op.kind == OpKind::MatMul) {
      // Prefill: every position except the final ops (the unembedding runs on the last row).
      const double rows = op.final_rows ? 1.0 : static_cast<double>(kPrompt.size());
      EXPECT_DOUBLE_EQ(pre.flops, 2.0 * rows * static_cast<double>(op.w->rows * op.w->cols)) << op.label;
      EXPECT_DOUBLE_EQ(dec.flops, 3 * 2.0 * static_cast<double>(op.w->rows * op.w->cols)) << op.label;
      EXPECT_GE(dec.bytes, 3.0 * static_cast<double>(op.w->nbytes())) << op.label;
    }
    if (op.kind == OpKind::AttnScores) {
      // Decode at positions 6, 7, 8 attends to 7, 8, 9 keys.
      EXPECT_DOUBLE_EQ(dec.flops, static_cast<double>(c.n_heads) * (7 + 8 + 9) * (2.0 * c.d_head + 1)) << op.label;
    }
  }

  // Events: every non-mark op per pass plus one per pass, in time order per track.
  size_t marks = 0;
  for (const Op& op : prog.ops) marks += op.kind == OpKind::Mark ? 1 : 0;
  EXPECT_EQ(prof.events().size(), 4 * (prog.ops.size() - marks) + 4);
  const nlohmann::ordered_json trace = perf::chrome_trace(interp, prof);
  double last_op_ts = -1;
  std::set<std::string> kinds;
  for (const auto& e : trace["traceEvents"]) {
    if (e["ph"] == "M") continue;
    EXPECT_EQ(e["ph"], "X");
    ASSERT_TRUE(e.contains("ts") && e.contains("dur") && e.contains("name") && e.contains("args"));
    EXPECT_GE(e["dur"].get<double>(), 0.0);
    if (e["tid"] == 2) {
      EXPECT_GE(e["ts"].get<double>(), last_op_ts);
      last_op_ts = e["ts"].get<double>();
      for (const char* k : {"layer", "op", "shape", "type", "phase", "pass"}) EXPECT_TRUE(e["args"].contains(k)) << k;
      kinds.insert(e["cat"].get<std::string>());
    }
  }
  EXPECT_TRUE(kinds.count("matmul") && kinds.count("softmax") && kinds.count("rope"));

  // The report: op kinds and layers each add up to all ops; every layer is listed.
  const auto report = perf::profile_json(interp, prof, perf::Peaks{}, perf::memory_use(interp));
  ASSERT_EQ(report["phases"].size(), 2u);
  for (const auto& ph : report["phases"]) {
    double kind_ms = 0, layer_ms = 0, kind_gflop = 0;
    for (const auto& g : ph["by_kind"]) kind_ms += g["ms"].get<double>(), kind_gflop += g["gflop"].get<double>();
    for (const auto& g : ph["by_layer"]) layer_ms += g["ms"].get<double>();
    EXPECT_NEAR(kind_ms, ph["ops_seconds"].get<double>() * 1e3, 1e-6);
    EXPECT_NEAR(layer_ms, ph["ops_seconds"].get<double>() * 1e3, 1e-6);
    EXPECT_NEAR(kind_gflop, ph["total"]["gflop"].get<double>(), 1e-9);
    EXPECT_EQ(ph["by_layer"].size(), static_cast<size_t>(c.n_layers + 1));
    EXPECT_LE(ph["ops_seconds"].get<double>(), ph["seconds"].get<double>() + 1e-9);
    EXPECT_FALSE(ph["total"].contains("roofline_percent"));  // no peaks given
  }
  // Peaks far below what the ops reach: they are raised to the fastest op, which is at 100%,
  // and no op, kind, layer or phase passes 100.
  perf::Peaks low;
  low.isa = active_isa();
  low.read_bytes_per_s = 1e6;
  low.cache_read_bytes_per_s = 2e6;
  low.cache_bytes = int64_t{1} << 20;
  low.fma_flops_per_s = 1e6;
  low.int8_ops_per_s = 1e6;
  const auto roofed = perf::profile_json(interp, prof, low, perf::memory_use(interp));
  EXPECT_GT(roofed["peaks"]["raised_by"].get<double>(), 1.0);
  double best = 0;
  for (const auto& ph : roofed["phases"]) {
    for (const char* list : {"by_kind", "by_layer", "ops"})
      for (const auto& g : ph[list]) {
        EXPECT_LE(g["roofline_percent"].get<double>(), 100.0 + 1e-9) << g.dump();
        best = std::max(best, g["roofline_percent"].get<double>());
      }
    EXPECT_LE(ph["total"]["roofline_percent"].get<double>(), 100.0 + 1e-9);
  }
  EXPECT_NEAR(best, 100.0, 1e-9);
  const auto& mem = report["memory"];
  EXPECT_EQ(mem["kv_cache"].get<int64_t>(), 2 * c.n_layers * 64 * c.d_kv() * 4);
  EXPECT_GE(mem["weights_mapped"].get<int64_t>(), mem["weights_stored"].get<int64_t>());
  EXPECT_GT(mem["peak_rss"].get<int64_t>(), 0);
}

TEST(Profile, CommandWritesReportAndTrace) {
  const std::string dir = test::temp_dir("profile");
  const std::string trace = dir + "/trace.json";
  auto r = test::run_loupe("profile " + test::shared(kF32) + " -p 'Once upon a time' -n 4 --json --no-peaks --trace " +
                           trace + " -t 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["phases"].size(), 2u);
  EXPECT_EQ(j["phases"][1]["tokens"], 4);
  EXPECT_EQ(j["phases"][1]["passes"], 4);
  const auto t = nlohmann::json::parse(test::read_file(trace));
  EXPECT_GT(t["traceEvents"].size(), 100u);

  // With peaks: the roofline columns appear and the text report names its sections.
  r = test::run_loupe("profile " + test::shared(kF32) + " -p 'Once upon a time' -n 2 -t 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* s : {"== prefill", "== decode", "by op kind", "by layer", "slowest ops", "roof%", "peak RSS"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s;

  // Errors: past the context, an unwritable trace path.
  r = test::run_loupe("profile " + test::shared(kF32) + " -p 'Once' -n 100000 --ctx 64 --no-peaks");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--n-gen"), std::string::npos) << r.err;
  r = test::run_loupe("profile " + test::shared(kF32) + " -p 'Once' -n 1 --no-peaks --trace " + dir +
                      "/missing/trace.json");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(dir + "/missing/trace.json"), std::string::npos) << r.err;
  std::filesystem::remove_all(dir);
}

// loupe bench: llama-bench's JSON fields for a prompt test and a generation test, in the exact
// mode and with --q8-act (which the JSON and the text say); bad arguments fail with the name.
TEST(Bench, JsonHasLlamaBenchFieldsInBothModes) {
  const std::string model = test::shared(kQ8);
  for (bool q8 : {false, true}) {
    auto r = test::run_loupe("bench " + model + " -p 8 -n 4 -r 2 -t 2 --json" + (q8 ? " --q8-act" : ""));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j.size(), 2u);
    EXPECT_EQ(j[0]["n_prompt"], 8);
    EXPECT_EQ(j[0]["n_gen"], 0);
    EXPECT_EQ(j[1]["n_prompt"], 0);
    EXPECT_EQ(j[1]["n_gen"], 4);
    for (const auto& t : j) {
      EXPECT_EQ(t["n_threads"], 2);
      EXPECT_GT(t["avg_ts"].get<double>(), 0.0);
      EXPECT_GE(t["stddev_ts"].get<double>(), 0.0);
      EXPECT_GT(t["model_size"].get<int64_t>(), 0);
      EXPECT_NE(t["model_type"].get<std::string>().find("q8_0"), std::string::npos) << t["model_type"];
      EXPECT_EQ(t["q8_activations"], q8);
    }
    r = test::run_loupe("bench " + model + " -p 8 -n 2 -r 1 -t 2" + (q8 ? " --q8-act" : ""));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (const char* s : {"pp8", "tg2", q8 ? "numerics: q8 (--q8-act)" : "numerics: exact (the default"})
      EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
  }
  auto r = test::run_loupe("bench " + model + " -r 0");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--repeat"), std::string::npos) << r.err;
  r = test::run_loupe("bench " + test::shared("models/missing.gguf") + " -p 4 -n 0");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("missing.gguf"), std::string::npos) << r.err;
}

// --observe times every repetition with and without the observers (alternating) and reports
// both speeds and the cost between them; the observers really ran (bytes traced, every hook
// checked) and the unobserved runs saw none of them.
TEST(Bench, ObserveCostMeasuredSideBySide) {
  const std::string model = test::shared(kQ8);
  for (const char* what : {"resid", "nan"}) {
    auto r = test::run_loupe("bench " + model + " -p 8 -n 4 -r 2 -t 2 --json --observe " + what);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j.size(), 2u);
    for (const auto& t : j) {
      const double with = t["avg_ts"].get<double>(), without = t["unobserved_avg_ts"].get<double>();
      EXPECT_GT(with, 0.0);
      EXPECT_GT(without, 0.0);
      EXPECT_NEAR(t["observe_cost_percent"].get<double>(), 100.0 * (1.0 - with / without), 1e-6);
      EXPECT_EQ(t["observe"], what);
    }
    if (std::string(what) == "resid") {
      EXPECT_GT(j[1]["traced_bytes"].get<int64_t>(), 0);
    } else {
      // Every hook checked, the attention scores' mask (-inf) not counted as a fault.
      EXPECT_EQ(j[1]["non_finite"].get<int64_t>(), 0);
      EXPECT_EQ(r.err.find("non-finite"), std::string::npos) << r.err;
    }
    r = test::run_loupe("bench " + model + " -p 8 -n 2 -r 1 -t 2 --observe " + what);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find(std::string("observing ") + what), std::string::npos) << r.out;
  }
  auto plain = test::run_loupe("bench " + model + " -p 8 -n 2 -r 1 -t 2 --json");
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  const auto j = nlohmann::json::parse(plain.out);
  EXPECT_EQ(j[0]["observe_cost_percent"].get<double>(), 0.0);
  EXPECT_EQ(j[0]["traced_bytes"].get<int64_t>(), 0);
}

// With --q8-act the profile's memory report counts the int8 panels (AVX2 and AVX-512 machines).
TEST(Profile, Q8ActivationsReportPanels) {
  auto r =
      test::run_loupe("profile " + test::shared(kQ8) + " -p 'Once upon a time' -n 2 --json --no-peaks --q8-act -t 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  if (test::panel_tier(active_isa())) {
    EXPECT_GT(j["memory"]["weights_panels"].get<int64_t>(), 0);
  } else {
    EXPECT_EQ(j["memory"]["weights_panels"].get<int64_t>(), 0);
  }
}

// The roofline's compute peaks come from loops of the tier's own arithmetic: every tier the CPU
// runs gives a positive rate, a tier it cannot run gives 0, and the report says the tier.
TEST(Profile, PeaksPerTier) {
  ThreadPool pool(1);
  for (Isa isa : kAllIsas) {
    SCOPED_TRACE(isa_name(isa));
    if (cpu_supports(isa)) {
      EXPECT_GT(perf::fma_peak(pool, isa), 1e8);
      EXPECT_GT(perf::int8_peak(pool, isa), 1e8);
    } else {
      EXPECT_EQ(perf::fma_peak(pool, isa), 0.0);
      EXPECT_EQ(perf::int8_peak(pool, isa), 0.0);
    }
  }
  auto r = test::run_loupe("profile " + test::shared(kQ8) + " -p 'Once upon a time' -n 1 --json --q8-act -t 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["peaks"]["isa"].get<std::string>(), isa_name(active_isa()));
  EXPECT_GT(j["peaks"]["fma_gflops"].get<double>(), 0.1);
  EXPECT_GT(j["peaks"]["int8_gops"].get<double>(), 0.1);
  EXPECT_TRUE(j["phases"][0]["total"].contains("roofline_percent"));
}

}  // namespace
}  // namespace loupe
