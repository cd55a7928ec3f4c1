#include "analysis/eval.h"

#include <cmath>
#include <cstring>
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

  EvalSummary summary;
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
    summary.add(doc);
    if (options.on_doc) options.on_doc(doc);
  };

  while (std::optional<Sequence> s = seq.next()) {
    if (options.take_doc && !options.take_doc(s->doc)) continue;
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
  std::vector<SurprisingToken> top;
  for (auto& [score, st] : surprising.sorted()) top.push_back(std::move(st));
  return summary.finish(model.path, data_path, std::move(top), options.n_surprising, options.part);
}

void EvalSummary::add(const DocEval& d) {
  for (const TokenLoss& t : d.losses) {
    sum_ += t.loss;
    sum2_ += t.loss * t.loss;
    hsum_ += t.entropy;
  }
  r_.n_tokens_scored += static_cast<int64_t>(d.losses.size());
  ++r_.n_docs;
  rep_sum_ += d.ngram_repetition;
  if (d.loop) ++r_.docs_with_loop;
  if (d.collapse) ++r_.docs_with_collapse;
}

EvalResult EvalSummary::finish(const std::string& model, const std::string& data_path,
                               std::vector<SurprisingToken> surprising, size_t n_surprising, bool allow_empty) const {
  if (r_.n_tokens_scored == 0 && !allow_empty)
    fail(data_path, ": no token to score (every document is shorter than two tokens)");
  EvalResult r = r_;
  r.model = model;
  if (r.n_tokens_scored == 0) return r;
  const MeanError m = mean_and_error(sum_, sum2_, r.n_tokens_scored);
  r.mean_loss = m.mean;
  r.ppl = {std::exp(m.mean), std::exp(m.mean) * m.error};
  r.mean_entropy = hsum_ / static_cast<double>(r.n_tokens_scored);
  r.mean_ngram_repetition = r.n_docs > 0 ? rep_sum_ / static_cast<double>(r.n_docs) : 0.0;
  // Largest loss first; among equal losses the earlier token (as one run's TopK keeps them).
  std::stable_sort(surprising.begin(), surprising.end(), [](const SurprisingToken& a, const SurprisingToken& b) {
    if (a.t.loss != b.t.loss) return a.t.loss > b.t.loss;
    return a.doc != b.doc ? a.doc < b.doc : a.t.pos < b.t.pos;
  });
  if (surprising.size() > n_surprising) surprising.resize(n_surprising);
  r.surprising = std::move(surprising);
  return r;
}

namespace {

template <typename T>
void put(std::string& out, const T& v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}
void put_string(std::string& out, const std::string& s) {
  put(out, static_cast<uint64_t>(s.size()));
  out += s;
}
template <typename T>
T take(std::string_view& in) {
  if (in.size() < sizeof(T)) fail("a packed evaluation ends early (a rank sent a truncated message)");
  T v;
  std::memcpy(&v, in.data(), sizeof v);
  in.remove_prefix(sizeof v);
  return v;
}
// Field by field (no padding bytes on the wire).
constexpr size_t kPackedLoss = 8 + 4 + 8 + 8 + 4;
void put_loss(std::string& out, const TokenLoss& t) {
  put(out, t.pos);
  put(out, t.token);
  put(out, t.loss);
  put(out, t.entropy);
  put(out, t.top);
}
TokenLoss take_loss(std::string_view& in) {
  TokenLoss t;
  t.pos = take<int64_t>(in);
  t.token = take<int32_t>(in);
  t.loss = take<double>(in);
  t.entropy = take<double>(in);
  t.top = take<int32_t>(in);
  return t;
}
std::string take_string(std::string_view& in) {
  const auto n = take<uint64_t>(in);
  if (in.size() < n) fail("a packed evaluation ends early (a rank sent a truncated message)");
  std::string s(in.substr(0, n));
  in.remove_prefix(n);
  return s;
}

}  // namespace

std::string pack(const DocEval& d) {
  std::string out;
  put(out, d.doc);
  put(out, d.line);
  put(out, static_cast<uint64_t>(d.tokens.size()));
  out.append(reinterpret_cast<const char*>(d.tokens.data()), d.tokens.size() * sizeof(int32_t));
  put(out, static_cast<uint64_t>(d.losses.size()));
  for (const TokenLoss& t : d.losses) put_loss(out, t);
  put(out, d.ppl);
  put(out, d.mean_loss);
  put(out, d.mean_entropy);
  put(out, d.ngram_repetition);
  put(out, static_cast<uint8_t>(d.loop.has_value()));
  if (d.loop) put(out, *d.loop);
  put(out, static_cast<uint8_t>(d.collapse.has_value()));
  if (d.collapse) put(out, *d.collapse);
  return out;
}

DocEval unpack_doc(std::string_view& in) {
  DocEval d;
  d.doc = take<int64_t>(in);
  d.line = take<int64_t>(in);
  const auto nt = take<uint64_t>(in);
  if (in.size() / sizeof(int32_t) < nt) fail("a packed evaluation ends early (a rank sent a truncated message)");
  d.tokens.resize(nt);
  for (auto& t : d.tokens) t = take<int32_t>(in);
  const auto nl = take<uint64_t>(in);
  if (in.size() / kPackedLoss < nl) fail("a packed evaluation ends early (a rank sent a truncated message)");
  d.losses.resize(nl);
  for (auto& t : d.losses) t = take_loss(in);
  d.ppl = take<ValueError>(in);
  d.mean_loss = take<double>(in);
  d.mean_entropy = take<double>(in);
  d.ngram_repetition = take<double>(in);
  if (take<uint8_t>(in) != 0) d.loop = take<RepetitionLoop>(in);
  if (take<uint8_t>(in) != 0) d.collapse = take<EntropyCollapse>(in);
  return d;
}

std::string pack(const SurprisingToken& t) {
  std::string out;
  put(out, t.doc);
  put(out, t.line);
  put_loss(out, t.t);
  put_string(out, t.context);
  put_string(out, t.text);
  put_string(out, t.top_text);
  return out;
}

SurprisingToken unpack_surprising(std::string_view& in) {
  SurprisingToken t;
  t.doc = take<int64_t>(in);
  t.line = take<int64_t>(in);
  t.t = take_loss(in);
  t.context = take_string(in);
  t.text = take_string(in);
  t.top_text = take_string(in);
  return t;
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
