// loupe activations MODEL --data FILE: streamed statistics of hook tensors over a data file.
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "analysis/activations.h"
#include "analysis_flags.h"
#include "commands.h"
#include "core/error.h"
#include "options.h"
#include "ranks.h"
#include "report/charts.h"

namespace loupe::cli {

namespace {

void write_svgs(const analysis::ActivationsResult& r, const std::string& dir) {
  std::filesystem::create_directories(dir);
  report::XYPlot norms;
  norms.frame.title = "norm growth: mean L2 norm of the residual stream";
  norms.x.label = "layer";
  norms.y.label = "mean L2 norm per position";
  report::Series pre{.name = "resid_pre"}, post{.name = "resid_post"};
  for (const auto& h : r.hooks) {
    report::Histogram hist;
    hist.frame.title = h.name;
    hist.x_label = "value";
    hist.y_label = "count";
    const auto& counts = h.histogram.counts();
    for (size_t i = 0; i <= counts.size(); ++i)
      hist.edges.push_back(h.histogram.lo() + (h.histogram.hi() - h.histogram.lo()) * static_cast<double>(i) /
                                                  static_cast<double>(counts.size()));
    for (int64_t c : counts) hist.counts.push_back(static_cast<double>(c));
    hist.log_y = true;
    if (h.histogram.hi() > h.histogram.lo()) report::histogram(hist).save(dir + "/" + h.name + ".svg");
    if (h.kind == HookKind::ResidPre) {
      pre.x.push_back(h.layer);
      pre.y.push_back(h.mean_norm);
    }
    if (h.kind == HookKind::ResidPost) {
      post.x.push_back(h.layer);
      post.y.push_back(h.mean_norm);
    }
  }
  pre.points = post.points = true;
  norms.series = {pre, post};
  report::xy_plot(norms).save(dir + "/norm_growth.svg");
}

}  // namespace

void add_activations(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("activations",
                                 "activation statistics over a data file: moments, histograms, "
                                 "massive activations, dead neurons, NaN/Inf, norm growth");
  auto mf = std::make_shared<ModelFlags>();
  auto df = std::make_shared<DataFlags>();
  auto acf = std::make_shared<ActivationFlags>();
  auto json = std::make_shared<bool>(false);
  auto svg = std::make_shared<std::string>();
  auto sf = std::make_shared<StoreFlags>();
  mf->add(cmd);
  df->add(cmd);
  sf->add(cmd);
  acf->add(cmd);
  cmd->add_flag("--json", *json, "print JSON");
  cmd->add_option("--svg", *svg, "write DIR/<hook>.svg histograms and DIR/norm_growth.svg");
  cmd->callback([=, &action] {
    action = [=] {
      auto model = mf->load();
      analysis::ActivationsOptions o = acf->options(mf->run_options());
      o.seq = df->sequencer();
      o.split = job_split();
      if (o.split.root()) o.progress = print_progress;
      analysis::ActivationsResult r = analysis::run_activations(*model, df->data, df->field, o);
      end_progress();
      if (!o.split.root()) return;  // rank 0 reports the whole job
      if (!svg->empty()) write_svgs(r, *svg);
      sf->record("activations", {mf->model}, model->config.format + " " + model->config.file_type, o.run.n_threads,
                 analysis::to_json(r));
      if (*json) {
        std::printf("%s\n", analysis::to_json(r).dump(1).c_str());
        return;
      }
      std::printf("%s: %lld documents, %lld tokens\n\n", r.model.c_str(), static_cast<long long>(r.n_docs),
                  static_cast<long long>(r.n_tokens));
      std::printf("%-32s %10s %10s %9s %10s %10s %9s %6s  %s\n", "hook", "mean", "std", "kurtosis", "min", "max",
                  "norm", "nan/inf", "massive dims (max|x| / mean|x|)");
      for (const auto& h : r.hooks) {
        std::string massive;
        for (const auto& m : h.massive) massive += cat(" ", m.dim, ":", static_cast<int>(m.ratio), "x");
        std::printf("%-32s %10.4f %10.4f %9.2f %10.3f %10.3f %9.3f %3lld/%-3lld%s\n", h.name.c_str(), h.mean,
                    h.moments.std_dev(), h.moments.kurtosis(), h.moments.min(), h.moments.max(), h.mean_norm,
                    static_cast<long long>(h.moments.n_nan()), static_cast<long long>(h.moments.n_inf()),
                    massive.c_str());
      }
      bool header = false;
      for (const auto& h : r.hooks) {
        if (h.kind != HookKind::MlpPre) continue;
        if (!header) std::printf("\nMLP neurons (sign of mlp.hook_pre over every position):\n");
        header = true;
        std::printf("  layer %d: %zu of %lld dead (never positive), %zu always on\n", h.layer, h.dead.size(),
                    static_cast<long long>(h.width), h.always_on.size());
      }
      if (!r.expert_load.empty()) std::printf("\nexpert load (share of selections per expert, per layer):\n");
      for (const auto& l : r.expert_load) {
        int64_t total = 0;
        for (int64_t n : l.counts) total += n;
        std::string row;
        for (int64_t n : l.counts)
          row +=
              cat(row.empty() ? "" : " ",
                  std::lround(100.0 * static_cast<double>(n) / static_cast<double>(std::max<int64_t>(1, total))), "%");
        std::printf("  layer %d: %s\n", l.layer, row.c_str());
      }
    };
  });
}

}  // namespace loupe::cli
