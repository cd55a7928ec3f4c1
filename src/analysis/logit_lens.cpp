#include "analysis/logit_lens.h"

#include <algorithm>
#include <numeric>

#include "analysis/lens.h"
#include "analysis/pass.h"
#include "analysis/stats.h"
#include "analysis/text.h"
#include "core/error.h"
#include "engine/driver.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"

namespace loupe::analysis {

LensCell lens_cell(const float* logits, int64_t d_vocab, const double* final_log_probs, int64_t top_k,
                   std::optional<int32_t> target) {
  std::vector<double> lp(static_cast<size_t>(d_vocab));
  log_softmax(logits, d_vocab, lp.data());
  LensCell c;
  std::vector<int32_t> order(static_cast<size_t>(d_vocab));
  std::iota(order.begin(), order.end(), 0);
  const auto k = static_cast<size_t>(std::min(top_k, d_vocab));
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                    [&](int32_t a, int32_t b) {
                      return lp[static_cast<size_t>(a)] > lp[static_cast<size_t>(b)] ||
                             (lp[static_cast<size_t>(a)] == lp[static_cast<size_t>(b)] && a < b);
                    });
  for (size_t i = 0; i < k; ++i) c.top.emplace_back(order[i], std::exp(lp[static_cast<size_t>(order[i])]));
  if (target) {
    const double t = lp[static_cast<size_t>(*target)];
    c.target_prob = std::exp(t);
    int64_t rank = 0;
    for (int64_t i = 0; i < d_vocab; ++i)
      if (lp[static_cast<size_t>(i)] > t || (lp[static_cast<size_t>(i)] == t && i < *target)) ++rank;
    c.target_rank = rank;
  }
  c.entropy = entropy(lp.data(), d_vocab);
  if (final_log_probs != nullptr) c.kl_to_final = kl_divergence(final_log_probs, lp.data(), d_vocab);
  return c;
}

LensAnalysis::LensAnalysis(const Model& model, std::vector<int32_t> tokens, const LensOptions& options)
    : model_(model), opt_(options) {
  const int64_t V = model.config.d_vocab;
  if (options.target && (*options.target < 0 || *options.target >= V))
    fail("--target: token id ", *options.target, " is out of range (vocabulary of ", V, ")");
  if (options.top_k < 1) fail("--top: ", options.top_k, " must be at least 1");
  result_.tokens = std::move(tokens);
  result_.target = options.target;
  result_.final.hook = "unembed.hook_logits";
}

void LensAnalysis::attach(Interpreter& interp) {
  interp_ = &interp;
  std::vector<int> resid;
  for (int h = 0; h < interp.hooks().size(); ++h) {
    const HookKind k = interp.hooks()[h].kind;
    if (k == HookKind::ResidPre || k == HookKind::ResidMid || k == HookKind::ResidPost) resid.push_back(h);
  }
  cache_.select(std::move(resid));
  cache_.attach(interp);
}

void LensAnalysis::on_logits(const float* logits, int64_t rows, int64_t first_pos) {
  const int64_t V = model_.config.d_vocab;
  final_lp_.resize(result_.tokens.size() * static_cast<size_t>(V));  // [n, d_vocab]
  for (int64_t i = 0; i < rows; ++i) {
    log_softmax(logits + i * V, V, final_lp_.data() + (first_pos + i) * V);
    result_.final.cells.push_back(lens_cell(logits + i * V, V, nullptr, opt_.top_k, opt_.target));
  }
}

const LensResult& LensAnalysis::result() {
  if (finished_) return result_;
  finished_ = true;
  cache_.finish();
  LOUPE_ASSERT(interp_ != nullptr, "lens finished before it was attached");
  LOUPE_ASSERT(result_.final.cells.size() == result_.tokens.size(), "lens needs every position's logits");
  const int64_t V = model_.config.d_vocab;
  LogitLens lens(model_, interp_->pool(), interp_->numerics());
  std::vector<float> logits;  // [rows, d_vocab]
  for (const TensorCache::Entry& e : cache_.entries()) {
    const int64_t rows = e.shape[0];
    logits.resize(static_cast<size_t>(rows * V));
    lens.apply(e.data.data(), rows, logits.data());
    LensRow row;
    row.hook = e.name;
    row.layer = interp_->hooks()[e.hook].layer;
    for (int64_t i = 0; i < rows; ++i)
      row.cells.push_back(
          lens_cell(logits.data() + i * V, V, final_lp_.data() + (e.pos0 + i) * V, opt_.top_k, opt_.target));
    result_.rows.push_back(std::move(row));
  }
  cache_.clear();
  return result_;
}

nlohmann::ordered_json LensAnalysis::finish() {
  return to_json(result(), model_);
}

LensResult run_lens(const Model& model, const std::vector<int32_t>& tokens, const LensOptions& options) {
  LensAnalysis lens(model, tokens, options);
  RunOptions ro = options.run;
  ro.max_batch = std::max<int64_t>(1, static_cast<int64_t>(tokens.size()));  // one pass: rows are whole
  Interpreter interp(model, ro);
  run_one_pass(interp, tokens, {&lens});
  return lens.result();
}

nlohmann::ordered_json to_json(const LensResult& r, const Model& model) {
  auto text = [&model](int32_t id) { return token_text(model, id); };
  nlohmann::ordered_json j;
  j["tokens"] = r.tokens;
  nlohmann::ordered_json texts = nlohmann::ordered_json::array();
  for (int32_t t : r.tokens) texts.push_back(text(t));
  j["token_texts"] = texts;
  j["target"] = r.target ? nlohmann::ordered_json(*r.target) : nullptr;
  auto row_json = [&](const LensRow& row) {
    nlohmann::ordered_json cells = nlohmann::ordered_json::array();
    for (const LensCell& c : row.cells) {
      nlohmann::ordered_json top = nlohmann::ordered_json::array();
      for (const auto& [id, p] : c.top) top.push_back({{"token", id}, {"text", text(id)}, {"p", p}});
      nlohmann::ordered_json cj;
      cj["top"] = top;
      cj["kl_to_final"] = c.kl_to_final;
      cj["entropy"] = c.entropy;
      if (r.target) {
        cj["target_rank"] = c.target_rank;
        cj["target_p"] = c.target_prob;
      }
      cells.push_back(cj);
    }
    return nlohmann::ordered_json{{"hook", row.hook}, {"layer", row.layer}, {"positions", cells}};
  };
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const LensRow& row : r.rows) rows.push_back(row_json(row));
  j["rows"] = rows;
  j["final"] = row_json(r.final);
  return j;
}

}  // namespace loupe::analysis
