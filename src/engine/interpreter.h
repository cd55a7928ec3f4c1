// The interpreter: runs a Program op by op over a batch of positions with a KV cache. It can
// stop between any two ops (the debugger steps it), and hands hook tensors to observers that
// subscribed before the run. A hook nobody watches costs one branch.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/thread_pool.h"
#include "engine/program.h"
#include "tensor/numerics.h"

namespace loupe {

struct RunOptions {
  int n_threads = 1;
  int64_t n_ctx = 0;        // positions the KV cache holds; 0 = the model's, at most 4096
  int64_t max_batch = 256;  // positions per forward pass; longer inputs are split
  // The arithmetic of the products and GELU (tensor/numerics.h): Exact, the float product with
  // the dequantised weights (the reference), or LlamaCpp, ggml's CPU arithmetic (activations
  // converted to each weight type's vec_dot type; the int8 kernels: faster prompts).
  Numerics numerics = Numerics::Exact;
  // The threads to run on, shared by every interpreter and analysis of one command (diff's two
  // models, an analysis's own passes, the debugger's lens) so a command never starts more than
  // n_threads. Null: the interpreter starts its own pool of n_threads. Interpreters sharing a
  // pool must run one at a time (from one thread).
  std::shared_ptr<ThreadPool> pool;
  // Set (by another thread) to stop a pass after the op in hand: step() throws Error
  // "cancelled" and the interpreter is out of its pass, ready for rewind() (loupe serve).
  std::shared_ptr<const std::atomic<bool>> cancel;
};

struct Shape {
  int rank = 0;
  std::array<int64_t, 4> dims{};
  int64_t numel() const;
  std::vector<int64_t> vec() const { return {dims.begin(), dims.begin() + rank}; }
};

// What an observer sees at a hook: the tensor (writable: edits flow into the rest of the pass).
struct HookEvent {
  int hook = -1;
  const HookPoint* point = nullptr;
  int op_index = -1;
  float* data = nullptr;
  Shape shape;
  int64_t pos0 = 0;                 // position of row 0 of the tensor ([pos, ...] layouts)
  std::span<const int32_t> tokens;  // tokens of this batch
};

class Observer {
 public:
  virtual ~Observer() = default;
  virtual void on_hook(const HookEvent& event) = 0;
};

// Sees every op run (not only hook points): profilers and the debugger's op-level stepping.
// before_op / after_op bracket the op's computation; after_op runs before hook observers.
class OpListener {
 public:
  virtual ~OpListener() = default;
  virtual void before_op(int op_index) = 0;
  virtual void after_op(int op_index) = 0;
};

// The shape a hook's tensor has in a pass of `rows` positions whose attention reaches `keys`
// positions, with the final ops (ln_final, unembed) on every row (all_logits) or the last one.
// Needs no interpreter (no buffers): `info --hooks`, the tensor cache's estimate.
Shape hook_tensor_shape(const Program& program, const ModelConfig& config, int hook, int64_t rows, int64_t keys,
                        bool all_logits);
// Values per row of an interpreter buffer (attention maps: n_heads x n_ctx).
int64_t buf_width(const ModelConfig& config, Buf b, int64_t n_ctx);

class Interpreter;

// A hook observer's or op listener's registration: it ends when the handle is dropped (or
// reset), so an analysis that goes out of scope never leaves a dangling observer behind.
// Move-only; must not outlive the interpreter.
class Subscription {
 public:
  Subscription() = default;
  Subscription(Subscription&& o) noexcept { *this = std::move(o); }
  Subscription& operator=(Subscription&& o) noexcept;
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  ~Subscription() { reset(); }
  void reset();
  bool active() const { return interp_ != nullptr; }

 private:
  friend class Interpreter;
  Interpreter* interp_ = nullptr;
  int hook_ = -1;  // -1: an op listener
  Observer* observer_ = nullptr;
  OpListener* listener_ = nullptr;
};

class Interpreter {
 public:
  Interpreter(const Model& model, const RunOptions& options);
  ~Interpreter();

  const Model& model() const { return model_; }
  const Program& program() const { return program_; }
  const HookTable& hooks() const { return program_.hooks; }
  int64_t n_ctx() const { return n_ctx_; }
  int64_t max_batch() const { return max_batch_; }
  int n_threads() const { return pool_->n_threads(); }
  // The run's threads, idle while observers run: an observer may split its own work on them.
  ThreadPool& pool() { return *pool_; }
  const std::shared_ptr<ThreadPool>& shared_pool() const { return pool_; }
  // The run's arithmetic (--numerics).
  Numerics numerics() const { return numerics_; }

  // Observers are called in subscription order.
  void observe(int hook, Observer* observer);
  // The same, as a handle that unsubscribes when dropped.
  [[nodiscard]] Subscription subscribe(int hook, Observer* observer);
  void unobserve(Observer* observer);            // from every hook
  void unobserve(int hook, Observer* observer);  // from one
  bool observed(int hook) const { return !subs_[static_cast<size_t>(hook)].empty(); }
  // The observers of a hook, in subscription order (a replay of kept tensors calls them).
  const std::vector<Observer*>& observers(int hook) const { return subs_[static_cast<size_t>(hook)]; }

  // Op listeners, any number: before_op in the order added, after_op in reverse. Cost one
  // branch per op when there are none.
  [[nodiscard]] Subscription listen(OpListener* listener);
  void add_op_listener(OpListener* listener);
  void remove_op_listener(OpListener* listener);

  // Starts a forward pass over tokens at positions n_past() .. n_past() + tokens.size() - 1.
  // With all_logits, ln_final and the unembedding run on every position, else on the last.
  // Throws Error for an empty batch, a batch over max_batch, a token id out of range, or
  // positions past the context.
  void begin(std::span<const int32_t> tokens, bool all_logits);
  bool in_pass() const { return pc_ >= 0; }
  int pc() const { return pc_; }  // next op to run, -1 outside a pass
  // Runs the next op and notifies its observers; ends the pass after the last op.
  void step();
  // Runs the rest of the pass.
  void finish();

  // Logits of the last completed pass: [logit_rows(), d_vocab].
  const float* logits() const { return bufs_[static_cast<size_t>(Buf::Logits)].data(); }
  int64_t logit_rows() const { return logit_rows_; }

  // Positions held in the KV cache.
  int64_t n_past() const { return n_past_; }
  // Forgets cached positions >= n (n = 0 clears the cache). Throws Error when a sliding-window
  // layer's cache no longer holds the window before n (its ring overwrote it).
  void rewind(int64_t n);

  // Batch of the current (or last) pass.
  int64_t batch_pos0() const { return pos0_; }
  // Rows the final ops (ln_final, unembed) run on in this pass: 1, or every position.
  int64_t final_rows() const { return final_rows_; }
  // Bytes held by the KV cache and by the activation buffers.
  int64_t kv_cache_bytes() const { return static_cast<int64_t>((k_cache_.size() + v_cache_.size()) * sizeof(float)); }
  int64_t scratch_bytes() const;
  std::span<const int32_t> batch_tokens() const { return tokens_; }
  // The output tensor of op i as a hook observer would see it (valid once op i has run in
  // this pass, or for the last pass).
  HookEvent view(int op_index);
  // The shape a hook's tensor has in a pass of `rows` positions whose attention reaches `keys`
  // positions, with the final ops on every row (all_logits) or the last.
  Shape hook_shape(int hook, int64_t rows, int64_t keys, bool all_logits) const;

 private:
  void run_op(const Op& op);
  float* buf(Buf b) { return bufs_[static_cast<size_t>(b)].data(); }
  int64_t width(Buf b) const;
  int64_t rows_of(const Op& op) const { return op.final_rows ? final_rows_ : n_; }

  void op_norm_scale(const Op& op);
  void op_norm_apply(const Op& op);
  void op_rope(const Op& op);
  void op_kv_store(const Op& op);
  void op_attn_scores(const Op& op);
  void op_softmax(const Op& op);
  void op_attn_mix(const Op& op);
  void op_head_norm(const Op& op);
  void op_moe_select(const Op& op);
  void op_moe_weights(const Op& op);
  void op_moe_experts(const Op& op);
  void op_moe_combine(const Op& op);
  // Keys [lo, hi] a query at position p attends to in layer l.
  int64_t window_start(int layer, int64_t p) const;
  // Whether this pass has queries whose window leaves out earlier keys.
  // Whether this pass's attention in a layer follows ggml's operations (llama.cpp numerics, the
  // cache ring not wrapped: slot = position, as llama.cpp's cells).
  bool ggml_attention(int layer) const;
  bool window_binds(int layer) const;
  // The cache slot of position p in layer l (a ring for sliding-window layers).
  int64_t slot(int layer, int64_t p) const { return p % kv_cap_[static_cast<size_t>(layer)]; }
  const float* k_at(int layer) const { return k_cache_.data() + kv_offset_[static_cast<size_t>(layer)]; }
  const float* v_at(int layer) const { return v_cache_.data() + kv_offset_[static_cast<size_t>(layer)]; }

  const Model& model_;
  Program program_;
  std::shared_ptr<ThreadPool> pool_;
  std::shared_ptr<const std::atomic<bool>> cancel_;
  int64_t n_ctx_;
  int64_t max_batch_;
  std::array<std::vector<float>, kBufCount> bufs_;
  // Per layer: [kv_cap, d_kv] at kv_offset; kv_cap = n_ctx, or for a sliding-window layer the
  // window plus one batch (a ring: position p in slot p mod kv_cap), so it never grows past that.
  std::vector<float> k_cache_;
  std::vector<float> v_cache_;
  std::vector<int64_t> kv_cap_;
  std::vector<size_t> kv_offset_;
  // RoPE tables, one per distinct (base, scaling) of the layers: [n_ctx, n_rot / 2] each.
  std::vector<std::vector<float>> rope_cos_;
  std::vector<std::vector<float>> rope_sin_;
  std::vector<int> rope_table_;  // per layer
  // MoE scratch: the rows routed to one expert, gathered.
  std::vector<float> moe_x_, moe_g_, moe_u_, moe_y_;
  std::vector<int64_t> moe_rows_;
  std::vector<std::vector<Observer*>> subs_;  // per hook id
  std::vector<OpListener*> op_listeners_;
  Numerics numerics_ = Numerics::Exact;

  std::vector<int32_t> tokens_;
  int64_t pos0_ = 0;
  int64_t n_ = 0;
  int64_t final_rows_ = 0;
  int64_t logit_rows_ = 0;
  int64_t n_past_ = 0;
  int pc_ = -1;
};

}  // namespace loupe
