// loupe attention MODEL -p PROMPT: attention patterns (.npy, SVG heatmaps) and per-head scores.
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "analysis/attention.h"
#include "analysis/text.h"
#include "analysis_flags.h"
#include "commands.h"
#include "core/error.h"
#include "core/npy.h"
#include "engine/run.h"
#include "options.h"
#include "report/charts.h"
#include "tokenizer/tokenizer.h"

namespace loupe::cli {

namespace {

// Heatmaps draw one cell per query and key up to this many positions; a longer prompt is drawn
// in blocks of positions (the mean attention of each block's query rows to its keys), so a file
// stays about a megabyte whatever the prompt's length.
constexpr int64_t kMaxHeatmapPositions = 96;

void write_svgs(const analysis::AttentionResult& r, const std::vector<std::string>& labels, const std::string& dir) {
  const auto n = static_cast<int64_t>(r.tokens.size());
  const int64_t block = (n + kMaxHeatmapPositions - 1) / kMaxHeatmapPositions;
  const int64_t cells = (n + block - 1) / block;
  std::vector<std::string> block_labels;
  for (int64_t b = 0; b < cells; ++b) {
    const int64_t first = b * block, last = std::min(n, first + block) - 1;
    block_labels.push_back(
        block == 1 ? labels[static_cast<size_t>(first)]
                   : cat(first, "-", last, " ",
                         labels[static_cast<size_t>(first)].substr(labels[static_cast<size_t>(first)].find(' ') + 1)));
  }
  for (int64_t l = 0; l < r.n_layers; ++l) {
    for (int64_t h = 0; h < r.n_heads; ++h) {
      report::Heatmap m;
      m.frame.title = "blocks." + std::to_string(l) + ".attn.hook_pattern head " + std::to_string(h) +
                      (block > 1 ? cat(" (blocks of ", block, " positions: mean attention)") : std::string());
      m.row_labels = block_labels;  // queries
      m.col_labels = block_labels;  // keys
      const float* p = r.patterns[static_cast<size_t>(l)].data() + h * n * n;
      for (int64_t bi = 0; bi < cells; ++bi)
        for (int64_t bj = 0; bj < cells; ++bj) {
          // Mean over the block's query rows of their total attention to the block's keys.
          double sum = 0;
          int64_t rows = 0;
          bool any = false;
          for (int64_t i = bi * block; i < std::min(n, (bi + 1) * block); ++i) {
            ++rows;
            for (int64_t j = bj * block; j < std::min(n, (bj + 1) * block) && j <= i; ++j) {
              sum += p[i * n + j];
              any = true;
            }
          }
          m.values.push_back(any ? sum / static_cast<double>(rows) : NAN);
        }
      m.vmin = 0;
      m.vmax = 1;
      m.value_label = "attention (query row -> key column)";
      m.frame.width = 220 + 26.0 * static_cast<double>(cells);
      m.frame.height = 200 + 26.0 * static_cast<double>(cells);
      report::heatmap(m).save(dir + "/pattern_L" + std::to_string(l) + "_H" + std::to_string(h) + ".svg");
    }
  }
  // Summary: one layer x head grid per score, stacked.
  const std::pair<const char*, double analysis::HeadScores::*> scores[] = {
      {"entropy (nats)", &analysis::HeadScores::entropy},
      {"sink: attention to the first token", &analysis::HeadScores::sink},
      {"previous-token score", &analysis::HeadScores::prev_token},
      {"induction score", &analysis::HeadScores::induction}};
  std::vector<report::SvgDocument> docs;
  double width = 0, height = 0;
  for (const auto& [title, field] : scores) {
    report::Heatmap m;
    m.frame.title = title;
    for (int64_t l = 0; l < r.n_layers; ++l) m.row_labels.push_back("layer " + std::to_string(l));
    for (int64_t h = 0; h < r.n_heads; ++h) m.col_labels.push_back("head " + std::to_string(h));
    for (const auto& hs : r.heads) m.values.push_back(hs.*field);
    m.annotate = r.n_heads <= 16;
    m.value_label = title;
    docs.push_back(report::heatmap(m));
    width = std::max(width, docs.back().width());
    height += docs.back().height();
  }
  report::SvgDocument all(width, height);
  all.set_title("attention head scores");
  double y = 0;
  for (const auto& d : docs) {
    all.embed(0, y, d);
    y += d.height();
  }
  all.save(dir + "/summary.svg");
}

}  // namespace

void add_attention(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("attention",
                                 "attention patterns per layer and head, and head scores (entropy, sink, "
                                 "previous token, induction)");
  auto mf = std::make_shared<ModelFlags>();
  auto pf = std::make_shared<PromptFlags>();
  auto npy = std::make_shared<std::string>();
  auto svg = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto af = std::make_shared<AttentionFlags>();
  auto top = std::make_shared<size_t>(5);
  auto sf = std::make_shared<StoreFlags>();
  mf->add(cmd);
  sf->add(cmd);
  pf->add(cmd, true);
  cmd->add_option("--npy", *npy, "write DIR/blocks.L.attn.hook_pattern.npy [n_heads, n, n] for every layer");
  cmd->add_option("--svg", *svg, "write DIR/pattern_L<l>_H<h>.svg heatmaps and DIR/summary.svg");
  cmd->add_flag("--json", *json, "print JSON");
  af->add(cmd);
  cmd->add_option("--top", *top, "heads listed per score (default 5)")->check(CLI::Range(1, 100000));
  cmd->callback([=, &action] {
    action = [=] {
      auto model = mf->load();
      std::vector<int32_t> tokens = pf->resolve(*model, effective_context(model->config, mf->run_options().n_ctx));
      const analysis::AttentionOptions o = af->options(mf->run_options());
      analysis::AttentionResult r = analysis::run_attention(*model, tokens, o);
      std::vector<std::string> labels;
      for (size_t i = 0; i < tokens.size(); ++i)
        labels.push_back(std::to_string(i) + " " +
                         analysis::token_text(*model, tokens[i], analysis::TextForm::Visible));
      const auto n = static_cast<int64_t>(tokens.size());
      if (!npy->empty()) {
        std::filesystem::create_directories(*npy);
        for (int64_t l = 0; l < r.n_layers; ++l)
          write_npy_f32(*npy + "/blocks." + std::to_string(l) + ".attn.hook_pattern.npy",
                        r.patterns[static_cast<size_t>(l)].data(), {r.n_heads, n, n});
      }
      if (!svg->empty()) {
        std::filesystem::create_directories(*svg);
        write_svgs(r, labels, *svg);
      }
      sf->record("attention", {mf->model}, model->config.format + " " + model->config.file_type, o.run.n_threads,
                 analysis::to_json(r));
      if (*json) {
        std::printf("%s\n", analysis::to_json(r).dump(1).c_str());
        return;
      }
      // Each layer's chance row (uniform attention over the keys a query sees) comes first, so a
      // score reads against it: prev-tok 0.35 means little when chance is 0.3.
      std::printf("%-6s %-6s %9s %9s %9s %9s\n", "layer", "head", "entropy", "sink", "prev-tok", "induction");
      for (const auto& h : r.heads) {
        if (h.head == 0) {
          const auto& c = r.chance[static_cast<size_t>(h.layer)];
          std::printf("%-6d %-6s %9.4f %9.4f %9.4f %9.4f\n", h.layer, "chance", c.entropy, c.sink, c.prev_token,
                      c.induction);
        }
        std::printf("%-6d %-6d %9.4f %9.4f %9.4f %9.4f\n", h.layer, h.head, h.entropy, h.sink, h.prev_token,
                    h.induction);
      }
      const std::pair<const char*, double analysis::HeadScores::*> scores[] = {
          {"induction", &analysis::HeadScores::induction},
          {"previous token", &analysis::HeadScores::prev_token},
          {"sink", &analysis::HeadScores::sink},
          {"entropy (lowest first: the most focused)", &analysis::HeadScores::entropy}};
      for (const auto& score : scores) {
        const char* title = score.first;
        const auto field = score.second;  // a plain variable: clang 14 cannot capture a binding
        std::vector<analysis::HeadScores> sorted = r.heads;
        const bool ascending = field == &analysis::HeadScores::entropy;
        std::stable_sort(sorted.begin(), sorted.end(), [&](const auto& a, const auto& b) {
          return ascending ? a.*field < b.*field : a.*field > b.*field;
        });
        std::printf("\nheads by %s:", title);
        for (size_t i = 0; i < std::min(*top, sorted.size()); ++i)
          std::printf("  L%dH%d %.3f", sorted[i].layer, sorted[i].head, sorted[i].*field);
        std::printf("\n");
      }
    };
  });
}

}  // namespace loupe::cli
