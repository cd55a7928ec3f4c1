// loupe diff REFERENCE CANDIDATE --data FILE: where a candidate model (quantised, pruned, ...)
// departs from a reference, from the output back to the first op.
#include <cmath>
#include <cstdio>

#include "analysis/diff.h"
#include "analysis_flags.h"
#include "commands.h"
#include "core/error.h"
#include "options.h"
#include "ranks.h"
#include "report/charts.h"

namespace loupe::cli {

namespace {

void print_output_stats(const analysis::OutputStats& s) {
  std::printf("====== Perplexity statistics (%lld tokens) ======\n", static_cast<long long>(s.count));
  std::printf("Mean PPL(Q)                   : %10.6f ± %10.6f\n", s.ppl_cand.value, s.ppl_cand.error);
  std::printf("Mean PPL(base)                : %10.6f ± %10.6f\n", s.ppl_ref.value, s.ppl_ref.error);
  if (s.ln_ppl_correlation)
    std::printf("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", 100.0 * *s.ln_ppl_correlation);
  else
    std::printf("Cor(ln(PPL(Q)), ln(PPL(base))): undefined (too few tokens or no spread)\n");
  std::printf("Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", s.ln_ppl_ratio.value, s.ln_ppl_ratio.error);
  std::printf("Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f\n", s.ppl_ratio.value, s.ppl_ratio.error);
  std::printf("Mean PPL(Q)-PPL(base)         : %10.6f ± %10.6f\n\n", s.ppl_difference.value, s.ppl_difference.error);

  std::printf("====== KL divergence statistics ======\n");
  std::printf("Mean    KLD: %10.6f ± %10.6f\n", s.kld.value, s.kld.error);
  std::printf("Maximum KLD: %10.6f\n", s.kld_max);
  for (const auto& [pct, v] : s.kld_percentiles) {
    if (pct == 50.0)
      std::printf("Median  KLD: %10.6f\n", v);
    else
      std::printf("%4.1f%%   KLD: %10.6f\n", pct, v);
  }
  std::printf("Minimum KLD: %10.6f\n\n", s.kld_min);

  std::printf("====== Token probability statistics ======\n");
  std::printf("Mean    Δp: %6.3f ± %5.3f %%\n", 100.0 * s.delta_p.value, 100.0 * s.delta_p.error);
  std::printf("Maximum Δp: %6.3f%%\n", 100.0 * s.delta_p_max);
  for (const auto& [pct, v] : s.delta_p_percentiles) {
    if (pct == 50.0)
      std::printf("Median  Δp: %6.3f%%\n", 100.0 * v);
    else
      std::printf("%4.1f%%   Δp: %6.3f%%\n", pct, 100.0 * v);
  }
  std::printf("Minimum Δp: %6.3f%%\n", 100.0 * s.delta_p_min);
  std::printf("RMS Δp    : %6.3f ± %5.3f %%\n", 100.0 * s.delta_p_rms.value, 100.0 * s.delta_p_rms.error);
  std::printf("Same top p: %6.3f ± %5.3f %%\n", 100.0 * s.same_top_p.value, 100.0 * s.same_top_p.error);
}

void print_layers(const analysis::DiffResult& r, bool all_hooks) {
  if (!r.layers_compared) {
    std::printf("\nper-layer comparison skipped: %s\n", r.layers_note.c_str());
    return;
  }
  std::printf("\n====== Per hook (program order%s) ======\n", all_hooks ? "" : "; residual stream and outputs");
  std::printf("%-34s %12s %10s %12s %12s\n", "hook", "NMSE", "cosine", "max|diff|", "lens KL");
  for (const auto& h : r.layers) {
    if (h.shape_mismatch) {
      std::printf("%-34s shapes differ\n", h.name.c_str());
      continue;
    }
    const bool is_jump = r.first_divergence && r.first_divergence->hook == h.hook;
    if (!all_hooks && !h.lens_kl && !is_jump) continue;
    char lens[32] = "";
    if (h.lens_kl) std::snprintf(lens, sizeof lens, "%12.3e", *h.lens_kl);
    std::printf("%-34s %12.3e %10.6f %12.3e %12s%s\n", h.name.c_str(), h.nmse, h.cosine, h.max_abs_diff, lens,
                is_jump ? "  <- first jump" : "");
  }
  if (r.first_divergence)
    std::printf("\nfirst divergence jump: %s (%s): NMSE %.3e, at most %.3e before it\n",
                r.first_divergence->name.c_str(), r.first_divergence->op.c_str(), r.first_divergence->nmse,
                r.first_divergence->before);
  else
    std::printf("\nno divergence jump: every hook's NMSE stays at float32 rounding level\n");
  if (r.largest_jump && (!r.first_divergence || r.largest_jump->hook != r.first_divergence->hook))
    std::printf("largest jump:          %s (%s): NMSE %.3e, at most %.3e before it\n", r.largest_jump->name.c_str(),
                r.largest_jump->op.c_str(), r.largest_jump->nmse, r.largest_jump->before);
}

// --numerics-vs with --reference: the total error of MODEL in the candidate's arithmetic against a
// higher-precision file in exact arithmetic, next to its two parts, per residual hook.
void print_split(const analysis::DiffResult& total, const analysis::DiffResult& quant,
                 const analysis::DiffResult& arith) {
  std::printf("====== Error split: quantisation (weights) and arithmetic (activations) ======\n");
  std::printf("total:        %s -> %s\nquantisation: %s -> %s\narithmetic:   %s -> %s\n\n", total.reference.c_str(),
              total.candidate.c_str(), quant.reference.c_str(), quant.candidate.c_str(), arith.reference.c_str(),
              arith.candidate.c_str());
  std::printf("%-34s %12s %12s %12s\n", "", "total", "quantisation", "arithmetic");
  std::printf("%-34s %12.6f %12.6f %12.6f\n", "mean KLD", total.output.kld.value, quant.output.kld.value,
              arith.output.kld.value);
  std::printf("%-34s %11.3f%% %11.3f%% %11.3f%%\n", "same top token", 100 * total.output.same_top_p.value,
              100 * quant.output.same_top_p.value, 100 * arith.output.same_top_p.value);
  if (!total.layers_compared || !quant.layers_compared || !arith.layers_compared) return;
  std::printf("\nNMSE per hook (residual stream and outputs):\n");
  for (size_t i = 0; i < total.layers.size() && i < quant.layers.size() && i < arith.layers.size(); ++i) {
    const auto& t = total.layers[i];
    if (t.shape_mismatch || (t.name.find("resid") == std::string::npos && t.name.find("logits") == std::string::npos))
      continue;
    std::printf("%-34s %12.3e %12.3e %12.3e\n", t.name.c_str(), t.nmse, quant.layers[i].nmse, arith.layers[i].nmse);
  }
}

void print_worst(const analysis::DiffResult& r) {
  if (r.worst.empty()) return;
  std::printf("\n====== Tokens with the largest KL divergence ======\n");
  for (const auto& w : r.worst)
    std::printf("KLD %9.5f  p %.3f -> %.3f  doc %lld pos %lld: ...%s[%s]\n", w.div.kld, w.div.p_ref, w.div.p_cand,
                static_cast<long long>(w.doc), static_cast<long long>(w.pos),
                analysis::text_form(w.context, analysis::TextForm::Escaped).c_str(),
                analysis::text_form(w.text, analysis::TextForm::Escaped).c_str());
}

void write_svg(const analysis::DiffResult& r, const std::string& path) {
  report::XYPlot p;
  p.frame.title = "divergence per hook (program order)";
  p.frame.width = 900;
  p.x.label = "hook in program order (L = the layer's first hook; hover a point for its name)";
  p.y.label = "NMSE / lens KL (log)";
  p.y.log = true;
  report::Series nmse{.name = "NMSE", .lines = true, .points = true};
  report::Series lens{.name = "logit-lens KL", .lines = true, .points = true};
  int layer = -2;
  for (size_t i = 0; i < r.layers.size(); ++i) {
    const auto& h = r.layers[i];
    // A line where each layer starts, labelled L0, L1, ...; each point names its hook.
    if (h.layer != layer && h.layer >= 0)
      p.markers.push_back({.x = static_cast<double>(i), .label = cat("L", h.layer)});
    layer = h.layer;
    if (h.shape_mismatch) continue;
    if (h.nmse > 0 && std::isfinite(h.nmse)) {
      nmse.x.push_back(static_cast<double>(i));
      nmse.y.push_back(h.nmse);
      nmse.labels.push_back(h.name);
    }
    if (h.lens_kl && *h.lens_kl > 0) {
      lens.x.push_back(static_cast<double>(i));
      lens.y.push_back(*h.lens_kl);
      lens.labels.push_back(h.name);
    }
  }
  // The first jump, in red, named.
  if (r.first_divergence)
    for (size_t i = 0; i < r.layers.size(); ++i)
      if (r.layers[i].hook == r.first_divergence->hook)
        p.markers.push_back({.x = static_cast<double>(i),
                             .label = "first jump: " + r.first_divergence->name,
                             .colour = "#d62728",
                             .dashed = false,
                             .row = 1});
  p.series = {nmse, lens};
  report::xy_plot(p).save(path);
}

}  // namespace

void add_diff(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand(
      "diff",
      "compare a candidate model with a reference on the same tokens (llama-perplexity KLD statistics, "
      "per-hook divergence, first jump, worst tokens)");
  auto ref = std::make_shared<ModelFlags>();
  auto cand = std::make_shared<std::string>();
  auto df = std::make_shared<DataFlags>();
  auto json = std::make_shared<bool>(false);
  auto svg = std::make_shared<std::string>();
  auto no_layers = std::make_shared<bool>(false);
  auto no_lens = std::make_shared<bool>(false);
  auto all_hooks = std::make_shared<bool>(false);
  auto worst = std::make_shared<size_t>(10);
  auto jump = std::make_shared<double>(10.0);
  auto cand_q8 = std::make_shared<bool>(false);
  auto ref_numerics = std::make_shared<std::string>();
  auto cand_numerics = std::make_shared<std::string>();
  auto numerics_vs = std::make_shared<std::string>();
  auto split_ref = std::make_shared<std::string>();
  ref->add(cmd);
  cmd->add_option("CANDIDATE", *cand,
                  "the model to compare (same vocabulary); with --numerics-vs, the reference's own file when left out");
  df->add(cmd);
  auto sf = std::make_shared<StoreFlags>();
  sf->add(cmd);
  cmd->add_flag("--json", *json, "print JSON instead of the tables");
  cmd->add_option("--svg", *svg, "write a per-hook divergence plot");
  cmd->add_flag("--no-layers", *no_layers, "compare the outputs only");
  cmd->add_flag("--no-lens", *no_lens, "skip the logit-lens KL at residual hooks");
  cmd->add_flag("--all-hooks", *all_hooks, "print every hook, not only the residual stream");
  cmd->add_option("--worst", *worst, "worst tokens to list (default 10)")->check(CLI::Range(0, 100000));
  cmd->add_option("--reference-numerics", *ref_numerics,
                  "the reference's arithmetic: exact, llama.cpp or q8 (default: --numerics)")
      ->check(CLI::IsMember({"exact", "llama.cpp", "q8"}));
  cmd->add_option("--candidate-numerics", *cand_numerics,
                  "the candidate's arithmetic: exact, llama.cpp or q8 (default: the reference's); the candidate may be "
                  "the reference's own file: the difference is then the arithmetic's alone")
      ->check(CLI::IsMember({"exact", "llama.cpp", "q8"}));
  cmd->add_option("--numerics-vs", *numerics_vs,
                  "compare the model in exact arithmetic (reference) with itself in this one (candidate): where "
                  "llama.cpp's arithmetic departs from the model's mathematics")
      ->check(CLI::IsMember({"llama.cpp", "q8"}));
  cmd->add_flag("--candidate-q8-act", *cand_q8, "the same as --candidate-numerics q8");
  cmd->add_option("--reference", *split_ref,
                  "with --numerics-vs: a higher-precision file of the same model (F32, F16): split the total error "
                  "of MODEL in that arithmetic against it (exact) into quantisation (MODEL exact against it) and "
                  "arithmetic (MODEL against itself)");
  cmd->add_option("--jump", *jump, "NMSE ratio over every earlier hook that counts as a jump (default 10)")
      ->check(CLI::Range(1.0, 1e12));
  cmd->callback([=, &action] {
    action = [=] {
      if (!split_ref->empty() && numerics_vs->empty())
        fail("--reference splits the error of --numerics-vs: give --numerics-vs llama.cpp (or q8) too");
      if (cand->empty() && numerics_vs->empty())
        fail("CANDIDATE is required (or --numerics-vs llama.cpp, which compares MODEL with itself)");
      if (!numerics_vs->empty() && (!ref_numerics->empty() || !cand_numerics->empty() || *cand_q8))
        fail(
            "--numerics-vs sets both sides' arithmetic: leave out --reference-numerics, --candidate-numerics and "
            "--candidate-q8-act");
      analysis::DiffOptions o;
      o.run = ref->run_options();
      if (!numerics_vs->empty()) {
        o.run.numerics = Numerics::Exact;
        o.candidate_numerics = *numerics_from_name(*numerics_vs);
      } else {
        if (!ref_numerics->empty()) o.run.numerics = *numerics_from_name(*ref_numerics);
        o.candidate_numerics = o.run.numerics;
        if (!cand_numerics->empty()) o.candidate_numerics = *numerics_from_name(*cand_numerics);
        if (*cand_q8) o.candidate_numerics = Numerics::Q8;
      }
      auto reference = ref->load();
      LoadOptions lo;
      lo.tokenizer_path = ref->tokenizer;
      lo.q8_panels = o.candidate_numerics != Numerics::Exact;
      auto candidate = load_model(cand->empty() ? ref->model : *cand, lo);
      o.seq = df->sequencer();
      o.layers = !*no_layers;
      o.lens = !*no_lens;
      o.n_worst = *worst;
      o.jump_factor = *jump;
      o.split = job_split();  // under mpirun: this rank's share; rank 0 reports the whole job
      if (o.split.root()) o.progress = print_progress;
      analysis::DiffResult r = analysis::run_diff(*reference, *candidate, df->data, df->field, o);
      end_progress();
      if (!split_ref->empty()) {
        LoadOptions base_options;
        base_options.tokenizer_path = ref->tokenizer;
        auto base = load_model(*split_ref, base_options);
        analysis::DiffOptions exact = o;
        exact.candidate_numerics = Numerics::Exact;
        const analysis::DiffResult quant = analysis::run_diff(*base, *reference, df->data, df->field, exact);
        end_progress();
        const analysis::DiffResult all = analysis::run_diff(*base, *candidate, df->data, df->field, o);
        end_progress();
        if (!o.split.root()) return;
        nlohmann::ordered_json j;
        j["total"] = analysis::to_json(all);
        j["quantisation"] = analysis::to_json(quant);
        j["arithmetic"] = analysis::to_json(r);
        sf->record("diff", {*split_ref, ref->model, cand->empty() ? ref->model : *cand},
                   candidate->config.format + " " + candidate->config.file_type, o.run.n_threads, j);
        if (*json) {
          std::printf("%s\n", j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
        } else {
          print_split(all, quant, r);
        }
        return;
      }
      if (!o.split.root()) return;
      if (!svg->empty() && r.layers_compared) write_svg(r, *svg);
      sf->record("diff", {ref->model, cand->empty() ? ref->model : *cand},
                 candidate->config.format + " " + candidate->config.file_type, o.run.n_threads, analysis::to_json(r));
      if (*json) {
        std::printf("%s\n", analysis::to_json(r).dump(1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
        return;
      }
      std::printf("reference: %s\ncandidate: %s\n%lld documents, %lld sequences, %lld tokens\n\n", r.reference.c_str(),
                  r.candidate.c_str(), static_cast<long long>(r.n_docs), static_cast<long long>(r.n_sequences),
                  static_cast<long long>(r.n_tokens));
      if (r.output.count < 100)
        std::printf("note: only %lld scored tokens (llama-perplexity prints statistics from 100)\n\n",
                    static_cast<long long>(r.output.count));
      print_output_stats(r.output);
      print_layers(r, *all_hooks);
      print_worst(r);
    };
  });
}

}  // namespace loupe::cli
