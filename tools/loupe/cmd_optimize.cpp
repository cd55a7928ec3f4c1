// loupe quantize / prune / monitor / distill: optimisations that write a new GGUF file, the
// series view of a distillation's checkpoints, and a short distillation run
// (analysis/optimize.h, analysis/monitor.h, analysis/distill.h).
#include <cmath>
#include <cstdio>

#include "analysis/distill.h"
#include "analysis/monitor.h"
#include "analysis/optimize.h"
#include "analysis_flags.h"
#include "commands.h"
#include "core/error.h"
#include "engine/run.h"
#include "options.h"
#include "report/charts.h"
#include "report/svg.h"

namespace loupe::cli {
namespace {

// --data for the commands where it is optional (the statistics of quantize and prune).
struct OptionalData {
  std::string data;
  std::string format = "auto";
  int64_t max_docs = 0;
  void add(CLI::App* cmd, const std::string& what) {
    cmd->add_option("--data", data, what);
    cmd->add_option("--data-format", format, "auto, lines, blank, jsonl or csv (default auto)");
    cmd->add_option("--max-docs", max_docs, "read at most N documents (default all)")
        ->check(CLI::Range(int64_t(0), int64_t(1) << 40));
  }
  analysis::SequencerOptions sequencer() const {
    analysis::SequencerOptions o;
    o.max_docs = max_docs;
    o.format = data::parse_format(format);
    return o;
  }
};

void print_report(const std::vector<analysis::TensorReport>& report, bool json) {
  const auto j = analysis::to_json(report);
  if (json) {
    std::printf("%s\n", j.dump(1).c_str());
    return;
  }
  std::printf("%-36s %-8s %-8s %12s %9s\n", "tensor", "from", "to", "elements", "zeros");
  for (const auto& t : report)
    std::printf("%-36s %-8s %-8s %12lld %8.2f%%%s%s\n", t.name.c_str(), t.from.c_str(), t.to.c_str(),
                static_cast<long long>(t.n), 100.0 * t.sparsity, t.note.empty() ? "" : "  ", t.note.c_str());
  std::printf("total: %lld elements, %.2f%% zeros\n", static_cast<long long>(j["n"].get<int64_t>()),
              100.0 * j["sparsity"].get<double>());
}

void require_gguf(const std::string& path, const std::string& what) {
  const auto dot = path.rfind('.');
  if (dot == std::string::npos || path.substr(dot) != ".gguf")
    fail(what, " '", path, "': quantize and prune read and write GGUF files (.gguf)");
}

}  // namespace

void add_optimize(CLI::App& app, Action& action) {
  {
    auto* cmd =
        app.add_subcommand("quantize", "re-encode a GGUF model's weights in one type (llama.cpp loads the result)");
    auto mf = std::make_shared<ModelFlags>();
    auto out = std::make_shared<std::string>();
    auto type = std::make_shared<std::string>();
    auto data = std::make_shared<OptionalData>();
    auto json = std::make_shared<bool>(false);
    auto imatrix = std::make_shared<std::string>();
    auto imatrix_out = std::make_shared<std::string>();
    mf->add(cmd);
    cmd->add_option("OUT", *out, "the GGUF file written")->required();
    cmd->add_option("--imatrix", *imatrix, "an importance matrix to use: llama-imatrix's GGUF file (or loupe's)");
    cmd->add_option("--imatrix-out", *imatrix_out,
                    "write the importance matrix collected from --data (GGUF, as llama-imatrix writes it)");
    cmd->add_option(
           "--type", *type,
           "q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q3_k, q4_k, q5_k, q6_k, iq4_nl, iq4_xs, tq1_0, tq2_0, mxfp4, f16, "
           "bf16, f32")
        ->required();
    data->add(cmd,
              "collect an importance matrix (mean x^2 per input column, llama-imatrix's statistic) from these "
              "documents and weigh the scale search with it (q4_0)");
    cmd->add_flag("--json", *json, "print the per-tensor report as JSON");
    cmd->callback([=, &action] {
      action = [=] {
        require_gguf(mf->model, "MODEL");
        require_gguf(*out, "OUT");
        analysis::QuantizeOptions o;
        const auto t = dtype_from_name(*type);
        if (!t) fail("--type '", *type, "': not a type loupe writes");
        o.type = *t;
        analysis::InputStats stats;
        if (!imatrix->empty() && !data->data.empty()) fail("--imatrix and --data: give one");
        if (!imatrix_out->empty() && data->data.empty())
          fail("--imatrix-out needs --data (the documents to collect from)");
        if (!imatrix->empty()) {
          stats = analysis::load_imatrix(*imatrix);
          o.imatrix = &stats;
        } else if (!data->data.empty()) {
          auto model = mf->load();
          const RunOptions run = mf->run_options();
          stats = analysis::collect_input_stats(*model, data->data, data->sequencer(), run);
          o.imatrix = &stats;
          if (!imatrix_out->empty())
            analysis::save_imatrix(stats, *imatrix_out, data->data, stats.n_sequences,
                                   effective_context(model->config, run.n_ctx));
        }
        print_report(analysis::quantize_gguf(mf->model, *out, o), *json);
        std::fprintf(stderr, "wrote %s; compare with: loupe diff %s %s --data FILE\n", out->c_str(), mf->model.c_str(),
                     out->c_str());
      };
    });
  }
  {
    auto* cmd = app.add_subcommand("prune", "zero a share of a GGUF model's weights (magnitude or Wanda)");
    auto mf = std::make_shared<ModelFlags>();
    auto out = std::make_shared<std::string>();
    auto sparsity = std::make_shared<double>(0.5);
    auto method = std::make_shared<std::string>("magnitude");
    auto structured = std::make_shared<std::string>();
    auto data = std::make_shared<OptionalData>();
    auto json = std::make_shared<bool>(false);
    mf->add(cmd);
    cmd->add_option("OUT", *out, "the GGUF file written")->required();
    cmd->add_option("--sparsity", *sparsity, "share of each block weight set to zero (default 0.5)")->required();
    cmd->add_option("--method", *method,
                    "magnitude (the smallest |w| of each tensor) or wanda (per output row, the smallest |w| ||x||, "
                    "needs --data)");
    cmd->add_option("--structured", *structured,
                    "heads (whole attention heads) or neurons (whole MLP neurons), per layer");
    data->add(cmd, "documents for Wanda's activation norms");
    cmd->add_flag("--json", *json, "print the per-tensor report as JSON");
    cmd->callback([=, &action] {
      action = [=] {
        require_gguf(mf->model, "MODEL");
        require_gguf(*out, "OUT");
        analysis::PruneOptions o;
        o.sparsity = *sparsity;
        if (*method == "magnitude") {
          o.method = analysis::PruneMethod::Magnitude;
        } else if (*method == "wanda") {
          o.method = analysis::PruneMethod::Wanda;
        } else {
          fail("--method '", *method, "': magnitude or wanda");
        }
        if (structured->empty()) {
          o.structure = analysis::PruneStructure::None;
        } else if (*structured == "heads") {
          o.structure = analysis::PruneStructure::Heads;
        } else if (*structured == "neurons") {
          o.structure = analysis::PruneStructure::Neurons;
        } else {
          fail("--structured '", *structured, "': heads or neurons");
        }
        auto model = mf->load();
        analysis::InputStats stats;
        if (o.method == analysis::PruneMethod::Wanda) {
          if (data->data.empty()) fail("--method wanda needs --data (Wanda scores weights by activation norms)");
          stats = analysis::collect_input_stats(*model, data->data, data->sequencer(), mf->run_options());
          o.stats = &stats;
        }
        print_report(analysis::prune_gguf(*model, mf->model, *out, o), *json);
        std::fprintf(stderr, "wrote %s; compare with: loupe diff %s %s --data FILE\n", out->c_str(), mf->model.c_str(),
                     out->c_str());
      };
    });
  }
  {
    auto* cmd = app.add_subcommand(
        "monitor", "a series of student checkpoints against a teacher: distillation loss, cross-entropy, weights");
    auto paths = std::make_shared<std::vector<std::string>>();
    auto teacher = std::make_shared<ModelFlags>();
    auto df = std::make_shared<DataFlags>();
    auto tau = std::make_shared<double>(2.0);
    auto json = std::make_shared<bool>(false);
    auto svg = std::make_shared<std::string>();
    cmd->add_option("CHECKPOINTS", *paths, "student checkpoints in order (GGUF files, HF folders)")->required();
    cmd->add_option("--teacher", teacher->model, "the teacher model")->required();
    cmd->add_option("-t,--threads", teacher->threads, "threads (default: all cores)");
    cmd->add_option("-c,--ctx", teacher->ctx, "context length (default: the models', at most 4096)");
    df->add(cmd);
    cmd->add_option("--tau", *tau, "distillation temperature (default 2): loss = tau^2 KL(teacher || student)");
    cmd->add_flag("--json", *json, "print JSON");
    cmd->add_option("--svg", *svg, "write the curves over the series");
    cmd->callback([=, &action] {
      action = [=] {
        auto t = teacher->load();
        std::vector<std::unique_ptr<Model>> students;
        std::vector<const Model*> ptrs;
        for (const std::string& p : *paths) {
          students.push_back(load_model(p));
          ptrs.push_back(students.back().get());
        }
        analysis::MonitorOptions o;
        o.seq = df->sequencer();
        o.run = teacher->run_options();
        o.tau = *tau;
        const auto series = analysis::run_monitor(*t, ptrs, df->data, o);
        if (!svg->empty()) {
          report::XYPlot p;
          p.frame.title = "distillation: checkpoints against " + teacher->model;
          p.x.label = "checkpoint";
          p.y.label = "loss (nats)";
          report::Series kd{.name = "tau^2 KL (tau " + std::to_string(*tau).substr(0, 4) + ")"};
          report::Series ce{.name = "cross-entropy"};
          report::Series l2{.name = "L2 / first L2"};
          kd.points = ce.points = l2.points = true;
          for (size_t i = 0; i < series.size(); ++i) {
            const auto x = static_cast<double>(i);
            kd.x.push_back(x), kd.y.push_back(series[i].kd_loss), kd.labels.push_back(series[i].path);
            ce.x.push_back(x), ce.y.push_back(series[i].cross_entropy), ce.labels.push_back(series[i].path);
            l2.x.push_back(x), l2.y.push_back(series[i].total.l2 / std::max(1e-300, series[0].total.l2));
            l2.labels.push_back(series[i].path);
          }
          p.series = {kd, ce, l2};
          report::xy_plot(p).save(*svg);
        }
        if (*json) {
          std::printf("%s\n", analysis::to_json(series, *tau).dump(1).c_str());
          return;
        }
        std::printf("teacher %s, tau %g, %lld positions scored\n\n", teacher->model.c_str(), *tau,
                    static_cast<long long>(series[0].n_scored));
        std::printf("%-28s %10s %9s %9s %9s %7s %11s %11s %7s %8s\n", "checkpoint", "tau^2 KL", "KL", "CE", "PPL",
                    "top-1", "L1", "L2", "dead", "drift");
        for (const auto& c : series)
          std::printf("%-28s %10.5f %9.5f %9.4f %9.3f %6.1f%% %11.4g %11.4g %6s %8s\n", c.path.c_str(), c.kd_loss, c.kl,
                      c.cross_entropy, c.perplexity, 100.0 * c.top1_agreement, c.total.l1, c.total.l2,
                      c.dead_neurons ? (std::to_string(std::lround(100.0 * *c.dead_neurons)) + "%").c_str() : "-",
                      c.drift ? std::to_string(*c.drift).substr(0, 7).c_str() : "-");
      };
    });
  }
  {
    auto* cmd =
        app.add_subcommand("distill", "fine-tune a small GGUF student on a teacher's distributions (CPU, AdamW)");
    auto teacher = std::make_shared<ModelFlags>();
    auto student = std::make_shared<std::string>();
    auto df = std::make_shared<DataFlags>();
    auto o = std::make_shared<analysis::DistillOptions>();
    auto json = std::make_shared<bool>(false);
    cmd->add_option("--teacher", teacher->model, "the teacher model")->required();
    cmd->add_option("--student", *student, "the student (a GGUF file; dense blocks)")->required();
    cmd->add_option("-o,--out", o->out, "the trained student (GGUF, written atomically)")->required();
    cmd->add_option("-t,--threads", teacher->threads, "threads (default: all cores)");
    df->add(cmd);
    cmd->add_option("--tau", o->tau, "temperature (default 2)");
    cmd->add_option("--alpha", o->alpha, "weight of the KD term, 1 - alpha on the cross-entropy (default 0.5)");
    cmd->add_option("--steps", o->steps, "optimiser steps, one window of --seq-len tokens each (default 100)");
    cmd->add_option("--lr", o->lr, "AdamW learning rate (default 1e-3)");
    cmd->add_option("--weight-decay", o->weight_decay, "AdamW decoupled weight decay on the matrices (default 0)");
    cmd->add_option("--l1", o->l1, "L1 penalty on the matrices, added to the loss (default 0)");
    cmd->add_option("--l2", o->l2, "L2 penalty on the matrices, added to the loss (default 0)");
    cmd->add_option("--seq-len", o->seq_len, "tokens per step (default 64)");
    cmd->add_option("--log-every", o->log_every, "measure what monitor reports every K steps (default 10)");
    cmd->add_option("--eval-docs", o->eval_docs, "held-out documents for the log: the first N (default 8)");
    cmd->add_option("--save-every", o->save_every, "also write OUT-stepN.gguf every N steps (default 0: only OUT)");
    cmd->add_flag("--json", *json, "print the log as JSON (one object per entry) instead of a table");
    cmd->callback([=, &action] {
      action = [=] {
        auto t = teacher->load();
        auto s = load_model(*student);
        analysis::DistillOptions opts = *o;
        opts.run = teacher->run_options();
        opts.seq = df->sequencer();
        const bool as_json = *json;
        if (!as_json)
          std::printf("%6s %11s %11s %9s %9s %7s %9s %10s\n", "step", "train loss", "tau^2 KL", "KL", "CE", "top-1",
                      "drift", "checkpoint");
        opts.on_log = [as_json](const nlohmann::ordered_json& e) {
          if (as_json) {
            std::printf("%s\n", e.dump().c_str());
          } else {
            std::printf("%6d %11.5f %11.5f %9.5f %9.4f %6.1f%% %9.5f %s\n", e["step"].get<int>(),
                        e["train_loss"].get<double>(), e["kd_loss"].get<double>(), e["kl"].get<double>(),
                        e["cross_entropy"].get<double>(), 100.0 * e["top1_agreement"].get<double>(),
                        e["drift"].is_null() ? 0.0 : e["drift"].get<double>(),
                        e.contains("checkpoint") ? e["checkpoint"].get<std::string>().c_str() : "");
          }
          std::fflush(stdout);
        };
        analysis::run_distill(*t, *s, *student, df->data, opts);
      };
    });
  }
}

}  // namespace loupe::cli
