// loupe attribute MODEL -p PROMPT --target TOKEN: direct logit attribution per layer and head,
// and input-token occlusion.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "analysis/attribute.h"
#include "analysis/text.h"
#include "commands.h"
#include "core/error.h"
#include "engine/run.h"
#include "options.h"
#include "report/charts.h"
#include "tokenizer/tokenizer.h"

namespace loupe::cli {

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
  mf->add(cmd);
  pf->add(cmd, true);
  cmd->add_option("--target", *target, "the token explained (text of one token, or its id)")->required();
  cmd->add_option("--pos", *pos, "position whose prediction is explained (default -1, the last)");
  cmd->add_flag("--json", *json, "print JSON");
  cmd->add_option("--svg", *svg, "write a bar chart of the per-layer parts and a layer x head heatmap");
  cmd->add_flag("--no-occlusion", *no_occlusion, "skip the input-token occlusion runs");
  cmd->callback([=, &action] {
    action = [=] {
      auto model = mf->load();
      std::vector<int32_t> tokens = pf->resolve(*model, effective_context(model->config, mf->run_options().n_ctx));
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
