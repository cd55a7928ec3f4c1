// loupe attribute MODEL -p PROMPT --target TOKEN: direct logit attribution per layer and head,
// and input-token occlusion (--method dla, the default); gradient attribution over the backward
// pass: integrated gradients, saliency, gradient x input, attribution patching.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "analysis/attribute.h"
#include "analysis/gradients.h"
#include "analysis/text.h"
#include "commands.h"
#include "core/error.h"
#include "engine/driver.h"
#include "engine/run.h"
#include "options.h"
#include "report/charts.h"
#include "report/html.h"
#include "tokenizer/tokenizer.h"

namespace loupe::cli {
namespace {

struct GradFlags {
  std::string method = "dla";
  bool logprob = false;
  std::string layer;
  int steps = 50;
  std::string integration = "gauss-legendre-graded";
  std::string baseline = "auto";
  std::string corrupted;
  int verify = 3;
  std::vector<std::string> verify_at;
  int64_t grad_mb = 4096;
  std::string html;
};

// A second prompt (baseline, corrupted) tokenized as the first was: with BOS when it has one;
// "tokens:1,2,3" gives the ids themselves.
std::vector<int32_t> other_prompt(const Model& model, const std::vector<int32_t>& prompt, const std::string& text,
                                  const std::string& flag) {
  if (text.starts_with("tokens:")) return parse_token_list(text.substr(7), model.config.d_vocab);
  if (!model.tokenizer) fail(flag, ": the model has no tokenizer to encode '", text, "'");
  const bool bos = !prompt.empty() && prompt[0] == model.config.bos_id;
  return model.tokenizer->encode(text, bos);
}

void print_gradient(const analysis::GradAttributionResult& r, const Model& model, const GradFlags& g) {
  auto text = [&model](int32_t id) { return analysis::token_text(model, id, analysis::TextForm::Escaped); };
  const char* what = r.logprob ? "log-probability" : "logit";
  std::printf("%s of the %s of '%s' (%d) at position %lld, attributed to %s\n",
              std::string(method_name(r.method)).c_str(), what, text(r.target).c_str(), r.target,
              static_cast<long long>(r.pos), r.layer.c_str());
  if (r.method == analysis::GradMethod::AttributionPatching) {
    std::printf("clean %.4f, corrupted %.4f (change %+.4f)\n\n", r.target_value, r.baseline_value,
                r.baseline_value - r.target_value);
    struct Row {
      const std::string* hook;
      size_t pos;
      double est;
    };
    std::vector<Row> rows;
    for (const auto& h : r.patches)
      for (size_t p = 0; p < h.estimate.size(); ++p) rows.push_back({&h.hook, p, h.estimate[p]});
    std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return std::fabs(a.est) > std::fabs(b.est); });
    std::printf("largest estimated effects of patching one position from the corrupted run:\n");
    std::printf("  %-34s %5s %-14s %10s\n", "hook", "pos", "token", "estimate");
    for (size_t i = 0; i < std::min<size_t>(20, rows.size()); ++i)
      std::printf("  %-34s %5zu %-14s %+10.4f\n", rows[i].hook->c_str(), rows[i].pos,
                  text(r.tokens[rows[i].pos]).c_str(), rows[i].est);
    if (!r.checks.empty()) {
      std::printf("\nchecked by real patching:\n");
      for (const auto& c : r.checks)
        std::printf("  %-34s %5lld estimate %+10.4f actual %+10.4f\n", c.hook.c_str(), static_cast<long long>(c.pos),
                    c.estimate, c.actual);
    }
    return;
  }
  if (r.method == analysis::GradMethod::IntegratedGradients) {
    double sum = 0;
    for (double a : r.attributions) sum += a;
    std::printf("%s %.4f at the input, %.4f at the %s baseline; attributions sum to %.4f, delta %.3g (%d steps, %s)\n",
                what, r.target_value, r.baseline_value, r.baseline.c_str(), sum, r.delta, r.steps,
                std::string(integration_name(r.integration)).c_str());
    if (std::fabs(r.delta) > 0.01 * std::fabs(r.target_value - r.baseline_value))
      std::fprintf(stderr,
                   "warning: |delta| is %.1f%% of the change: the rule has not converged (more --steps, or a baseline "
                   "other than zero for an RMSNorm model)\n",
                   100.0 * std::fabs(r.delta) / std::max(1e-300, std::fabs(r.target_value - r.baseline_value)));
  } else {
    std::printf("%s %.4f\n", what, r.target_value);
  }
  double absmax = 0;
  for (double a : r.attributions) absmax = std::max(absmax, std::fabs(a));
  std::printf("\n  %4s %-16s %11s\n", "pos", "token", "attribution");
  for (size_t i = 0; i < r.attributions.size(); ++i) {
    const double a = r.attributions[i];
    const int bar = absmax > 0 ? static_cast<int>(std::lround(20.0 * std::fabs(a) / absmax)) : 0;
    std::printf("  %4zu %-16s %+11.4f %s%s\n", i, text(r.tokens[i]).c_str(), a, a < 0 ? "-" : "+",
                std::string(static_cast<size_t>(bar), '#').c_str());
  }
  (void)g;
}

void write_gradient_pictures(const analysis::GradAttributionResult& r, const Model& model, const GradFlags& g,
                             const std::string& svg) {
  if (svg.empty() && g.html.empty()) return;
  report::TokenStrip strip;
  strip.frame.title = std::string(method_name(r.method)) + ": '" +
                      analysis::token_text(model, r.target, analysis::TextForm::Visible) + "' at position " +
                      std::to_string(r.pos);
  strip.frame.width = 800;
  for (int32_t t : r.tokens) strip.tokens.push_back(analysis::token_text(model, t, analysis::TextForm::Visible));
  if (r.method == analysis::GradMethod::AttributionPatching) {
    // Per position: the largest estimate over the residual stream hooks.
    strip.values.assign(r.tokens.size(), 0.0);
    for (const auto& h : r.patches)
      for (size_t p = 0; p < h.estimate.size(); ++p)
        if (std::fabs(h.estimate[p]) > std::fabs(strip.values[p])) strip.values[p] = h.estimate[p];
    strip.value_label = "largest patching estimate";
  } else {
    strip.values = r.attributions;
    strip.scale =
        r.method == analysis::GradMethod::Saliency ? report::ColourScale::Viridis : report::ColourScale::Diverging;
    strip.value_label = "attribution";
  }
  const report::SvgDocument doc = report::token_strip(strip);
  if (!svg.empty()) doc.save(svg);
  if (!g.html.empty()) {
    report::HtmlReport page("loupe attribute: " + strip.frame.title);
    page.key_values({{"method", std::string(method_name(r.method))},
                     {"objective", r.logprob ? "log-probability" : "logit"},
                     {"layer", r.layer},
                     {"target value", std::to_string(r.target_value)}});
    page.figure(doc);
    std::vector<std::vector<std::string>> rows;
    for (size_t i = 0; i < strip.values.size(); ++i)
      rows.push_back({std::to_string(i), strip.tokens[i], std::to_string(strip.values[i])});
    page.table({"pos", "token", strip.value_label}, rows);
    page.save(g.html);
  }
}

}  // namespace

void add_attribute(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("attribute",
                                 "direct logit attribution of a target token to layers and heads, and "
                                 "input-token occlusion");
  auto mf = std::make_shared<ModelFlags>();
  auto pf = std::make_shared<PromptFlags>();
  auto target = std::make_shared<std::string>();
  auto pos = std::make_shared<int64_t>(-1);
  auto json = std::make_shared<bool>(false);
  auto svg = std::make_shared<std::string>();
  auto no_occlusion = std::make_shared<bool>(false);
  auto gf = std::make_shared<GradFlags>();
  mf->add(cmd);
  pf->add(cmd, true);
  cmd->add_option("--target", *target, "the token explained (text of one token, or its id)")->required();
  cmd->add_option("--pos", *pos, "position whose prediction is explained (default -1, the last)");
  cmd->add_flag("--json", *json, "print JSON");
  cmd->add_option("--svg", *svg, "write a bar chart of the per-layer parts and a layer x head heatmap");
  cmd->add_flag("--no-occlusion", *no_occlusion, "skip the input-token occlusion runs");
  cmd->add_option("--method", gf->method,
                  "dla (direct logit attribution and occlusion, the default), ig (integrated gradients), saliency, "
                  "grad-x-input, attribution-patching");
  cmd->add_flag("--logprob", gf->logprob, "explain the target's log-probability instead of its logit");
  cmd->add_option("--layer", gf->layer,
                  "the hook attributed to (ig, saliency, grad-x-input; as LayerIntegratedGradients); default the "
                  "token embeddings, hook_embed");
  cmd->add_option("--steps", gf->steps, "ig: points of the integration rule (default 50)");
  cmd->add_option("--integration", gf->integration,
                  "ig: gauss-legendre-graded (default: composite Gauss-Legendre on panels graded by 8 towards the "
                  "baseline), gauss-legendre, riemann-trapezoid, riemann-middle, riemann-left, riemann-right");
  cmd->add_option("--baseline", gf->baseline,
                  "ig: auto (default: pad where the model names one, else bos, at every position), zero (zero "
                  "embeddings; a degenerate point of bias-free RMSNorm models, see docs/gradients.md), pad, bos, or a "
                  "prompt of as many tokens as the input (text, or tokens:1,2,3)");
  cmd->add_option("--corrupted", gf->corrupted,
                  "attribution-patching: the corrupted prompt, as many tokens (text, or tokens:1,2,3)");
  cmd->add_option("--verify", gf->verify, "attribution-patching: check the N largest estimates by real patching (3)");
  cmd->add_option("--verify-at", gf->verify_at,
                  "attribution-patching: also check HOOK:POS by real patching (repeatable)");
  cmd->add_option("--grad-mb", gf->grad_mb, "memory the backward pass may keep, MiB (default 4096)");
  cmd->add_option("--html", gf->html, "gradient methods: write an HTML page with the token heat strip");
  cmd->callback([=, &action] {
    action = [=] {
      auto model = mf->load();
      std::vector<int32_t> tokens = pf->resolve(*model, effective_context(model->config, mf->run_options().n_ctx));
      if (gf->method != "dla") {
        analysis::GradAttributionOptions g;
        g.run = mf->run_options();
        g.method = analysis::parse_method(gf->method, "--method");
        g.target = analysis::parse_token(*model, *target, "--target");
        g.pos = *pos;
        g.logprob = gf->logprob;
        g.layer = gf->layer;
        g.steps = gf->steps;
        g.integration = analysis::parse_integration(gf->integration, "--integration");
        if (gf->baseline == "auto" || gf->baseline == "zero" || gf->baseline == "pad" || gf->baseline == "bos") {
          g.baseline = gf->baseline;
        } else {
          g.baseline = "tokens";
          g.baseline_tokens = other_prompt(*model, tokens, gf->baseline, "--baseline");
        }
        if (g.method == analysis::GradMethod::AttributionPatching) {
          if (gf->corrupted.empty()) fail("--method attribution-patching needs --corrupted PROMPT");
          g.corrupted = other_prompt(*model, tokens, gf->corrupted, "--corrupted");
        }
        g.verify = gf->verify;
        for (const std::string& at : gf->verify_at) {
          const size_t colon = at.rfind(':');
          if (colon == std::string::npos || colon + 1 == at.size()) fail("--verify-at '", at, "': expected HOOK:POS");
          const std::string p = at.substr(colon + 1);
          if (p.find_first_not_of("0123456789") != std::string::npos || p.size() > 9)
            fail("--verify-at '", at, "': position '", p, "' is not a number");
          g.check_at.emplace_back(at.substr(0, colon), std::stoll(p));
        }
        if (gf->grad_mb <= 0) fail("--grad-mb must be positive");
        g.budget_mb = gf->grad_mb;
        const analysis::GradAttributionResult r = analysis::run_grad_attribution(*model, tokens, g);
        write_gradient_pictures(r, *model, *gf, *svg);
        if (*json) {
          std::printf(
              "%s\n",
              analysis::to_json(r, *model).dump(1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
          return;
        }
        print_gradient(r, *model, *gf);
        return;
      }
      analysis::AttributionOptions o;
      o.run = mf->run_options();
      o.target = analysis::parse_token(*model, *target, "--target");
      o.pos = *pos;
      o.occlusion = !*no_occlusion;
      analysis::AttributionResult r = analysis::run_attribution(*model, tokens, o);
      const Tokenizer* tok = model->tokenizer.get();
      auto text = [&model](int32_t id) { return analysis::token_text(*model, id, analysis::TextForm::Visible); };
      if (!svg->empty()) {
        report::BarChart bars;
        bars.frame.title = "direct logit attribution of '" + text(r.target) + "' at position " + std::to_string(r.pos);
        bars.value_label = "contribution to the logit";
        for (const auto& p : r.parts) bars.bars.push_back({p.name, p.logit});
        report::Heatmap h;
        h.frame.title = "per head";
        const auto& c = model->config;
        for (int l = 0; l < c.n_layers; ++l) h.row_labels.push_back("layer " + std::to_string(l));
        for (int hd = 0; hd < c.n_heads; ++hd) h.col_labels.push_back("head " + std::to_string(hd));
        for (const auto& hp : r.heads) h.values.push_back(hp.logit);
        h.scale = report::ColourScale::Diverging;
        h.value_label = "logit";
        h.annotate = c.n_heads <= 16;
        const report::SvgDocument b = report::bar_chart(bars);
        const report::SvgDocument m = report::heatmap(h);
        report::SvgDocument doc(std::max(b.width(), m.width()), b.height() + m.height());
        doc.set_title(bars.frame.title);
        doc.embed(0, 0, b);
        doc.embed(0, b.height(), m);
        doc.save(*svg);
      }
      if (*json) {
        std::printf("%s\n",
                    analysis::to_json(r, *model).dump(1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
        return;
      }
      std::printf(
          "target '%s' (%d) at position %lld after \"%s\"\nlogit %.4f, log-probability %.4f; the parts below "
          "sum to %.4f\n\n",
          text(r.target).c_str(), r.target, static_cast<long long>(r.pos),
          tok != nullptr ? analysis::context_before(*tok, r.tokens, r.pos + 1, 16, analysis::TextForm::Escaped).c_str()
                         : "",
          r.logit, r.logprob, r.parts_sum);
      std::printf("%-22s %10s\n", "part", "logit");
      for (const auto& p : r.parts) std::printf("%-22s %10.4f\n", p.name.c_str(), p.logit);
      std::vector<analysis::HeadPart> heads = r.heads;
      std::sort(heads.begin(), heads.end(),
                [](const auto& a, const auto& b) { return std::fabs(a.logit) > std::fabs(b.logit); });
      std::printf("\nheads by |contribution|:\n");
      for (size_t i = 0; i < std::min<size_t>(10, heads.size()); ++i)
        std::printf("  L%d H%-3d %10.4f\n", heads[i].layer, heads[i].head, heads[i].logit);
      if (!r.occlusion.empty()) {
        std::printf("\nocclusion (token embedding zeroed): change of the target's logit and log-probability\n");
        for (const auto& oc : r.occlusion)
          std::printf("  %4lld %-14s %+9.4f %+9.4f\n", static_cast<long long>(oc.pos), text(oc.token).c_str(),
                      oc.delta_logit, oc.delta_logprob);
      }
    };
  });
}

}  // namespace loupe::cli
