// loupe explore DATA... [--tokenizer SOURCE] [--field text] [--split blank] [--json] [--html OUT]
//                       [--summary OUT] [--merge]
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "commands.h"
#include "core/error.h"
#include "data/explore.h"
#include "data/explore_json.h"
#include "data/explore_report.h"
#include "data/progress.h"
#include "model/weights.h"
#include "options.h"
#include "ranks.h"
#include "tokenizer/tokenizer.h"

namespace loupe::cli {

namespace {

struct ExploreArgs {
  std::vector<std::string> data;
  std::string tokenizer;
  std::string field = "text";
  std::string split;
  std::string format = "auto";
  bool json = false;
  std::string html;
  std::string summary;
  bool merge = false;
  int top = 20;
  bool lowercase = false;
  bool stop_words = false;
  int64_t context = 0;
  int threads = 0;
  int64_t memory_mb = 1024;
  bool progress = false;
  bool no_progress = false;
};

// SOURCE is a model (its tokenizer, and its context length) or a tokenizer file.
std::unique_ptr<Tokenizer> open_tokenizer(const std::string& source, int64_t& n_ctx) {
  namespace fs = std::filesystem;
  if (!fs::exists(source)) fail("--tokenizer: ", source, ": no such file or directory");
  const std::string ext = fs::path(source).extension().string();
  const auto from_model = [&]() -> std::unique_ptr<Tokenizer> {
    auto m = load_model(source);
    if (!m->tokenizer) fail("--tokenizer: ", source, ": this model has no tokenizer beside it");
    n_ctx = m->config.n_ctx;
    return std::move(m->tokenizer);
  };
  if (fs::is_directory(source) || ext == ".safetensors") return from_model();
  if (ext == ".bin" || ext == ".gguf") {
    try {
      return from_model();
    } catch (const Error&) {
      return load_tokenizer(source);
    }
  }
  return load_tokenizer(source);
}

void print_text(const nlohmann::ordered_json& r) {
  const auto num = [](const nlohmann::ordered_json& v) { return v.dump(); };
  std::printf("documents        %s\n", num(r["documents"]).c_str());
  std::printf("characters       %s\n", num(r["characters"]).c_str());
  std::printf("bytes            %s\n", num(r["bytes"]).c_str());
  std::printf("words            %s\n", num(r["words"]).c_str());
  std::printf("lines            %s\n", num(r["lines"]).c_str());
  if (r.contains("tokens")) std::printf("tokens           %s\n", num(r["tokens"]).c_str());
  std::printf("empty / blank    %s / %s\n", num(r["empty_documents"]).c_str(),
              num(r["whitespace_only_documents"]).c_str());
  std::printf("invalid utf-8    %s documents, %s bytes\n", num(r["invalid_utf8"]["documents"]).c_str(),
              num(r["invalid_utf8"]["bytes"]).c_str());
  std::printf("duplicates       %s exact, %s near\n", num(r["exact_duplicate_documents"]).c_str(),
              num(r["near_duplicate_documents"]).c_str());
  for (const char* what : {"characters", "words", "tokens"}) {
    if (!r["length_percentiles"].contains(what)) continue;
    const auto& p = r["length_percentiles"][what];
    std::printf("%-16s min %s  p50 %s  p90 %s  p99 %s  max %s  mean %.1f\n", (std::string(what) + "/doc").c_str(),
                num(p["min"]).c_str(), num(p["p50"]).c_str(), num(p["p90"]).c_str(), num(p["p99"]).c_str(),
                num(p["max"]).c_str(), p["mean"].get<double>());
  }
  std::printf("vocabulary       %s words, zipf slope %.2f, heaps beta %.2f\n", num(r["vocabulary"]["size"]).c_str(),
              r["vocabulary"]["zipf_slope"].get<double>(), r["vocabulary"]["heaps_beta"].get<double>());
  if (r.contains("tokenizer"))
    std::printf("fertility        %.3f tokens/word, %s byte-fallback, %s unknown, %s docs over %s tokens\n",
                r["tokenizer"]["fertility"].get<double>(), num(r["tokenizer"]["byte_fallback_tokens"]).c_str(),
                num(r["tokenizer"]["unknown_tokens"]).c_str(), num(r["tokenizer"]["documents_over_context"]).c_str(),
                num(r["tokenizer"]["context_length"]).c_str());
  std::string scripts;
  for (const auto& s : r["scripts"]) {
    if (scripts.size() > 60) break;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s%s %.1f%%", scripts.empty() ? "" : ", ", s["script"].get<std::string>().c_str(),
                  100 * s["share"].get<double>());
    scripts += buf;
  }
  std::printf("scripts          %s\n", scripts.c_str());
  for (const char* n : {"1", "2", "3", "4"}) {
    std::string line;
    for (const auto& e : r["top_ngrams"]["words"][n]) {
      if (line.size() > 90) break;
      line += (line.empty() ? "" : ", ") + e[0].get<std::string>() + " (" + num(e[1]) + ")";
    }
    std::printf("top %s-grams      %s\n", n, line.c_str());
  }
  const auto& pr = r["problems"];
  if (pr["count"].get<uint64_t>() > 0) {
    std::printf("problems         %s (records skipped)\n", num(pr["count"]).c_str());
    int shown = 0;
    for (const auto& p : pr["list"]) {
      if (++shown > 10) break;
      std::printf("  %s:%s: %s\n", p["source"].get<std::string>().c_str(), num(p["line"]).c_str(),
                  p["message"].get<std::string>().c_str());
    }
  }
}

}  // namespace

void add_explore(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("explore", "statistics, n-grams, duplicates and pictures of a text corpus");
  auto a = std::make_shared<ExploreArgs>();
  cmd->add_option("DATA", a->data, "text/JSONL/CSV files, directories, - for stdin (.gz/.zst read directly)")
      ->required();
  cmd->add_option("--tokenizer", a->tokenizer, "a model or tokenizer file: adds the token figures");
  cmd->add_option("--field", a->field, "the JSONL field (a.b nests) or CSV column with the text")
      ->capture_default_str();
  cmd->add_option("--split", a->split, "plain text documents: lines (default) or blank (blank-line separated)")
      ->check(CLI::IsMember({"lines", "blank"}));
  cmd->add_option("--format", a->format, "auto (by extension), lines, blank, jsonl or csv")
      ->check(CLI::IsMember({"auto", "lines", "blank", "jsonl", "csv"}))
      ->capture_default_str();
  cmd->add_flag("--json", a->json, "print the full report as JSON");
  cmd->add_option("--html", a->html, "write a self-contained HTML report with pictures");
  cmd->add_option("--summary", a->summary, "write the mergeable summary file (see docs/explore.md)");
  cmd->add_flag("--merge", a->merge, "DATA are summary files: combine them and report");
  cmd->add_option("--top", a->top, "n-grams listed per order")->check(CLI::Range(1, 100000))->capture_default_str();
  cmd->add_flag("--lowercase", a->lowercase, "fold case for word n-grams");
  cmd->add_flag("--stop-words", a->stop_words, "skip word n-grams made only of English stop words");
  cmd->add_option("--context", a->context,
                  "context length for 'documents over context' (default: the model's, else 2048)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_option("--threads", a->threads, "threads (default: all cores)")->check(CLI::Range(1, 1024));
  cmd->add_option("--memory-mb", a->memory_mb, "memory budget for n-gram tables and the duplicate index")
      ->check(CLI::Range(int64_t{16}, int64_t{1} << 20))
      ->capture_default_str();
  cmd->add_flag("--progress", a->progress, "always show progress on stderr (default: only on a terminal)");
  cmd->add_flag("--no-progress", a->no_progress, "never show progress");
  auto sf = std::make_shared<StoreFlags>();
  sf->add(cmd);
  cmd->callback([a, sf, &action] {
    action = [a, sf] {
      const size_t budget = static_cast<size_t>(a->memory_mb) << 20;
      std::unique_ptr<Tokenizer> tok;
      int64_t model_ctx = 0;
      if (!a->tokenizer.empty()) tok = open_tokenizer(a->tokenizer, model_ctx);
      std::unique_ptr<data::Summary> sum;
      if (a->merge) {
        for (const std::string& path : a->data) {
          data::Summary part = data::load_summary(path, budget);
          if (!sum) {
            sum = std::make_unique<data::Summary>(std::move(part));
            continue;
          }
          if (part.lowercase != sum->lowercase || part.stop_words != sum->stop_words)
            fail(path, ": summary was made with different --lowercase/--stop-words options than ", a->data[0]);
          if (part.has_tokens != sum->has_tokens || part.token_counts.size() != sum->token_counts.size())
            fail(path, ": summary was made with a different tokenizer than ", a->data[0]);
          data::merge_summary(*sum, part, budget / 10 * 3 / data::kBytesPerDocument);
        }
      } else {
        data::ExploreOptions o;
        o.format = data::parse_format(a->split.empty() ? a->format : a->split);
        o.field = a->field;
        o.lowercase = a->lowercase;
        o.stop_words = a->stop_words;
        o.tokenizer = tok.get();
        o.context_length = a->context > 0 ? a->context : (model_ctx > 0 ? model_ctx : 2048);
        o.threads = a->threads > 0 ? a->threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
        o.memory_budget = budget;
        o.keep_records = !a->summary.empty();
        data::ProgressBar bar(a->no_progress
                                  ? data::ProgressBar::Mode::Never
                                  : (a->progress ? data::ProgressBar::Mode::Always : data::ProgressBar::Mode::Auto));
        o.progress = [&bar](uint64_t done, uint64_t total) { bar.update(done, total); };
        const Ranks rk = ranks();
        if (!rk.multi()) {
          sum = std::make_unique<data::Summary>(data::explore(a->data, o));
          bar.finish();
        } else {
          // An MPI job: each rank analyses a contiguous share of the records and rank 0 merges
          // the shares' summaries in order, as `--merge` does (docs/ci.md says what is exact).
          const uint64_t n = data::count_records(a->data, o);
          o.first_record = n * static_cast<uint64_t>(rk.rank) / static_cast<uint64_t>(rk.size);
          o.end_record = n * static_cast<uint64_t>(rk.rank + 1) / static_cast<uint64_t>(rk.size);
          o.reader_problems = rk.rank == 0;
          o.keep_records = true;
          if (rk.rank != 0) o.progress = nullptr;
          const std::vector<std::string> parts = gather_on_root(data::summary_text(data::explore(a->data, o)));
          bar.finish();
          if (rk.rank != 0) return;
          for (size_t r = 0; r < parts.size(); ++r) {
            data::Summary part = data::parse_summary(parts[r], cat("the summary of rank ", r), budget);
            if (!sum)
              sum = std::make_unique<data::Summary>(std::move(part));
            else
              data::merge_summary(*sum, part, sum->dedup_cap, true);
          }
          data::fill_snippets(*sum, a->data, o);
          if (a->summary.empty()) sum->records.clear();
        }
        if (tok) sum->tokenizer_name = a->tokenizer;
      }
      if (!a->summary.empty()) data::save_summary(*sum, a->summary);
      const nlohmann::ordered_json report = data::report_json(*sum, tok.get(), static_cast<size_t>(a->top));
      if (!a->html.empty()) {
        std::string title =
            "loupe explore: " + (a->data.size() == 1 ? a->data[0] : std::to_string(a->data.size()) + " inputs");
        data::explore_html(report, title).save(a->html);
      }
      // The corpus files stand where a model stands for the other commands.
      sf->record("explore", a->merge ? std::vector<std::string>{} : a->data, "data", 0, report);
      if (a->json)
        std::printf("%s\n", report.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      else
        print_text(report);
    };
  });
}

}  // namespace loupe::cli
