// Gradient attribution over the backward pass (engine/backward.h): why the model gives a target
// token the logit (or log-probability) it does at one position, per input token.
//  - Integrated gradients (Sundararajan et al.; Captum's LayerIntegratedGradients): the hook's
//    activation a moves from its baseline a' to a along a' + alpha (a - a'); the gradient of the
//    target is integrated over alpha (Gauss-Legendre or a Riemann rule, `steps` points) and
//    multiplied by a - a'; per position the products are summed over the other dimensions.
//    Completeness: the attributions sum to f(a) - f(a') up to the rule's error (`delta`), f(a')
//    being the path's start: the hook's baseline activation, the rest of the pass from the input
//    (for the embeddings and the residual stream: the baseline's own value). A mixture of
//    experts keeps the input's experts along the path (routing is a jump the gradient does not
//    see).
//  - Saliency: sum over d of |df/da| per position. Gradient x input: sum of a df/da.
//  - Attribution patching (Nanda): for every hook and position, the first-order estimate of the
//    change of the target when that position's activation is patched from a corrupted prompt
//    into the clean run, (a_corrupted - a_clean) . df/da at the clean run; a few of the largest
//    are checked by real patching.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/interpreter.h"

namespace loupe::analysis {

enum class GradMethod : uint8_t { IntegratedGradients, Saliency, GradXInput, AttributionPatching };
// GaussLegendreGraded: composite Gauss-Legendre on panels [0, a0], then geometrically graded
// panels from a0 to 1 (graded_rule), where a0 = 8^-k is the largest such point at which the
// objective is still within 1e-4 of the total change from its baseline value (found by forward
// passes); half the steps go to these panels, the other half refine (halve, 4 points a side)
// the panel whose points miss its own f(hi) - f(lo) most (forward passes at panel ends). Steps
// count backward passes: a split panel's old points are spent. The same integral with its points where the path's
// function changes: a zero baseline puts an RMSNorm model at a point where every layer amplifies tiny inputs (norms
// divide by sqrt(mean x^2 + eps)), so the objective swings at every scale of alpha down to
// ~1e-20 before it reaches its baseline value, which a uniform rule never resolves.
enum class Integration : uint8_t {
  GaussLegendre,
  RiemannTrapezoid,
  RiemannMiddle,
  RiemannLeft,
  RiemannRight,
  GaussLegendreGraded,
};

std::string_view method_name(GradMethod m);
std::string_view integration_name(Integration i);
// Parse the CLI names ("ig", "saliency", "grad-x-input", "attribution-patching"; "gauss-legendre",
// "riemann-trapezoid", ...); throw Error naming the flag.
GradMethod parse_method(const std::string& s, const std::string& flag);
Integration parse_integration(const std::string& s, const std::string& flag);

// Points alpha in [0, 1] and weights (summing to 1) of an integration rule of n points
// (GaussLegendreGraded: graded_rule with a0 = 8^-10).
void integration_rule(Integration rule, int n, std::vector<double>& alpha, std::vector<double>& weight);
// Composite Gauss-Legendre: [0, a0] with 2 points, then P panels of equal ratio from a0 to 1
// (P = log8(1 / a0) rounded up, at most (n - 2) / 4, at least 1) sharing the other points.
void graded_rule(int n, double a0, std::vector<double>& alpha, std::vector<double>& weight);

struct GradAttributionOptions {
  RunOptions run;
  GradMethod method = GradMethod::IntegratedGradients;
  int32_t target = 0;
  int64_t pos = -1;      // -1: the last position
  bool logprob = false;  // explain the log-probability instead of the logit
  std::string layer;     // hook name; empty: the token embeddings (hook_embed)
  int steps = 50;
  Integration integration = Integration::GaussLegendreGraded;
  // The baseline of integrated gradients: "zero" (zero embeddings, Captum's default), "pad" or
  // "bos" (that token at every position), "auto" (pad where the model names one, else bos), or
  // "tokens" (baseline_tokens, as many as the prompt's).
  std::string baseline = "auto";
  std::vector<int32_t> baseline_tokens;
  std::vector<int32_t> corrupted;                         // attribution patching: the corrupted prompt
  int verify = 3;                                         // attribution patching: estimates checked by real patching
  std::vector<std::pair<std::string, int64_t>> check_at;  // and these (hook, position) as well
  int64_t budget_mb = 4096;                               // what the backward pass may keep
};

struct PatchCheck {
  std::string hook;
  int64_t pos = 0;
  double estimate = 0;
  double actual = 0;  // target change with the real patch
};

struct HookPatches {
  std::string hook;
  std::vector<double> estimate;  // per position
};

struct GradAttributionResult {
  GradMethod method = GradMethod::IntegratedGradients;
  Integration integration = Integration::GaussLegendreGraded;
  int steps = 0;
  std::string layer;  // the hook attributed to
  std::string baseline;
  bool logprob = false;
  std::vector<int32_t> tokens;
  int32_t target = 0;
  int64_t pos = 0;
  double target_value = 0;           // f at the input
  double baseline_value = 0;         // f at the baseline (ig) / the corrupted prompt (patching)
  double delta = 0;                  // ig: sum(attributions) - (target_value - baseline_value)
  double graded_from = 0;            // ig, gauss-legendre-graded: a0 of the rule
  int points = 0;                    // ig: points of the final rule
  int gradient_passes = 0;           // ig: backward passes run (at most steps)
  bool frozen_routes = false;        // ig on a mixture of experts: the input's experts along the path
  std::vector<double> attributions;  // per input position (ig, saliency, grad-x-input)
  // attribution patching
  std::vector<int32_t> corrupted;
  std::vector<HookPatches> patches;
  std::vector<PatchCheck> checks;
};

GradAttributionResult run_grad_attribution(const Model& model, const std::vector<int32_t>& tokens,
                                           const GradAttributionOptions& options);

nlohmann::ordered_json to_json(const GradAttributionResult& r, const Model& model);

}  // namespace loupe::analysis
