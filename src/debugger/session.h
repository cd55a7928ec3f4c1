// A debugging session: one model, one interpreter driven op by op, with breakpoints, edits and
// the state a REPL needs (where it stopped, which tensors are still readable). The REPL in
// debugger/commands.h parses and prints; this class only computes and throws Error.
//
// Running: `run` feeds a prompt (in passes of at most max_batch positions), `generate` queues
// greedy decode steps, and `resume` moves on by a motion (continue, finish, step, next, step
// layer, step token). With no enabled op-level breakpoint, a pass runs as Interpreter::finish()
// does, so an idle debugger costs nothing. Pausing never changes a result: stepping calls the
// same Interpreter::step() the uninterrupted run does.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "analysis/pass.h"
#include "core/thread_pool.h"
#include "debugger/expr.h"
#include "engine/interpreter.h"

namespace loupe::dbg {

enum class LocationKind : uint8_t { Hooks, Layer, Op, Position, Step };

struct Breakpoint {
  int id = 0;
  LocationKind kind = LocationKind::Hooks;
  std::string location;           // as typed: "pattern3[0]", "layer 2", "op softmax", "pos 5"
  std::vector<int> hooks;         // Hooks: hook ids
  Slice slice;                    // Hooks: the part of the tensor the condition reads
  int layer = -1;                 // Layer
  OpKind op_kind = OpKind::Mark;  // Op
  int64_t value = 0;              // Position: absolute position; Step: decode step (1 = first)
  std::optional<Condition> condition;
  bool enabled = true;
  bool temporary = false;
  int64_t hits = 0;
  int64_t ignore = 0;  // crossings still to pass over (gdb's `ignore N COUNT`); they count as hits
};

enum class EditKind : uint8_t { Zero, Scale, Add, Set, Steer, Patch };

// A tensor of another run, for activation patching: [positions, ...] of one hook.
struct SourceTensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

struct Edit {
  int id = 0;
  EditKind kind = EditKind::Zero;
  std::string text;        // what `info edits` shows
  std::vector<int> hooks;  // hook ids it applies to
  Slice slice;
  float value = 0;                     // Scale factor, Add / Set value, Steer coefficient
  std::vector<float> vector;           // Steer: [size of the last dimension]
  std::map<int, SourceTensor> source;  // Patch: per hook id
  std::vector<int32_t> source_tokens;  // Patch: the other prompt
};

// What an op's inputs looked like just before it ran, for the NaN / Inf report.
struct InputHealth {
  std::string name;  // hook name, buffer or weight name
  std::string what;  // "input", "weight", "norm weight", "bias", "keys (KV cache)", ...
  std::vector<int64_t> shape;
  int64_t n_nan = 0;
  int64_t n_inf = 0;
};

struct BadOpReport {
  int op = -1;
  int64_t n_nan = 0;  // in the op's output
  int64_t n_inf = 0;
  std::vector<InputHealth> inputs;
  // Where the bad values began: this op (origin, its inputs were fine), an edit on its hook that
  // wrote them (edit id, with its text), or earlier in the pass (first_bad: the op reported first).
  bool origin = false;
  int edit = -1;
  std::string edit_text;
  int first_bad = -1;
};

enum class StopReason : uint8_t {
  Breakpoint,   // an enabled breakpoint hit (after its op, or at the start of a pass)
  Step,         // step / next / step layer finished
  PassStart,    // step token: the next pass is about to run
  PassEnd,      // finish: the pass ended
  Done,         // nothing left to run
  EditError,    // an edit could not be applied (it was disabled)
  Interrupted,  // Session::interrupt() (Ctrl-C): stopped after the op that was running
};

struct Stop {
  StopReason reason = StopReason::Done;
  int breakpoint = -1;   // id, for Breakpoint
  std::string location;  // the breakpoint's location (it may be gone: tbreak)
  std::string detail;    // the condition's value ("absmax = 153.2"), or why a run ended
  std::optional<BadOpReport> bad;
};

enum class Motion : uint8_t { Continue, Finish, StepOp, NextHook, StepLayer, StepToken };

// A tensor read at the current point: a hook (or the current op's output) and a slice of it.
struct Value {
  std::string name;  // hook name, or the op's label
  int op = -1;
  int hook = -1;
  std::vector<int64_t> full_shape;  // of the hook tensor
  Selection selection;              // of the slice
  std::vector<float> data;          // selected elements in C order, selection.shape
  int64_t pos0 = 0;                 // absolute position of row 0 of [pos, ...] tensors
  bool cached = false;              // read from the session's cache (the op's buffer may be reused)
};

// Which dimension of a hook's tensor counts positions: 0 for [pos, ...], 1 for attention maps
// [head, query_pos, key_pos].
size_t position_dim(HookKind kind);

// Gradients of one target over the session's tokens (`backward`), for `grad HOOK`.
struct Gradients {
  std::vector<int32_t> tokens;
  int32_t target = 0;
  int64_t pos = 0;  // the position whose prediction is differentiated
  bool logprob = false;
  double value = 0;                          // the target's logit or log-probability there
  std::vector<std::vector<int64_t>> shapes;  // per hook id
  std::vector<std::vector<float>> values;    // per hook id: the activation (after the edits)
  std::vector<std::vector<float>> grads;     // per hook id: empty when nothing flows there
};

class Session : private Observer {
 public:
  // options.max_batch is lowered to at most 512 positions per pass (attention buffers grow with
  // max_batch * n_ctx); a longer prompt runs in several passes.
  Session(const Model& model, RunOptions options);
  ~Session() override;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const Model& model() const { return model_; }
  Interpreter& interp() { return *interp_; }
  const Program& program() const { return interp_->program(); }
  const RunOptions& options() const { return options_; }

  // Starts over with these tokens (clears the KV cache; breakpoints, watches and edits stay)
  // and runs to the first stop.
  Stop run(const std::vector<int32_t>& tokens);
  // Queues n greedy decode steps after what is queued, then continues.
  Stop generate(int64_t n);
  Stop resume(Motion motion, int64_t count = 1);
  // Asks the running resume() to stop after the op in progress (StopReason::Interrupted); safe
  // from a signal handler. A request made while nothing runs is forgotten at the next resume.
  static void interrupt();

  bool started() const { return started_; }
  bool in_pass() const { return interp_->in_pass(); }
  int last_op() const { return last_op_; }            // op run last in this pass; -1 at a pass start
  int64_t pass_index() const { return pass_index_; }  // 0 = the prompt's first pass
  int64_t n_prompt() const { return n_prompt_; }
  int64_t decode_left() const { return decode_left_; }
  const std::vector<int32_t>& tokens() const { return tokens_; }  // every token fed or being fed
  // Logits of every completed position, [positions, d_vocab].
  const std::vector<float>& logits() const { return logits_; }
  int64_t logit_positions() const;

  // Breakpoints. make_breakpoint parses a location ("pattern3[0]", "blocks.*.hook_z", "layer 2",
  // "op softmax", "pos 5", "step 2"; empty means every hook) and checks it against the model.
  Breakpoint make_breakpoint(const std::vector<std::string>& location, std::optional<Condition> condition) const;
  int add_breakpoint(Breakpoint bp);
  void delete_breakpoint(int id);
  void delete_all_breakpoints();
  void enable_breakpoint(int id, bool enabled);
  // gdb's `condition N [EXPR]` (no condition: stop every time) and `ignore N COUNT`.
  void set_condition(int id, std::optional<Condition> condition);
  void set_ignore(int id, int64_t count);
  Breakpoint& breakpoint(int id);
  const std::vector<Breakpoint>& breakpoints() const { return breakpoints_; }

  // Edits apply from the next time their hook's op runs; when the debugger is stopped right
  // after that op, also to the tensor in hand (returns true then).
  bool add_edit(Edit edit);
  // Runs `tokens` in a clean interpreter and keeps the hooks' tensors as a patch source.
  std::map<int, SourceTensor> capture(const std::vector<int32_t>& tokens, const std::vector<int>& hooks) const;
  // Removes the newest edit; throws when there is none.
  Edit undo_edit();
  const std::vector<Edit>& edits() const { return edits_; }

  // Reads a tensor expression at the current point. Positions in slices are absolute. A hook
  // that has run in this pass is read from the session's cache (every position of the run so
  // far; attention maps: this pass's queries) or, when the cache budget left it out, from its
  // buffer while no later op has reused it. Throws naming the reason otherwise.
  Value evaluate(const TensorExpr& expr);

  // The cache that keeps every hook's tensor of the run for reading after the op (and after the
  // pass), within a budget in bytes; a hook that would pass it is left out for the rest of the
  // run. 0 turns the cache off. Setting it clears the cache.
  void set_cache_budget(int64_t bytes);
  int64_t cache_budget() const { return cache_budget_; }
  int64_t cache_bytes() const { return cache_bytes_; }
  int64_t cache_hooks_kept() const;
  int64_t cache_hooks_dropped() const;
  // Resolves a hook pattern that must name exactly one hook.
  int resolve_one(const std::string& pattern) const;
  // Whether op i's output can still be read now: in its buffer (live) or in the cache.
  bool live(int op) const;
  bool cached(int op) const;
  bool readable(int op) const;
  // Which dimension of op i's output counts positions.
  size_t op_position_dim(int op) const;

  // Runs pass analyses (lens, attention, activations, NaN watch, ...) on this run's hooks as the
  // cache kept them (after the edits), without running the model again: each analysis attaches
  // to the interpreter, every hook it subscribed to is handed to it from the cache as one event
  // from position 0, then the run's logits, then finish(). Needs a finished pass, and every hook
  // an analysis reads kept from position 0; attention maps hold the newest pass only, so an
  // analysis of them needs a run of one pass. Returns {name: result}.
  nlohmann::ordered_json analyze(const std::vector<analysis::PassAnalysis*>& analyses);

  // The logit lens: a residual-stream row [d_model] through the final norm and the unembedding,
  // computed exactly as the program's final ops do.
  std::vector<float> lens(const float* resid_row);

  // NaN / Inf counts of op i's output and inputs; inputs as they were before it ran when the op
  // had a nan/inf breakpoint, else as they are now.
  BadOpReport health(int op);

  // The shape op i's output has in the current pass (as a hook observer would see it).
  std::vector<int64_t> op_shape(int op);

  // Runs the session's tokens in one pass from position 0 on another interpreter, with the
  // edits applied, and back-propagates the logit (or log-probability) of `target` at `pos`
  // (-1: the last) to every hook. budget_bytes bounds what is kept. The result stays until the
  // next call.
  const Gradients& backward(int32_t target, int64_t pos, bool logprob, int64_t budget_bytes);
  const Gradients* gradients() const { return grads_.get(); }

 private:
  void on_hook(const HookEvent& event) override;
  void apply_edit(const Edit& edit, const HookEvent& event);
  void rebuild_breakpoint_index();
  void rebuild_edit_index();
  void abort_pass();
  std::optional<Stop> take_edit_error();
  bool start_next_pass(std::string* why_not);
  void end_pass();
  std::optional<Stop> check_pass_breakpoints();
  std::optional<Stop> check_op_breakpoints(int op);
  bool condition_holds(const Breakpoint& bp, int op, std::string* detail);
  std::vector<InputHealth> input_health(int op);
  Stop hit(Breakpoint& bp, int op, std::string detail);
  bool pass_ignored(Breakpoint& bp);  // an ignore count passes over this crossing
  void observe_hooks();
  void cache_store(const HookEvent& event);
  void cache_clear();
  static int64_t count_non_finite(const HookEvent& event);

  const Model& model_;
  RunOptions options_;
  std::unique_ptr<Interpreter> interp_;
  std::vector<int> next_writer_;  // per op: the next op writing the same buffer (or ops.size())

  bool started_ = false;
  std::vector<int32_t> tokens_;
  std::vector<std::vector<int32_t>> pending_chunks_;  // prompt passes not started yet
  int64_t n_prompt_ = 0;
  int64_t decode_left_ = 0;
  int64_t pass_index_ = -1;
  int last_op_ = -1;
  std::vector<float> logits_;       // [positions, d_vocab]
  std::vector<float> next_logits_;  // [d_vocab] logits the next decode step samples from

  std::vector<Breakpoint> breakpoints_;
  int next_breakpoint_id_ = 1;
  std::vector<std::vector<int>> op_breaks_;  // per op: indices into breakpoints_
  bool any_op_breaks_ = false;
  std::vector<bool> op_health_;                         // per op: record input health before it runs
  std::map<int, std::vector<InputHealth>> pre_health_;  // op -> inputs before it ran

  std::vector<Edit> edits_;
  std::unique_ptr<Gradients> grads_;
  int next_edit_id_ = 1;
  std::vector<std::vector<int>> hook_edits_;  // per hook: indices into edits_
  std::string edit_error_;                    // set by on_hook, reported after the step
  std::vector<int> failed_edits_;             // ids of edits on_hook could not apply
  std::map<int, int> bad_edit_;               // op -> id of the edit that wrote NaN/Inf into its output, this pass
  int first_bad_op_ = -1;                     // the first op of this pass reported bad

  struct CachedHook {
    int64_t first = 0;  // position of row 0 (attention maps: of query row 0)
    std::vector<int64_t> shape;
    std::vector<float> data;
    bool dropped = false;  // left out: the budget was full
    int64_t pass = -1;     // the pass that stored it last
  };
  std::vector<CachedHook> cache_;  // per hook id
  int64_t cache_budget_ = int64_t{1} << 30;
  int64_t cache_bytes_ = 0;
};

}  // namespace loupe::dbg
