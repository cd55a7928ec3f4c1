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
};

enum class StopReason : uint8_t {
  Breakpoint,  // an enabled breakpoint hit (after its op, or at the start of a pass)
  Step,        // step / next / step layer finished
  PassStart,   // step token: the next pass is about to run
  PassEnd,     // finish: the pass ended
  Done,        // nothing left to run
  EditError,   // an edit could not be applied (it was disabled)
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
  const std::vector<Breakpoint>& breakpoints() const { return breakpoints_; }

  // Edits apply from the next time their hook's op runs; when the debugger is stopped right
  // after that op, also to the tensor in hand (returns true then).
  bool add_edit(Edit edit);
  // Runs `tokens` in a clean interpreter and keeps the hooks' tensors as a patch source.
  std::map<int, SourceTensor> capture(const std::vector<int32_t>& tokens, const std::vector<int>& hooks) const;
  // Removes the newest edit; throws when there is none.
  Edit undo_edit();
  const std::vector<Edit>& edits() const { return edits_; }

  // Reads a tensor expression at the current point. Throws when the hook has not run in this
  // pass yet, or its buffer has been reused since (the message says which op).
  Value evaluate(const TensorExpr& expr);
  // Resolves a hook pattern that must name exactly one hook.
  int resolve_one(const std::string& pattern) const;
  // Whether op i's output can still be read now.
  bool live(int op) const;

  // The logit lens: a residual-stream row [d_model] through the final norm and the unembedding,
  // computed exactly as the program's final ops do.
  std::vector<float> lens(const float* resid_row);

  // NaN / Inf counts of op i's output and inputs; inputs as they were before it ran when the op
  // had a nan/inf breakpoint, else as they are now.
  BadOpReport health(int op);

  // The shape op i's output has in the current pass (as a hook observer would see it).
  std::vector<int64_t> op_shape(int op);

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

  const Model& model_;
  RunOptions options_;
  std::unique_ptr<Interpreter> interp_;
  ThreadPool lens_pool_{1};
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
  int next_edit_id_ = 1;
  std::vector<std::vector<int>> hook_edits_;  // per hook: indices into edits_
  std::string edit_error_;                    // set by on_hook, reported after the step
  std::vector<int> failed_edits_;             // ids of edits on_hook could not apply
};

}  // namespace loupe::dbg
