#include "analysis/pass.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "perf/observers.h"

namespace loupe::analysis {

nlohmann::ordered_json run_one_pass(Interpreter& interp, std::span<const int32_t> tokens,
                                    const std::vector<PassAnalysis*>& analyses) {
  const auto n = static_cast<int64_t>(tokens.size());
  LOUPE_ASSERT(n <= interp.max_batch(), "one pass of ", n, " tokens needs max_batch >= ", n);
  for (PassAnalysis* a : analyses) a->attach(interp);
  interp.rewind(0);
  interp.begin(tokens, true);
  interp.finish();
  for (PassAnalysis* a : analyses) a->on_logits(interp.logits(), interp.logit_rows(), 0);
  nlohmann::ordered_json out;
  for (PassAnalysis* a : analyses) out[std::string(a->name())] = a->finish();
  return out;
}

int64_t TensorCache::estimate_bytes(const Interpreter& interp, const std::vector<int>& hooks, int64_t n_tokens) {
  int64_t total = 0;
  for (int h : hooks) total += interp.hook_shape(h, n_tokens, n_tokens, true).numel() * 4;
  return total;
}

void TensorCache::attach(Interpreter& interp) {
  for (int h : hooks_) subs_.push_back(interp.subscribe(h, this));
}

void TensorCache::on_hook(const HookEvent& e) {
  const bool by_position = !(e.point->kind == HookKind::AttnScores || e.point->kind == HookKind::Pattern);
  auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& x) { return x.hook == e.hook; });
  const auto numel = static_cast<size_t>(e.shape.numel());
  if (it == entries_.end() || !by_position) {
    if (it == entries_.end()) it = entries_.insert(entries_.end(), Entry{});
    it->hook = e.hook;
    it->name = e.point->name;
    it->shape = e.shape.vec();
    it->pos0 = e.pos0;
    it->data.assign(e.data, e.data + numel);
    return;
  }
  // A later batch of the same run: its rows follow.
  it->data.insert(it->data.end(), e.data, e.data + numel);
  it->shape[0] += e.shape.dims[0];
}

const TensorCache::Entry* TensorCache::find(std::string_view hook_name) const {
  for (const Entry& e : entries_)
    if (e.name == hook_name) return &e;
  return nullptr;
}

int64_t TensorCache::bytes() const {
  int64_t b = 0;
  for (const Entry& e : entries_) b += static_cast<int64_t>(e.data.size() * sizeof(float));
  return b;
}

nlohmann::ordered_json TensorCache::finish() {
  subs_.clear();
  nlohmann::ordered_json hooks = nlohmann::ordered_json::array();
  for (const Entry& e : entries_)
    hooks.push_back({{"hook", e.name}, {"shape", e.shape}, {"bytes", e.data.size() * sizeof(float)}});
  return {{"hooks", hooks}, {"bytes", bytes()}};
}

void NanWatch::attach(Interpreter& interp) {
  if (hooks_.empty())
    for (int h = 0; h < interp.hooks().size(); ++h) hooks_.push_back(h);
  for (int h : hooks_) subs_.push_back(interp.subscribe(h, this));
}

void NanWatch::on_hook(const HookEvent& e) {
  const int64_t n = e.shape.numel();
  ++checked_;
  values_ += n;
  const bool mask = e.point->kind == HookKind::AttnScores;  // -inf above the diagonal is the mask
  if (perf::count_non_finite(e.data, n, mask) == 0) return;
  Bad b{e.hook, e.point->name, 0, 0, n};
  for (int64_t i = 0; i < n; ++i) {
    const float v = e.data[i];
    if (std::isnan(v)) ++b.nan;
    if (std::isinf(v) && !(mask && v < 0)) ++b.inf;
  }
  auto it = std::find_if(bad_.begin(), bad_.end(), [&](const Bad& x) { return x.hook == e.hook; });
  if (it == bad_.end()) {
    bad_.push_back(b);
  } else {  // a later batch of the same run
    it->nan += b.nan;
    it->inf += b.inf;
    it->numel += b.numel;
  }
}

nlohmann::ordered_json NanWatch::finish() {
  subs_.clear();
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const Bad& b : bad_) list.push_back({{"hook", b.name}, {"nan", b.nan}, {"inf", b.inf}, {"numel", b.numel}});
  return {{"hooks_checked", checked_},
          {"values_checked", values_},
          {"bad", list},
          {"first", bad_.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(bad_.front().name)}};
}

}  // namespace loupe::analysis
