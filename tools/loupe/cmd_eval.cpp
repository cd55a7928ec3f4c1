// loupe eval MODEL --data FILE: per-token loss, perplexity per document and overall, surprising
// tokens, a document coloured by loss, and degenerate-text detectors.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>
#include <span>
#include <sstream>

#include "analysis/eval.h"
#include "analysis/text.h"
#include "analysis_flags.h"
#include "commands.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "options.h"
#include "ranks.h"
#include "report/charts.h"
#include "tokenizer/tokenizer.h"

namespace loupe::cli {

namespace {

// ANSI 256-colour background for a loss: green (well predicted) .. yellow .. red (surprising).
int loss_colour(double loss) {
  static const int kScale[] = {22, 28, 64, 100, 136, 166, 160, 124};  // dark green .. dark red
  const int n = static_cast<int>(std::size(kScale));
  const int i = std::min(n - 1, std::max(0, static_cast<int>(loss)));  // one step per nat
  return kScale[i];
}

void print_coloured(const analysis::DocEval& d, const Tokenizer& tok, bool colour) {
  std::printf("\ndocument %lld (line %lld), coloured by loss (one colour step per nat: green < 1, red >= 7):\n",
              static_cast<long long>(d.doc), static_cast<long long>(d.line));
  size_t k = 0;
  for (size_t pos = 0; pos < d.tokens.size(); ++pos) {
    const int32_t t[1] = {d.tokens[pos]};
    const std::string text = analysis::tokens_text(tok, t, analysis::TextForm::Escaped);
    while (k < d.losses.size() && d.losses[k].pos < static_cast<int64_t>(pos)) ++k;
    const bool scored = k < d.losses.size() && d.losses[k].pos == static_cast<int64_t>(pos);
    if (colour && scored)
      std::printf("\033[48;5;%dm\033[97m%s\033[0m", loss_colour(d.losses[k].loss), text.c_str());
    else if (scored)
      std::printf("%s{%.1f}", text.c_str(), d.losses[k].loss);
    else
      std::printf("%s", text.c_str());
  }
  std::printf("\n");
}

}  // namespace

void add_eval(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("eval",
                                 "per-token loss, perplexity per document and overall, surprising tokens, "
                                 "degenerate-text detectors");
  auto mf = std::make_shared<ModelFlags>();
  auto df = std::make_shared<DataFlags>();
  auto json = std::make_shared<bool>(false);
  auto show = std::make_shared<int64_t>(0);
  auto n_surprising = std::make_shared<size_t>(20);
  auto docs_out = std::make_shared<std::string>();
  auto tokens_out = std::make_shared<std::string>();
  auto svg = std::make_shared<std::string>();
  auto ngram = std::make_shared<int64_t>(4);
  auto colour = std::make_shared<std::string>("auto");
  auto sf = std::make_shared<StoreFlags>();
  mf->add(cmd);
  df->add(cmd);
  sf->add(cmd);
  cmd->add_flag("--json", *json, "print JSON (overall figures and every document) instead of the tables");
  cmd->add_option("--show", *show, "document shown coloured by loss (default 0, the first; -1 none)")
      ->check(CLI::Range(int64_t(-1), int64_t(1) << 40));
  cmd->add_option("--surprising", *n_surprising, "most surprising tokens to list (default 20)")
      ->check(CLI::Range(0, 100000));
  cmd->add_option("--docs-out", *docs_out, "write one JSON line per document to FILE");
  cmd->add_option("--tokens-out", *tokens_out, "write every scored token to FILE (TSV: doc pos token loss entropy)");
  cmd->add_option("--svg", *svg, "write a histogram of per-token loss");
  cmd->add_option("--ngram", *ngram, "n of the n-gram repetition rate (default 4)")->check(CLI::Range(1, 64));
  cmd->add_option("--colour", *colour, "colour the document view: auto, always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  cmd->callback([=, &action] {
    action = [=] {
      auto model = mf->load();
      const Tokenizer* tok = model->tokenizer.get();
      if (tok == nullptr) fail(model->path, ": no tokenizer found for this model; pass --tokenizer FILE");
      const bool use_colour = *colour == "always" || (*colour == "auto" && isatty(fileno(stdout)));
      // Both files appear whole when the run ends, or not at all.
      std::optional<AtomicFile> docs_file, tokens_file;
      if (!docs_out->empty()) docs_file.emplace(*docs_out);
      if (!tokens_out->empty()) {
        tokens_file.emplace(*tokens_out);
        tokens_file->write("doc\tpos\ttoken\ttext\tloss\tentropy\n");
      }
      // Loss histogram: bins of 0.25 nats over [0, 16), doubling in width as larger losses come.
      analysis::StreamHistogram hist(64);
      hist.set_range(0, 16);
      nlohmann::ordered_json docs_json = nlohmann::ordered_json::array();
      std::vector<std::string> table;
      int64_t shown = -1;
      analysis::EvalOptions o;
      o.seq = df->sequencer();
      o.run = mf->run_options();
      o.n_surprising = *n_surprising;
      o.degeneration.ngram = *ngram;
      o.progress = print_progress;
      o.on_doc = [&](const analysis::DocEval& d) {
        for (const auto& t : d.losses) {
          hist.add(std::max(0.0, static_cast<double>(t.loss)));  // -log p of p rounded past 1
          if (tokens_file) {
            const int32_t one[1] = {t.token};
            std::ostringstream line;
            line << d.doc << '\t' << t.pos << '\t' << t.token << '\t'
                 << analysis::tokens_text(*tok, one, analysis::TextForm::Escaped) << '\t' << t.loss << '\t' << t.entropy
                 << '\n';
            tokens_file->write(line.str());
          }
        }
        if (docs_file)
          docs_file->write(analysis::to_json(d).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
        if (*json) docs_json.push_back(analysis::to_json(d));
        if (!*json && table.size() < 20) {
          char line[256];
          std::snprintf(line, sizeof line, "%6lld %6lld %7zu %10.4f ± %-9.4f %7.3f %7.3f %-12s %s",
                        static_cast<long long>(d.doc), static_cast<long long>(d.line), d.losses.size(), d.ppl.value,
                        d.ppl.error, d.mean_entropy, d.ngram_repetition,
                        d.loop ? cat("period ", d.loop->period, " x", static_cast<int>(d.loop->repeats)).c_str() : "-",
                        d.collapse ? cat("at ", d.collapse->pos).c_str() : "-");
          table.emplace_back(line);
        }
        if (!*json && d.doc == *show && shown < 0) {
          end_progress();
          print_coloured(d, *tok, use_colour);
          shown = d.doc;
        }
      };
      // An MPI job: each rank evaluates every size-th document; rank 0 takes the documents in
      // document order through the same accumulation and on_doc as a single process, so the
      // figures are the same bits (docs/ci.md).
      const Ranks rk = ranks();
      analysis::EvalResult r;
      if (rk.multi()) {
        std::vector<analysis::DocEval> mine;
        const auto show_doc = o.on_doc;
        o.on_doc = [&mine](const analysis::DocEval& d) { mine.push_back(d); };
        o.take_doc = [rk](int64_t doc) { return doc % rk.size == rk.rank; };
        o.part = true;
        if (rk.rank != 0) o.progress = nullptr;
        const analysis::EvalResult part = analysis::run_eval(*model, df->data, df->field, o);
        std::string bytes;
        const uint64_t n_docs = mine.size(), n_top = part.surprising.size();
        bytes.append(reinterpret_cast<const char*>(&n_docs), sizeof n_docs);
        for (const auto& d : mine) bytes += analysis::pack(d);
        bytes.append(reinterpret_cast<const char*>(&n_top), sizeof n_top);
        for (const auto& t : part.surprising) bytes += analysis::pack(t);
        const std::vector<std::string> all = gather_on_root(bytes);
        if (rk.rank != 0) return;
        std::vector<analysis::DocEval> docs;
        std::vector<analysis::SurprisingToken> top;
        for (const std::string& b : all) {
          std::string_view in(b);
          const auto take_count = [&in] {
            uint64_t n = 0;
            if (in.size() < sizeof n) fail("eval: a rank sent a truncated message");
            std::memcpy(&n, in.data(), sizeof n);
            in.remove_prefix(sizeof n);
            return n;
          };
          for (uint64_t i = take_count(); i > 0; --i) docs.push_back(analysis::unpack_doc(in));
          for (uint64_t i = take_count(); i > 0; --i) top.push_back(analysis::unpack_surprising(in));
        }
        std::sort(docs.begin(), docs.end(),
                  [](const analysis::DocEval& a, const analysis::DocEval& b) { return a.doc < b.doc; });
        analysis::EvalSummary summary;
        for (const auto& d : docs) {
          summary.add(d);
          show_doc(d);
        }
        r = summary.finish(model->path, df->data, std::move(top), o.n_surprising);
      } else {
        r = analysis::run_eval(*model, df->data, df->field, o);
      }
      end_progress();
      if (docs_file) docs_file->commit();
      if (tokens_file) tokens_file->commit();
      if (!svg->empty()) {
        report::Histogram h;
        h.frame.title = "per-token loss";
        h.x_label = "loss (nats)";
        h.y_label = "tokens";
        const auto n = static_cast<double>(hist.counts().size());
        for (size_t i = 0; i <= hist.counts().size(); ++i)
          h.edges.push_back(hist.lo() + (hist.hi() - hist.lo()) * static_cast<double>(i) / n);
        h.counts.assign(hist.counts().begin(), hist.counts().end());
        report::histogram(h).save(*svg);
      }
      sf->record("eval", {mf->model}, model->config.format + " " + model->config.file_type, o.run.n_threads,
                 analysis::to_json(r));
      if (*json) {
        nlohmann::ordered_json j = analysis::to_json(r);
        j["documents"] = docs_json;
        std::printf("%s\n", j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
        return;
      }
      std::printf("\n%s: %lld documents, %lld tokens scored\n", r.model.c_str(), static_cast<long long>(r.n_docs),
                  static_cast<long long>(r.n_tokens_scored));
      std::printf("PPL = %.4f ± %.5f   mean loss %.4f nats   mean entropy %.4f nats\n", r.ppl.value, r.ppl.error,
                  r.mean_loss, r.mean_entropy);
      std::printf(
          "degenerate text: %lld documents end in a repetition loop, %lld show an entropy collapse; "
          "mean %lld-gram repetition %.3f\n",
          static_cast<long long>(r.docs_with_loop), static_cast<long long>(r.docs_with_collapse),
          static_cast<long long>(*ngram), r.mean_ngram_repetition);
      std::printf("\n%6s %6s %7s %22s %7s %7s %-12s %s\n", "doc", "line", "tokens", "PPL ± error", "entropy", "rep",
                  "loop", "collapse");
      for (const auto& l : table) std::printf("%s\n", l.c_str());
      if (r.n_docs > static_cast<int64_t>(table.size()))
        std::printf("... %lld more (--docs-out FILE writes all)\n",
                    static_cast<long long>(r.n_docs) - static_cast<long long>(table.size()));
      if (!r.surprising.empty()) {
        std::printf("\nmost surprising tokens:\n");
        const auto esc = [](const std::string& t) { return analysis::text_form(t, analysis::TextForm::Escaped); };
        for (const auto& s : r.surprising)
          std::printf("loss %6.3f  doc %lld pos %lld: ...%s[%s]  (expected [%s])\n", s.t.loss,
                      static_cast<long long>(s.doc), static_cast<long long>(s.t.pos), esc(s.context).c_str(),
                      esc(s.text).c_str(), esc(s.top_text).c_str());
      }
    };
  });
}

}  // namespace loupe::cli
