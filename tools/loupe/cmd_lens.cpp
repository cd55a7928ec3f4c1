// loupe lens MODEL -p PROMPT [--target TOKEN]: the logit lens at every residual hook.
#include <cstdio>

#include "analysis/logit_lens.h"
#include "analysis/text.h"
#include "analysis_flags.h"
#include "commands.h"
#include "core/error.h"
#include "engine/run.h"
#include "options.h"
#include "report/charts.h"
#include "tokenizer/tokenizer.h"

namespace loupe::cli {

namespace {

// At most width bytes of UTF-8 text, cut at a character boundary, padded with spaces.
std::string cell_text(const std::string& s, size_t width) {
  size_t end = 0, chars = 0;
  while (end < s.size() && chars < width) {
    size_t len = 1;
    const auto c = static_cast<unsigned char>(s[end]);
    if (c >= 0xF0)
      len = 4;
    else if (c >= 0xE0)
      len = 3;
    else if (c >= 0xC0)
      len = 2;
    end += len;
    ++chars;
  }
  std::string out = s.substr(0, std::min(end, s.size()));
  out.append(width - chars, ' ');
  return out;
}

}  // namespace

void add_lens(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("lens", "logit lens: what every layer would predict at every position");
  auto mf = std::make_shared<ModelFlags>();
  auto pf = std::make_shared<PromptFlags>();
  auto lf = std::make_shared<LensFlags>();
  auto json = std::make_shared<bool>(false);
  auto svg = std::make_shared<std::string>();
  auto sf = std::make_shared<StoreFlags>();
  mf->add(cmd);
  sf->add(cmd);
  pf->add(cmd, true);
  lf->add(cmd);
  cmd->add_flag("--json", *json, "print JSON");
  cmd->add_option("--svg", *svg, "write a layer x position grid (target probability, else KL to the final output)");
  cmd->callback([=, &action] {
    action = [=] {
      auto model = mf->load();
      RunOptions ro = mf->run_options();
      std::vector<int32_t> tokens = pf->resolve(*model, effective_context(model->config, ro.n_ctx));
      const analysis::LensOptions o = lf->options(*model, ro);
      analysis::LensResult r = analysis::run_lens(*model, tokens, o);
      auto text = [&model](int32_t id) { return analysis::token_text(*model, id, analysis::TextForm::Visible); };
      if (!svg->empty()) {
        report::Heatmap h;
        h.frame.title = o.target ? "logit lens: p(" + text(*o.target) + ")" : "logit lens: KL(final || layer)";
        for (size_t i = 0; i < tokens.size(); ++i) h.col_labels.push_back(std::to_string(i) + " " + text(tokens[i]));
        for (const auto& row : r.rows) {
          h.row_labels.push_back(row.hook);
          for (const auto& c : row.cells) h.values.push_back(o.target ? c.target_prob : c.kl_to_final);
        }
        h.value_label = o.target ? "probability" : "KL (nats)";
        h.frame.width = 260 + 48.0 * static_cast<double>(tokens.size());
        h.frame.height = 120 + 22.0 * static_cast<double>(r.rows.size());
        report::heatmap(h).save(*svg);
      }
      sf->record("lens", {mf->model}, model->config.format + " " + model->config.file_type, ro.n_threads,
                 analysis::to_json(r, *model));
      if (*json) {
        std::printf("%s\n",
                    analysis::to_json(r, *model).dump(1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
        return;
      }
      constexpr size_t kW = 9;
      std::printf("top token per layer (rows) and position (columns)%s\n",
                  o.target ? cat("; [p] = probability of target '", text(*o.target), "'").c_str() : "");
      std::printf("%-26s", "input");
      for (int32_t t : tokens) std::printf(" %s", cell_text(text(t), kW).c_str());
      std::printf("\n");
      auto print_row = [&](const analysis::LensRow& row) {
        std::printf("%-26s", row.hook.c_str());
        for (const auto& c : row.cells) std::printf(" %s", cell_text(text(c.top[0].first), kW).c_str());
        std::printf("\n%-26s", o.target ? "  [p target]" : "  KL to final");
        for (const auto& c : row.cells) {
          char buf[32];
          std::snprintf(buf, sizeof buf, "%.3f", o.target ? c.target_prob : c.kl_to_final);
          std::printf(" %s", cell_text(buf, kW).c_str());
        }
        std::printf("\n");
      };
      for (const auto& row : r.rows) print_row(row);
      print_row(r.final);
    };
  });
}

}  // namespace loupe::cli
