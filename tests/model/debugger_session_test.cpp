// The debugger on stories260K: pausing never changes a result, edits change exactly what they
// should (checked against a hand-written forward pass), the logit lens, and the NaN finder on
// a copy of the model with one weight corrupted.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "analysis/activations.h"
#include "analysis/attention.h"
#include "analysis/logit_lens.h"
#include "analysis/pass.h"
#include "core/error.h"
#include "core/npy.h"
#include "debugger/commands.h"
#include "debugger/session.h"
#include "engine/driver.h"
#include "formats/gguf.h"
#include "model/sampler.h"
#include "model/weights.h"
#include "test_support.h"
#include "tokenizer/tokenizer.h"

namespace loupe::dbg {
namespace {

using test::shared;

std::string stories() {
  return shared("models/stories260K/stories260K.bin");
}

RunOptions two_threads() {
  RunOptions o;
  o.n_threads = 2;
  return o;
}

std::vector<float> uninterrupted(const Model& m, const std::vector<int32_t>& tokens) {
  Interpreter interp(m, two_threads());
  const int64_t V = m.config.d_vocab;
  std::vector<float> out(tokens.size() * static_cast<size_t>(V));
  forward(interp, tokens, true,
          [&](const float* l, int64_t rows, int64_t first) { std::copy_n(l, rows * V, out.data() + first * V); });
  return out;
}

std::vector<int32_t> prompt(const Model& m, const std::string& text) {
  return prompt_tokens(m, text, true, m.config.n_ctx);
}

TEST(DebuggerSession, PausingNeverChangesLogits) {
  auto m = load_model(stories());
  const std::vector<int32_t> tokens = prompt(*m, "Once upon a time there was a little");
  Session s(*m, two_threads());
  s.add_breakpoint(s.make_breakpoint({"blocks.*.attn.hook_pattern"}, std::nullopt));
  s.add_breakpoint(s.make_breakpoint({"resid_post2"}, parse_condition("absmax > 0")));
  s.add_breakpoint(s.make_breakpoint({"layer", "3"}, std::nullopt));
  s.add_breakpoint(s.make_breakpoint({"op", "silu_mul"}, std::nullopt));
  Stop stop = s.run(tokens);
  int stops = 0;
  int kind = 0;
  while (stop.reason != StopReason::Done) {
    ++stops;
    ASSERT_LT(stops, 1000);
    switch (kind++ % 5) {
      case 0: stop = s.resume(Motion::StepOp, 3); break;
      case 1: stop = s.resume(Motion::NextHook); break;
      case 2: stop = s.resume(Motion::StepLayer); break;
      case 3: stop = s.resume(Motion::Finish); break;
      default: stop = s.resume(Motion::Continue); break;
    }
    if (stop.reason == StopReason::Done && s.tokens().size() < tokens.size() + 4) stop = s.generate(1);
  }
  EXPECT_GT(stops, 30);
  ASSERT_EQ(s.tokens().size(), tokens.size() + 4);
  // Every position's logits equal an uninterrupted forward pass over the same tokens, bit for bit.
  EXPECT_EQ(s.logits(), uninterrupted(*m, s.tokens()));
  // And the tokens the session generated are the greedy continuation.
  Interpreter interp(*m, two_threads());
  GenerateOptions go;
  go.n_predict = 4;
  go.sampler.temperature = 0;
  EXPECT_EQ(generate(interp, tokens, go).tokens, s.tokens());
}

TEST(DebuggerSession, BreakpointsHitWhereTheySay) {
  auto m = load_model(stories());
  Session s(*m, two_threads());
  const int bp = s.add_breakpoint(s.make_breakpoint({"pattern3"}, std::nullopt));
  Stop stop = s.run(prompt(*m, "Once upon a time"));
  ASSERT_EQ(stop.reason, StopReason::Breakpoint);
  EXPECT_EQ(stop.breakpoint, bp);
  EXPECT_EQ(s.last_op(),
            s.program().hook_op[static_cast<size_t>(*s.interp().hooks().find("blocks.3.attn.hook_pattern"))]);
  // Temporary breakpoints go away after their hit; layer breakpoints stop at the layer's first op.
  Breakpoint t = s.make_breakpoint({"layer", "4"}, std::nullopt);
  t.temporary = true;
  s.add_breakpoint(t);
  stop = s.resume(Motion::Continue);
  ASSERT_EQ(stop.reason, StopReason::Breakpoint);
  EXPECT_EQ(s.program().ops[static_cast<size_t>(s.last_op())].label, "blocks.4.hook_resid_pre");
  EXPECT_EQ(s.breakpoints().size(), 1u);
  EXPECT_EQ(s.breakpoints()[0].hits, 1);
  // A condition that never holds does not stop; position breakpoints stop at a pass start.
  s.delete_all_breakpoints();
  s.add_breakpoint(s.make_breakpoint({"resid_post"}, parse_condition("absmax > 1e30")));
  s.add_breakpoint(s.make_breakpoint({"pos", "6"}, std::nullopt));
  EXPECT_EQ(s.resume(Motion::Continue).reason, StopReason::Done);
  stop = s.generate(3);
  ASSERT_EQ(stop.reason, StopReason::Breakpoint);
  EXPECT_EQ(s.interp().batch_pos0(), 6);
  EXPECT_EQ(s.last_op(), -1);
}

TEST(DebuggerSession, ConditionsUseTheirStatistic) {
  auto m = load_model(stories());
  Session s(*m, two_threads());
  // The attention entropy at the break must agree with one computed here from the pattern.
  s.add_breakpoint(s.make_breakpoint({"pattern2[1]"}, parse_condition("attn_entropy < 100")));
  Stop stop = s.run(prompt(*m, "Once upon a time there"));
  ASSERT_EQ(stop.reason, StopReason::Breakpoint);
  Value v = s.evaluate(parse_tensor_expr("pattern2[1]"));
  const int64_t k = v.selection.shape.back();
  double total = 0;
  for (int64_t r = 0; r < v.selection.shape[0]; ++r) {
    double h = 0;
    for (int64_t j = 0; j < k; ++j) {
      const double p = v.data[static_cast<size_t>(r * k + j)];
      if (p > 0) h -= p * std::log(p);
    }
    total += h;
  }
  const double expected = total / static_cast<double>(v.selection.shape[0]);
  EXPECT_NEAR(std::stod(stop.detail.substr(stop.detail.find('=') + 1)), expected, 1e-4);
  // top1 on the logit lens of the last layer is the model's own prediction.
  s.delete_all_breakpoints();
  Session s2(*m, two_threads());
  const auto toks = prompt(*m, "Once upon a time");
  const std::vector<float> base = uninterrupted(*m, toks);
  const int32_t top = argmax(base.data() + (toks.size() - 1) * 512, 512);
  s2.add_breakpoint(s2.make_breakpoint({"resid_post4"}, parse_condition(cat("top1 != ", top))));
  EXPECT_EQ(s2.run(toks).reason, StopReason::Done);
  s2.add_breakpoint(s2.make_breakpoint({"resid_post4"}, parse_condition(cat("top1 == ", top))));
  EXPECT_EQ(s2.run(toks).reason, StopReason::Breakpoint);
}

TEST(DebuggerSession, LensOfTheLastResidualIsTheLogits) {
  auto m = load_model(stories());
  Session s(*m, two_threads());
  const auto toks = prompt(*m, "Once upon a time");
  s.run(toks);
  Value v = s.evaluate(parse_tensor_expr("resid_post4[-1]"));
  std::vector<float> l = s.lens(v.data.data());
  const std::vector<float>& all = s.logits();
  for (int64_t j = 0; j < 512; ++j) EXPECT_NEAR(l[j], all[(toks.size() - 1) * 512 + j], 1e-5);
}

// A float64 forward pass of stories260K (llama: RMSNorm, adjacent-pair RoPE, GQA, SwiGLU,
// tied embedding) with the output of one attention head zeroed before W_O.
std::vector<double> reference_logits(const Model& m, const std::vector<int32_t>& tokens, int ablate_layer,
                                     int ablate_head) {
  const ModelConfig& c = m.config;
  const int64_t n = static_cast<int64_t>(tokens.size()), d = c.d_model, dh = c.d_head, dkv = c.d_kv();
  auto mat = [](const Weight& w) {  // [rows, cols] as double
    std::vector<double> out(static_cast<size_t>(w.rows * w.cols));
    std::vector<float> row(static_cast<size_t>(w.cols));
    for (int64_t r = 0; r < w.rows; ++r) {
      w.row(r, row.data());
      for (int64_t k = 0; k < w.cols; ++k) out[static_cast<size_t>(r * w.cols + k)] = row[static_cast<size_t>(k)];
    }
    return out;
  };
  auto apply = [](const std::vector<double>& w, int64_t rows, int64_t cols, const double* x, double* y) {
    for (int64_t r = 0; r < rows; ++r) {
      double acc = 0;
      for (int64_t k = 0; k < cols; ++k) acc += w[static_cast<size_t>(r * cols + k)] * x[k];
      y[r] = acc;
    }
  };
  auto rmsnorm = [&](const double* x, const float* g, double* y) {
    double ss = 0;
    for (int64_t k = 0; k < d; ++k) ss += x[k] * x[k];
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(d) + c.norm_eps);
    for (int64_t k = 0; k < d; ++k) y[k] = x[k] * inv * g[k];
  };
  std::vector<double> x(static_cast<size_t>(n * d));  // [pos, d_model] residual stream
  const std::vector<double> emb = mat(m.tok_embed);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < d; ++k) x[static_cast<size_t>(i * d + k)] = emb[static_cast<size_t>(tokens[i] * d + k)];
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const LayerWeights& L = m.layers[static_cast<size_t>(l)];
    const auto wq = mat(L.wq), wk = mat(L.wk), wv = mat(L.wv), wo = mat(L.wo);
    std::vector<double> xn(static_cast<size_t>(d)), q(static_cast<size_t>(n * c.d_q())),
        k(static_cast<size_t>(n * dkv)), v(static_cast<size_t>(n * dkv)), z(static_cast<size_t>(n * c.d_q()));
    for (int64_t i = 0; i < n; ++i) {
      rmsnorm(&x[static_cast<size_t>(i * d)], L.ln1_w, xn.data());
      apply(wq, c.d_q(), d, xn.data(), &q[static_cast<size_t>(i * c.d_q())]);
      apply(wk, dkv, d, xn.data(), &k[static_cast<size_t>(i * dkv)]);
      apply(wv, dkv, d, xn.data(), &v[static_cast<size_t>(i * dkv)]);
      auto rope = [&](double* t, int64_t heads) {
        for (int64_t h = 0; h < heads; ++h)
          for (int64_t j = 0; j < dh / 2; ++j) {
            const double a = static_cast<double>(i) * std::pow(c.rope_theta, -2.0 * static_cast<double>(j) / dh);
            double& t0 = t[h * dh + 2 * j];
            double& t1 = t[h * dh + 2 * j + 1];
            const double r0 = t0 * std::cos(a) - t1 * std::sin(a), r1 = t0 * std::sin(a) + t1 * std::cos(a);
            t0 = r0;
            t1 = r1;
          }
      };
      rope(&q[static_cast<size_t>(i * c.d_q())], c.n_heads);
      rope(&k[static_cast<size_t>(i * dkv)], c.n_kv_heads);
    }
    for (int64_t i = 0; i < n; ++i)
      for (int64_t h = 0; h < c.n_heads; ++h) {
        const int64_t kvh = h / (c.n_heads / c.n_kv_heads);
        std::vector<double> p(static_cast<size_t>(i + 1));
        double mx = -1e300, sum = 0;
        for (int64_t j = 0; j <= i; ++j) {
          double s = 0;
          for (int64_t e = 0; e < dh; ++e)
            s += q[static_cast<size_t>(i * c.d_q() + h * dh + e)] * k[static_cast<size_t>(j * dkv + kvh * dh + e)];
          p[static_cast<size_t>(j)] = s / std::sqrt(static_cast<double>(dh));
          mx = std::max(mx, p[static_cast<size_t>(j)]);
        }
        for (double& e : p) sum += (e = std::exp(e - mx));
        for (int64_t e = 0; e < dh; ++e) {
          double acc = 0;
          for (int64_t j = 0; j <= i; ++j)
            acc += p[static_cast<size_t>(j)] / sum * v[static_cast<size_t>(j * dkv + kvh * dh + e)];
          const bool ablated = l == ablate_layer && h == ablate_head;
          z[static_cast<size_t>(i * c.d_q() + h * dh + e)] = ablated ? 0.0 : acc;
        }
      }
    const auto wg = mat(L.w_gate), wu = mat(L.w_up), wd = mat(L.w_down);
    std::vector<double> out(static_cast<size_t>(d)), g(static_cast<size_t>(c.d_mlp)), u(static_cast<size_t>(c.d_mlp));
    for (int64_t i = 0; i < n; ++i) {
      double* xi = &x[static_cast<size_t>(i * d)];
      apply(wo, d, c.d_q(), &z[static_cast<size_t>(i * c.d_q())], out.data());
      for (int64_t e = 0; e < d; ++e) xi[e] += out[static_cast<size_t>(e)];
      rmsnorm(xi, L.ln2_w, xn.data());
      apply(wg, c.d_mlp, d, xn.data(), g.data());
      apply(wu, c.d_mlp, d, xn.data(), u.data());
      for (int64_t e = 0; e < c.d_mlp; ++e) g[static_cast<size_t>(e)] = g[e] / (1 + std::exp(-g[e])) * u[e];
      apply(wd, d, c.d_mlp, g.data(), out.data());
      for (int64_t e = 0; e < d; ++e) xi[e] += out[static_cast<size_t>(e)];
    }
  }
  const auto wu = mat(m.unembed);
  std::vector<double> logits(static_cast<size_t>(n * c.d_vocab)), xn(static_cast<size_t>(d));
  for (int64_t i = 0; i < n; ++i) {
    rmsnorm(&x[static_cast<size_t>(i * d)], m.ln_final_w, xn.data());
    apply(wu, c.d_vocab, d, xn.data(), &logits[static_cast<size_t>(i * c.d_vocab)]);
  }
  return logits;
}

double max_diff(const std::vector<float>& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
  return worst;
}

TEST(DebuggerSession, AblatingAHeadMatchesAHandWrittenForward) {
  auto m = load_model(stories());
  const auto toks = prompt(*m, "Once upon a time there was a");
  Session s(*m, two_threads());
  Debugger d(s, "");
  // The reference itself agrees with the engine when nothing is ablated.
  s.run(toks);
  EXPECT_LT(max_diff(s.logits(), reference_logits(*m, toks, -1, -1)), 1e-4);
  d.execute("edit ablate 2 5");
  s.run(toks);
  const std::vector<double> ref = reference_logits(*m, toks, 2, 5);
  EXPECT_LT(max_diff(s.logits(), ref), 1e-4);
  // The edit matters: far more than the tolerance away from the unedited run.
  EXPECT_GT(max_diff(uninterrupted(*m, toks), ref), 1e-2);
  // Undo brings back the unedited logits bit for bit.
  d.execute("undo");
  s.run(toks);
  EXPECT_EQ(s.logits(), uninterrupted(*m, toks));
}

TEST(DebuggerSession, EditsSteeringAndPatching) {
  auto m = load_model(stories());
  const auto toks = prompt(*m, "Once upon a time there");
  std::vector<int32_t> other = toks;  // the same length, other words
  other[2] = 300;
  other[4] = 301;
  std::string other_ids;
  for (int32_t t : other) other_ids += cat(other_ids.empty() ? "" : ",", t);
  Session s(*m, two_threads());
  Debugger d(s, "");
  // Patching the residual stream entering layer 0 with another prompt's gives that prompt's
  // logits exactly (every later op sees the other prompt's activations).
  d.execute("edit patch resid_pre0 --tokens " + other_ids);
  s.run(toks);
  EXPECT_EQ(s.logits(), uninterrupted(*m, other));
  d.execute("undo");
  // A steering vector of all c equals adding c.
  const std::string dir = test::temp_dir("steer");
  std::vector<float> ones(64, 1.0f);
  write_npy_f32(dir + "/v.npy", ones.data(), {64});
  d.execute("edit steer resid_mid1[2:] " + dir + "/v.npy 0.25");
  s.run(toks);
  const std::vector<float> steered = s.logits();
  d.execute("undo");
  d.execute("edit add resid_mid1[2:] 0.25");
  s.run(toks);
  EXPECT_EQ(s.logits(), steered);
  // Only positions 2.. changed: positions 0 and 1 keep their logits.
  const std::vector<float> base = uninterrupted(*m, toks);
  EXPECT_TRUE(std::equal(base.begin(), base.begin() + 2 * 512, steered.begin()));
  EXPECT_FALSE(std::equal(base.begin() + 2 * 512, base.end(), steered.begin() + 2 * 512));
  // scale by 1 changes nothing; set on a slice writes exactly the slice.
  d.execute("undo");
  d.execute("edit scale resid_post3 1");
  s.run(toks);
  EXPECT_EQ(s.logits(), base);
  d.execute("undo");
  s.add_breakpoint(s.make_breakpoint({"z1"}, std::nullopt));
  s.run(toks);
  d.execute("edit set z1[1:3, 4] 7");  // applied to the tensor in hand too
  Value v = s.evaluate(parse_tensor_expr("z1"));
  for (int64_t i = 0; i < v.selection.shape[0]; ++i)
    for (int64_t h = 0; h < 8; ++h)
      for (int64_t e = 0; e < 8; ++e) {
        const float x = v.data[static_cast<size_t>((i * 8 + h) * 8 + e)];
        if (i >= 1 && i < 3 && h == 4) {
          EXPECT_EQ(x, 7.0f);
        } else {
          EXPECT_NE(x, 7.0f);
        }
      }
  std::filesystem::remove_all(dir);
}

// Writes a copy of the F32 GGUF with one element of a weight set to NaN.
std::string corrupted_copy(const std::string& dir, const std::string& tensor, int64_t element) {
  const std::string src = shared("models/stories260K-gguf/stories260K-f32.gguf");
  const std::string dst = dir + "/stories260K-nan.gguf";
  std::filesystem::copy_file(src, dst);
  size_t offset = 0;
  {
    GgufFile g = GgufFile::open(src);
    const GgufTensorInfo* t = g.find_tensor(tensor);
    EXPECT_NE(t, nullptr);
    EXPECT_EQ(t->type, DType::F32);
    offset = static_cast<size_t>(t->data - g.file()->data()) + static_cast<size_t>(element) * 4;
  }
  std::fstream f(dst, std::ios::in | std::ios::out | std::ios::binary);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(reinterpret_cast<const char*>(&nan), 4);
  return dst;
}

TEST(DebuggerSession, NanFinderNamesTheFirstBadOpAndItsInputs) {
  const std::string dir = test::temp_dir("nan");
  auto m = load_model(corrupted_copy(dir, "blk.2.attn_k.weight", 3 * 64 + 5));
  Session s(*m, two_threads());
  Debugger d(s, "Once upon a time");
  d.execute("break if nan");
  Reply r = d.execute("run");
  ASSERT_TRUE(r.json.contains("bad_op")) << r.text;
  const auto bad = r.json["bad_op"];
  EXPECT_EQ(bad["label"], "blocks.2.attn.W_K");
  EXPECT_EQ(bad["kind"], "matmul");
  // Row 3 of W_K is NaN: output column 3 of every position.
  EXPECT_EQ(bad["nan"].get<int64_t>(), static_cast<int64_t>(s.interp().batch_tokens().size()));
  ASSERT_EQ(bad["inputs"].size(), 2u);
  EXPECT_EQ(bad["inputs"][0]["name"], "blocks.2.ln1.hook_normalized");
  EXPECT_FALSE(bad["inputs"][0]["already_bad"].get<bool>());
  EXPECT_EQ(bad["inputs"][1]["name"], "blk.2.attn_k.weight");
  EXPECT_EQ(bad["inputs"][1]["nan"].get<int64_t>(), 1);
  EXPECT_TRUE(bad["inputs"][1]["already_bad"].get<bool>());
  EXPECT_NE(r.text.find("first bad op: "), std::string::npos);
  // The next stop is the op that reads the bad keys: rope_k, whose input was already bad.
  r = d.execute("continue");
  EXPECT_EQ(r.json["bad_op"]["label"], "blocks.2.attn.rope_k");
  EXPECT_TRUE(r.json["bad_op"]["inputs"][0]["already_bad"].get<bool>());
  // ... and is not called the first: the report points back at W_K.
  EXPECT_EQ(r.text.find("first bad op: "), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("they began earlier, at op "), std::string::npos) << r.text;
  EXPECT_FALSE(r.json["bad_op"]["origin"].get<bool>());
  EXPECT_EQ(r.json["bad_op"]["first_bad_op"], bad["op"]);
  std::filesystem::remove_all(dir);
}

// A NaN written by an edit is reported as coming from the edit, not from the op it follows.
TEST(DebuggerSession, NanFinderNamesAnEditAsTheSource) {
  auto m = load_model(stories());
  Session s(*m, two_threads());
  Debugger d(s, "Once upon a time");
  d.execute("edit set resid_mid1[2, 7] nan");
  d.execute("break if nan");
  Reply r = d.execute("run");
  ASSERT_TRUE(r.json.contains("bad_op")) << r.text;
  EXPECT_EQ(r.json["bad_op"]["label"], "blocks.1.resid + attn_out");
  EXPECT_EQ(r.json["bad_op"]["edit"], 1);
  EXPECT_FALSE(r.json["bad_op"]["origin"].get<bool>());
  EXPECT_EQ(r.json["bad_op"]["nan"], 1);
  EXPECT_NE(r.text.find("bad values begin at edit 1 (set resid_mid1[2, 7] nan)"), std::string::npos) << r.text;
  r = d.execute("continue");
  EXPECT_NE(r.text.find("they began earlier, at op "), std::string::npos) << r.text;
}

// Every hook of the run stays readable after its op, after the pass and after generation
// (TransformerLens's run_with_cache), with absolute positions; values equal a clean run's.
TEST(DebuggerSession, EveryHookIsReadableAfterThePassAtAbsolutePositions) {
  auto m = load_model(stories());
  Session s(*m, two_threads());
  Debugger d(s, "Once upon a time");
  const std::vector<int32_t> tokens = prompt(*m, "Once upon a time");
  const auto n = static_cast<int64_t>(tokens.size());
  ASSERT_EQ(s.run(tokens).reason, StopReason::Done);
  ASSERT_EQ(s.generate(3).reason, StopReason::Done);
  const std::vector<int32_t>& all = s.tokens();
  ASSERT_EQ(static_cast<int64_t>(all.size()), n + 3);
  const auto hooks = s.interp().hooks().resolve("blocks.*.hook_resid_pre");
  const std::map<int, SourceTensor> clean = s.capture(all, hooks);
  for (int h : hooks) {
    const std::string& name = s.interp().hooks()[h].name;
    SCOPED_TRACE(name);
    const Value v = s.evaluate(parse_tensor_expr(name));
    EXPECT_TRUE(v.cached);
    ASSERT_EQ(v.selection.shape, (std::vector<int64_t>{n + 3, 64}));
    const SourceTensor& want = clean.at(h);
    ASSERT_EQ(want.data.size(), v.data.size());
    for (size_t i = 0; i < v.data.size(); ++i) ASSERT_NEAR(v.data[i], want.data[i], 1e-4) << i;
    // [3] is position 3 (a prompt position), [-1] the newest.
    const Value p3 = s.evaluate(parse_tensor_expr(name + "[3]"));
    for (size_t i = 0; i < 64; ++i) EXPECT_EQ(p3.data[i], v.data[3 * 64 + i]);
    const Value last = s.evaluate(parse_tensor_expr(name + "[-1]"));
    for (size_t i = 0; i < 64; ++i) EXPECT_EQ(last.data[i], v.data[static_cast<size_t>((n + 2) * 64) + i]);
  }
  // Attention maps keep the newest pass: its query is position n + 2.
  const Value pat = s.evaluate(parse_tensor_expr("pattern0[0, -1, :]"));
  EXPECT_EQ(pat.selection.shape, (std::vector<int64_t>{n + 3}));
  EXPECT_THROW(s.evaluate(parse_tensor_expr("pattern0[0, 2, :]")), Error);
  // The text commands read the same, and `lens` names the absolute position.
  const Reply r = d.execute("lens resid_post3[4]");
  EXPECT_EQ(r.json["position"], 4);
  EXPECT_NO_THROW(d.execute("stats blocks.0.hook_resid_pre"));
}

// The cache never passes its budget; hooks that would are left out and say so.
TEST(DebuggerSession, TheCacheKeepsToItsBudget) {
  auto m = load_model(stories());
  Session s(*m, two_threads());
  Debugger d(s, "Once upon a time");
  d.execute("set cache 0.05");  // 52 KB: a few layers of a 5-position run
  s.run(prompt(*m, "Once upon a time"));
  EXPECT_LE(s.cache_bytes(), s.cache_budget());
  EXPECT_GT(s.cache_hooks_kept(), 5);
  EXPECT_GT(s.cache_hooks_dropped(), 5);
  EXPECT_NO_THROW(s.evaluate(parse_tensor_expr("resid_pre0")));
  try {
    s.evaluate(parse_tensor_expr("resid_pre4"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cache budget"), std::string::npos) << e.what();
  }
  const Reply info = d.execute("info cache");
  EXPECT_EQ(info.json["dropped"], s.cache_hooks_dropped());
  EXPECT_THROW(d.execute("set cache -1"), Error);
}

// Session::interrupt() (Ctrl-C) stops after the op in progress; continuing gives the same
// logits as a run never interrupted.
TEST(DebuggerSession, AnInterruptStopsBetweenOpsAndKeepsTheState) {
  auto m = load_model(stories());
  const std::vector<int32_t> tokens = prompt(*m, "Once upon a time there");
  Session s(*m, two_threads());
  struct Interrupter : Observer {
    int calls = 0;
    void on_hook(const HookEvent& /*e*/) override {
      if (++calls == 1) Session::interrupt();
    }
  } ctrl_c;
  const int hook = s.resolve_one("resid_mid2");
  Subscription sub = s.interp().subscribe(hook, &ctrl_c);
  Stop stop = s.run(tokens);
  ASSERT_EQ(stop.reason, StopReason::Interrupted);
  EXPECT_EQ(s.last_op(), s.program().hook_op[static_cast<size_t>(hook)]);
  EXPECT_TRUE(s.in_pass());
  stop = s.resume(Motion::Continue);
  EXPECT_EQ(stop.reason, StopReason::Done);
  // Interrupting generation: the next decode pass's hook stops it, and generation goes on.
  ctrl_c.calls = 0;
  stop = s.generate(3);
  ASSERT_EQ(stop.reason, StopReason::Interrupted);
  stop = s.resume(Motion::Continue);
  EXPECT_EQ(stop.reason, StopReason::Done);
  ASSERT_EQ(s.tokens().size(), tokens.size() + 3);
  EXPECT_EQ(s.logits(), uninterrupted(*m, s.tokens()));
  // A request made while nothing runs is forgotten.
  Session::interrupt();
  sub.reset();
  EXPECT_EQ(s.run(tokens).reason, StopReason::Done);
}

// gdb's breakpoint commands: condition, ignore, commands ... end; display; unique prefixes;
// Enter repeating the last motion at the terminal.
TEST(DebuggerSession, GdbBreakpointCommands) {
  auto m = load_model(stories());
  Session s(*m, two_threads());
  Debugger d(s, "Once upon a time");
  d.execute("break blocks.*.hook_resid_post");
  // condition: only layer outputs whose absmax passes a bound nobody reaches.
  d.execute("condition 1 absmax > 1e30");
  Reply r = d.execute("run");
  EXPECT_EQ(r.json["stop"], "done");
  d.execute("condition 1");
  r = d.execute("restart");
  EXPECT_EQ(r.json["breakpoint"], 1);
  EXPECT_EQ(r.json["where"]["hook"], "blocks.0.hook_resid_post");
  EXPECT_THROW(d.execute("condition 1 top1 == 99999"), Error);  // checked as 'break ... if' is
  EXPECT_THROW(d.execute("condition 7 nan"), Error);
  // ignore: pass over the next two crossings (they count as hits).
  d.execute("ignore 1 2");
  r = d.execute("continue");
  EXPECT_EQ(r.json["where"]["hook"], "blocks.3.hook_resid_post");
  r = d.execute("info break");  // a unique prefix of the subject
  EXPECT_EQ(r.json["breakpoints"][0]["hits"], 4);
  // commands ... end run at each stop of that breakpoint.
  d.execute("commands 1");
  EXPECT_TRUE(d.collecting());
  EXPECT_THROW(d.execute("pirnt resid_pre0"), Error);  // caught while typing, still collecting
  EXPECT_TRUE(d.collecting());
  d.execute("stats");
  d.execute("print [-1, 0:2]");
  r = d.execute("end");
  EXPECT_FALSE(d.collecting());
  EXPECT_EQ(r.json["commands"].size(), 2u);
  r = d.execute("cont");  // a unique prefix
  EXPECT_EQ(r.json["where"]["hook"], "blocks.4.hook_resid_post");
  ASSERT_EQ(r.json["commands"].size(), 2u);
  EXPECT_EQ(r.json["commands"][1]["result"]["expr"], "blocks.4.hook_resid_post[-1, 0:2]");
  EXPECT_NE(r.text.find("(loupe) stats\n"), std::string::npos) << r.text;
  // display shows at once and at every stop.
  r = d.execute("display resid_pre0[-1, :3]");
  EXPECT_NE(r.text.find("display 1: resid_pre0[-1, :3] = "), std::string::npos) << r.text;
  r = d.execute("restart");
  EXPECT_EQ(r.json["watches"][0]["expr"], "resid_pre0[-1, :3]");
  d.execute("undisplay 1");
  // Prefixes: ambiguous and unknown commands say what they could be.
  try {
    d.execute("d");  // 'd' is delete's alias
    d.execute("un");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("ambiguous"), std::string::npos) << e.what();
  }
  try {
    d.execute("contnue");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'continue'"), std::string::npos) << e.what();
  }
  // Enter repeats the last step at the terminal, and nothing in a script.
  d.execute("break resid_pre2");
  d.execute("restart");
  r = d.execute("step");
  const int64_t op = r.json["where"]["op"].get<int64_t>();
  EXPECT_TRUE(d.execute("").json.is_null());
  d.set_repeat_on_blank(true);
  r = d.execute("");
  EXPECT_EQ(r.json["where"]["op"].get<int64_t>(), op + 1);
  d.execute("where");  // not repeated
  EXPECT_TRUE(d.execute("").json.is_null() || d.execute("").json.empty());
}

// `analyze` runs pass analyses on the run's cached hooks: the same numbers, to the bit, as the
// analyses attached to a clean pass over the same tokens; edits show in them; attention maps
// need a run of one pass.
TEST(DebuggerSession, AnalyzeOnTheCacheEqualsAOnePassRun) {
  auto m = load_model(stories());
  Session s(*m, two_threads());
  Debugger d(s, "Once upon a time there was");
  d.execute("run");
  const Reply r = d.execute("analyze lens attention activations nan");
  const std::vector<int32_t> tokens = s.tokens();
  RunOptions ro = two_threads();
  ro.max_batch = static_cast<int64_t>(tokens.size());
  Interpreter interp(*m, ro);
  analysis::LensOptions lo;
  lo.run = s.options();
  analysis::AttentionOptions ao;
  ao.run = s.options();
  analysis::ActivationsOptions aco;
  aco.run = s.options();
  analysis::LensAnalysis lens(*m, tokens, lo);
  analysis::AttentionAnalysis attention(*m, tokens, ao);
  analysis::ActivationsAnalysis activations(*m, aco);
  analysis::NanWatch nan;
  const auto want = analysis::run_one_pass(interp, tokens, {&lens, &attention, &activations, &nan});
  for (const char* k : {"lens", "attention", "activations", "nan"}) EXPECT_EQ(r.json[k].dump(), want[k].dump()) << k;
  EXPECT_TRUE(r.json["nan"]["bad"].empty());  // the attention mask's -inf is not counted
  EXPECT_EQ(r.json["nan"]["hooks_checked"], s.interp().hooks().size());
  // An edit's NaN shows, from the hook it was written to.
  d.execute("edit set resid_mid1[2, 7] nan");
  d.execute("restart");
  Reply n = d.execute("analyze nan");
  EXPECT_EQ(n.json["nan"]["first"], "blocks.1.hook_resid_mid");
  EXPECT_EQ(n.json["nan"]["bad"][0]["nan"], 1);
  d.execute("undo");
  // After generation: the lens covers every position; attention maps hold the newest pass only.
  d.execute("restart");
  d.execute("generate 2");
  n = d.execute("analyze lens");
  EXPECT_EQ(n.json["lens"]["rows"][0]["positions"].size(), tokens.size() + 2);
  try {
    d.execute("analyze attention");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("need the prompt's patterns from position 0"), std::string::npos) << e.what();
  }
  // The NaN watch reads what there is (attention maps: the newest pass).
  n = d.execute("analyze nan");
  EXPECT_TRUE(n.json["nan"]["bad"].empty());
  // Mid-pass it waits for the pass to finish; without the cache it cannot run.
  d.execute("break resid_pre2");
  d.execute("restart");
  EXPECT_THROW(d.execute("analyze"), Error);
  d.execute("delete");
  d.execute("set cache 0");
  d.execute("restart");
  EXPECT_THROW(d.execute("analyze nan"), Error);
}

// generate prints what it generated; where prints the stack.
TEST(DebuggerSession, GenerateAndWhereSayWhatHappened) {
  auto m = load_model(stories());
  Session s(*m, two_threads());
  Debugger d(s, "Once upon a time");
  d.execute("run");
  Reply r = d.execute("generate 3");
  ASSERT_TRUE(r.json.contains("generated")) << r.text;
  const std::vector<int32_t> gen = r.json["generated"]["tokens"];
  ASSERT_EQ(gen.size(), 3u);
  EXPECT_EQ(r.json["generated"]["text"], m->tokenizer->decode(gen));
  EXPECT_NE(r.text.find("generated 3 tokens: "), std::string::npos) << r.text;
  d.execute("break layer 2");
  r = d.execute("generate 1");
  r = d.execute("bt");
  ASSERT_EQ(r.json["frames"].size(), 4u);
  EXPECT_EQ(r.json["frames"][1]["layer"], 2);
  EXPECT_EQ(r.json["frames"][2]["prompt"], false);
  EXPECT_EQ(r.json["frames"][3]["generated"], 4);
  EXPECT_NE(r.text.find("#1  layer 2 of 5"), std::string::npos) << r.text;
}

// One NaN in any weight of the model reaches the logits (no kernel turns it into a number: an
// all-NaN attention row stays NaN, not the zeros of a masked one), and `break if nan` stops first
// at an op that reads that weight.
TEST(DebuggerSession, ANanInAnyWeightReachesTheLogits) {
  const std::string src = shared("models/stories260K-gguf/stories260K-f32.gguf");
  std::vector<std::string> names;
  {
    GgufFile g = GgufFile::open(src);
    for (const auto& t : g.tensors()) names.push_back(t.name);
  }
  ASSERT_EQ(names.size(), 48u);
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    const std::string dir = test::temp_dir("nan-weights");
    // Element 0 of the weight is read at every position; the embedding's row 1 is BOS's.
    auto m = load_model(corrupted_copy(dir, name, name == "token_embd.weight" ? 64 : 0));
    const std::vector<int32_t> tokens = prompt(*m, "Once upon a time");
    ASSERT_EQ(tokens.front(), 1);
    const std::vector<float> logits = uninterrupted(*m, tokens);
    const int64_t V = m->config.d_vocab;
    const auto last = logits.end() - V;
    // The unembedding's row 0 is logit 0's alone; anything else spreads to every logit.
    EXPECT_EQ(std::count_if(last, logits.end(), [](float v) { return std::isnan(v); }),
              name == "output.weight" ? 1 : V);
    EXPECT_TRUE(std::isnan(*last));
    Session s(*m, two_threads());
    Debugger d(s, "Once upon a time");
    d.execute("break if nan");
    const Reply r = d.execute("run");
    ASSERT_TRUE(r.json.contains("bad_op")) << r.text;
    // The op's bad input is the weight (named as in the file, or by the op for norm weights).
    bool reads_it = false;
    for (const auto& in : r.json["bad_op"]["inputs"])
      reads_it = reads_it || (in["what"] != "input" && in["already_bad"].get<bool>() && in["nan"].get<int64_t>() == 1);
    EXPECT_TRUE(reads_it) << r.json["bad_op"].dump();
    std::filesystem::remove_all(dir);
  }
}

TEST(DebuggerSession, ReadingTensorsThatAreGoneSaysWhy) {
  auto m = load_model(stories());
  Session s(*m, two_threads());
  s.set_cache_budget(0);  // only what is still in the interpreter's buffers
  s.add_breakpoint(s.make_breakpoint({"resid_mid2"}, std::nullopt));
  s.run(prompt(*m, "Once upon a time"));
  EXPECT_NO_THROW(s.evaluate(parse_tensor_expr("attn_out2")));
  try {
    s.evaluate(parse_tensor_expr("resid_pre2"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "blocks.2.hook_resid_pre: no longer available (its buffer was reused by op 56 'blocks.2.resid + "
                 "attn_out'); break at blocks.2.hook_resid_pre to read it");
  }
  try {
    s.evaluate(parse_tensor_expr("logits"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "unembed.hook_logits: not computed yet in this pass (op 108; the debugger is after op 56)");
  }
}

}  // namespace
}  // namespace loupe::dbg
