#include "analysis/eval.h"

#include <cmath>
#include <unordered_set>

#include "analysis/stats.h"
#include "analysis/text.h"
#include "core/error.h"
#include "engine/driver.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"

namespace loupe::analysis {

std::optional<RepetitionLoop> find_repetition_loop(const std::vector<int32_t>& tokens, const DegenerationOptions& o) {
  const auto n = static_cast<int64_t>(tokens.size());
  std::optional<RepetitionLoop> best;
  for (int64_t p = 1; p <= o.max_period && 2 * p <= n; ++p) {
    // How far back from the end tokens[i] == tokens[i - p] holds.
    int64_t run = 0;
    while (run < n - p && tokens[static_cast<size_t>(n - 1 - run)] == tokens[static_cast<size_t>(n - 1 - run - p)])
      ++run;
    const int64_t length = run + p;
    const double repeats = static_cast<double>(length) / static_cast<double>(p);
    if (repeats < o.min_repeats || length < o.min_loop_tokens) continue;
    if (!best || length > best->length) best = RepetitionLoop{p, n - length, length, repeats};
  }
  return best;
}

double ngram_repetition_rate(const std::vector<int32_t>& tokens, int64_t n) {
  LOUPE_ASSERT(n >= 1, "n-gram length ", n);
  const auto len = static_cast<int64_t>(tokens.size());
  if (len < n) return 0.0;
  std::unordered_set<std::string> seen;
  int64_t repeated = 0;
  const int64_t total = len - n + 1;
  for (int64_t i = 0; i < total; ++i) {
    std::string key(reinterpret_cast<const char*>(tokens.data() + i), static_cast<size_t>(n) * sizeof(int32_t));
    if (!seen.insert(std::move(key)).second) ++repeated;
  }
  return static_cast<double>(repeated) / static_cast<double>(total);
}

std::optional<EntropyCollapse> find_entropy_collapse(const std::vector<double>& entropy, const DegenerationOptions& o) {
  const auto n = static_cast<int64_t>(entropy.size());
  const int64_t w = o.collapse_window;
  if (w < 1 || n < 2 * w) return std::nullopt;
  std::vector<double> prefix(static_cast<size_t>(n + 1), 0.0);
  for (int64_t i = 0; i < n; ++i)
    prefix[static_cast<size_t>(i + 1)] = prefix[static_cast<size_t>(i)] + entropy[static_cast<size_t>(i)];
  const auto mean = [&](int64_t a, int64_t b) {
    return (prefix[static_cast<size_t>(b)] - prefix[static_cast<size_t>(a)]) / static_cast<double>(b - a);
  };
  for (int64_t i = w; i + w <= n; ++i) {
    const double before = mean(i - w, i);
    const double after = mean(i, i + w);
    if (before >= o.collapse_min && after < o.collapse_ratio * before) return EntropyCollapse{i, before, after};
  }
  return std::nullopt;
}

namespace {

// Whether a token's text is only white space (or nothing: a control token).
bool blank_token(const Tokenizer& tok, int32_t id) {
  const std::string t = tok.decode(std::span<const int32_t>(&id, 1));
  return t.find_first_not_of(" \t\r\n\v\f") == std::string::npos;
}

void finish_doc(DocEval& d, const DegenerationOptions& o, const Tokenizer& tok) {
  double sum = 0, sum2 = 0, hsum = 0;
  std::vector<double> entropy;
  entropy.reserve(d.losses.size());
  for (const TokenLoss& t : d.losses) {
    sum += t.loss;
    sum2 += t.loss * t.loss;
    hsum += t.entropy;
    entropy.push_back(t.entropy);
  }
  const auto count = static_cast<int64_t>(d.losses.size());
  const MeanError m = mean_and_error(sum, sum2, count);
  d.mean_loss = m.mean;
  d.ppl = {std::exp(m.mean), std::exp(m.mean) * m.error};
  d.mean_entropy = count > 0 ? hsum / static_cast<double>(count) : 0.0;
  d.ngram_repetition = ngram_repetition_rate(d.tokens, o.ngram);
  // White space (a final newline, trailing spaces) after a loop does not hide it.
  size_t end = d.tokens.size();
  while (end > 0 && blank_token(tok, d.tokens[end - 1])) --end;
  d.loop = find_repetition_loop(
      std::vector<int32_t>(d.tokens.begin(), d.tokens.begin() + static_cast<std::ptrdiff_t>(end)), o);
  d.collapse = find_entropy_collapse(entropy, o);
}

}  // namespace

EvalResult run_eval(const Model& model, const std::string& data_path, const std::string& field,
                    const EvalOptions& options) {
  if (options.degeneration.ngram < 1) fail("--ngram: ", options.degeneration.ngram, " must be at least 1");
  Interpreter interp(model, options.run);
  if (options.seq.chunk > interp.n_ctx())
    fail("--chunk ", options.seq.chunk, " is longer than the context of ", interp.n_ctx(), " positions (raise --ctx)");
  const int64_t V = model.config.d_vocab;
  const Tokenizer& tok = *model.tokenizer;
  DocumentReader reader(data_path, field, options.seq.format, options.seq.strict);
  SequencerOptions so = options.seq;
  so.max_len = interp.n_ctx();
  Sequencer seq(model, reader, so);

  EvalResult r;
  r.model = model.path;
  double sum = 0, sum2 = 0, hsum = 0, rep_sum = 0;
  TopK<SurprisingToken> surprising(options.n_surprising);
  std::vector<double> lp(static_cast<size_t>(V));
  DocEval doc;
  bool doc_open = false;
  int64_t tokens_run = 0;

  const auto close_doc = [&] {
    if (!doc_open) return;
    doc_open = false;
    if (doc.losses.empty()) return;
    finish_doc(doc, options.degeneration, tok);
    ++r.n_docs;
    rep_sum += doc.ngram_repetition;
    if (doc.loop) ++r.docs_with_loop;
    if (doc.collapse) ++r.docs_with_collapse;
    if (options.on_doc) options.on_doc(doc);
  };

  while (std::optional<Sequence> s = seq.next()) {
    if (!doc_open || s->doc != doc.doc) {
      close_doc();
      doc = DocEval{};
      doc.doc = s->doc;
      doc.line = s->doc_line;
      doc_open = true;
    }
    // Windows of a document overlap by one token.
    const size_t skip = doc.tokens.empty() ? 0 : 1;
    doc.tokens.insert(doc.tokens.end(), s->tokens.begin() + static_cast<std::ptrdiff_t>(skip), s->tokens.end());
    const std::span<const int32_t> tokens(s->tokens);
    const auto n = static_cast<int64_t>(tokens.size());
    interp.rewind(0);
    forward(interp, tokens, true, [&](const float* logits, int64_t rows, int64_t first) {
      for (int64_t i = 0; i < rows; ++i) {
        const int64_t pos = first + i;
        if (pos < s->first_scored || pos + 1 >= n) continue;
        const float* row = logits + i * V;
        log_softmax(row, V, lp.data());
        TokenLoss t;
        t.pos = s->offset + pos + 1;
        t.token = tokens[static_cast<size_t>(pos + 1)];
        t.loss = -lp[static_cast<size_t>(t.token)];
        t.entropy = entropy(lp.data(), V);
        t.top = static_cast<int32_t>(argmax(row, V));
        sum += t.loss;
        sum2 += t.loss * t.loss;
        hsum += t.entropy;
        ++r.n_tokens_scored;
        if (surprising.would_enter(t.loss)) {
          SurprisingToken st;
          st.doc = s->doc;
          st.line = s->doc_line;
          st.t = t;
          st.context = context_before(tok, tokens, pos + 1, 12);
          st.text = tokens_text(tok, tokens.subspan(static_cast<size_t>(pos + 1), 1));
          const int32_t top[1] = {t.top};
          st.top_text = tokens_text(tok, top);
          surprising.add(t.loss, std::move(st));
        }
        doc.losses.push_back(t);
      }
    });
    tokens_run += n;
    if (options.progress) options.progress(seq.n_docs(), tokens_run);
  }
  close_doc();
  if (r.n_tokens_scored == 0) fail(data_path, ": no token to score (every document is shorter than two tokens)");
  const MeanError m = mean_and_error(sum, sum2, r.n_tokens_scored);
  r.mean_loss = m.mean;
  r.ppl = {std::exp(m.mean), std::exp(m.mean) * m.error};
  r.mean_entropy = hsum / static_cast<double>(r.n_tokens_scored);
  r.mean_ngram_repetition = r.n_docs > 0 ? rep_sum / static_cast<double>(r.n_docs) : 0.0;
  for (auto& [score, st] : surprising.sorted()) r.surprising.push_back(std::move(st));
  return r;
}

nlohmann::ordered_json to_json(const DocEval& d) {
  nlohmann::ordered_json j;
  j["doc"] = d.doc;
  j["line"] = d.line;
  j["n_tokens_scored"] = d.losses.size();
  j["mean_loss"] = d.mean_loss;
  j["ppl"] = d.ppl.value;
  j["ppl_error"] = d.ppl.error;
  j["mean_entropy"] = d.mean_entropy;
  j["ngram_repetition"] = d.ngram_repetition;
  if (d.loop)
    j["repetition_loop"] = {
        {"period", d.loop->period}, {"start", d.loop->start}, {"length", d.loop->length}, {"repeats", d.loop->repeats}};
  else
    j["repetition_loop"] = nullptr;
  if (d.collapse)
    j["entropy_collapse"] = {{"pos", d.collapse->pos}, {"before", d.collapse->before}, {"after", d.collapse->after}};
  else
    j["entropy_collapse"] = nullptr;
  return j;
}

nlohmann::ordered_json to_json(const EvalResult& r) {
  nlohmann::ordered_json j;
  j["model"] = r.model;
  j["n_docs"] = r.n_docs;
  j["n_tokens_scored"] = r.n_tokens_scored;
  j["mean_loss"] = r.mean_loss;
  j["ppl"] = r.ppl.value;
  j["ppl_error"] = r.ppl.error;
  j["mean_entropy"] = r.mean_entropy;
  j["degeneration"] = {{"docs_with_repetition_loop", r.docs_with_loop},
                       {"docs_with_entropy_collapse", r.docs_with_collapse},
                       {"mean_ngram_repetition", r.mean_ngram_repetition}};
  nlohmann::ordered_json s = nlohmann::ordered_json::array();
  for (const SurprisingToken& t : r.surprising)
    s.push_back({{"doc", t.doc},
                 {"line", t.line},
                 {"pos", t.t.pos},
                 {"token", t.t.token},
                 {"text", t.text},
                 {"context", t.context},
                 {"loss", t.t.loss},
                 {"entropy", t.t.entropy},
                 {"top", t.t.top},
                 {"top_text", t.top_text}});
  j["surprising"] = s;
  return j;
}

}  // namespace loupe::analysis
