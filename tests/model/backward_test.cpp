// The backward pass against central finite differences: for every op of every family (and
// stories260K), the gradient of a target logit at the op's output, projected on a random
// direction and on itself, equals the change of the logit when the op's output is moved a
// little that way. Then the attribution methods built on it: integrated gradients' completeness,
// its rules, saliency and gradient x input, attribution patching against real patching.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>

#include "analysis/distill.h"
#include "analysis/gradients.h"
#include "core/error.h"
#include "debugger/commands.h"
#include "debugger/session.h"
#include "engine/backward.h"
#include "engine/interpreter.h"
#include "model/arch/family.h"
#include "model/synth.h"
#include "model/weights.h"
#include "test_support.h"

namespace loupe {
namespace {

namespace fs = std::filesystem;

std::string vocab() {
  return test::shared("models/stories260K-gguf/stories260K-f32.gguf");
}
std::string stories() {
  return test::shared("models/stories260K/stories260K.bin");
}

const char* const kArchs[] = {"llama",  "qwen2", "qwen3",   "qwen3moe", "gemma2",
                              "gemma3", "phi3",  "smollm3", "gpt-oss",  "gpt2"};

SynthSpec spec_for(const std::string& arch) {
  SynthSpec s;
  const arch::Family* f = arch::family_by_gguf_name(arch);
  if (f == nullptr) throw Error("unknown family " + arch);
  s.arch = f->arch;
  s.d_model = 48;
  s.n_layers = 3;
  s.n_heads = 4;
  s.n_kv_heads = arch == "gpt2" ? 4 : 2;
  s.d_head = f->free_head_width ? 20 : 0;
  s.d_mlp = 64;
  s.n_ctx = 64;
  s.window = 5;  // shorter than the prompt: the windows bind
  s.n_experts = 4;
  s.n_experts_used = 2;
  s.seed = 5;
  s.vocab_path = vocab();
  if (arch == "llama") s.window = 0;
  if (arch != "qwen3moe" && arch != "gpt-oss") s.n_experts = s.n_experts_used = 0;
  return s;
}

// Weights scaled so that the logits are O(1) and the nonlinearities work off their linear parts.
SynthModel scaled(const SynthSpec& s) {
  SynthModel m = make_synth_model(s);
  for (auto& t : m.tensors) {
    if (t.shape.size() == 1 && t.name.find("norm") != std::string::npos) continue;
    const float k = t.name.find("token_embd") != std::string::npos ? 20.0f : 5.0f;
    for (float& v : t.data) v *= k;
  }
  return m;
}

const std::vector<int32_t> kTokens = {1, 37, 200, 5, 91, 12, 400, 37, 200, 5, 91, 7};

// Adds eps * dir to one op's output right after it runs (before its hook's observers).
class Nudge : public OpListener {
 public:
  Nudge(Interpreter& interp, int op, const std::vector<float>& dir, double eps)
      : interp_(interp), op_(op), dir_(dir), eps_(eps) {}
  void before_op(int /*op*/) override {}
  void after_op(int op) override {
    if (op != op_) return;
    HookEvent e = interp_.view(op);
    for (size_t i = 0; i < dir_.size(); ++i) e.data[i] += static_cast<float>(eps_ * dir_[i]);
  }

 private:
  Interpreter& interp_;
  int op_;
  const std::vector<float>& dir_;
  double eps_;
};

// Captures one op's output.
class Peek : public OpListener {
 public:
  Peek(Interpreter& interp, int op) : interp_(interp), op_(op) {}
  void before_op(int op) override {
    if (op == op_ + 1) grab();
  }
  void after_op(int /*op*/) override {}
  void grab() {
    HookEvent e = interp_.view(op_);
    seen.assign(e.data, e.data + e.shape.numel());
  }
  std::vector<float> seen;

 private:
  Interpreter& interp_;
  int op_;
};

double target_logit(Interpreter& interp, const std::vector<int32_t>& tokens, int32_t target) {
  interp.rewind(0);
  interp.begin(tokens, false);
  interp.finish();
  return interp.logits()[target];
}

struct Check {
  int checked = 0;
  double worst = 0;  // max |fd - exact| / scale
  std::string where;
};

// Central differences of the target logit along v at op k's output, against grad . v.
void check_ops(const Model& m, const std::vector<int32_t>& tokens, Check& out) {
  RunOptions ro;
  ro.max_batch = 64;
  Interpreter interp(m, ro);
  Tape tape(interp, 0);
  tape.record(tokens, false);
  const auto V = m.config.d_vocab;
  int32_t target = 0;
  for (int32_t t = 1; t < V; ++t)
    if (tape.logits()[static_cast<size_t>(t)] > tape.logits()[static_cast<size_t>(target)]) target = t;
  target = (target + 7) % static_cast<int32_t>(V);  // not the argmax: its gradient is not special
  tape.backward(tape.seed_logit(0, target));
  const Program& prog = interp.program();
  std::mt19937 rng(3);
  std::normal_distribution<double> normal;
  for (int k = 0; k < static_cast<int>(prog.ops.size()); ++k) {
    const OpKind kind = prog.ops[static_cast<size_t>(k)].kind;
    if (kind == OpKind::KvStore || kind == OpKind::MoeSelect) continue;
    const std::span<const float> g = tape.grad(k);
    if (g.empty()) continue;
    Peek peek(interp, k);
    {
      Subscription s = interp.listen(&peek);
      target_logit(interp, tokens, target);
      if (k == static_cast<int>(prog.ops.size()) - 1) peek.grab();
    }
    const std::vector<float> x = peek.seen;
    ASSERT_EQ(x.size(), g.size()) << prog.ops[static_cast<size_t>(k)].label;
    double rms = 0, gnorm = 0;
    size_t finite = 0;
    for (size_t i = 0; i < x.size(); ++i)
      if (std::isfinite(x[i])) rms += static_cast<double>(x[i]) * x[i], ++finite;
    for (float v : g) gnorm += static_cast<double>(v) * v;
    rms = std::sqrt(rms / std::max<size_t>(1, finite));
    gnorm = std::sqrt(gnorm);
    if (gnorm == 0) continue;
    // Attention maps: only the entries inside the causal window are values of the model.
    const Op& op = prog.ops[static_cast<size_t>(k)];
    const bool map = op.out == Buf::Scores || op.out == Buf::Pattern;
    const int64_t n = static_cast<int64_t>(tokens.size());
    const int64_t window = map ? m.config.layers[static_cast<size_t>(op.layer)].window : 0;
    auto inside = [&](size_t i) {
      if (!map) return true;
      const auto q = static_cast<int64_t>(i) / n % n, key = static_cast<int64_t>(i) % n;
      return key <= q && (window == 0 || key > q - window);
    };
    for (int dir = 0; dir < 2; ++dir) {
      std::vector<float> v(g.size());
      double vnorm = 0, vmax = 0, exact = 0;
      for (size_t i = 0; i < v.size(); ++i) {
        v[i] = dir == 0 ? static_cast<float>(normal(rng)) : static_cast<float>(g[i] / gnorm);
        if (!std::isfinite(x[i]) || !inside(i)) v[i] = 0;
        vnorm += static_cast<double>(v[i]) * v[i];
        vmax = std::max(vmax, std::fabs(static_cast<double>(v[i])));
        exact += static_cast<double>(g[i]) * v[i];
      }
      vnorm = std::sqrt(vnorm);
      if (vnorm == 0) continue;
      // No element moves by more than 4e-3 of the tensor's rms; Richardson's extrapolation of
      // two central differences (h, h/2) leaves an O(h^4) error.
      const double h = 4e-3 * std::max(rms, 1e-3) / vmax;
      double fmax = 1.0;
      auto central = [&](double step) {
        double f[2];
        for (int sgn = 0; sgn < 2; ++sgn) {
          Nudge nudge(interp, k, v, sgn == 0 ? step : -step);
          Subscription s = interp.listen(&nudge);
          f[sgn] = target_logit(interp, tokens, target);
          fmax = std::max(fmax, std::fabs(f[sgn]));
        }
        return (f[0] - f[1]) / (2 * step);
      };
      const double fd = (4 * central(h / 2) - central(h)) / 3;
      // What float32 logits can resolve: a few ulps of the logit over the step (Richardson's
      // combination weighs the h/2 difference by 4/3 and divides by the step).
      const double noise = 8 * 1.2e-7 * fmax / h;
      const double scale = gnorm * vnorm;
      const double err = std::max(0.0, std::fabs(fd - exact) - noise) / scale;
      ++out.checked;
      if (std::getenv("LOUPE_TEST_VERBOSE") != nullptr)
        std::printf("%-34s %s fd %.6g exact %.6g noise %.2g err %.3g\n", prog.ops[static_cast<size_t>(k)].label.c_str(),
                    dir == 0 ? "random  " : "gradient", fd, exact, noise, err);
      if (err > out.worst) {
        out.worst = err;
        out.where = prog.ops[static_cast<size_t>(k)].label + (dir == 0 ? " (random)" : " (gradient)") +
                    " fd=" + std::to_string(fd) + " exact=" + std::to_string(exact);
      }
    }
  }
}

class BackwardFamily : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    if (!fs::exists(vocab())) GTEST_SKIP() << vocab() << " not found";
    dir_ = test::temp_dir(std::string("backward-") + GetParam());
    spec_ = spec_for(GetParam());
    write_synth_gguf(scaled(spec_), spec_, dir_ + "/m.gguf", nullptr);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::string dir_;
  SynthSpec spec_;
};

TEST_P(BackwardFamily, EveryOpMatchesFiniteDifferences) {
  auto m = load_model(dir_ + "/m.gguf");
  Check c;
  check_ops(*m, kTokens, c);
  EXPECT_GT(c.checked, 40);
  EXPECT_LT(c.worst, 1e-3) << c.where;
}

TEST_P(BackwardFamily, IntegratedGradientsAreComplete) {
  auto m = load_model(dir_ + "/m.gguf");
  analysis::GradAttributionOptions o;
  o.target = 42;
  o.steps = 128;
  const auto r = analysis::run_grad_attribution(*m, kTokens, o);
  ASSERT_EQ(r.attributions.size(), kTokens.size());
  const double change = std::fabs(r.target_value - r.baseline_value);
  EXPECT_GT(change, 1e-3);
  EXPECT_LT(std::fabs(r.delta), 0.01 * change) << "target " << r.target_value << " baseline " << r.baseline_value;
}

INSTANTIATE_TEST_SUITE_P(All, BackwardFamily, ::testing::ValuesIn(kArchs), [](const auto& i) {
  std::string n = i.param;
  for (char& ch : n)
    if (ch == '-') ch = '_';
  return n;
});

TEST(BackwardStories, EveryOpMatchesFiniteDifferences) {
  if (!fs::exists(stories())) GTEST_SKIP();
  auto m = load_model(stories());
  Check c;
  check_ops(*m, {1, 403, 407, 261, 378, 425, 9, 304, 12}, c);
  EXPECT_GT(c.checked, 60);
  EXPECT_LT(c.worst, 1e-3) << c.where;
}

TEST(BackwardStories, IntegratedGradientsRulesAndBaselines) {
  if (!fs::exists(stories())) GTEST_SKIP();
  auto m = load_model(stories());
  const std::vector<int32_t> tokens = {1, 403, 407, 261, 378, 425, 9, 304};
  analysis::GradAttributionOptions o;
  o.target = 349;
  o.steps = 128;
  o.baseline_tokens = {1, 9, 9, 9, 9, 9, 9, 9};
  for (auto rule : {analysis::Integration::GaussLegendre, analysis::Integration::RiemannTrapezoid,
                    analysis::Integration::RiemannMiddle}) {
    o.integration = rule;
    for (const char* base : {"bos", "tokens"}) {
      o.baseline = base;
      for (const char* layer : {"", "blocks.2.hook_resid_pre", "blocks.1.attn.hook_z"}) {
        o.layer = layer;
        const auto r = analysis::run_grad_attribution(*m, tokens, o);
        const double change = std::fabs(r.target_value - r.baseline_value);
        EXPECT_LT(std::fabs(r.delta), 0.01 * change)
            << analysis::integration_name(rule) << " " << base << " '" << layer << "' change " << change;
      }
    }
  }
  // The log-probability, and another position.
  o.integration = analysis::Integration::GaussLegendreGraded;
  o.baseline = "bos";
  o.layer = "";
  o.logprob = true;
  o.pos = 4;
  const auto r = analysis::run_grad_attribution(*m, tokens, o);
  EXPECT_EQ(r.pos, 4);
  EXPECT_LT(std::fabs(r.delta), 0.01 * std::fabs(r.target_value - r.baseline_value));
  EXPECT_LT(r.target_value, 0.0);
  // Attributions past the explained position are zero: the causal mask.
  for (size_t p = 5; p < tokens.size(); ++p) EXPECT_EQ(r.attributions[p], 0.0) << p;
}

TEST(BackwardStories, GradientTimesInputIsOneRightRiemannStep) {
  if (!fs::exists(stories())) GTEST_SKIP();
  auto m = load_model(stories());
  const std::vector<int32_t> tokens = {1, 403, 407, 261, 378, 425};
  analysis::GradAttributionOptions o;
  o.target = 100;
  o.baseline = "zero";
  o.method = analysis::GradMethod::GradXInput;
  const auto gx = analysis::run_grad_attribution(*m, tokens, o);
  o.method = analysis::GradMethod::IntegratedGradients;
  o.steps = 1;
  o.integration = analysis::Integration::RiemannRight;
  const auto ig = analysis::run_grad_attribution(*m, tokens, o);
  ASSERT_EQ(gx.attributions.size(), ig.attributions.size());
  for (size_t i = 0; i < gx.attributions.size(); ++i) EXPECT_NEAR(gx.attributions[i], ig.attributions[i], 1e-5);
  o.method = analysis::GradMethod::Saliency;
  const auto sal = analysis::run_grad_attribution(*m, tokens, o);
  for (double s : sal.attributions) EXPECT_GE(s, 0.0);
  EXPECT_GT(sal.attributions.back(), 0.0);
}

TEST(BackwardStories, AttributionPatchingAgreesWithRealPatching) {
  if (!fs::exists(stories())) GTEST_SKIP();
  auto m = load_model(stories());
  const std::vector<int32_t> clean = {1, 403, 407, 261, 378, 425, 9, 304};
  std::vector<int32_t> corrupted = clean;
  corrupted[5] = 426;
  analysis::GradAttributionOptions o;
  o.method = analysis::GradMethod::AttributionPatching;
  o.target = 349;
  o.corrupted = corrupted;
  o.verify = 6;
  const auto r = analysis::run_grad_attribution(*m, clean, o);
  ASSERT_FALSE(r.patches.empty());
  ASSERT_EQ(r.checks.size(), 6U);
  // Positions before the changed token see identical activations: nothing to patch.
  for (const auto& h : r.patches)
    for (size_t p = 0; p < 5; ++p) EXPECT_EQ(h.estimate[p], 0.0) << h.hook << " " << p;
  // The first-order estimate has the sign of the real effect and follows its size (it is a
  // linearisation: residual-stream patches are where it is known to overshoot).
  double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
  for (const auto& c : r.checks) {
    EXPECT_GT(c.estimate * c.actual, 0.0) << c.hook << " " << c.pos;
    sx += c.estimate, sy += c.actual, sxx += c.estimate * c.estimate, syy += c.actual * c.actual;
    sxy += c.estimate * c.actual;
  }
  const double k = static_cast<double>(r.checks.size());
  const double corr = (sxy - sx * sy / k) / std::sqrt((sxx - sx * sx / k) * (syy - sy * sy / k));
  EXPECT_GT(corr, 0.5);
  // A real patch where its effect is known: the embedding of the one token that differs makes
  // the clean run the corrupted one.
  o.verify = 0;
  o.check_at = {{"hook_embed", 5}, {"blocks.3.hook_resid_post", 2}};
  const auto e = analysis::run_grad_attribution(*m, clean, o);
  ASSERT_EQ(e.checks.size(), 2U);
  EXPECT_NEAR(e.checks[0].actual, e.baseline_value - e.target_value, 1e-5);
  EXPECT_EQ(e.checks[1].actual, 0.0);  // position 2 is the same in both runs
  EXPECT_EQ(e.checks[1].estimate, 0.0);
  o.check_at = {{"hook_embed", 8}};
  EXPECT_THROW(analysis::run_grad_attribution(*m, clean, o), Error);
  o.check_at = {{"blocks.0.attn.hook_pattern", 1}};
  EXPECT_THROW(analysis::run_grad_attribution(*m, clean, o), Error);
}

TEST(BackwardBadInput, NamesWhatIsWrong) {
  if (!fs::exists(stories())) GTEST_SKIP();
  auto m = load_model(stories());
  const std::vector<int32_t> tokens = {1, 403, 407};
  analysis::GradAttributionOptions o;
  o.target = 5;
  o.layer = "blocks.0.attn.hook_pattern";
  EXPECT_THROW(analysis::run_grad_attribution(*m, tokens, o), Error);
  o.layer = "no_such_hook";
  EXPECT_THROW(analysis::run_grad_attribution(*m, tokens, o), Error);
  o.layer = "";
  o.baseline = "pad";  // stories260K names no pad token
  EXPECT_THROW(analysis::run_grad_attribution(*m, tokens, o), Error);
  o.baseline = "tokens";
  o.baseline_tokens = {1, 2};
  EXPECT_THROW(analysis::run_grad_attribution(*m, tokens, o), Error);
  o.baseline = "zero";
  o.pos = 3;
  EXPECT_THROW(analysis::run_grad_attribution(*m, tokens, o), Error);
  // A tape that cannot hold one pass.
  RunOptions ro;
  Interpreter interp(*m, ro);
  Tape tape(interp, 64);
  EXPECT_THROW(tape.record(tokens, false), Error);
}

// Weight gradients (what distill trains with): for every trainable tensor of the dense
// families (GPT-2 and Phi-3 with fused qkv), the gradient of a target logit along a random direction of that tensor
// equals central finite differences of the logit.
TEST(BackwardWeights, EveryTensorMatchesFiniteDifferences) {
  if (!fs::exists(vocab())) GTEST_SKIP();
  const std::string dir = test::temp_dir("backward-weights");
  for (const char* arch : {"llama", "gpt2", "qwen3", "gemma2", "phi3"}) {
    SynthSpec spec = spec_for(arch);
    spec.n_layers = 2;
    write_synth_gguf(scaled(spec), spec, dir + "/m.gguf", nullptr);
    auto m = load_model(dir + "/m.gguf");
    const std::vector<analysis::Param> params = analysis::make_trainable(*m);
    ASSERT_GT(params.size(), 8U) << arch;
    RunOptions ro;
    Interpreter interp(*m, ro);
    Tape tape(interp, 0);
    tape.enable_weight_grads(true);
    tape.record(kTokens, true);
    const int32_t target = 42;
    tape.backward(tape.seed_logit(5, target));
    auto logit = [&] {
      interp.rewind(0);
      interp.begin(kTokens, true);
      interp.finish();
      return static_cast<double>(interp.logits()[5 * m->config.d_vocab + target]);
    };
    std::mt19937 rng(9);
    std::normal_distribution<double> normal;
    int checked = 0;
    for (const analysis::Param& p : params) {
      // The gradient of the whole tensor, from its parts (fused qkv: three slices).
      std::vector<float> whole(static_cast<size_t>(p.n), 0.0f);
      for (const auto& [key, off] : p.parts)
        if (const std::vector<float>* part = tape.weight_grad(key))
          for (size_t j = 0; j < part->size(); ++j) whole[static_cast<size_t>(off) + j] += (*part)[j];
      const std::vector<float>* g = &whole;
      std::vector<float> v(static_cast<size_t>(p.n));
      double exact = 0, gnorm = 0, vnorm = 0, rms = 0, vmax = 0;
      for (int64_t j = 0; j < p.n; ++j) {
        v[static_cast<size_t>(j)] = static_cast<float>(normal(rng));
        exact += (*g)[static_cast<size_t>(j)] * static_cast<double>(v[static_cast<size_t>(j)]);
        gnorm += static_cast<double>((*g)[static_cast<size_t>(j)]) * (*g)[static_cast<size_t>(j)];
        vnorm += static_cast<double>(v[static_cast<size_t>(j)]) * v[static_cast<size_t>(j)];
        rms += static_cast<double>(p.data[j]) * p.data[j];
        vmax = std::max(vmax, std::fabs(static_cast<double>(v[static_cast<size_t>(j)])));
      }
      gnorm = std::sqrt(gnorm), vnorm = std::sqrt(vnorm), rms = std::sqrt(rms / static_cast<double>(p.n));
      if (gnorm == 0) continue;
      const std::vector<float> saved(p.data, p.data + p.n);
      auto central = [&](double h) {
        double f[2];
        for (int sgn = 0; sgn < 2; ++sgn) {
          for (int64_t j = 0; j < p.n; ++j)
            p.data[j] =
                static_cast<float>(saved[static_cast<size_t>(j)] + (sgn == 0 ? h : -h) * v[static_cast<size_t>(j)]);
          f[sgn] = logit();
        }
        std::copy(saved.begin(), saved.end(), p.data);
        return (f[0] - f[1]) / (2 * h);
      };
      const double h = 4e-3 * std::max(rms, 1e-3) / vmax;
      const double fd = (4 * central(h / 2) - central(h)) / 3;
      const double noise = 8 * 1.2e-7 * std::max(1.0, std::fabs(logit())) / h;
      EXPECT_LT(std::max(0.0, std::fabs(fd - exact) - noise) / (gnorm * vnorm), 1e-3)
          << arch << " " << p.name << " fd " << fd << " exact " << exact;
      ++checked;
    }
    EXPECT_GT(checked, 8) << arch;
  }
  fs::remove_all(dir);
}

TEST(Distill, LowersTheDistillationLoss) {
  if (!fs::exists(stories()) || !fs::exists(vocab())) GTEST_SKIP();
  const std::string dir = test::temp_dir("distill");
  // The student: stories260K with half its block weights pruned; data: the teacher's own text.
  ASSERT_EQ(test::run_loupe("prune " + vocab() + " " + dir + "/student.gguf --sparsity 0.5").exit_code, 0);
  {
    std::ofstream out(dir + "/data.txt");
    for (const char* f : {"runc_greedy_bos_n256.txt", "runc_t1_p095_s42_n200.txt", "runc_t1_p09_s133742_n256.txt",
                          "runc_t1_p1_s42_n200.txt", "runc_greedy_bos_n200.txt"})
      out << test::read_file(test::shared(std::string("reference/stories260K/") + f)) << "\n";
  }
  const auto r = test::run_loupe("distill --teacher " + vocab() + " --student " + dir + "/student.gguf --data " + dir +
                                 "/data.txt -o " + dir +
                                 "/out.gguf --steps 40 --log-every 20 --save-every 20 "
                                 "--eval-docs 2 --lr 3e-3 --l2 1e-6 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<nlohmann::json> log;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) log.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(log.size(), 3U);
  EXPECT_LT(log.back()["kd_loss"].get<double>(), 0.9 * log.front()["kd_loss"].get<double>());
  EXPECT_EQ(log[1]["checkpoint"], dir + "/out-step20.gguf");
  EXPECT_GT(log.back()["drift"].get<double>(), 0.0);
  // monitor shows the same fall over the checkpoints, which load as any model does.
  const auto m = test::run_loupe("monitor " + dir + "/student.gguf " + dir + "/out-step20.gguf " + dir +
                                 "/out.gguf --teacher " + vocab() + " --data " + dir + "/data.txt --json");
  ASSERT_EQ(m.exit_code, 0) << m.err;
  const auto j = nlohmann::json::parse(m.out);
  EXPECT_LT(j["checkpoints"][2]["kd_loss"].get<double>(), j["checkpoints"][0]["kd_loss"].get<double>());
  // Bad requests.
  for (const std::string& bad : {std::string(" --tau 0"), std::string(" --alpha 2"), std::string(" --steps 0")}) {
    const auto b = test::run_loupe("distill --teacher " + vocab() + " --student " + dir + "/student.gguf --data " +
                                   dir + "/data.txt -o " + dir + "/bad.gguf" + bad);
    EXPECT_NE(b.exit_code, 0) << bad;
    EXPECT_FALSE(fs::exists(dir + "/bad.gguf")) << bad;
  }
  fs::remove_all(dir);
}

// Quantised weights are constants dequantised row by row: the gradient is the exact model's.
TEST(BackwardQuantised, EveryOpMatchesFiniteDifferences) {
  if (!fs::exists(vocab())) GTEST_SKIP();
  const std::string dir = test::temp_dir("backward-quant");
  for (DType t : {DType::Q8_0, DType::Q4_K}) {
    SynthSpec spec = spec_for("qwen3");
    spec.d_model = 256;
    spec.d_mlp = 256;
    spec.d_head = 64;
    spec.type = t;
    write_synth_gguf(scaled(spec), spec, dir + "/m.gguf", nullptr);
    auto m = load_model(dir + "/m.gguf");
    Check c;
    check_ops(*m, kTokens, c);
    EXPECT_GT(c.checked, 40);
    EXPECT_LT(c.worst, 1e-3) << dtype_name(t) << ": " << c.where;
  }
  fs::remove_all(dir);
}

TEST(BackwardCli, AttributeMethods) {
  if (!fs::exists(stories())) GTEST_SKIP();
  const std::string dir = test::temp_dir("backward-cli");
  const std::string base = "attribute " + stories() + " -p 'Once upon a time there was a' --target ' little' ";
  auto ig = test::run_loupe(base + "--method ig --steps 128 --baseline bos --json --svg " + dir + "/ig.svg --html " +
                            dir + "/ig.html");
  ASSERT_EQ(ig.exit_code, 0) << ig.err;
  const auto j = nlohmann::json::parse(ig.out);
  EXPECT_EQ(j["method"], "ig");
  EXPECT_EQ(j["integration"], "gauss-legendre-graded");
  EXPECT_EQ(j["baseline"], "bos");
  ASSERT_EQ(j["attributions"].size(), j["tokens"].size());
  double sum = 0;
  for (const auto& a : j["attributions"]) sum += a.get<double>();
  const double change = j["target_value"].get<double>() - j["baseline_value"].get<double>();
  EXPECT_NEAR(j["delta"].get<double>(), sum - change, 1e-9);
  EXPECT_LT(std::fabs(j["delta"].get<double>()), 0.01 * std::fabs(change));
  EXPECT_NE(test::read_file(dir + "/ig.svg").find("<svg"), std::string::npos);
  EXPECT_NE(test::read_file(dir + "/ig.html").find("<svg"), std::string::npos);
  for (const char* m : {"saliency", "grad-x-input"}) {
    auto r = test::run_loupe(base + "--method " + m + " --layer blocks.2.hook_resid_pre --logprob");
    EXPECT_EQ(r.exit_code, 0) << m << r.err;
    EXPECT_NE(r.out.find("blocks.2.hook_resid_pre"), std::string::npos) << r.out;
  }
  auto ap =
      test::run_loupe("attribute " + stories() +
                      " --tokens 1,403,407,261,378,425,9,304 --target 349 --method attribution-patching "
                      "--corrupted tokens:1,403,407,261,378,426,9,304 --verify 2 --verify-at hook_embed:5 --json");
  ASSERT_EQ(ap.exit_code, 0) << ap.err;
  const auto k = nlohmann::json::parse(ap.out);
  EXPECT_EQ(k["checks"].size(), 3U);
  // Bad input: precise errors, non-zero exits.
  struct Bad {
    std::string args, says;
  };
  for (const Bad& b :
       std::vector<Bad>{{"--method gradients", "--method"},
                        {"--method ig --integration simpson", "--integration"},
                        {"--method ig --baseline 'a b c'", "--baseline"},
                        {"--method ig --steps 0", "--steps"},
                        {"--method ig --layer blocks.9.hook_resid_pre", "blocks.9"},
                        {"--method attribution-patching", "--corrupted"},
                        {"--method attribution-patching --corrupted x --verify-at hook_embed", "--verify-at"},
                        {"--method saliency --grad-mb 0", "--grad-mb"},
                        {"--method saliency --pos 40", "--pos"}}) {
    auto r = test::run_loupe(base + b.args);
    EXPECT_NE(r.exit_code, 0) << b.args;
    EXPECT_NE(r.err.find(b.says), std::string::npos) << b.args << ": " << r.err;
  }
  fs::remove_all(dir);
}

TEST(BackwardDebugger, BackwardAndGrad) {
  if (!fs::exists(stories())) GTEST_SKIP();
  auto m = load_model(stories());
  RunOptions ro;
  dbg::Session s(*m, ro);
  dbg::Debugger d(s, "");
  EXPECT_THROW(d.execute("grad resid_pre2"), Error);  // nothing to read yet
  EXPECT_THROW(d.execute("backward 349"), Error);     // nothing has run
  const std::vector<int32_t> tokens = {1, 403, 407, 261, 378, 425, 9, 304};
  s.run(tokens);
  const auto b = d.execute("backward 349");
  EXPECT_EQ(b.json["pos"], 7);
  ASSERT_EQ(b.json["embeddings"].size(), tokens.size());
  // The same gradient as the attribution analysis: grad x input at the embeddings.
  analysis::GradAttributionOptions o;
  o.target = 349;
  o.method = analysis::GradMethod::GradXInput;
  const auto gx = analysis::run_grad_attribution(*m, tokens, o);
  for (size_t i = 0; i < tokens.size(); ++i)
    EXPECT_NEAR(b.json["embeddings"][i]["grad_x_input"].get<double>(), gx.attributions[i],
                1e-5 * std::fabs(gx.attributions[i]) + 1e-9)
        << i;  // JSON numbers carry 6 significant digits
  const auto g = d.execute("grad resid_pre2");
  EXPECT_TRUE(g.json["flows"].get<bool>());
  EXPECT_EQ(g.json["per_position"].size(), tokens.size());
  EXPECT_FALSE(d.execute("grad blocks.0.hook_attn_out").json.empty());
  // An edit changes the gradient (the pass runs with it); ablating a head's pattern stops
  // what flows through it.
  d.execute("edit zero blocks.4.hook_resid_post");
  const auto z = d.execute("backward 349 logprob");
  EXPECT_EQ(z.json["objective"], "logprob");
  const auto after = d.execute("grad resid_pre2");
  EXPECT_EQ(after.json["norm"].get<double>(), 0.0);
  EXPECT_THROW(d.execute("backward 349 pos 99"), Error);
  EXPECT_THROW(d.execute("backward 349 sideways"), Error);
}

}  // namespace
}  // namespace loupe
