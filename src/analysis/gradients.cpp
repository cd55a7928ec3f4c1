#include "analysis/gradients.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numbers>

#include "analysis/text.h"
#include "core/error.h"
#include "engine/backward.h"

namespace loupe::analysis {
namespace {

constexpr std::array<std::string_view, 4> kMethods = {"ig", "saliency", "grad-x-input", "attribution-patching"};
constexpr std::array<std::string_view, 6> kRules = {"gauss-legendre", "riemann-trapezoid", "riemann-middle",
                                                    "riemann-left",   "riemann-right",     "gauss-legendre-graded"};
constexpr double kGrade = 8.0;  // ratio of the graded rule's panels

// Copies a hook's tensor as it stands after its op (and earlier observers' edits), or writes a
// replacement over it: the interpolation of integrated gradients, a patch of one position.
class HookTap : public Observer {
 public:
  std::vector<float> seen;
  const std::vector<float>* base = nullptr;  // interpolate: base + alpha (target - base)
  const std::vector<float>* target = nullptr;
  double alpha = 1.0;
  const std::vector<float>* patch = nullptr;  // copy these values over row patch_row
  int64_t patch_row = -1;
  int64_t row_width = 0;
  bool zero = false;
  const std::vector<float>* replace = nullptr;  // copy these values over the whole tensor

  void on_hook(const HookEvent& e) override {
    const auto n = static_cast<size_t>(e.shape.numel());
    if (zero) std::fill(e.data, e.data + n, 0.0f);
    if (replace != nullptr) std::copy_n(replace->data(), std::min(n, replace->size()), e.data);
    if (base != nullptr)
      for (size_t i = 0; i < n; ++i)
        e.data[i] = static_cast<float>((*base)[i] + alpha * (static_cast<double>((*target)[i]) - (*base)[i]));
    if (patch != nullptr) std::copy_n(patch->data() + patch_row * row_width, row_width, e.data + patch_row * row_width);
    seen.assign(e.data, e.data + n);
  }
};

// Whether a hook's tensor is [positions, ...] (what per-position attribution needs).
bool position_first(const Program& p, int hook) {
  const Op& op = p.ops[static_cast<size_t>(p.hook_op[static_cast<size_t>(hook)])];
  const Buf out = op.kind == OpKind::KvStore ? op.in0 : op.out;
  return out != Buf::Scores && out != Buf::Pattern && out != Buf::Logits && out != Buf::ExpertIds;
}

bool is_final(const Program& p, int hook) {
  return p.ops[static_cast<size_t>(p.hook_op[static_cast<size_t>(hook)])].final_rows;
}

// The objective at the target position from the logits of a pass (all positions or the last).
double objective(std::span<const float> logits, int64_t row, int64_t vocab, int32_t target, bool logprob) {
  const float* l = logits.data() + row * vocab;
  if (!logprob) return l[target];
  double m = l[0];
  for (int64_t j = 1; j < vocab; ++j) m = std::max(m, static_cast<double>(l[j]));
  double sum = 0.0;
  for (int64_t j = 0; j < vocab; ++j) sum += std::exp(static_cast<double>(l[j]) - m);
  return static_cast<double>(l[target]) - m - std::log(sum);
}

// Per position: sum over the row of f(a, g).
template <class F>
std::vector<double> per_position(std::span<const float> a, std::span<const float> g, int64_t rows, const F& f) {
  std::vector<double> out(static_cast<size_t>(rows), 0.0);
  if (rows == 0) return out;
  const auto w = static_cast<int64_t>(a.size()) / rows;
  for (int64_t r = 0; r < rows; ++r) {
    double s = 0.0;
    for (int64_t j = r * w; j < (r + 1) * w; ++j) s += f(static_cast<size_t>(j));
    out[static_cast<size_t>(r)] = s;
  }
  return out;
}

}  // namespace

std::string_view method_name(GradMethod m) {
  return kMethods[static_cast<size_t>(m)];
}

std::string_view integration_name(Integration i) {
  return kRules[static_cast<size_t>(i)];
}

GradMethod parse_method(const std::string& s, const std::string& flag) {
  for (size_t i = 0; i < kMethods.size(); ++i)
    if (s == kMethods[i]) return static_cast<GradMethod>(i);
  fail(flag, ": unknown method '", s, "' (ig, saliency, grad-x-input, attribution-patching)");
}

Integration parse_integration(const std::string& s, const std::string& flag) {
  for (size_t i = 0; i < kRules.size(); ++i)
    if (s == kRules[i]) return static_cast<Integration>(i);
  fail(flag, ": unknown rule '", s,
       "' (gauss-legendre-graded, gauss-legendre, riemann-trapezoid, riemann-middle, riemann-left, riemann-right)");
}

void integration_rule(Integration rule, int n, std::vector<double>& alpha, std::vector<double>& weight) {
  LOUPE_ASSERT(n >= 1, "integration rule of ", n, " points");
  alpha.assign(static_cast<size_t>(n), 0.0);
  weight.assign(static_cast<size_t>(n), 1.0 / n);
  const double dn = n;
  switch (rule) {
    case Integration::GaussLegendreGraded: graded_rule(n, std::pow(kGrade, -10.0), alpha, weight); return;
    case Integration::GaussLegendre:
      // Roots of the Legendre polynomial P_n by Newton's method from Tricomi's estimates, mapped
      // from [-1, 1] to [0, 1]; weights 2 / ((1 - x^2) P_n'(x)^2), halved.
      for (int i = 0; i < n; ++i) {
        double x = std::cos(std::numbers::pi * (i + 0.75) / (dn + 0.5));
        double dp = 1.0;
        for (int it = 0; it < 100; ++it) {
          double p0 = 1.0, p1 = x;
          for (int k = 2; k <= n; ++k) {
            const double p2 = ((2.0 * k - 1.0) * x * p1 - (k - 1.0) * p0) / k;
            p0 = p1;
            p1 = p2;
          }
          dp = dn * (x * p1 - p0) / (x * x - 1.0);
          const double dx = p1 / dp;
          x -= dx;
          if (std::fabs(dx) < 1e-16) break;
        }
        alpha[static_cast<size_t>(i)] = (1.0 - x) / 2.0;  // ascending in alpha
        weight[static_cast<size_t>(i)] = 1.0 / ((1.0 - x * x) * dp * dp);
      }
      return;
    case Integration::RiemannTrapezoid:
      if (n == 1) {
        alpha[0] = 0.5;
        return;
      }
      for (int i = 0; i < n; ++i) {
        alpha[static_cast<size_t>(i)] = i / (dn - 1.0);
        weight[static_cast<size_t>(i)] = (i == 0 || i == n - 1 ? 0.5 : 1.0) / (dn - 1.0);
      }
      return;
    case Integration::RiemannMiddle:
      for (int i = 0; i < n; ++i) alpha[static_cast<size_t>(i)] = (i + 0.5) / dn;
      return;
    case Integration::RiemannLeft:
      for (int i = 0; i < n; ++i) alpha[static_cast<size_t>(i)] = i / dn;
      return;
    case Integration::RiemannRight:
      for (int i = 0; i < n; ++i) alpha[static_cast<size_t>(i)] = (i + 1) / dn;
      return;
  }
}

void graded_rule(int n, double a0, std::vector<double>& alpha, std::vector<double>& weight) {
  LOUPE_ASSERT(n >= 1 && a0 > 0.0 && a0 < 1.0, "graded rule of ", n, " points from ", a0);
  alpha.clear();
  weight.clear();
  std::vector<double> a, w;
  auto panel = [&](double lo, double hi, int m) {
    integration_rule(Integration::GaussLegendre, m, a, w);
    for (int i = 0; i < m; ++i) {
      alpha.push_back(lo + (hi - lo) * a[static_cast<size_t>(i)]);
      weight.push_back((hi - lo) * w[static_cast<size_t>(i)]);
    }
  };
  if (n < 3) {
    integration_rule(Integration::GaussLegendre, n, alpha, weight);
    return;
  }
  const int first = n >= 6 ? 2 : 1;
  const int rest = n - first;
  const int panels =
      std::clamp(static_cast<int>(std::ceil(std::log(1.0 / a0) / std::log(kGrade) - 1e-9)), 1, std::max(1, rest / 4));
  panel(0.0, a0, first);
  const double ratio = std::pow(1.0 / a0, 1.0 / panels);
  double lo = a0;
  for (int k = 0; k < panels; ++k) {
    const double hi = k == panels - 1 ? 1.0 : lo * ratio;
    panel(lo, hi, rest / panels + (k >= panels - rest % panels ? 1 : 0));
    lo = hi;
  }
}

GradAttributionResult run_grad_attribution(const Model& model, const std::vector<int32_t>& tokens,
                                           const GradAttributionOptions& o) {
  const ModelConfig& c = model.config;
  const auto n = static_cast<int64_t>(tokens.size());
  if (n == 0) fail("attribute: no tokens");
  GradAttributionResult r;
  r.method = o.method;
  r.integration = o.integration;
  r.logprob = o.logprob;
  r.tokens = tokens;
  r.target = o.target;
  r.pos = o.pos < 0 ? n + o.pos : o.pos;
  if (r.pos < 0 || r.pos >= n) fail("--pos ", o.pos, " is outside the prompt's ", n, " tokens");
  if (o.target < 0 || o.target >= c.d_vocab) fail("--target ", o.target, " is outside the vocabulary of ", c.d_vocab);

  RunOptions run = o.run;
  run.max_batch = std::max<int64_t>(run.max_batch, n);
  Interpreter interp(model, run);
  if (n > interp.max_batch())
    fail("attribute: the prompt's ", n, " tokens exceed the context of ", interp.n_ctx(), " positions");
  const Program& prog = interp.program();
  Tape tape(interp, o.budget_mb << 20);
  const int embed = *prog.hooks.id(HookKind::Embed, -1);
  int hook = embed;
  if (!o.layer.empty()) {
    const auto id = prog.hooks.find(o.layer);
    if (!id) {
      const std::vector<int> ids = prog.hooks.resolve(o.layer);  // throws naming the pattern
      if (ids.size() != 1) fail("--layer '", o.layer, "' names ", ids.size(), " hooks; name one");
      hook = ids[0];
    } else {
      hook = *id;
    }
  }
  r.layer = prog.hooks[hook].name;
  if (o.method != GradMethod::AttributionPatching && !position_first(prog, hook))
    fail("--layer ", r.layer, " is not a [position, ...] tensor; attribute to a residual, attention or MLP hook");
  const bool all_logits = r.pos != n - 1 || (o.method != GradMethod::AttributionPatching && is_final(prog, hook));
  const int64_t row = all_logits ? r.pos : 0;
  auto seed = [&] { return o.logprob ? tape.seed_logprob(row, o.target) : tape.seed_logit(row, o.target); };
  auto value = [&] { return objective(tape.logits(), row, c.d_vocab, o.target, o.logprob); };
  const int64_t rows = all_logits || !is_final(prog, hook) ? n : 1;

  if (o.method == GradMethod::Saliency || o.method == GradMethod::GradXInput) {
    HookTap tap;
    Subscription sub = interp.subscribe(hook, &tap);
    tape.record(tokens, all_logits);
    r.target_value = value();
    tape.backward(seed());
    const std::span<const float> g = tape.hook_grad(hook);
    if (g.empty()) fail("no gradient reaches ", r.layer, " from the target");
    if (o.method == GradMethod::Saliency)
      r.attributions = per_position(g, g, rows, [&](size_t j) { return std::fabs(static_cast<double>(g[j])); });
    else
      r.attributions = per_position(g, g, rows, [&](size_t j) { return static_cast<double>(g[j]) * tap.seen[j]; });
    return r;
  }

  if (o.method == GradMethod::IntegratedGradients) {
    if (o.steps < 1) fail("--steps must be at least 1");
    r.steps = o.steps;
    // The baseline's embeddings: zero, or the tokens' rows of W_E as the pass computes them.
    std::vector<int32_t> base_tokens = tokens;
    bool zero = false;
    if (o.baseline == "zero") {
      zero = true;
      r.baseline = "zero";
    } else if (o.baseline == "pad" || o.baseline == "bos" || o.baseline == "auto") {
      const std::string which = o.baseline == "auto" ? (c.pad_id >= 0 ? "pad" : "bos") : o.baseline;
      const int32_t id = which == "pad" ? c.pad_id : c.bos_id;
      if (id < 0) fail("--baseline ", which, ": the model names no ", which, " token");
      std::fill(base_tokens.begin(), base_tokens.end(), id);
      r.baseline = which;
    } else if (o.baseline == "tokens") {
      if (static_cast<int64_t>(o.baseline_tokens.size()) != n)
        fail("--baseline: the baseline prompt has ", o.baseline_tokens.size(), " tokens; the prompt has ", n,
             " (they must match)");
      base_tokens = o.baseline_tokens;
      r.baseline = "prompt";
    } else {
      fail("--baseline: unknown baseline '", o.baseline, "' (auto, zero, pad, bos or a prompt)");
    }
    // The layer's activation at the input and at the baseline, and the experts the input's
    // tokens are routed to: they stay chosen along the path (routing is piecewise constant, a
    // jump the gradient does not see; frozen, the path's function is continuous).
    HookTap at;
    std::vector<float> input, base;
    std::vector<int> routes;
    for (int h = 0; h < prog.hooks.size(); ++h)
      if (prog.hooks[h].kind == HookKind::ExpertIds) routes.push_back(h);
    std::vector<HookTap> route_taps(routes.size());
    {
      std::vector<Subscription> subs;
      for (size_t i = 0; i < routes.size(); ++i) subs.push_back(interp.subscribe(routes[i], &route_taps[i]));
      subs.push_back(interp.subscribe(hook, &at));
      tape.record(tokens, all_logits);
      r.target_value = value();
      input = at.seen;
    }
    {
      HookTap zero_embed;
      zero_embed.zero = zero;
      Subscription z = interp.subscribe(embed, &zero_embed);
      Subscription sub = interp.subscribe(hook, &at);
      tape.record(base_tokens, all_logits);
      base = at.seen;
    }
    std::vector<HookTap> frozen(routes.size());
    std::vector<Subscription> frozen_subs;
    for (size_t i = 0; i < routes.size(); ++i) {
      frozen[i].replace = &route_taps[i].seen;
      frozen_subs.push_back(interp.subscribe(routes[i], &frozen[i]));
    }
    r.frozen_routes = !routes.empty();
    std::vector<double> avg(input.size(), 0.0);
    HookTap interp_tap;
    interp_tap.base = &base;
    interp_tap.target = &input;
    // The interpolation replaces the hook's tensor; at the embeddings, a zero baseline needs no
    // other change (the tokens only choose rows that are then overwritten).
    Subscription sub = interp.subscribe(hook, &interp_tap);
    // The baseline value is the path's start: the hook's baseline activation with everything
    // else from the input (for the embeddings and the residual stream, the baseline's own value;
    // for a hook that is not a cut of the graph, what integrated gradients completes to).
    interp_tap.alpha = 0.0;
    tape.record(tokens, all_logits);
    r.baseline_value = value();
    // f along the path (a forward pass) and one gradient point (forward and backward): its
    // gradient times the rule's weight into acc, its dF/dalpha returned.
    auto f_at = [&](double a) {
      interp_tap.alpha = a;
      tape.record(tokens, all_logits);
      return value();
    };
    auto grad_at = [&](double a, double w, std::vector<double>& acc) {
      interp_tap.alpha = a;
      tape.record(tokens, all_logits);
      tape.backward(seed());
      const std::span<const float> g = tape.hook_grad(hook);
      if (g.empty()) fail("no gradient reaches ", r.layer, " from the target");
      double dfda = 0.0;
      for (size_t j = 0; j < acc.size(); ++j) {
        acc[j] += w * g[j];
        dfda += (static_cast<double>(input[j]) - base[j]) * g[j];
      }
      return dfda;
    };
    if (o.integration == Integration::GaussLegendreGraded) {
      // The largest 8^-k below which the objective stays within 1e-4 of the change from its
      // baseline value (two points in a row), by forward passes along the path.
      const double tol = 1e-4 * std::max(std::fabs(r.target_value - r.baseline_value), 1e-12);
      int k = 1, close = 0;
      for (; k <= 40 && close < 2; ++k)
        close = std::fabs(f_at(std::pow(kGrade, -k)) - r.baseline_value) <= tol ? close + 1 : 0;
      r.graded_from = std::pow(kGrade, -(close == 2 ? k - 2 : k - 1));
      // Panels of the graded rule get half the points; the rest refine, two halves at a time,
      // the panel whose points miss f(hi) - f(lo) the most (each panel's own completeness,
      // known from forward passes at its ends).
      struct Panel {
        double lo, hi, flo, fhi;
        int m;
        std::vector<double> acc;
        double err = 0;
      };
      std::vector<double> a, w;
      graded_rule(std::max(1, o.steps / 2), r.graded_from, a, w);
      // The graded rule's panels, recovered from its points: GL points of one panel share it.
      std::vector<double> cuts = {0.0, r.graded_from};
      const int first = o.steps / 2 >= 6 ? 2 : 1;
      const int rest = std::max(1, o.steps / 2) - first;
      const int n_panels =
          std::clamp(static_cast<int>(std::ceil(std::log(1.0 / r.graded_from) / std::log(kGrade) - 1e-9)), 1,
                     std::max(1, rest / 4));
      const double ratio = std::pow(1.0 / r.graded_from, 1.0 / n_panels);
      for (int p = 1; p < n_panels; ++p) cuts.push_back(cuts.back() * ratio);
      cuts.push_back(1.0);
      std::vector<Panel> panels;
      int used = 0;
      auto fill = [&](Panel& pn) {
        integration_rule(Integration::GaussLegendre, pn.m, a, w);
        pn.acc.assign(avg.size(), 0.0);
        double sum = 0.0;
        for (int i = 0; i < pn.m; ++i) {
          const double wi = (pn.hi - pn.lo) * w[static_cast<size_t>(i)];
          sum += wi * grad_at(pn.lo + (pn.hi - pn.lo) * a[static_cast<size_t>(i)], wi, pn.acc);
        }
        used += pn.m;
        pn.err = sum - (pn.fhi - pn.flo);
      };
      const int per = std::max(1, (o.steps / 2) / static_cast<int>(cuts.size() - 1));
      double fprev = r.baseline_value;
      for (size_t p = 0; p + 1 < cuts.size(); ++p) {
        const double fhi = p + 2 == cuts.size() ? r.target_value : f_at(cuts[p + 1]);
        panels.push_back({cuts[p], cuts[p + 1], fprev, fhi, p == 0 ? std::min(per, 2) : per, {}, 0.0});
        fill(panels.back());
        fprev = fhi;
      }
      constexpr int kSplit = 4;  // points of each half of a split panel
      while (o.steps - used >= 2 * kSplit) {
        size_t worst = 0;
        for (size_t p = 1; p < panels.size(); ++p)
          if (std::fabs(panels[p].err) > std::fabs(panels[worst].err)) worst = p;
        const Panel old = panels[worst];
        const double mid = 0.5 * (old.lo + old.hi);
        const double fmid = f_at(mid);
        panels[worst] = {old.lo, mid, old.flo, fmid, kSplit, {}, 0.0};
        fill(panels[worst]);
        panels.insert(panels.begin() + static_cast<ptrdiff_t>(worst) + 1,
                      Panel{mid, old.hi, fmid, old.fhi, kSplit, {}, 0.0});
        fill(panels[worst + 1]);
      }
      r.points = 0;
      for (const Panel& pn : panels) {
        r.points += pn.m;
        for (size_t j = 0; j < avg.size(); ++j) avg[j] += pn.acc[j];
      }
      r.gradient_passes = used;
    } else {
      std::vector<double> alpha, weight;
      integration_rule(o.integration, o.steps, alpha, weight);
      for (size_t s = 0; s < alpha.size(); ++s) grad_at(alpha[s], weight[s], avg);
      r.points = r.gradient_passes = o.steps;
    }
    r.attributions =
        per_position(input, input, rows, [&](size_t j) { return (static_cast<double>(input[j]) - base[j]) * avg[j]; });
    double sum = 0.0;
    for (double a : r.attributions) sum += a;
    r.delta = sum - (r.target_value - r.baseline_value);
    return r;
  }

  // Attribution patching: clean and corrupted activations of every [position, ...] hook, the
  // clean gradient, and their products per position.
  if (static_cast<int64_t>(o.corrupted.size()) != n)
    fail("--corrupted: the corrupted prompt has ", o.corrupted.size(), " tokens; the clean prompt has ", n,
         " (they must match)");
  r.corrupted = o.corrupted;
  std::vector<int> hooks;
  for (int h = 0; h < prog.hooks.size(); ++h)
    if (position_first(prog, h) && !is_final(prog, h)) hooks.push_back(h);
  std::vector<HookTap> clean(hooks.size()), corrupt(hooks.size());
  {
    std::vector<Subscription> subs;
    for (size_t i = 0; i < hooks.size(); ++i) subs.push_back(interp.subscribe(hooks[i], &corrupt[i]));
    tape.record(o.corrupted, all_logits);
    r.baseline_value = value();
  }
  {
    std::vector<Subscription> subs;
    for (size_t i = 0; i < hooks.size(); ++i) subs.push_back(interp.subscribe(hooks[i], &clean[i]));
    tape.record(tokens, all_logits);
    r.target_value = value();
  }
  tape.backward(seed());
  for (size_t i = 0; i < hooks.size(); ++i) {
    const std::span<const float> g = tape.hook_grad(hooks[i]);
    if (g.empty()) continue;
    const std::vector<float>& a = clean[i].seen;
    const std::vector<float>& b = corrupt[i].seen;
    HookPatches hp;
    hp.hook = prog.hooks[hooks[i]].name;
    hp.estimate = per_position(a, a, n, [&](size_t j) { return (static_cast<double>(b[j]) - a[j]) * g[j]; });
    r.patches.push_back(std::move(hp));
  }
  // Real patching of the largest estimates.
  struct Cand {
    size_t patch;
    int64_t pos;
    double est;
  };
  std::vector<Cand> cands;
  for (size_t i = 0; i < r.patches.size(); ++i)
    for (int64_t p = 0; p < n; ++p) cands.push_back({i, p, r.patches[i].estimate[static_cast<size_t>(p)]});
  const auto k = std::min<size_t>(static_cast<size_t>(std::max(0, o.verify)), cands.size());
  std::partial_sort(cands.begin(), cands.begin() + static_cast<ptrdiff_t>(k), cands.end(),
                    [](const Cand& a, const Cand& b) { return std::fabs(a.est) > std::fabs(b.est); });
  std::vector<std::pair<size_t, int64_t>> points;  // (patch index, position)
  for (size_t t = 0; t < k; ++t) points.emplace_back(cands[t].patch, cands[t].pos);
  for (const auto& [name, p] : o.check_at) {
    size_t i = 0;
    while (i < r.patches.size() && r.patches[i].hook != name) ++i;
    if (i == r.patches.size())
      fail("--verify-at ", name,
           ": not a hook attribution patching estimates (a [position, ...] hook the target's "
           "gradient reaches)");
    if (p < 0 || p >= n) fail("--verify-at ", name, ":", p, ": position outside the prompt's ", n, " tokens");
    points.emplace_back(i, p);
  }
  for (const auto& [pi, pos] : points) {
    const int h = *prog.hooks.find(r.patches[pi].hook);
    size_t idx = 0;
    while (hooks[idx] != h) ++idx;
    HookTap patch;
    patch.patch = &corrupt[idx].seen;
    patch.patch_row = pos;
    patch.row_width = static_cast<int64_t>(corrupt[idx].seen.size()) / n;
    Subscription sub = interp.subscribe(h, &patch);
    tape.record(tokens, all_logits);
    r.checks.push_back(
        {r.patches[pi].hook, pos, r.patches[pi].estimate[static_cast<size_t>(pos)], value() - r.target_value});
  }
  return r;
}

nlohmann::ordered_json to_json(const GradAttributionResult& r, const Model& model) {
  nlohmann::ordered_json j;
  j["method"] = method_name(r.method);
  j["objective"] = r.logprob ? "logprob" : "logit";
  j["target"] = r.target;
  j["target_text"] = token_text(model, r.target);
  j["pos"] = r.pos;
  j["layer"] = r.layer;
  j["tokens"] = r.tokens;
  j["target_value"] = r.target_value;
  if (r.method == GradMethod::IntegratedGradients) {
    j["integration"] = integration_name(r.integration);
    j["steps"] = r.steps;
    j["points"] = r.points;
    j["gradient_passes"] = r.gradient_passes;
    if (r.integration == Integration::GaussLegendreGraded) j["graded_from"] = r.graded_from;
    if (r.frozen_routes) j["routing"] = "the input's experts, kept along the path";
    j["baseline"] = r.baseline;
    j["baseline_value"] = r.baseline_value;
    j["delta"] = r.delta;
  }
  if (r.method == GradMethod::AttributionPatching) {
    j["corrupted"] = r.corrupted;
    j["corrupted_value"] = r.baseline_value;
    auto hooks = nlohmann::ordered_json::array();
    for (const auto& h : r.patches) hooks.push_back({{"hook", h.hook}, {"estimate", h.estimate}});
    j["hooks"] = hooks;
    auto checks = nlohmann::ordered_json::array();
    for (const auto& ck : r.checks)
      checks.push_back({{"hook", ck.hook}, {"pos", ck.pos}, {"estimate", ck.estimate}, {"actual", ck.actual}});
    j["checks"] = checks;
    return j;
  }
  auto texts = nlohmann::ordered_json::array();
  for (int32_t t : r.tokens) texts.push_back(token_text(model, t));
  j["token_texts"] = texts;
  j["attributions"] = r.attributions;  // one per input token
  return j;
}

}  // namespace loupe::analysis
