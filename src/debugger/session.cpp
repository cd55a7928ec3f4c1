#include "debugger/session.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <functional>

#include "analysis/lens.h"
#include "core/error.h"
#include "debugger/stats.h"
#include "engine/backward.h"
#include "engine/run.h"
#include "model/sampler.h"
#include "perf/observers.h"

namespace loupe::dbg {
namespace {

constexpr int64_t kMaxDebugBatch = 512;

std::atomic<bool> g_interrupt{false};
static_assert(std::atomic<bool>::is_always_lock_free, "Session::interrupt() is called from a signal handler");

void count_bad(const float* x, int64_t n, int64_t& n_nan, int64_t& n_inf) {
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(x[i])) ++n_nan;
    if (std::isinf(x[i])) ++n_inf;
  }
}

// Whether element `off` of an op's output is the mask: attn_scores writes -inf for keys after
// the query and, in sliding-window layers, before its window ([head, query_pos, key_pos]); that
// is by design, not a bad value.
bool masked(const Op& op, const HookEvent& e, int64_t off, const ModelConfig& c) {
  if (!op_info(op.kind).masks_with_inf) return false;
  const int64_t n = e.shape.dims[1], kv = e.shape.dims[2];
  const int64_t p = e.pos0 + (off / kv) % n, j = off % kv;
  const int64_t w = op.layer >= 0 ? c.layers[static_cast<size_t>(op.layer)].window : 0;
  return j > p || (w > 0 && j <= p - w);
}

// NaN / Inf counts of a whole op output, leaving out the mask.
void count_bad_output(const Op& op, const HookEvent& e, const ModelConfig& c, int64_t& n_nan, int64_t& n_inf) {
  if (!op_info(op.kind).masks_with_inf) return count_bad(e.data, e.shape.numel(), n_nan, n_inf);
  for (int64_t off = 0; off < e.shape.numel(); ++off)
    if (!masked(op, e, off, c)) count_bad(e.data + off, 1, n_nan, n_inf);
}

bool is_attention_map(HookKind k) {
  return k == HookKind::AttnScores || k == HookKind::Pattern;
}

}  // namespace

size_t Session::op_position_dim(int op) const {
  const Op& o = program().ops[static_cast<size_t>(op)];
  if (o.hook >= 0) return position_dim(interp_->hooks()[o.hook].kind);
  return op_info(o.kind).masks_with_inf ? 1 : 0;
}

size_t position_dim(HookKind kind) {
  return is_attention_map(kind) ? 1 : 0;
}

void Session::interrupt() {
  g_interrupt.store(true, std::memory_order_relaxed);
}

Session::Session(const Model& model, RunOptions options) : model_(model), options_(std::move(options)) {
  options_.max_batch = std::min<int64_t>(kMaxDebugBatch, effective_context(model.config, options_.n_ctx));
  interp_ = std::make_unique<Interpreter>(model_, options_);
  const auto& ops = interp_->program().ops;
  next_writer_.assign(ops.size(), static_cast<int>(ops.size()));
  for (size_t i = 0; i < ops.size(); ++i) {
    if (ops[i].out == Buf::None) continue;
    for (size_t k = i + 1; k < ops.size(); ++k)
      if (ops[k].out == ops[i].out) {
        next_writer_[i] = static_cast<int>(k);
        break;
      }
  }
  op_breaks_.resize(ops.size());
  op_health_.assign(ops.size(), false);
  hook_edits_.resize(static_cast<size_t>(interp_->hooks().size()));
  cache_.resize(static_cast<size_t>(interp_->hooks().size()));
  observe_hooks();
}

Session::~Session() {
  interp_->unobserve(this);
}

int64_t Session::logit_positions() const {
  return static_cast<int64_t>(logits_.size()) / model_.config.d_vocab;
}

// ---- running ------------------------------------------------------------------------------

void Session::abort_pass() {
  // The interpreter has no way to drop a pass half way: run it out, then forget the cache.
  if (interp_->in_pass()) interp_->finish();
  interp_->rewind(0);
}

Stop Session::run(const std::vector<int32_t>& tokens) {
  if (tokens.empty()) fail("run: no tokens");
  if (static_cast<int64_t>(tokens.size()) > interp_->n_ctx())
    fail("run: ", tokens.size(), " tokens do not fit the context of ", interp_->n_ctx(), " positions");
  for (int32_t t : tokens)
    if (t < 0 || t >= model_.config.d_vocab)
      fail("run: token id ", t, " is out of range (vocabulary of ", model_.config.d_vocab, ")");
  abort_pass();
  started_ = true;
  tokens_.clear();
  logits_.clear();
  next_logits_.clear();
  pending_chunks_.clear();
  pre_health_.clear();
  cache_clear();
  decode_left_ = 0;
  pass_index_ = -1;
  last_op_ = -1;
  n_prompt_ = static_cast<int64_t>(tokens.size());
  for (const PassRange& r : pass_ranges(static_cast<int64_t>(tokens.size()), options_.max_batch))
    pending_chunks_.emplace_back(tokens.begin() + r.first, tokens.begin() + r.first + r.count);
  return resume(Motion::Continue);
}

Stop Session::generate(int64_t n) {
  if (!started_) fail("generate: nothing has run yet (use 'run' first)");
  if (n < 1) fail("generate: the number of tokens must be at least 1");
  decode_left_ += n;
  return resume(Motion::Continue);
}

bool Session::start_next_pass(std::string* why_not) {
  std::vector<int32_t> batch;
  if (!pending_chunks_.empty()) {
    batch = std::move(pending_chunks_.front());
    pending_chunks_.erase(pending_chunks_.begin());
  } else if (decode_left_ > 0) {
    if (interp_->n_past() >= interp_->n_ctx()) {
      decode_left_ = 0;
      *why_not = cat("the context of ", interp_->n_ctx(), " positions is full");
      return false;
    }
    const int32_t next = argmax(next_logits_.data(), model_.config.d_vocab);
    if (stops_generation(model_.config, next)) {
      decode_left_ = 0;
      *why_not = cat("the model chose end of text (token ", next, ")");
      return false;
    }
    --decode_left_;
    batch.push_back(next);
  } else {
    *why_not = "nothing left to run (use 'generate N' or 'run')";
    return false;
  }
  tokens_.insert(tokens_.end(), batch.begin(), batch.end());
  interp_->begin(batch, true);
  ++pass_index_;
  last_op_ = -1;
  pre_health_.clear();
  bad_edit_.clear();
  first_bad_op_ = -1;
  return true;
}

void Session::end_pass() {
  const int64_t V = model_.config.d_vocab;
  const float* l = interp_->logits();
  const int64_t rows = interp_->logit_rows();
  logits_.insert(logits_.end(), l, l + rows * V);
  next_logits_.assign(l + (rows - 1) * V, l + rows * V);
}

Stop Session::resume(Motion motion, int64_t count) {
  if (!started_) fail("the model is not running (use 'run' first)");
  if (count < 1) fail("the count must be at least 1");
  const auto& ops = interp_->program().ops;
  // step layer runs to the end of the layer of the next op (the embedding counts as layer -1).
  const int start_layer = interp_->in_pass() ? ops[static_cast<size_t>(interp_->pc())].layer : -1;
  int64_t left = count;
  g_interrupt.store(false, std::memory_order_relaxed);
  auto interrupted = [] { return g_interrupt.exchange(false, std::memory_order_relaxed); };
  auto stopped_by_user = [] { return Stop{StopReason::Interrupted, -1, "", "interrupted", std::nullopt}; };
  while (true) {
    if (!interp_->in_pass()) {
      if (interrupted()) return stopped_by_user();
      std::string why;
      if (!start_next_pass(&why)) return Stop{StopReason::Done, -1, "", why, std::nullopt};
      if (motion == Motion::StepToken) return Stop{StopReason::PassStart, -1, "", "", std::nullopt};
      if (auto s = check_pass_breakpoints()) return *s;
    }
    // With no op-level breakpoint a pass runs as an uninterrupted one does, op after op (the
    // same Interpreter::step()), looking only for an interrupt between ops.
    if (!any_op_breaks_ && (motion == Motion::Continue || motion == Motion::Finish || motion == Motion::StepToken)) {
      while (interp_->in_pass()) {
        last_op_ = interp_->pc();
        interp_->step();
        if (interp_->in_pass() && interrupted()) {
          if (auto e = take_edit_error()) return *e;
          return stopped_by_user();
        }
      }
      end_pass();
      if (auto e = take_edit_error()) return *e;
      if (motion == Motion::Finish) return Stop{StopReason::PassEnd, -1, "", "", std::nullopt};
      continue;
    }
    const int i = interp_->pc();
    if (op_health_[static_cast<size_t>(i)]) pre_health_[i] = input_health(i);
    interp_->step();
    last_op_ = i;
    const bool ended = !interp_->in_pass();
    if (ended) end_pass();
    if (auto e = take_edit_error()) return *e;
    if (auto s = check_op_breakpoints(i)) return *s;
    if (interrupted()) return stopped_by_user();
    const Op& op = ops[static_cast<size_t>(i)];
    switch (motion) {
      case Motion::StepOp:
        if (--left == 0) return Stop{StopReason::Step, -1, "", "", std::nullopt};
        break;
      case Motion::NextHook:
        if (op.hook >= 0 && --left == 0) return Stop{StopReason::Step, -1, "", "", std::nullopt};
        break;
      case Motion::StepLayer:
        if (ended || ops[static_cast<size_t>(interp_->pc())].layer != start_layer) {
          if (--left == 0) return Stop{StopReason::Step, -1, "", "", std::nullopt};
        }
        break;
      case Motion::Finish:
        if (ended) return Stop{StopReason::PassEnd, -1, "", "", std::nullopt};
        break;
      case Motion::Continue:
      case Motion::StepToken: break;
    }
  }
}

// ---- breakpoints ----------------------------------------------------------------------------

Breakpoint Session::make_breakpoint(const std::vector<std::string>& location,
                                    std::optional<Condition> condition) const {
  Breakpoint bp;
  const ModelConfig& c = model_.config;
  const auto& words = location;
  if (words.size() > 2) fail("break: unexpected '", words[2], "' after the location (conditions start with 'if')");
  auto arg = [&](const char* what) -> const std::string& {
    if (words.size() < 2) fail("break ", words[0], ": expected ", what);
    return words[1];
  };
  if (words.empty()) {
    bp.location = "*";
    bp.hooks = interp_->hooks().resolve("*");
  } else if (words[0] == "layer") {
    bp.kind = LocationKind::Layer;
    const int64_t l = parse_int(arg("a layer number"), "break layer");
    if (l < 0 || l >= c.n_layers) fail("break layer: layer ", l, " out of range (model has ", c.n_layers, " layers)");
    bp.layer = static_cast<int>(l);
  } else if (words[0] == "op") {
    bp.kind = LocationKind::Op;
    const std::string& k = arg("an op kind");
    bool found = false;
    std::string kinds;
    for (int v = 0; v < kOpKindCount; ++v) {
      const auto kind = static_cast<OpKind>(v);
      kinds += (v ? ", " : "") + std::string(op_kind_name(kind));
      if (op_kind_name(kind) == k) {
        bp.op_kind = kind;
        found = true;
      }
    }
    if (!found) fail("break op: unknown op kind '", k, "' (", kinds, ")");
    bool present = false;
    for (const Op& op : program().ops) present = present || op.kind == bp.op_kind;
    if (!present) fail("break op: this model's program has no '", k, "' op");
  } else if (words[0] == "pos") {
    bp.kind = LocationKind::Position;
    bp.value = parse_int(arg("a position"), "break pos");
    if (bp.value < 0 || bp.value >= interp_->n_ctx())
      fail("break pos: position ", bp.value, " out of range (context of ", interp_->n_ctx(), " positions)");
  } else if (words[0] == "step") {
    bp.kind = LocationKind::Step;
    bp.value = parse_int(arg("a decode step"), "break step");
    if (bp.value < 1) fail("break step: decode steps count from 1 (got ", bp.value, ")");
  } else {
    if (words.size() > 1) fail("break: unexpected '", words[1], "' after the location (conditions start with 'if')");
    TensorExpr e = parse_tensor_expr(words[0]);
    if (e.hook.empty()) fail("break: expected a hook before the slice in '", words[0], "'");
    bp.hooks = interp_->hooks().resolve(e.hook);
    bp.slice = e.slice;
    bp.location = e.text;
  }
  if (bp.location.empty()) bp.location = words[0] + " " + words[1];
  if (condition) {
    if (bp.kind == LocationKind::Position || bp.kind == LocationKind::Step)
      fail("break ", bp.location, ": a condition needs a tensor (break at a hook, a layer or an op kind)");
    const Metric m = condition->metric;
    if (m == Metric::AttnEntropy) {
      if (bp.kind != LocationKind::Hooks) fail("break ", bp.location, ": attn_entropy applies to hook_pattern hooks");
      for (int h : bp.hooks)
        if (interp_->hooks()[h].kind != HookKind::Pattern)
          fail("break ", bp.location, ": attn_entropy applies to hook_pattern hooks, not ", interp_->hooks()[h].name);
    }
    if (m == Metric::Top1) {
      if (bp.kind != LocationKind::Hooks) fail("break ", bp.location, ": top1 applies to residual-stream hooks");
      if (!bp.slice.empty()) fail("break ", bp.location, ": top1 reads the last position; give no slice");
      for (int h : bp.hooks) {
        const int op = program().hook_op[static_cast<size_t>(h)];
        const Buf out = program().ops[static_cast<size_t>(op)].out;
        if (out != Buf::Resid && out != Buf::Embed)
          fail("break ", bp.location, ": top1 applies to residual-stream hooks [pos, d_model], not ",
               interp_->hooks()[h].name);
      }
      if (condition->value < 0 || condition->value >= c.d_vocab)
        fail("break ", bp.location, ": token id ", condition->value, " out of range (vocabulary of ", c.d_vocab, ")");
    }
  }
  bp.condition = std::move(condition);
  // A slice must fit the rank of every hook it names (its ranges are checked when it runs).
  for (int h : bp.hooks) {
    const int op = program().hook_op[static_cast<size_t>(h)];
    const size_t rank = interp_->view(op).shape.vec().size();
    if (bp.slice.items.size() > rank)
      fail("break ", bp.location, ": slice has ", bp.slice.items.size(), " entries for ", interp_->hooks()[h].name,
           " of rank ", rank);
  }
  return bp;
}

int Session::add_breakpoint(Breakpoint bp) {
  bp.id = next_breakpoint_id_++;
  breakpoints_.push_back(std::move(bp));
  rebuild_breakpoint_index();
  return breakpoints_.back().id;
}

void Session::delete_breakpoint(int id) {
  auto it = std::find_if(breakpoints_.begin(), breakpoints_.end(), [&](const Breakpoint& b) { return b.id == id; });
  if (it == breakpoints_.end()) fail("no breakpoint number ", id);
  breakpoints_.erase(it);
  rebuild_breakpoint_index();
}

void Session::delete_all_breakpoints() {
  breakpoints_.clear();
  rebuild_breakpoint_index();
}

void Session::enable_breakpoint(int id, bool enabled) {
  auto it = std::find_if(breakpoints_.begin(), breakpoints_.end(), [&](const Breakpoint& b) { return b.id == id; });
  if (it == breakpoints_.end()) fail("no breakpoint number ", id);
  it->enabled = enabled;
  rebuild_breakpoint_index();
}

Breakpoint& Session::breakpoint(int id) {
  auto it = std::find_if(breakpoints_.begin(), breakpoints_.end(), [&](const Breakpoint& b) { return b.id == id; });
  if (it == breakpoints_.end()) fail("no breakpoint number ", id);
  return *it;
}

void Session::set_condition(int id, std::optional<Condition> condition) {
  Breakpoint& bp = breakpoint(id);
  if (condition) {
    // Checked as `break LOCATION if COND` checks it.
    const std::vector<std::string> location =
        bp.location == "*" ? std::vector<std::string>{} : split_words(bp.location);
    (void)make_breakpoint(location, condition);
  }
  bp.condition = std::move(condition);
  rebuild_breakpoint_index();
}

void Session::set_ignore(int id, int64_t count) {
  if (count < 0) fail("ignore: the count must be at least 0 (got ", count, ")");
  breakpoint(id).ignore = count;
}

void Session::rebuild_breakpoint_index() {
  const auto& ops = program().ops;
  for (auto& v : op_breaks_) v.clear();
  std::fill(op_health_.begin(), op_health_.end(), false);
  any_op_breaks_ = false;
  for (size_t b = 0; b < breakpoints_.size(); ++b) {
    const Breakpoint& bp = breakpoints_[b];
    if (!bp.enabled) continue;
    for (size_t i = 0; i < ops.size(); ++i) {
      const Op& op = ops[i];
      bool match = false;
      switch (bp.kind) {
        case LocationKind::Hooks:
          match = op.hook >= 0 && std::find(bp.hooks.begin(), bp.hooks.end(), op.hook) != bp.hooks.end();
          break;
        case LocationKind::Layer: match = op.layer == bp.layer && (i == 0 || ops[i - 1].layer != bp.layer); break;
        case LocationKind::Op: match = op.kind == bp.op_kind; break;
        case LocationKind::Position:
        case LocationKind::Step: break;
      }
      if (!match) continue;
      op_breaks_[i].push_back(static_cast<int>(b));
      any_op_breaks_ = true;
      if (bp.condition && (bp.condition->metric == Metric::Nan || bp.condition->metric == Metric::Inf))
        op_health_[i] = true;
    }
  }
}

bool Session::pass_ignored(Breakpoint& bp) {
  if (bp.ignore <= 0) return false;
  --bp.ignore;
  ++bp.hits;
  return true;
}

Stop Session::hit(Breakpoint& bp, int op, std::string detail) {
  ++bp.hits;
  Stop s{StopReason::Breakpoint, bp.id, bp.location, std::move(detail), std::nullopt};
  if (op >= 0 && bp.condition && (bp.condition->metric == Metric::Nan || bp.condition->metric == Metric::Inf))
    s.bad = health(op);
  if (bp.temporary) delete_breakpoint(bp.id);
  return s;
}

std::optional<Stop> Session::check_pass_breakpoints() {
  const int64_t pos0 = interp_->batch_pos0();
  const int64_t n = static_cast<int64_t>(interp_->batch_tokens().size());
  const int64_t decode_step =
      pass_index_ - static_cast<int64_t>((n_prompt_ + options_.max_batch - 1) / options_.max_batch) + 1;
  for (Breakpoint& bp : breakpoints_) {
    if (!bp.enabled) continue;
    const bool at_pos = bp.kind == LocationKind::Position && bp.value >= pos0 && bp.value < pos0 + n;
    const bool at_step = bp.kind == LocationKind::Step && decode_step == bp.value;
    if ((!at_pos && !at_step) || pass_ignored(bp)) continue;
    if (at_pos) return hit(bp, -1, cat("position ", bp.value, " is in this pass"));
    return hit(bp, -1, cat("decode step ", bp.value));
  }
  return std::nullopt;
}

std::optional<Stop> Session::check_op_breakpoints(int op) {
  if (!any_op_breaks_) return std::nullopt;
  const std::vector<int> ids = op_breaks_[static_cast<size_t>(op)];  // copy: hit() may delete a temporary one
  for (int b : ids) {
    Breakpoint& bp = breakpoints_[static_cast<size_t>(b)];
    std::string detail;
    try {
      if (!condition_holds(bp, op, &detail)) continue;
    } catch (const Error& e) {
      return hit(bp, op, cat("condition could not be evaluated: ", e.what()));
    }
    if (pass_ignored(bp)) continue;
    return hit(bp, op, detail);
  }
  return std::nullopt;
}

bool Session::condition_holds(const Breakpoint& bp, int op, std::string* detail) {
  if (!bp.condition) return true;
  const Condition& c = *bp.condition;
  HookEvent e = interp_->view(op);
  const std::vector<int64_t> shape = e.shape.vec();
  // Positions in the slice are absolute: a slice that does not reach this pass holds nothing.
  const Selection sel = select_positions(bp.slice, shape, op_position_dim(op), e.pos0, Outside::Skip, bp.location);
  if (sel.numel() == 0) return false;
  std::vector<float> values;
  values.reserve(static_cast<size_t>(sel.numel()));
  const Op& o = program().ops[static_cast<size_t>(op)];
  for (int64_t off : sel.offsets(shape))
    if (!masked(o, e, off, model_.config)) values.push_back(e.data[off]);
  double v = 0;
  switch (c.metric) {
    case Metric::Nan:
    case Metric::Inf: {
      const TensorStats s = compute_stats(values, 0);
      const int64_t n = c.metric == Metric::Nan ? s.n_nan : s.n_inf;
      *detail = cat(n, c.metric == Metric::Nan ? " NaN" : " Inf", " of ", s.numel);
      return n > 0;
    }
    case Metric::AttnEntropy: v = mean_row_entropy(values, sel.shape.empty() ? 1 : sel.shape.back()); break;
    case Metric::Top1: {
      const int64_t d = shape.back();
      std::vector<float> l = lens(e.data + (shape[0] - 1) * d);
      v = argmax(l.data(), static_cast<int64_t>(l.size()));
      break;
    }
    case Metric::AbsMax:
    case Metric::Rms:
    case Metric::Mean:
    case Metric::Std:
    case Metric::Min:
    case Metric::Max: {
      const TensorStats s = compute_stats(values, 0);
      v = c.metric == Metric::AbsMax ? s.absmax
          : c.metric == Metric::Rms  ? s.rms
          : c.metric == Metric::Mean ? s.mean
          : c.metric == Metric::Std  ? s.std
          : c.metric == Metric::Min  ? s.min
                                     : s.max;
      break;
    }
  }
  *detail = cat(metric_name(c.metric), " = ", v);
  return compare(v, c.op, c.value);
}

// ---- NaN / Inf health ----------------------------------------------------------------------

std::vector<int64_t> Session::op_shape(int op) {
  return interp_->view(op).shape.vec();
}

std::vector<InputHealth> Session::input_health(int op_index) {
  const auto& ops = program().ops;
  const Op& op = ops[static_cast<size_t>(op_index)];
  std::vector<InputHealth> out;
  auto producer = [&](Buf b) {
    for (int k = op_index - 1; k >= 0; --k)
      if (ops[static_cast<size_t>(k)].out == b) return k;
    return -1;
  };
  auto activation = [&](int k, const std::string& what) {
    if (k < 0) return;
    HookEvent e = interp_->view(k);
    InputHealth h;
    const Op& p = ops[static_cast<size_t>(k)];
    h.name = p.hook >= 0 ? interp_->hooks()[p.hook].name : p.label;
    h.what = what;
    h.shape = e.shape.vec();
    count_bad_output(p, e, model_.config, h.n_nan, h.n_inf);
    out.push_back(std::move(h));
  };
  if (op.in0 != Buf::None) activation(producer(op.in0), "input");
  if (op.in1 != Buf::None) activation(producer(op.in1), "input");
  if (op_info(op.kind).reads_keys || op_info(op.kind).reads_values) {
    // Keys and values come from the KV cache; this pass's part was stored by the kv_store op.
    for (int k = op_index - 1; k >= 0; --k) {
      const Op& s = ops[static_cast<size_t>(k)];
      if (s.kind != OpKind::KvStore) continue;
      const Buf b = op_info(op.kind).reads_keys ? s.in0 : s.in1;
      for (int j = k - 1; j >= 0; --j)
        if (ops[static_cast<size_t>(j)].out == b) {
          activation(j, op_info(op.kind).reads_keys ? "keys (KV cache)" : "values (KV cache)");
          break;
        }
      break;
    }
  }
  return out;
}

BadOpReport Session::health(int op_index) {
  const Op& op = program().ops[static_cast<size_t>(op_index)];
  BadOpReport r;
  r.op = op_index;
  HookEvent e = interp_->view(op_index);
  count_bad_output(op, e, model_.config, r.n_nan, r.n_inf);
  auto pre = pre_health_.find(op_index);
  r.inputs = pre != pre_health_.end() ? pre->second : input_health(op_index);
  auto vec = [&](const float* p, int64_t n, const std::string& name, const char* what) {
    if (p == nullptr) return;
    InputHealth h{name, what, {n}, 0, 0};
    count_bad(p, n, h.n_nan, h.n_inf);
    r.inputs.push_back(std::move(h));
  };
  if (op.w != nullptr) {
    InputHealth h{op.w->name, "weight", {op.w->rows, op.w->cols}, 0, 0};
    std::vector<float> row(static_cast<size_t>(op.w->cols));
    if (op.kind == OpKind::MatMul) {
      for (int64_t rr = 0; rr < op.w->rows; ++rr) {
        op.w->row(rr, row.data());
        count_bad(row.data(), op.w->cols, h.n_nan, h.n_inf);
      }
    } else {  // Embed / PosEmbed read only the rows of this pass
      h.what = "weight rows read";
      for (int64_t i = 0; i < static_cast<int64_t>(interp_->batch_tokens().size()); ++i) {
        const int64_t rr =
            op.kind == OpKind::Embed ? interp_->batch_tokens()[static_cast<size_t>(i)] : interp_->batch_pos0() + i;
        op.w->row(rr, row.data());
        count_bad(row.data(), op.w->cols, h.n_nan, h.n_inf);
      }
    }
    r.inputs.push_back(std::move(h));
  }
  const int64_t d = model_.config.d_model;
  vec(op.gamma, d, op.label, "norm weight");
  vec(op.beta, d, op.label, "norm bias");
  if (op.w != nullptr) vec(op.bias, op.w->rows, op.label, "bias");
  // Where the bad values began.
  // A bad weight makes the op reading it the origin; a bad activation input does not.
  bool inputs_fine = true;
  for (const InputHealth& h : r.inputs)
    if (h.what == "input" || h.what.find("KV cache") != std::string::npos)
      inputs_fine = inputs_fine && h.n_nan == 0 && h.n_inf == 0;
  if (auto be = bad_edit_.find(op_index); be != bad_edit_.end()) {
    r.edit = be->second;
    r.edit_text = "(undone since)";
    for (const Edit& e : edits_)
      if (e.id == be->second) r.edit_text = e.text;
  }
  if ((r.n_nan > 0 || r.n_inf > 0) && (first_bad_op_ < 0 || op_index < first_bad_op_)) first_bad_op_ = op_index;
  r.first_bad = first_bad_op_;
  r.origin = inputs_fine && r.edit < 0 && r.first_bad == op_index;
  return r;
}

// ---- edits --------------------------------------------------------------------------------

bool Session::add_edit(Edit edit) {
  const auto& hooks = interp_->hooks();
  for (int h : edit.hooks) {
    const int op = program().hook_op[static_cast<size_t>(h)];
    const size_t rank = interp_->view(op).shape.vec().size();
    if (edit.slice.items.size() > rank)
      fail("edit: slice has ", edit.slice.items.size(), " entries for ", hooks[h].name, " of rank ", rank);
    if (edit.kind == EditKind::Patch && is_attention_map(hooks[h].kind))
      fail("edit patch: ", hooks[h].name, " is an attention map; patch hook_z or the residual stream instead");
  }
  edit.id = next_edit_id_++;
  edits_.push_back(std::move(edit));
  rebuild_edit_index();
  const Edit& e = edits_.back();
  if (!interp_->in_pass() || last_op_ < 0) return false;
  const int h = program().ops[static_cast<size_t>(last_op_)].hook;
  if (h < 0 || std::find(e.hooks.begin(), e.hooks.end(), h) == e.hooks.end()) return false;
  HookEvent ev = interp_->view(last_op_);
  try {
    apply_edit(e, ev);
  } catch (const Error&) {
    edits_.pop_back();
    rebuild_edit_index();
    throw;
  }
  if (cache_budget_ > 0) cache_store(ev);
  return true;
}

Edit Session::undo_edit() {
  if (edits_.empty()) fail("undo: there are no edits");
  Edit e = std::move(edits_.back());
  edits_.pop_back();
  rebuild_edit_index();
  return e;
}

void Session::rebuild_edit_index() {
  for (auto& v : hook_edits_) v.clear();
  for (size_t i = 0; i < edits_.size(); ++i)
    for (int h : edits_[i].hooks) hook_edits_[static_cast<size_t>(h)].push_back(static_cast<int>(i));
  observe_hooks();
}

void Session::observe_hooks() {
  interp_->unobserve(this);
  for (size_t h = 0; h < hook_edits_.size(); ++h)
    if (!hook_edits_[h].empty() || cache_budget_ > 0) interp_->observe(static_cast<int>(h), this);
}

int64_t Session::count_non_finite(const HookEvent& e) {
  const bool mask = e.point->kind == HookKind::AttnScores;  // the causal mask's -inf is by design
  return perf::count_non_finite(e.data, e.shape.numel(), mask);
}

void Session::on_hook(const HookEvent& event) {
  // Called inside Interpreter::step(): an exception here would leave the op half done, so
  // errors are kept and reported after the step, and the failing edit is removed.
  // The interpreter is iterating its observer list, so failed edits are removed afterwards.
  const std::vector<int>& here = hook_edits_[static_cast<size_t>(event.hook)];
  int64_t bad = here.empty() ? 0 : count_non_finite(event);
  for (int i : here) {
    const Edit& e = edits_[static_cast<size_t>(i)];
    if (std::find(failed_edits_.begin(), failed_edits_.end(), e.id) != failed_edits_.end()) continue;
    try {
      apply_edit(e, event);
    } catch (const Error& err) {
      failed_edits_.push_back(e.id);
      if (edit_error_.empty()) edit_error_ = cat("edit ", e.id, " (", e.text, ") failed and was removed: ", err.what());
    }
    // An edit that writes NaN / Inf is where they begin (the NaN report names it).
    const int64_t after = count_non_finite(event);
    if (after > bad && !bad_edit_.contains(event.op_index)) bad_edit_[event.op_index] = e.id;
    bad = after;
  }
  if (cache_budget_ > 0) cache_store(event);
}

// ---- the cache ----------------------------------------------------------------------------

void Session::cache_store(const HookEvent& e) {
  CachedHook& c = cache_[static_cast<size_t>(e.hook)];
  if (c.dropped) return;
  const std::vector<int64_t> shape = e.shape.vec();
  const size_t pd = position_dim(e.point->kind);
  const auto old_bytes = static_cast<int64_t>(c.data.size() * sizeof(float));
  const bool same_tail =
      c.shape.size() == shape.size() && std::equal(shape.begin() + 1, shape.end(), c.shape.begin() + 1);
  const int64_t end = c.shape.empty() ? 0 : c.first + c.shape[0];
  // Rows of a later pass (or this pass again, after an edit) follow the earlier ones; anything
  // else (attention maps, a new run) replaces them.
  const bool append = pd == 0 && !c.data.empty() && same_tail && e.pos0 >= c.first && e.pos0 <= end;
  const int64_t width = shape[0] > 0 ? e.shape.numel() / shape[0] : 0;
  const int64_t first = append ? c.first : e.pos0;
  const int64_t rows = e.pos0 - first + shape[0];
  const int64_t new_bytes = append ? rows * width * static_cast<int64_t>(sizeof(float))
                                   : e.shape.numel() * static_cast<int64_t>(sizeof(float));
  if (cache_bytes_ - old_bytes + new_bytes > cache_budget_) {  // left out for the rest of the run
    cache_bytes_ -= old_bytes;
    c = CachedHook{};
    c.dropped = true;
    return;
  }
  if (append) {
    c.data.resize(static_cast<size_t>(rows * width));
    std::memcpy(c.data.data() + (e.pos0 - c.first) * width, e.data,
                static_cast<size_t>(e.shape.numel()) * sizeof(float));
    c.shape[0] = rows;
  } else {
    c.first = e.pos0;
    c.shape = shape;
    c.data.assign(e.data, e.data + e.shape.numel());
  }
  cache_bytes_ += new_bytes - old_bytes;
  c.pass = pass_index_;
}

void Session::cache_clear() {
  for (CachedHook& c : cache_) c = CachedHook{};
  cache_bytes_ = 0;
}

void Session::set_cache_budget(int64_t bytes) {
  if (bytes < 0) fail("the cache budget must be at least 0 bytes (got ", bytes, ")");
  cache_budget_ = bytes;
  cache_clear();
  observe_hooks();
}

int64_t Session::cache_hooks_kept() const {
  return std::count_if(cache_.begin(), cache_.end(), [](const CachedHook& c) { return !c.data.empty(); });
}

int64_t Session::cache_hooks_dropped() const {
  return std::count_if(cache_.begin(), cache_.end(), [](const CachedHook& c) { return c.dropped; });
}

std::optional<Stop> Session::take_edit_error() {
  if (edit_error_.empty()) return std::nullopt;
  Stop s{StopReason::EditError, -1, "", std::move(edit_error_), std::nullopt};
  edit_error_.clear();
  std::erase_if(edits_, [&](const Edit& e) {
    return std::find(failed_edits_.begin(), failed_edits_.end(), e.id) != failed_edits_.end();
  });
  failed_edits_.clear();
  rebuild_edit_index();
  return s;
}

void Session::apply_edit(const Edit& edit, const HookEvent& e) {
  const std::vector<int64_t> shape = e.shape.vec();
  // Positions are absolute: an edit of position 3 changes nothing in a later decode pass.
  const Selection sel =
      select_positions(edit.slice, shape, position_dim(e.point->kind), e.pos0, Outside::Skip, edit.text);
  const std::vector<int64_t> offs = sel.offsets(shape);
  float* x = e.data;
  switch (edit.kind) {
    case EditKind::Zero:
      for (int64_t o : offs) x[o] = 0.0f;
      return;
    case EditKind::Scale:
      for (int64_t o : offs) x[o] *= edit.value;
      return;
    case EditKind::Add:
      for (int64_t o : offs) x[o] += edit.value;
      return;
    case EditKind::Set:
      for (int64_t o : offs) x[o] = edit.value;
      return;
    case EditKind::Steer: {
      const int64_t last = shape.back();
      if (static_cast<int64_t>(edit.vector.size()) != last)
        fail("steering vector has ", edit.vector.size(), " values, ", e.point->name, " has ", last, " per row");
      for (int64_t o : offs) x[o] += edit.value * edit.vector[static_cast<size_t>(o % last)];
      return;
    }
    case EditKind::Patch: {
      const SourceTensor& src = edit.source.at(e.hook);
      const int64_t row = shape[0] > 0 ? e.shape.numel() / shape[0] : 0;
      const int64_t src_rows = src.shape.empty() ? 0 : src.shape[0];
      for (int64_t o : offs) {
        const int64_t p = e.pos0 + o / row;  // absolute position of this element's row
        if (p < src_rows) x[o] = src.data[static_cast<size_t>(p * row + o % row)];
      }
      return;
    }
  }
}

std::map<int, SourceTensor> Session::capture(const std::vector<int32_t>& tokens, const std::vector<int>& hooks) const {
  // A clean interpreter (no edits) with the hooks kept as TransformerLens's run_with_cache keeps them.
  analysis::TensorCache cache(hooks);
  Interpreter other(model_, options_);
  cache.attach(other);
  for (const PassRange& r : pass_ranges(static_cast<int64_t>(tokens.size()), options_.max_batch)) {
    other.begin(std::span<const int32_t>(tokens).subspan(static_cast<size_t>(r.first), static_cast<size_t>(r.count)),
                true);
    other.finish();
  }
  cache.finish();
  std::map<int, SourceTensor> out;
  for (const analysis::TensorCache::Entry& e : cache.entries()) out[e.hook] = SourceTensor{e.shape, e.data};
  return out;
}

namespace {

class FnObserver : public Observer {
 public:
  explicit FnObserver(std::function<void(const HookEvent&)> f) : f_(std::move(f)) {}
  void on_hook(const HookEvent& e) override { f_(e); }

 private:
  std::function<void(const HookEvent&)> f_;
};

}  // namespace

const Gradients& Session::backward(int32_t target, int64_t pos, bool logprob, int64_t budget_bytes) {
  if (tokens_.empty()) fail("backward: nothing has run yet (run a prompt first)");
  const auto n = static_cast<int64_t>(tokens_.size());
  if (pos < 0) pos += n;
  if (pos < 0 || pos >= n) fail("backward: position ", pos, " is outside the run's ", n, " tokens");
  if (target < 0 || target >= model_.config.d_vocab)
    fail("backward: token ", target, " is outside the vocabulary of ", model_.config.d_vocab);
  RunOptions ro = options_;
  ro.max_batch = n;
  ro.pool = interp_->shared_pool();
  Interpreter other(model_, ro);
  if (n > other.max_batch()) fail("backward: the run's ", n, " tokens exceed the context of ", other.n_ctx());
  auto g = std::make_unique<Gradients>();
  const int n_hooks = other.hooks().size();
  g->shapes.resize(static_cast<size_t>(n_hooks));
  g->values.resize(static_cast<size_t>(n_hooks));
  // The edits as the session applies them (positions absolute; one pass from 0), with their
  // derivatives for the backward pass (replaced values pass no gradient, scaled ones scale it),
  // then a copy.
  std::map<int, std::vector<float>> jacobians;  // op -> elementwise derivative of its edits
  FnObserver edits([this, &jacobians](const HookEvent& e) {
    std::vector<float>& d = jacobians[e.op_index];
    d.assign(static_cast<size_t>(e.shape.numel()), 1.0f);
    const std::vector<int64_t> shape = e.shape.vec();
    for (int i : hook_edits_[static_cast<size_t>(e.hook)]) {
      const Edit& edit = edits_[static_cast<size_t>(i)];
      apply_edit(edit, e);
      const Selection sel =
          select_positions(edit.slice, shape, position_dim(e.point->kind), e.pos0, Outside::Skip, edit.text);
      const int64_t row = shape[0] > 0 ? e.shape.numel() / shape[0] : 0;
      for (int64_t o : sel.offsets(shape)) {
        float& v = d[static_cast<size_t>(o)];
        switch (edit.kind) {
          case EditKind::Zero:
          case EditKind::Set: v = 0.0f; break;
          case EditKind::Scale: v *= edit.value; break;
          case EditKind::Add:
          case EditKind::Steer: break;
          case EditKind::Patch: {
            const SourceTensor& src = edit.source.at(e.hook);
            if (e.pos0 + o / row < (src.shape.empty() ? 0 : src.shape[0])) v = 0.0f;
            break;
          }
        }
      }
    }
  });
  FnObserver keep([&g](const HookEvent& e) {
    g->shapes[static_cast<size_t>(e.hook)] = e.shape.vec();
    g->values[static_cast<size_t>(e.hook)].assign(e.data, e.data + e.shape.numel());
  });
  std::vector<Subscription> subs;
  for (int h = 0; h < n_hooks; ++h) {
    if (!hook_edits_[static_cast<size_t>(h)].empty()) subs.push_back(other.subscribe(h, &edits));
    subs.push_back(other.subscribe(h, &keep));
  }
  Tape tape(other, budget_bytes);
  const bool all = pos != n - 1;
  tape.record(tokens_, all);
  for (auto& [op, d] : jacobians) tape.set_output_scale(op, std::move(d));
  const int64_t row = all ? pos : 0;
  tape.backward(logprob ? tape.seed_logprob(row, target) : tape.seed_logit(row, target));
  const float* l = tape.logits().data() + row * model_.config.d_vocab;
  double value = l[target];
  if (logprob) {
    double m = l[0], sum = 0.0;
    for (int64_t j = 1; j < model_.config.d_vocab; ++j) m = std::max(m, static_cast<double>(l[j]));
    for (int64_t j = 0; j < model_.config.d_vocab; ++j) sum += std::exp(static_cast<double>(l[j]) - m);
    value = value - m - std::log(sum);
  }
  g->grads.resize(static_cast<size_t>(n_hooks));
  for (int h = 0; h < n_hooks; ++h) {
    const std::span<const float> d = tape.hook_grad(h);
    g->grads[static_cast<size_t>(h)].assign(d.begin(), d.end());
  }
  g->tokens = tokens_;
  g->target = target;
  g->pos = pos;
  g->logprob = logprob;
  g->value = value;
  grads_ = std::move(g);
  return *grads_;
}

// ---- reading tensors ----------------------------------------------------------------------

bool Session::live(int op) const {
  if (last_op_ < 0 || op > last_op_) return false;
  return next_writer_[static_cast<size_t>(op)] > last_op_;
}

int Session::resolve_one(const std::string& pattern) const {
  std::vector<int> ids = interp_->hooks().resolve(pattern);
  if (ids.size() != 1)
    fail(pattern, ": matches ", ids.size(), " hooks (", interp_->hooks()[ids.front()].name, ", ...); name one");
  return ids.front();
}

bool Session::cached(int op) const {
  const int h = program().ops[static_cast<size_t>(op)].hook;
  if (h < 0 || last_op_ < 0 || op > last_op_) return false;
  const CachedHook& c = cache_[static_cast<size_t>(h)];
  return !c.dropped && !c.data.empty() && c.pass == pass_index_;
}

bool Session::readable(int op) const {
  return live(op) || cached(op);
}

Value Session::evaluate(const TensorExpr& expr) {
  Value v;
  if (expr.hook.empty()) {
    if (last_op_ < 0) fail("no current tensor: no op has run in this pass yet (use 'step', or name a hook)");
    v.op = last_op_;
  } else {
    v.hook = resolve_one(expr.hook);
    v.op = program().hook_op[static_cast<size_t>(v.hook)];
  }
  const auto& ops = program().ops;
  const Op& op = ops[static_cast<size_t>(v.op)];
  v.name = op.hook >= 0 ? interp_->hooks()[op.hook].name : op.label;
  if (v.hook < 0) v.hook = op.hook;
  if (!started_) fail(v.name, ": nothing has run yet (use 'run')");
  const std::string what = expr.text.empty() ? v.name : expr.text;
  const size_t pd = op_position_dim(v.op);
  if (cached(v.op)) {
    const CachedHook& c = cache_[static_cast<size_t>(v.hook)];
    v.full_shape = c.shape;
    v.pos0 = c.first;
    v.cached = true;
    v.selection = select_positions(expr.slice, c.shape, pd, c.first, Outside::Fail, what);
    v.data.reserve(static_cast<size_t>(v.selection.numel()));
    for (int64_t off : v.selection.offsets(c.shape)) v.data.push_back(c.data[static_cast<size_t>(off)]);
    return v;
  }
  if (!live(v.op)) {
    if (last_op_ < 0 || v.op > last_op_)
      fail(v.name, ": not computed yet in this pass (op ", v.op, "; the debugger is ",
           last_op_ < 0 ? std::string("at the start of the pass") : cat("after op ", last_op_), ")");
    const int w = next_writer_[static_cast<size_t>(v.op)];
    const bool dropped = v.hook >= 0 && cache_[static_cast<size_t>(v.hook)].dropped;
    fail(v.name, ": no longer available (its buffer was reused by op ", w, " '", ops[static_cast<size_t>(w)].label, "'",
         dropped ? cat(", and the cache budget of ", cache_budget_ >> 20, " MiB was full: 'set cache MB'") : "",
         v.hook < 0 ? " and only hooks are cached" : "", "); break at ", v.name, " to read it");
  }
  HookEvent e = interp_->view(v.op);
  v.full_shape = e.shape.vec();
  v.pos0 = e.pos0;
  v.selection = select_positions(expr.slice, v.full_shape, pd, e.pos0, Outside::Fail, what);
  v.data.reserve(static_cast<size_t>(v.selection.numel()));
  for (int64_t off : v.selection.offsets(v.full_shape)) v.data.push_back(e.data[off]);
  return v;
}

nlohmann::ordered_json Session::analyze(const std::vector<analysis::PassAnalysis*>& analyses) {
  if (!started_) fail("analyze: nothing has run yet (use 'run')");
  if (interp_->in_pass()) fail("analyze: the pass is not finished (use 'finish', then 'analyze')");
  if (cache_budget_ <= 0) fail("analyze: the cache is off ('set cache MB')");
  const auto& hooks = interp_->hooks();
  const int64_t n = static_cast<int64_t>(tokens_.size());
  for (analysis::PassAnalysis* a : analyses) a->attach(*interp_);
  // On an error the caller's analyses go, and their subscriptions with them (Subscription handles).
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  std::vector<float> copy;
  for (const Op& op : program().ops) {
    if (op.hook < 0) continue;
    std::vector<Observer*> them;
    for (Observer* o : interp_->observers(op.hook))
      if (o != this) them.push_back(o);
    if (them.empty()) continue;
    const CachedHook& c = cache_[static_cast<size_t>(op.hook)];
    const std::string& name = hooks[op.hook].name;
    if (c.dropped || c.data.empty())
      fail("analyze: ", name, " was not kept (the cache budget of ", cache_budget_ >> 20,
           " MiB was full: 'set cache MB' and run again)");
    // Attention maps hold the newest pass's queries: they go as they are (from c.first), and an
    // analysis that needs them from position 0 (attention scores) says so.
    const bool map = position_dim(hooks[op.hook].kind) == 1;
    if (!map && (c.first != 0 || c.shape[0] != n))
      fail("analyze: ", name, " holds positions ", c.first, "..", c.first + c.shape[0] - 1, " of the run's ", n);
    HookEvent e;
    e.hook = op.hook;
    e.point = &hooks[op.hook];
    e.op_index = program().hook_op[static_cast<size_t>(op.hook)];
    copy = c.data;  // an analysis never changes the kept tensor
    e.data = copy.data();
    e.shape.rank = static_cast<int>(c.shape.size());
    for (size_t d = 0; d < c.shape.size() && d < e.shape.dims.size(); ++d) e.shape.dims[d] = c.shape[d];
    e.pos0 = c.first;
    e.tokens = tokens_;
    for (Observer* o : them) o->on_hook(e);
  }
  const int64_t rows = logit_positions();
  for (analysis::PassAnalysis* a : analyses) a->on_logits(logits_.data(), rows, 0);
  for (analysis::PassAnalysis* a : analyses) out[std::string(a->name())] = a->finish();
  return out;
}

std::vector<float> Session::lens(const float* x) {
  std::vector<float> logits(static_cast<size_t>(model_.config.d_vocab));  // [d_vocab]
  analysis::LogitLens(model_, interp_->pool(), options_.numerics).apply(x, 1, logits.data());
  return logits;
}

}  // namespace loupe::dbg
