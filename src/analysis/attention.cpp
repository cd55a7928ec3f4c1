#include "analysis/attention.h"

#include <cmath>
#include <random>

#include "core/error.h"
#include "engine/driver.h"
#include "model/weights.h"

namespace loupe::analysis {

void pattern_scores(const float* pattern, int64_t n_heads, int64_t n, std::vector<double>& entropy,
                    std::vector<double>& sink, std::vector<double>& prev) {
  entropy.assign(static_cast<size_t>(n_heads), 0.0);
  sink.assign(static_cast<size_t>(n_heads), 0.0);
  prev.assign(static_cast<size_t>(n_heads), 0.0);
  for (int64_t h = 0; h < n_heads; ++h) {
    double e = 0, s = 0, p = 0;
    for (int64_t i = 0; i < n; ++i) {
      const float* row = pattern + (h * n + i) * n;
      double ent = 0;
      for (int64_t j = 0; j <= i; ++j)
        if (row[j] > 0) ent -= static_cast<double>(row[j]) * std::log(static_cast<double>(row[j]));
      e += ent;
      s += row[0];
      if (i >= 1) p += row[i - 1];
    }
    entropy[static_cast<size_t>(h)] = e / static_cast<double>(n);
    sink[static_cast<size_t>(h)] = s / static_cast<double>(n);
    prev[static_cast<size_t>(h)] = n > 1 ? p / static_cast<double>(n - 1) : 0.0;
  }
}

std::vector<double> induction_scores(const float* pattern, int64_t n_heads, int64_t n, int64_t period) {
  std::vector<double> out(static_cast<size_t>(n_heads), 0.0);
  const int64_t first = 1 + period;  // first position of the second copy
  if (first >= n) return out;
  for (int64_t h = 0; h < n_heads; ++h) {
    double s = 0;
    for (int64_t i = first; i < n; ++i) s += pattern[(h * n + i) * n + (i - period + 1)];
    out[static_cast<size_t>(h)] = s / static_cast<double>(n - first);
  }
  return out;
}

HeadScores chance_scores(int64_t n, int64_t window, int64_t n_induction, int64_t period) {
  // Query i sees keys max(0, i - window + 1) .. i: each with weight 1 / k_i.
  const auto seen = [window](int64_t i) { return window > 0 ? std::min(i + 1, window) : i + 1; };
  const auto first_seen = [window](int64_t i) { return window > 0 ? std::max<int64_t>(0, i - window + 1) : 0; };
  HeadScores c;
  c.layer = -1;
  c.head = -1;
  for (int64_t i = 0; i < n; ++i) {
    const auto k = static_cast<double>(seen(i));
    c.entropy += std::log(k);
    if (first_seen(i) == 0) c.sink += 1 / k;
    if (i >= 1) c.prev_token += 1 / k;
  }
  c.entropy /= static_cast<double>(std::max<int64_t>(n, 1));
  c.sink /= static_cast<double>(std::max<int64_t>(n, 1));
  c.prev_token = n > 1 ? c.prev_token / static_cast<double>(n - 1) : 0.0;
  const int64_t first = 1 + period;
  for (int64_t i = first; i < n_induction; ++i)
    if (i - period + 1 >= first_seen(i)) c.induction += 1 / static_cast<double>(seen(i));
  c.induction = n_induction > first ? c.induction / static_cast<double>(n_induction - first) : 0.0;
  return c;
}

namespace {

// Copies every layer's pattern of a single pass starting at position 0.
class PatternCapture : public Observer {
 public:
  explicit PatternCapture(int64_t n_layers) : patterns(static_cast<size_t>(n_layers)) {}
  void on_hook(const HookEvent& e) override {
    if (e.pos0 != 0)
      fail("attention: ", e.point->name, " holds queries from position ", e.pos0,
           "; the head scores need the prompt's patterns from position 0 in one pass (in loupe debug: 'run' the "
           "prompt again, then 'analyze attention')");
    const int64_t heads = e.shape.dims[0], q = e.shape.dims[1], k = e.shape.dims[2];
    // Keep the [heads, q, q] square (key positions beyond the queries are masked anyway).
    std::vector<float>& p = patterns[static_cast<size_t>(e.point->layer)];
    p.resize(static_cast<size_t>(heads * q * q));
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < q; ++i) std::copy_n(e.data + (h * q + i) * k, q, p.data() + (h * q + i) * q);
  }
  std::vector<std::vector<float>> patterns;
};

std::vector<std::vector<float>> capture_patterns(const Model& model, const RunOptions& ro,
                                                 const std::vector<int32_t>& tokens) {
  RunOptions one = ro;
  one.max_batch = std::max<int64_t>(1, static_cast<int64_t>(tokens.size()));
  Interpreter interp(model, one);
  PatternCapture cap(model.config.n_layers);
  std::vector<Subscription> subs;
  for (int id : interp.hooks().resolve("blocks.*.attn.hook_pattern")) subs.push_back(interp.subscribe(id, &cap));
  forward(interp, tokens, false, nullptr);
  return std::move(cap.patterns);
}

}  // namespace

struct AttentionAnalysis::Capture : PatternCapture {
  using PatternCapture::PatternCapture;
};

AttentionAnalysis::AttentionAnalysis(const Model& model, std::vector<int32_t> tokens, const AttentionOptions& options)
    : model_(model), opt_(options), capture_(std::make_unique<Capture>(model.config.n_layers)) {
  if (options.induction_len < 2) fail("--induction-len: ", options.induction_len, " must be at least 2");
  result_.tokens = std::move(tokens);
}

AttentionAnalysis::~AttentionAnalysis() = default;

void AttentionAnalysis::attach(Interpreter& interp) {
  for (int id : interp.hooks().resolve("blocks.*.attn.hook_pattern"))
    subs_.push_back(interp.subscribe(id, capture_.get()));
}

const AttentionResult& AttentionAnalysis::result() {
  if (finished_) return result_;
  finished_ = true;
  subs_.clear();
  const ModelConfig& c = model_.config;
  AttentionResult& r = result_;
  r.n_layers = c.n_layers;
  r.n_heads = c.n_heads;
  r.patterns = std::move(capture_->patterns);
  const auto n = static_cast<int64_t>(r.tokens.size());

  // The repeated random sequence: BOS (when the model has one) + R tokens + the same R tokens,
  // in a pass of its own.
  const int64_t R = opt_.induction_len;
  Interpreter probe(model_, opt_.run);
  if (1 + 2 * R > probe.n_ctx())
    fail("--induction-len: ", R, " needs ", 1 + 2 * R, " positions; the context has ", probe.n_ctx());
  std::mt19937_64 rng(opt_.seed);
  // Avoid the special ids at the start of llama vocabularies (unk, bos, eos).
  const int32_t lo = c.d_vocab > 16 ? 3 : 0;
  std::uniform_int_distribution<int32_t> dist(lo, static_cast<int32_t>(c.d_vocab - 1));
  r.induction_tokens.push_back(c.bos_id >= 0 && c.bos_id < c.d_vocab ? c.bos_id : dist(rng));
  std::vector<int32_t> random(static_cast<size_t>(R));
  for (auto& t : random) t = dist(rng);
  for (int copy = 0; copy < 2; ++copy)
    r.induction_tokens.insert(r.induction_tokens.end(), random.begin(), random.end());
  const auto ind_patterns = capture_patterns(model_, opt_.run, r.induction_tokens);
  const auto n_ind = static_cast<int64_t>(r.induction_tokens.size());

  std::vector<double> ent, sink, prev;
  for (int64_t l = 0; l < c.n_layers; ++l) {
    pattern_scores(r.patterns[static_cast<size_t>(l)].data(), c.n_heads, n, ent, sink, prev);
    const std::vector<double> ind = induction_scores(ind_patterns[static_cast<size_t>(l)].data(), c.n_heads, n_ind, R);
    for (int64_t h = 0; h < c.n_heads; ++h) {
      const auto hi = static_cast<size_t>(h);
      r.heads.push_back({static_cast<int>(l), static_cast<int>(h), ent[hi], sink[hi], prev[hi], ind[hi]});
    }
    HeadScores chance = chance_scores(n, c.layers[static_cast<size_t>(l)].window, n_ind, R);
    chance.layer = static_cast<int>(l);
    r.chance.push_back(chance);
  }
  return r;
}

nlohmann::ordered_json AttentionAnalysis::finish() {
  return to_json(result());
}

AttentionResult run_attention(const Model& model, const std::vector<int32_t>& tokens, const AttentionOptions& options) {
  AttentionAnalysis a(model, tokens, options);
  RunOptions one = options.run;
  one.max_batch = std::max<int64_t>(1, static_cast<int64_t>(tokens.size()));
  Interpreter interp(model, one);
  a.attach(interp);
  forward(interp, tokens, false, nullptr);
  return a.result();
}

nlohmann::ordered_json to_json(const AttentionResult& r) {
  nlohmann::ordered_json j;
  j["tokens"] = r.tokens;
  j["induction_tokens"] = r.induction_tokens;
  nlohmann::ordered_json heads = nlohmann::ordered_json::array();
  for (const HeadScores& h : r.heads)
    heads.push_back({{"layer", h.layer},
                     {"head", h.head},
                     {"entropy", h.entropy},
                     {"sink", h.sink},
                     {"prev_token", h.prev_token},
                     {"induction", h.induction}});
  j["heads"] = heads;
  nlohmann::ordered_json chance = nlohmann::ordered_json::array();
  for (const HeadScores& c : r.chance)
    chance.push_back({{"layer", c.layer},
                      {"entropy", c.entropy},
                      {"sink", c.sink},
                      {"prev_token", c.prev_token},
                      {"induction", c.induction}});
  j["chance"] = chance;
  return j;
}

}  // namespace loupe::analysis
