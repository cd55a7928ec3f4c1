// The HTML page of `loupe explore --html`.
#include "data/explore_report.h"

#include <cmath>

#include "data/wordcloud.h"
#include "report/charts.h"

namespace loupe::data {

namespace {

using ojson = nlohmann::ordered_json;

std::string num(const ojson& v) {
  if (v.is_number_float()) return report::format_label(v.get<double>());
  return v.dump();
}

std::string percent(double share) {
  return report::format_label(100 * share) + "%";
}

report::SvgDocument length_histogram(const ojson& h, const std::string& what) {
  report::Histogram c;
  c.frame.title = "documents by length in " + what;
  c.x_label = what;
  c.y_label = "documents";
  c.edges = h.at("edges").get<std::vector<double>>();
  c.counts = h.at("counts").get<std::vector<double>>();
  return report::histogram(c);
}

report::SvgDocument ngram_bars(const ojson& list, const std::string& title) {
  report::BarChart c;
  c.frame.title = title;
  c.value_label = "count";
  for (const auto& e : list) c.bars.push_back({e[0].get<std::string>(), e[1].get<double>()});
  return report::bar_chart(c);
}

void examples_table(report::HtmlReport& page, const ojson& list, const char* value, const std::string& caption) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : list) {
    std::vector<std::string> row{e.at("source").get<std::string>() + ":" + num(e.at("line"))};
    if (value) row.push_back(num(e.at(value)));
    if (e.contains("original_source"))
      row.push_back(e.at("original_source").get<std::string>() + ":" + num(e.at("original_line")));
    row.push_back(e.at("snippet").get<std::string>());
    rows.push_back(row);
  }
  if (rows.empty()) return;
  std::vector<std::string> header{"where"};
  if (value) header.push_back(value);
  if (list.at(0).contains("original_source")) header.push_back("repeats");
  header.push_back("text");
  page.table(header, rows, caption);
}

}  // namespace

report::HtmlReport explore_html(const ojson& r, const std::string& title) {
  report::HtmlReport page(title);
  page.heading("Counts");
  std::vector<std::pair<std::string, std::string>> kv;
  for (const char* k :
       {"documents", "characters", "bytes", "words", "lines", "tokens", "empty_documents", "whitespace_only_documents",
        "exact_duplicate_documents", "near_duplicate_documents", "control_characters"})
    if (r.contains(k)) kv.emplace_back(k, num(r.at(k)));
  kv.emplace_back("invalid UTF-8 documents / bytes",
                  num(r.at("invalid_utf8").at("documents")) + " / " + num(r.at("invalid_utf8").at("bytes")));
  const ojson& p = r.at("patterns");
  kv.emplace_back("documents with URLs",
                  num(p.at("documents_with_urls")) + " (" + percent(p.at("url_document_share")) + ")");
  kv.emplace_back("documents with e-mails",
                  num(p.at("documents_with_emails")) + " (" + percent(p.at("email_document_share")) + ")");
  kv.emplace_back("number words", num(p.at("number_words")) + " (" + percent(p.at("number_word_share")) + ")");
  kv.emplace_back("problems in the input", num(r.at("problems").at("count")));
  page.key_values(kv);
  if (!r.at("problems").at("list").empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& e : r.at("problems").at("list"))
      rows.push_back({e.at("source").get<std::string>() + ":" + num(e.at("line")), e.at("message").get<std::string>()});
    page.table({"where", "problem"}, rows, "problems (records skipped)");
  }

  page.heading("Words");
  const ojson& unigrams = r.at("top_ngrams").at("words").at("1");
  std::vector<CloudWord> cloud_words;
  for (const auto& e : unigrams) cloud_words.push_back({e[0].get<std::string>(), e[1].get<double>()});
  page.figure(draw_word_cloud(layout_word_cloud(cloud_words, 720, 360), "word cloud"), "the most frequent words");
  for (const char* n : {"1", "2", "3", "4"})
    page.figure(ngram_bars(r.at("top_ngrams").at("words").at(n), std::string("top word ") + n + "-grams"));
  for (const char* n : {"1", "2", "3"})
    page.figure(ngram_bars(r.at("top_ngrams").at("characters").at(n), std::string("top character ") + n + "-grams"));
  std::vector<std::vector<std::string>> acc;
  for (const char* kind : {"words", "characters", "tokens"}) {
    if (!r.at("ngram_accuracy").contains(kind)) continue;
    for (const auto& [n, a] : r.at("ngram_accuracy").at(kind).items())
      acc.push_back({std::string(kind) + " " + n, a.at("exact").get<bool>() ? "exact" : "sketch",
                     num(a.at("max_error")), num(a.at("total")), num(a.at("distinct"))});
  }
  page.table({"n-grams", "counts", "max over-count", "total", "distinct"}, acc,
             "sketched counts over-estimate the true count by at most the stated error");

  page.heading("Vocabulary");
  const ojson& v = r.at("vocabulary");
  page.key_values({{"vocabulary size", num(v.at("size"))},
                   {"Heaps' law V = k W^beta", "k = " + num(v.at("heaps_k")) + ", beta = " + num(v.at("heaps_beta"))},
                   {"Zipf slope", num(v.at("zipf_slope"))}});
  report::XYPlot zipf;
  zipf.frame.title = "Zipf plot";
  zipf.x = {.label = "rank", .log = true};
  zipf.y = {.label = "frequency", .log = true};
  report::Series observed{.name = "words", .lines = true, .points = true};
  for (size_t i = 0; i < unigrams.size(); ++i) {
    observed.x.push_back(static_cast<double>(i + 1));
    observed.y.push_back(unigrams[i][1].get<double>());
  }
  zipf.series.push_back(observed);
  page.figure(report::xy_plot(zipf), "word frequency by rank (log-log); the slope is the Zipf exponent");
  report::XYPlot heaps;
  heaps.frame.title = "vocabulary growth";
  heaps.x = {.label = "words read", .log = true};
  heaps.y = {.label = "distinct words", .log = true};
  report::Series growth{.name = "observed"};
  report::Series fit{.name = "Heaps fit"};
  for (const auto& e : v.at("growth")) {
    const double w = e[0].get<double>();
    growth.x.push_back(w);
    growth.y.push_back(e[1].get<double>());
    fit.x.push_back(w);
    fit.y.push_back(v.at("heaps_k").get<double>() * std::pow(w, v.at("heaps_beta").get<double>()));
  }
  heaps.series = {growth, fit};
  page.figure(report::xy_plot(heaps));

  page.heading("Lengths");
  std::vector<std::vector<std::string>> pct;
  for (const auto& [what, d] : r.at("length_percentiles").items()) {
    std::vector<std::string> row{what};
    for (const auto& [k, x] : d.items()) row.push_back(num(x));
    pct.push_back(row);
  }
  page.table({"per document", "min", "p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99", "max", "mean"}, pct);
  for (const auto& [what, h] : r.at("length_histograms").items()) page.figure(length_histogram(h, what));
  examples_table(page, r.at("longest_documents"), "characters", "longest documents");
  examples_table(page, r.at("shortest_documents"), "characters", "shortest non-empty documents");

  if (r.contains("tokenizer")) {
    const ojson& t = r.at("tokenizer");
    page.heading("Tokenizer");
    page.key_values(
        {{"tokenizer", t.at("name").get<std::string>()},
         {"tokens per word (fertility)", num(t.at("fertility"))},
         {"byte-fallback tokens",
          num(t.at("byte_fallback_tokens")) + " (" + percent(t.at("byte_fallback_share")) + ")"},
         {"unknown tokens", num(t.at("unknown_tokens")) + " (" + percent(t.at("unknown_share")) + ")"},
         {"vocabulary used", num(t.at("tokens_used")) + " of " + num(t.at("vocab_size"))},
         {"documents over " + num(t.at("context_length")) + " tokens", num(t.at("documents_over_context"))}});
    for (const char* n : {"1", "2", "3"})
      page.figure(ngram_bars(r.at("top_ngrams").at("tokens").at(n), std::string("top token ") + n + "-grams"));
    std::vector<std::vector<std::string>> rows;
    for (const auto& e : t.at("longest_tokens_seen"))
      rows.push_back({num(e.at("id")), e.at("text").get<std::string>(), num(e.at("bytes")), num(e.at("count"))});
    page.table({"id", "token", "bytes", "count"}, rows, "longest tokens seen");
  }

  page.heading("Scripts");
  std::vector<std::vector<std::string>> scripts;
  report::BarChart sc;
  sc.frame.title = "characters by Unicode script";
  sc.value_label = "share of characters (%)";
  for (const auto& e : r.at("scripts")) {
    scripts.push_back({e.at("script").get<std::string>(), num(e.at("characters")), percent(e.at("share"))});
    sc.bars.push_back({e.at("script").get<std::string>(), 100 * e.at("share").get<double>()});
  }
  page.figure(report::bar_chart(sc));
  page.table({"script", "characters", "share"}, scripts);

  page.heading("Duplicates");
  const ojson& d = r.at("duplicates");
  page.key_values({{"exact duplicate documents", num(d.at("exact_duplicate_documents"))},
                   {"groups of exact duplicates", num(d.at("exact_duplicate_groups"))},
                   {"near duplicate documents", num(d.at("near_duplicate_documents"))},
                   {"documents checked", num(d.at("checked_documents"))},
                   {"documents not checked (memory cap)", num(d.at("unchecked_documents"))},
                   {"near duplicate method", d.at("near_method").get<std::string>()}});
  examples_table(page, d.at("exact_examples"), nullptr, "exact duplicates");
  examples_table(page, d.at("near_examples"), nullptr, "near duplicates");
  examples_table(page, r.at("invalid_utf8").at("examples"), "byte", "invalid UTF-8 (first bad byte offset)");
  return page;
}

}  // namespace loupe::data
