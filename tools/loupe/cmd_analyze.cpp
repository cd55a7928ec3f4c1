// loupe analyze MODEL -p PROMPT [--lens] [--attention] [--activations] [--cache HOOK]...: several
// analyses on ONE forward pass of the prompt (the numbers are those of the separate commands,
// to the bit). None named: lens, attention and activations.
#include <algorithm>
#include <cstdio>
#include <memory>

#include "analysis/activations.h"
#include "analysis/attention.h"
#include "analysis/attribute.h"
#include "analysis/logit_lens.h"
#include "analysis/pass.h"
#include "analysis/text.h"
#include "analysis_flags.h"
#include "commands.h"
#include "core/error.h"
#include "engine/run.h"
#include "options.h"

namespace loupe::cli {

void add_analyze(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("analyze",
                                 "several analyses on one forward pass of a prompt: logit lens, attention, "
                                 "activation statistics, a cache of hook tensors");
  auto mf = std::make_shared<ModelFlags>();
  auto pf = std::make_shared<PromptFlags>();
  auto lens = std::make_shared<bool>(false);
  auto attention = std::make_shared<bool>(false);
  auto activations = std::make_shared<bool>(false);
  auto nan = std::make_shared<bool>(false);
  auto attribute = std::make_shared<std::string>();
  auto cache = std::make_shared<std::vector<std::string>>();
  auto lf = std::make_shared<LensFlags>();
  auto af = std::make_shared<AttentionFlags>();
  auto acf = std::make_shared<ActivationFlags>();
  auto json = std::make_shared<bool>(false);
  mf->add(cmd);
  pf->add(cmd, true);
  cmd->add_flag("--lens", *lens, "the logit lens (as loupe lens)");
  cmd->add_flag("--attention", *attention, "attention patterns and head scores (as loupe attention)");
  cmd->add_flag("--activations", *activations, "activation statistics of the prompt (as loupe activations)");
  cmd->add_option("--attribute", *attribute,
                  "direct logit attribution of this token (text of one token, or its id) at the last position "
                  "(as loupe attribute)");
  cmd->add_flag(
      "--nan", *nan,
      "the NaN / Inf watch: every hook scanned (the attention mask's -inf left out), the first bad one named");
  cmd->add_option("--cache", *cache,
                  "keep these hooks' tensors for the pass (name, glob or short form; repeatable); the memory "
                  "they take is said before the run");
  lf->add(cmd, "lens: ");
  af->add(cmd, "attention: ");
  acf->add(cmd, "activations: ");
  cmd->add_flag("--json", *json, "print JSON: {tokens, lens, attention, activations, nan, cache}");
  cmd->callback([=, &action] {
    action = [=] {
      auto model = mf->load();
      RunOptions ro = mf->run_options();
      std::vector<int32_t> tokens;
      tokens = pf->resolve(*model, effective_context(model->config, ro.n_ctx));
      const bool all = !*lens && !*attention && !*activations && !*nan && attribute->empty() && cache->empty();
      ro.max_batch = std::max<int64_t>(1, static_cast<int64_t>(tokens.size()));  // one pass
      Interpreter interp(*model, ro);

      std::vector<std::unique_ptr<analysis::PassAnalysis>> owned;
      if (*lens || all) {
        owned.push_back(std::make_unique<analysis::LensAnalysis>(*model, tokens, lf->options(*model, ro)));
      }
      if (*attention || all) {
        owned.push_back(std::make_unique<analysis::AttentionAnalysis>(*model, tokens, af->options(mf->run_options())));
      }
      if (*activations || all) {
        owned.push_back(std::make_unique<analysis::ActivationsAnalysis>(*model, acf->options(ro)));
      }
      if (*nan || all) owned.push_back(std::make_unique<analysis::NanWatch>());
      if (!attribute->empty()) {
        analysis::AttributionOptions o;
        o.run = mf->run_options();
        o.target = analysis::parse_token(*model, *attribute, "--attribute");
        owned.push_back(std::make_unique<analysis::AttributionAnalysis>(*model, tokens, o));
      }
      if (!cache->empty()) {
        std::vector<int> ids;
        for (const std::string& g : *cache)
          for (int id : interp.hooks().resolve(g))
            if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
        const int64_t bytes = analysis::TensorCache::estimate_bytes(interp, ids, static_cast<int64_t>(tokens.size()));
        std::fprintf(stderr, "cache: %zu hooks, %.2f MiB for %zu positions\n", ids.size(),
                     static_cast<double>(bytes) / (1024.0 * 1024.0), tokens.size());
        owned.push_back(std::make_unique<analysis::TensorCache>(std::move(ids)));
      }
      std::vector<analysis::PassAnalysis*> analyses;
      analyses.reserve(owned.size());
      for (auto& a : owned) analyses.push_back(a.get());
      nlohmann::ordered_json results = analysis::run_one_pass(interp, tokens, analyses);

      nlohmann::ordered_json j;
      j["tokens"] = tokens;
      for (auto& [key, value] : results.items()) j[key] = value;
      if (*json) {
        std::printf("%s\n", j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
        return;
      }
      std::printf("%s: one pass over %zu tokens\n", model->path.c_str(), tokens.size());
      if (j.contains("lens")) {
        std::printf("\nlogit lens, last position (top token, p, KL to the final output):\n");
        for (const auto& row : j["lens"]["rows"]) {
          const auto& cell = row["positions"].back();
          std::printf("  %-32s %-16s %.4f  %.4f\n", row["hook"].get<std::string>().c_str(),
                      cell["top"][0]["text"].dump().c_str(), cell["top"][0]["p"].get<double>(),
                      cell["kl_to_final"].get<double>());
        }
      }
      if (j.contains("attention")) {
        std::printf("\nattention heads (layer head: entropy sink prev-token induction):\n");
        for (const auto& h : j["attention"]["heads"])
          std::printf("  %3d %3d  %8.4f %8.4f %8.4f %8.4f\n", h["layer"].get<int>(), h["head"].get<int>(),
                      h["entropy"].get<double>(), h["sink"].get<double>(), h["prev_token"].get<double>(),
                      h["induction"].get<double>());
      }
      if (j.contains("activations")) {
        std::printf("\nactivations (hook: mean std mean-norm nan/inf):\n");
        for (const auto& h : j["activations"]["hooks"])
          std::printf("  %-32s %10.4f %10.4f %10.3f %lld/%lld\n", h["hook"].get<std::string>().c_str(),
                      h["mean"].get<double>(), h["std"].get<double>(), h["mean_norm"].get<double>(),
                      h["nan"].get<long long>(), h["inf"].get<long long>());
      }
      if (j.contains("attribution")) {
        const auto& a = j["attribution"];
        std::printf("\nattribution of %s at position %lld: logit %.4f (parts sum %.4f)\n",
                    a["target_text"].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str(),
                    a["pos"].get<long long>(), a["logit"].get<double>(), a["parts_sum"].get<double>());
        for (const auto& p : a["parts"])
          std::printf("  %-22s %10.4f\n", p["name"].get<std::string>().c_str(), p["logit"].get<double>());
      }
      if (j.contains("nan")) {
        const auto& n = j["nan"];
        std::printf(
            "\nnan: %lld hooks checked, %zu with NaN / Inf%s%s\n", n["hooks_checked"].get<long long>(), n["bad"].size(),
            n["bad"].empty() ? "" : "; the first: ", n["bad"].empty() ? "" : n["first"].get<std::string>().c_str());
        for (const auto& b : n["bad"])
          std::printf("  %-32s %lld NaN %lld Inf\n", b["hook"].get<std::string>().c_str(), b["nan"].get<long long>(),
                      b["inf"].get<long long>());
      }
      if (j.contains("cache")) {
        std::printf("\ncache: %lld bytes\n", j["cache"]["bytes"].get<long long>());
        for (const auto& h : j["cache"]["hooks"])
          std::printf("  %-32s %s\n", h["hook"].get<std::string>().c_str(), h["shape"].dump().c_str());
      }
    };
  });
}

}  // namespace loupe::cli
