// Analyses that attach to a forward pass. Each subscribes to the hooks it needs (handles that
// unsubscribe when dropped), may see the pass's logits, and computes its result in finish(), so
// several of them share ONE pass: `loupe analyze --lens --attention --activations` runs the model
// once and gives all three, and the separate commands run the same classes (same numbers, to the
// bit).
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/interpreter.h"

namespace loupe::analysis {

class PassAnalysis {
 public:
  virtual ~PassAnalysis() = default;
  // The key of its result in `loupe analyze --json`: "lens", "attention", "activations", "cache".
  virtual std::string_view name() const = 0;
  // Subscribes to the interpreter's hooks; the subscriptions end with the analysis or at finish.
  virtual void attach(Interpreter& interp) = 0;
  // The logits rows of a pass (every position when the pass asked for them all).
  virtual void on_logits(const float* /*logits*/, int64_t /*rows*/, int64_t /*first_pos*/) {}
  // The result (after the last pass); detaches first.
  virtual nlohmann::ordered_json finish() = 0;

 protected:
  std::vector<Subscription> subs_;
};

// Runs tokens from position 0 as one pass (max_batch must hold them) with every analysis
// attached, every position's logits handed to each; then finishes each, in order, into
// {name: result}.
nlohmann::ordered_json run_one_pass(Interpreter& interp, std::span<const int32_t> tokens,
                                    const std::vector<PassAnalysis*>& analyses);

// TransformerLens's run_with_cache: the tensors of the chosen hooks, kept for the pass. Hooks
// laid out by position ([pos, ...]) gather their rows across the batches of a run; attention
// maps ([heads, q, k]) keep the latest batch. The memory a run will take is known before it
// (estimate_bytes).
class TensorCache : public PassAnalysis, public Observer {
 public:
  struct Entry {
    int hook = -1;
    std::string name;
    std::vector<int64_t> shape;
    int64_t pos0 = 0;  // position of row 0
    std::vector<float> data;
  };

  explicit TensorCache(std::vector<int> hooks = {}) : hooks_(std::move(hooks)) {}
  // Chooses the hooks (before attach).
  void select(std::vector<int> hooks) { hooks_ = std::move(hooks); }
  // Bytes the chosen hooks take for one pass of n_tokens positions from position 0.
  static int64_t estimate_bytes(const Interpreter& interp, const std::vector<int>& hooks, int64_t n_tokens);

  std::string_view name() const override { return "cache"; }
  void attach(Interpreter& interp) override;
  void on_hook(const HookEvent& e) override;
  // Summary: every cached hook with its shape and bytes, and the total.
  nlohmann::ordered_json finish() override;

  const std::vector<Entry>& entries() const { return entries_; }
  const Entry* find(std::string_view hook_name) const;
  int64_t bytes() const;
  void clear() { entries_.clear(); }

 private:
  std::vector<int> hooks_;
  std::vector<Entry> entries_;  // in the order the pass produced them
};

// The NaN / Inf watch as an analysis: every hook (or the chosen ones) scanned with the tier's
// vector count, the causal mask's -inf in hook_attn_scores left out (it is by design); the
// result names each hook with bad values and the first in program order, where a search for
// the source starts (`loupe debug`'s `break if nan` then names the op and its inputs).
class NanWatch : public PassAnalysis, public Observer {
 public:
  struct Bad {
    int hook = -1;
    std::string name;
    int64_t nan = 0;
    int64_t inf = 0;
    int64_t numel = 0;
  };
  explicit NanWatch(std::vector<int> hooks = {}) : hooks_(std::move(hooks)) {}
  std::string_view name() const override { return "nan"; }
  void attach(Interpreter& interp) override;
  void on_hook(const HookEvent& e) override;
  // {"hooks_checked", "values_checked", "bad": [{hook, nan, inf, numel}], "first": hook or null}
  nlohmann::ordered_json finish() override;
  const std::vector<Bad>& bad() const { return bad_; }

 private:
  std::vector<int> hooks_;
  std::vector<Bad> bad_;  // in the order the pass produced them
  int64_t checked_ = 0, values_ = 0;
};

}  // namespace loupe::analysis
