// The Python extension `loupe._loupe`: the engine, its hooks and its analyses for numpy users.
// The package's Python half (python/loupe/__init__.py) gives it TransformerLens's names; this
// file is the thin, exact layer under it:
//
// - every array handed to Python owns its memory (a numpy array over a moved std::vector), so it
//   outlives the model and never dangles;
// - a Python hook gets a copy of the live tensor and what it leaves there (or returns) is copied
//   back before the next op runs, so edits flow into later ops and the KV cache;
// - the GIL is released while loupe computes and taken back only to call a hook; Ctrl-C stops a
//   pass between two ops (a SIGINT handler of our own while loupe runs on the main thread) and
//   raises KeyboardInterrupt with the model still usable;
// - a model runs one call at a time: another Python thread waits; a call from inside one of the
//   model's own hooks is refused (it would run the interpreter inside its own pass).
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <mutex>
#include <thread>

#include "analysis/activations.h"
#include "analysis/attention.h"
#include "analysis/attribute.h"
#include "analysis/diff.h"
#include "analysis/eval.h"
#include "analysis/gradients.h"
#include "analysis/logit_lens.h"
#include "analysis/pass.h"
#include "analysis/text.h"
#include "core/error.h"
#include "data/explore.h"
#include "data/explore_json.h"
#include "data/input.h"
#include "data/wordcloud.h"
#include "debugger/commands.h"
#include "debugger/expr.h"
#include "debugger/session.h"
#include "engine/driver.h"
#include "engine/interpreter.h"
#include "engine/run.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"

namespace py = pybind11;

namespace loupe::python {
namespace {

// ---- arrays -------------------------------------------------------------------------------

// A numpy array that owns `v` (moved, not copied).
template <typename T>
py::array_t<T> owned_array(std::vector<T>&& v, const std::vector<int64_t>& shape) {
  auto* p = new std::vector<T>(std::move(v));
  py::capsule owner(p, [](void* q) { delete static_cast<std::vector<T>*>(q); });
  std::vector<py::ssize_t> dims(shape.begin(), shape.end());
  return py::array_t<T>(dims, p->data(), owner);
}

std::vector<int32_t> token_vector(const py::array_t<int64_t, py::array::c_style | py::array::forcecast>& a) {
  if (a.ndim() != 1) fail("tokens: expected a 1-d array of token ids, got ", a.ndim(), " dimensions");
  std::vector<int32_t> out(static_cast<size_t>(a.size()));
  const int64_t* p = a.data();
  for (size_t i = 0; i < out.size(); ++i) {
    if (p[i] < INT32_MIN || p[i] > INT32_MAX) fail("tokens: id ", p[i], " at index ", i, " is out of range");
    out[i] = static_cast<int32_t>(p[i]);
  }
  return out;
}

// ---- Ctrl-C -------------------------------------------------------------------------------

std::atomic<bool> g_interrupted{false};
std::thread::id g_main_thread;

extern "C" void on_sigint(int) {
  g_interrupted.store(true, std::memory_order_relaxed);
  dbg::Session::interrupt();
}

// While loupe computes on the main thread, SIGINT sets a flag that the pass loops check between
// ops (Python's own handler would only run once the call returns). The previous handler comes
// back afterwards.
class SigintScope {
 public:
  SigintScope() {
    g_interrupted.store(false);
    if (std::this_thread::get_id() != g_main_thread) return;
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    installed_ = sigaction(SIGINT, &sa, &old_) == 0;
  }
  ~SigintScope() {
    if (installed_) sigaction(SIGINT, &old_, nullptr);
  }
  SigintScope(const SigintScope&) = delete;
  SigintScope& operator=(const SigintScope&) = delete;

 private:
  struct sigaction old_ {};
  bool installed_ = false;
};

// Thrown through the interpreter when a Python hook raised (the Python error itself is kept in
// the thread's error indicator) or when Ctrl-C stopped a pass.
struct HookRaised {};
struct Interrupted {};

// ---- hooks --------------------------------------------------------------------------------

// What a hook function gets as its second argument (TransformerLens passes a HookPoint).
struct HookInfo {
  std::string name;
  int layer = -1;
  int64_t pos0 = 0;  // position of row 0 of [pos, ...] tensors in this pass
};

class PyHook : public Observer {
 public:
  PyHook(py::function fn) : fn_(std::move(fn)) {}

  void on_hook(const HookEvent& e) override {
    py::gil_scoped_acquire gil;
    const std::vector<int64_t> shape = e.shape.vec();
    const auto n = static_cast<size_t>(e.shape.numel());
    py::array_t<float> a(std::vector<py::ssize_t>(shape.begin(), shape.end()));
    std::memcpy(a.mutable_data(), e.data, n * sizeof(float));
    HookInfo info{e.point->name, e.point->layer, e.pos0};
    try {
      py::object r = fn_(a, info);
      if (r.is_none()) {
        std::memcpy(e.data, a.data(), n * sizeof(float));
        return;
      }
      auto b = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(r);
      if (!b)
        throw py::type_error("the hook on " + e.point->name + " returned a " + std::string(py::str(py::type::of(r))) +
                             ", not an array or None");
      bool same = b.ndim() == static_cast<py::ssize_t>(shape.size());
      for (size_t i = 0; same && i < shape.size(); ++i) same = b.shape(static_cast<py::ssize_t>(i)) == shape[i];
      if (!same) {
        std::string want = "(", got = "(";
        for (size_t i = 0; i < shape.size(); ++i) want += (i ? ", " : "") + std::to_string(shape[i]);
        for (py::ssize_t i = 0; i < b.ndim(); ++i) got += (i ? ", " : "") + std::to_string(b.shape(i));
        throw py::value_error("the hook on " + e.point->name + " returned shape " + got + ") where the tensor is " +
                              want + ")");
      }
      std::memcpy(e.data, b.data(), n * sizeof(float));
    } catch (py::error_already_set& err) {
      // Name the hook on the exception (a note, as Python 3.11 shows them), then hand it back to
      // the interpreter's caller through the thread's error indicator.
      if (py::hasattr(err.value(), "add_note"))
        err.value().attr("add_note")("raised in the loupe hook on " + e.point->name);
      err.restore();
      throw HookRaised{};
    } catch (py::builtin_exception& err) {
      err.set_error();
      throw HookRaised{};
    }
  }

 private:
  py::function fn_;
};

// ---- the model ----------------------------------------------------------------------------

class PyModel {
 public:
  PyModel(const std::string& path, const std::optional<std::string>& tokenizer, std::optional<int> threads,
          std::optional<int64_t> ctx, const std::string& numerics, bool q8_act) {
    std::optional<Numerics> n = numerics_from_name(numerics);
    if (!n) fail("numerics: unknown arithmetic '", numerics, "' (exact, llama.cpp, q8)");
    if (q8_act) n = Numerics::Q8;
    LoadOptions lo;
    if (tokenizer) lo.tokenizer_path = *tokenizer;
    lo.q8_panels = *n != Numerics::Exact;
    model_ = load_model(path, lo);
    run_.n_threads = threads && *threads > 0 ? *threads : std::max(1u, std::thread::hardware_concurrency());
    run_.pool = std::make_shared<ThreadPool>(run_.n_threads);
    run_.n_ctx = ctx ? *ctx : 0;
    run_.numerics = *n;
    n_ctx_ = effective_context(model_->config, run_.n_ctx);
    program_ = std::make_unique<Program>(lower(*model_));
  }

  const Model& model() const { return *model_; }
  const RunOptions& run_options() const { return run_; }
  int64_t n_ctx() const { return n_ctx_; }

  // Holds the model for one call; refuses a call from inside the model's own hooks.
  class Busy {
   public:
    explicit Busy(PyModel& m) : m_(m) {
      if (m.owner_.load() == std::this_thread::get_id())
        fail("the model is running (a call from inside one of its own hooks?); call it after the run");
      py::gil_scoped_release release;
      m.mutex_.lock();
      m.owner_.store(std::this_thread::get_id());
    }
    ~Busy() {
      m_.owner_.store(std::thread::id());
      m_.mutex_.unlock();
    }
    Busy(const Busy&) = delete;
    Busy& operator=(const Busy&) = delete;

   private:
    PyModel& m_;
  };

  // The interpreter, with at least max_batch positions per pass (kept between calls).
  Interpreter& interp(int64_t max_batch) {
    max_batch = std::clamp<int64_t>(max_batch, 1, n_ctx_);
    if (!interp_ || stale_ || interp_->max_batch() != max_batch) {
      stale_ = false;
      interp_.reset();
      RunOptions ro = run_;
      ro.max_batch = max_batch;
      interp_ = std::make_unique<Interpreter>(*model_, ro);
    }
    return *interp_;
  }
  // After an error or an interrupt part way through a pass: the next call starts a new
  // interpreter (this one lives on until then: the call's subscriptions still point at it).
  void drop_interp() { stale_ = true; }

  // The hooks, from the model's own program (never the interpreter a running call uses).
  const Program& program() const { return *program_; }
  const HookTable& hooks() const { return program_->hooks; }

 private:
  std::unique_ptr<Model> model_;
  RunOptions run_;
  int64_t n_ctx_ = 0;
  std::unique_ptr<Program> program_;
  std::unique_ptr<Interpreter> interp_;
  bool stale_ = false;
  std::mutex mutex_;
  std::atomic<std::thread::id> owner_{};
};

// Runs work with the GIL released and Ctrl-C armed. A hook's exception comes back as itself, an
// interrupt as KeyboardInterrupt; after either (or any error) the next call gets a new
// interpreter, as the pass stopped part way.
template <typename Work>
void computing(PyModel& m, Work&& work) {
  try {
    py::gil_scoped_release release;
    SigintScope sigint;
    work();
  } catch (HookRaised&) {
    m.drop_interp();
    throw py::error_already_set();
  } catch (Interrupted&) {
    m.drop_interp();
    PyErr_SetNone(PyExc_KeyboardInterrupt);
    throw py::error_already_set();
  } catch (...) {
    m.drop_interp();
    throw;
  }
}

// Runs tokens through interp from position 0 in passes, op by op so Ctrl-C can stop it.
void run_passes(PyModel& m, Interpreter& interp, const std::vector<int32_t>& tokens, bool all_logits,
                const std::function<void(const float*, int64_t, int64_t)>& on_logits) {
  computing(m, [&] {
    interp.rewind(0);
    const auto n = static_cast<int64_t>(tokens.size());
    if (n > interp.n_ctx())
      fail(n, " tokens exceed the context of ", interp.n_ctx(), " positions (load with a larger ctx)");
    for (const PassRange& r : pass_ranges(n, interp.max_batch())) {
      const bool last = r.first + r.count == n;
      interp.begin(std::span<const int32_t>(tokens).subspan(static_cast<size_t>(r.first), static_cast<size_t>(r.count)),
                   all_logits);
      while (interp.in_pass()) {
        if (g_interrupted.load(std::memory_order_relaxed)) throw Interrupted{};
        interp.step();
      }
      if (on_logits && (all_logits || last))
        on_logits(interp.logits(), interp.logit_rows(), interp.n_past() - interp.logit_rows());
    }
  });
}

using HookList = std::vector<std::pair<int, py::function>>;

// Python hook functions subscribed for one call (unsubscribed when it ends, before they go).
struct PyHooks {
  PyHooks(Interpreter& interp, const std::vector<std::pair<int, py::function>>& list) {
    for (const auto& [id, fn] : list) {
      if (id < 0 || id >= interp.hooks().size()) fail("hook id ", id, " is out of range");
      hooks.push_back(std::make_unique<PyHook>(fn));
      subs.push_back(interp.subscribe(id, hooks.back().get()));
    }
  }
  std::vector<std::unique_ptr<PyHook>> hooks;
  std::vector<Subscription> subs;
};

struct RunResult {
  py::array_t<float> logits;
  py::dict cache;
};

// One run from position 0: logits of every position [n, d_vocab] and the chosen hooks' tensors
// (after the Python hooks' edits), as `loupe trace` keeps them (one pass over the whole input).
RunResult run(PyModel& m, const std::vector<int32_t>& tokens, const HookList& hooks, const std::vector<int>& cache_ids,
              int64_t max_batch) {
  if (tokens.empty()) fail("tokens: nothing to run (an empty input)");
  PyModel::Busy busy(m);
  Interpreter& interp = m.interp(max_batch);
  PyHooks py_hooks(interp, hooks);
  analysis::TensorCache cache(cache_ids);
  cache.attach(interp);
  const int64_t V = m.model().config.d_vocab;
  std::vector<float> logits(tokens.size() * static_cast<size_t>(V));
  run_passes(m, interp, tokens, true,
             [&](const float* l, int64_t rows, int64_t first) { std::copy_n(l, rows * V, logits.data() + first * V); });
  RunResult r;
  r.logits = owned_array(std::move(logits), {static_cast<int64_t>(tokens.size()), V});
  // The entries' vectors move into the arrays (the cache is dropped here).
  auto& entries = const_cast<std::vector<analysis::TensorCache::Entry>&>(cache.entries());
  for (auto& e : entries) r.cache[py::str(e.name)] = owned_array(std::move(e.data), e.shape);
  return r;
}

py::dict generate(PyModel& m, const std::vector<int32_t>& prompt, int64_t n, double temperature,
                  std::optional<int> top_k, std::optional<double> top_p, std::optional<uint64_t> seed,
                  const HookList& hooks) {
  if (prompt.empty()) fail("generate: an empty prompt (add BOS)");
  if (n < 0) fail("max_new_tokens: ", n, " is negative");
  PyModel::Busy busy(m);
  Interpreter& interp = m.interp(256);
  PyHooks py_hooks(interp, hooks);
  GenerateOptions go;
  go.n_predict = n;
  go.sampler.temperature = static_cast<float>(temperature);
  go.sampler.top_k = top_k ? *top_k : 0;
  go.sampler.top_p = top_p ? static_cast<float>(*top_p) : 1.0f;
  go.sampler.seed = seed ? *seed : 42;
  // The generation loop checks Ctrl-C between ops through an op listener.
  struct Stop : OpListener {
    void before_op(int) override {
      if (g_interrupted.load(std::memory_order_relaxed)) throw Interrupted{};
    }
    void after_op(int) override {}
  } stop;
  Subscription listening = interp.listen(&stop);
  GenerateResult g;
  computing(m, [&] {
    interp.rewind(0);
    g = loupe::generate(interp, prompt, go);
  });
  py::dict d;
  const auto n_tokens = static_cast<int64_t>(g.tokens.size());
  d["tokens"] = owned_array(std::move(g.tokens), {n_tokens});
  d["n_prompt"] = g.n_prompt;
  d["text"] = py::bytes(g.text).attr("decode")("utf-8", "replace");
  d["stop"] = std::string(stop_reason_text(g.stop));
  return d;
}

// A weight of the model, dequantised to float32 [rows, cols], by its GGUF-style name
// (token_embd.weight, blk.N.attn_q.weight, ..., output_norm.weight) whatever the file's format.
py::array_t<float> weight(PyModel& m, const std::string& name) {
  const Model& model = m.model();
  const ModelConfig& c = model.config;
  auto matrix = [&](const Weight& w) {
    if (w.rows == 0) fail("weight ", name, ": this model has none");
    std::vector<float> out(static_cast<size_t>(w.rows * w.cols));
    for (int64_t r = 0; r < w.rows; ++r) w.row(r, out.data() + r * w.cols);
    return owned_array(std::move(out), {w.rows, w.cols});
  };
  auto vec = [&](const float* p, int64_t n) {
    if (p == nullptr) fail("weight ", name, ": this model has none");
    return owned_array(std::vector<float>(p, p + n), {n});
  };
  if (name == "token_embd.weight") return matrix(model.tok_embed);
  if (name == "position_embd.weight") return matrix(model.pos_embed);
  if (name == "output.weight") return matrix(model.unembed);
  if (name == "output_norm.weight") return vec(model.ln_final_w, c.d_model);
  if (name == "output_norm.bias") return vec(model.ln_final_b, c.d_model);
  int layer = -1;
  char rest[64] = {};
  if (std::sscanf(name.c_str(), "blk.%d.%63s", &layer, rest) == 2) {
    if (layer < 0 || layer >= c.n_layers)
      fail("weight ", name, ": layer ", layer, " is out of range (", c.n_layers, " layers)");
    const LayerWeights& L = model.layers[static_cast<size_t>(layer)];
    const std::string r = rest;
    if (r == "attn_q.weight") return matrix(L.wq);
    if (r == "attn_k.weight") return matrix(L.wk);
    if (r == "attn_v.weight") return matrix(L.wv);
    if (r == "attn_output.weight") return matrix(L.wo);
    if (r == "ffn_gate.weight") return matrix(L.w_gate);
    if (r == "ffn_up.weight") return matrix(L.w_up);
    if (r == "ffn_down.weight") return matrix(L.w_down);
    if (r == "attn_norm.weight") return vec(L.ln1_w, c.d_model);
    if (r == "attn_norm.bias") return vec(L.ln1_b, c.d_model);
    if (r == "ffn_norm.weight") return vec(L.ln2_w, c.d_model);
    if (r == "ffn_norm.bias") return vec(L.ln2_b, c.d_model);
    if (r == "attn_q.bias") return vec(L.bq, c.d_q());
    if (r == "attn_k.bias") return vec(L.bk, c.d_kv());
    if (r == "attn_v.bias") return vec(L.bv, c.d_kv());
    if (r == "attn_output.bias") return vec(L.bo, c.d_model);
    if (r == "ffn_up.bias") return vec(L.b_up, c.d_mlp);
    if (r == "ffn_down.bias") return vec(L.b_down, c.d_model);
    if (r == "attn_q_norm.weight") return vec(L.q_norm, c.d_head);
    if (r == "attn_k_norm.weight") return vec(L.k_norm, c.d_head);
    if (r == "post_attention_norm.weight") return vec(L.post_attn_norm, c.d_model);
    if (r == "post_ffw_norm.weight") return vec(L.post_ffn_norm, c.d_model);
  }
  fail("weight: no weight named '", name,
       "' (names as GGUF has them: token_embd.weight, blk.N.attn_q.weight, blk.N.ffn_down.weight, output.weight, ...)");
}

py::dict config(const PyModel& m) {
  const ModelConfig& c = m.model().config;
  py::dict d;
  d["d_model"] = c.d_model;
  d["n_layers"] = c.n_layers;
  d["n_heads"] = c.n_heads;
  d["n_kv_heads"] = c.n_kv_heads;
  d["d_head"] = c.d_head;
  d["d_mlp"] = c.d_mlp;
  d["d_vocab"] = c.d_vocab;
  d["n_ctx"] = c.n_ctx;
  d["ctx"] = m.n_ctx();
  d["arch"] = c.arch_label;
  d["dtype"] = c.file_type;
  d["format"] = c.format;
  d["gated_mlp"] = c.gated();
  d["norm"] = c.norm == NormKind::LayerNorm ? "layernorm" : "rmsnorm";
  d["n_experts"] = c.n_experts;
  d["bos_id"] = c.bos_id;
  d["eos_id"] = c.eos_id;
  d["numerics"] = std::string(numerics_name(m.run_options().numerics));
  d["threads"] = m.run_options().n_threads;
  d["path"] = m.model().path;
  return d;
}

const Tokenizer& tokenizer_of(const PyModel& m) {
  if (!m.model().tokenizer) fail(m.model().path, ": no tokenizer found for this model; load with tokenizer=FILE");
  return *m.model().tokenizer;
}

py::object json_to_python(const nlohmann::ordered_json& j) {
  return py::module_::import("json").attr("loads")(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

// ---- analyses -----------------------------------------------------------------------------

analysis::SequencerOptions seq_options(int64_t chunk, int64_t max_docs, const std::string& format, bool strict) {
  analysis::SequencerOptions s;
  s.chunk = chunk;
  s.max_docs = max_docs;
  s.format = data::parse_format(format);
  s.strict = strict;
  return s;
}

// An analysis's JSON, computed with the model held and the GIL released, as Python objects.
template <typename Analysis>
py::object analysis_json(PyModel& m, Analysis&& analysis) {
  nlohmann::ordered_json j;
  {
    PyModel::Busy busy(m);
    py::gil_scoped_release release;
    j = analysis();
  }
  return json_to_python(j);
}

// ---- the debugger -------------------------------------------------------------------------

// The debugger's session runs beside the model's calls, so on threads of its own.
RunOptions own_threads(RunOptions o) {
  o.pool = nullptr;
  return o;
}

class PyDebugger {
 public:
  PyDebugger(PyModel& m, const std::string& prompt, std::optional<int64_t> cache_mb)
      : model_(m), session_(m.model(), own_threads(m.run_options())), debugger_(session_, prompt) {
    if (cache_mb) session_.set_cache_budget(*cache_mb << 20);
  }

  // Runs one command line as the REPL does: {"text": ..., "json": {...}}.
  py::dict execute(const std::string& line) {
    dbg::Reply reply;
    {
      py::gil_scoped_release release;
      SigintScope sigint;
      reply = debugger_.execute(line);
    }
    py::dict d;
    d["text"] = reply.text;
    d["json"] = json_to_python(reply.json);
    return d;
  }

  // The logits of every position run so far [n, d_vocab].
  py::array_t<float> logits() const {
    std::vector<float> l = session_.logits();
    const int64_t V = model_.model().config.d_vocab;
    const auto n = static_cast<int64_t>(l.size()) / V;
    return owned_array(std::move(l), {n, V});
  }

  // The tensor an expression names at the current stop, as an array (positions absolute).
  py::tuple tensor(const std::string& expr) {
    dbg::Value v = session_.evaluate(dbg::parse_tensor_expr(expr));
    std::vector<int64_t> shape = v.selection.shape;
    py::array_t<float> a = owned_array(std::move(v.data), shape);
    return py::make_tuple(a, v.name, v.pos0);
  }

 private:
  PyModel& model_;
  dbg::Session session_;
  dbg::Debugger debugger_;
};

}  // namespace
}  // namespace loupe::python

PYBIND11_MODULE(_loupe, mod) {
  using namespace loupe;
  using namespace loupe::python;
  g_main_thread = std::this_thread::get_id();
  mod.doc() = "loupe's engine for Python (use the `loupe` package, not this module)";

  py::register_exception<Error>(mod, "LoupeError", PyExc_RuntimeError);

  py::class_<HookInfo>(mod, "Hook")
      .def_readonly("name", &HookInfo::name)
      .def_readonly("layer", &HookInfo::layer)
      .def_readonly("pos0", &HookInfo::pos0)
      .def("__repr__", [](const HookInfo& h) { return "<Hook " + h.name + ">"; });

  py::class_<PyModel>(mod, "Model")
      .def(py::init<const std::string&, const std::optional<std::string>&, std::optional<int>, std::optional<int64_t>,
                    const std::string&, bool>(),
           py::arg("path"), py::arg("tokenizer") = py::none(), py::arg("threads") = py::none(),
           py::arg("ctx") = py::none(), py::arg("numerics") = "exact", py::arg("q8_act") = false,
           py::call_guard<py::gil_scoped_release>())
      .def("config", &config)
      .def("hook_names",
           [](PyModel& m) {
             std::vector<std::string> names;
             const HookTable& t = m.hooks();
             for (int i = 0; i < t.size(); ++i) names.push_back(t[i].name);
             return names;
           })
      .def("resolve", [](const PyModel& m, const std::string& pattern) { return m.hooks().resolve(pattern); })
      .def("hook_shape",
           [](const PyModel& m, int hook, int64_t n) {
             if (hook < 0 || hook >= m.hooks().size()) fail("hook id ", hook, " is out of range");
             return hook_tensor_shape(m.program(), m.model().config, hook, n, n, true).vec();
           })
      .def("encode",
           [](const PyModel& m, const std::string& text, bool bos) {
             std::vector<int32_t> t = tokenizer_of(m).encode(text, bos);
             const auto n = static_cast<int64_t>(t.size());
             return owned_array(std::move(t), {n});
           })
      .def("parse_token",
           [](const PyModel& m, const std::string& spec) { return analysis::parse_token(m.model(), spec, "target"); })
      .def("default_bos", [](const PyModel& m) { return default_add_bos(m.model()); })
      .def("decode",
           [](const PyModel& m, const py::array_t<int64_t, py::array::c_style | py::array::forcecast>& t) {
             const std::vector<int32_t> ids = token_vector(t);
             for (int32_t id : ids)
               if (id < 0 || id >= m.model().config.d_vocab) fail("tokens: id ", id, " is out of range");
             return py::bytes(tokenizer_of(m).decode(ids)).attr("decode")("utf-8", "replace");
           })
      .def("token_str",
           [](const PyModel& m, int64_t id) {
             if (id < 0 || id >= m.model().config.d_vocab) fail("token id ", id, " is out of range");
             return py::bytes(tokenizer_of(m).token_bytes(static_cast<int32_t>(id))).attr("decode")("utf-8", "replace");
           })
      .def(
          "run",
          [](PyModel& m, const py::array_t<int64_t, py::array::c_style | py::array::forcecast>& t,
             const HookList& hooks, const std::vector<int>& cache, int64_t max_batch) {
            RunResult r = run(m, token_vector(t), hooks, cache, max_batch);
            return py::make_tuple(r.logits, r.cache);
          },
          py::arg("tokens"), py::arg("hooks"), py::arg("cache"), py::arg("max_batch"))
      .def(
          "generate",
          [](PyModel& m, const py::array_t<int64_t, py::array::c_style | py::array::forcecast>& t, int64_t n,
             double temperature, std::optional<int> top_k, std::optional<double> top_p, std::optional<uint64_t> seed,
             const HookList& hooks) { return generate(m, token_vector(t), n, temperature, top_k, top_p, seed, hooks); },
          py::arg("tokens"), py::arg("n"), py::arg("temperature"), py::arg("top_k"), py::arg("top_p"), py::arg("seed"),
          py::arg("hooks"))
      .def("weight", &weight, py::arg("name"))
      .def("tensors", [](const PyModel& m) {
        py::list out;
        for (const TensorSummary& t : m.model().tensors)
          out.append(py::dict(py::arg("name") = t.name, py::arg("type") = t.type, py::arg("shape") = t.shape));
        return out;
      });

  // The analyses, each returning the JSON their command prints (as Python objects).
  mod.def(
      "lens",
      [](PyModel& m, const py::array_t<int64_t, py::array::c_style | py::array::forcecast>& t, int64_t top_k,
         std::optional<int32_t> target) {
        analysis::LensOptions o;
        o.run = m.run_options();
        o.top_k = top_k;
        o.target = target;
        const std::vector<int32_t> tokens = token_vector(t);
        return analysis_json(m, [&] { return analysis::to_json(analysis::run_lens(m.model(), tokens, o), m.model()); });
      },
      py::arg("model"), py::arg("tokens"), py::arg("top_k") = 5, py::arg("target") = py::none());
  mod.def(
      "attention",
      [](PyModel& m, const py::array_t<int64_t, py::array::c_style | py::array::forcecast>& t, int64_t induction_len,
         uint64_t seed) {
        analysis::AttentionOptions o;
        o.run = m.run_options();
        o.induction_len = induction_len;
        o.seed = seed;
        const std::vector<int32_t> tokens = token_vector(t);
        return analysis_json(m, [&] { return analysis::to_json(analysis::run_attention(m.model(), tokens, o)); });
      },
      py::arg("model"), py::arg("tokens"), py::arg("induction_len") = 20, py::arg("seed") = 1);
  mod.def(
      "attribute",
      [](PyModel& m, const py::array_t<int64_t, py::array::c_style | py::array::forcecast>& t, int32_t target,
         int64_t pos, bool occlusion) {
        analysis::AttributionOptions o;
        o.run = m.run_options();
        o.target = target;
        o.pos = pos;
        o.occlusion = occlusion;
        const std::vector<int32_t> tokens = token_vector(t);
        return analysis_json(
            m, [&] { return analysis::to_json(analysis::run_attribution(m.model(), tokens, o), m.model()); });
      },
      py::arg("model"), py::arg("tokens"), py::arg("target"), py::arg("pos") = -1, py::arg("occlusion") = true);
  mod.def(
      "attribute_gradients",
      [](PyModel& m, const py::array_t<int64_t, py::array::c_style | py::array::forcecast>& t, int32_t target,
         const std::string& method, int64_t pos, bool logprob, const std::string& layer, int steps,
         const std::string& integration, const std::string& baseline,
         const py::array_t<int64_t, py::array::c_style | py::array::forcecast>& other, int verify) {
        analysis::GradAttributionOptions o;
        o.run = m.run_options();
        o.method = analysis::parse_method(method, "method");
        o.target = target;
        o.pos = pos;
        o.logprob = logprob;
        o.layer = layer;
        o.steps = steps;
        o.integration = analysis::parse_integration(integration, "integration");
        o.baseline = baseline;
        if (baseline == "tokens") o.baseline_tokens = token_vector(other);
        if (o.method == analysis::GradMethod::AttributionPatching) o.corrupted = token_vector(other);
        o.verify = verify;
        const std::vector<int32_t> tokens = token_vector(t);
        return analysis_json(
            m, [&] { return analysis::to_json(analysis::run_grad_attribution(m.model(), tokens, o), m.model()); });
      },
      py::arg("model"), py::arg("tokens"), py::arg("target"), py::arg("method"), py::arg("pos"), py::arg("logprob"),
      py::arg("layer"), py::arg("steps"), py::arg("integration"), py::arg("baseline"), py::arg("other"),
      py::arg("verify"));
  mod.def(
      "eval",
      [](PyModel& m, const std::string& data, const std::string& field, int64_t chunk, int64_t max_docs,
         const std::string& format, bool strict) {
        analysis::EvalOptions o;
        o.run = m.run_options();
        o.seq = seq_options(chunk, max_docs, format, strict);
        nlohmann::ordered_json docs = nlohmann::ordered_json::array();  // each document, as eval --json
        o.on_doc = [&](const analysis::DocEval& d) { docs.push_back(analysis::to_json(d)); };
        return analysis_json(m, [&] {
          nlohmann::ordered_json j = analysis::to_json(analysis::run_eval(m.model(), data, field, o));
          j["documents"] = std::move(docs);
          return j;
        });
      },
      py::arg("model"), py::arg("data"), py::arg("field") = "text", py::arg("chunk") = 0, py::arg("max_docs") = 0,
      py::arg("format") = "auto", py::arg("strict") = false);
  mod.def(
      "activations",
      [](PyModel& m, const std::string& data, const std::vector<std::string>& hooks, const std::string& field,
         int64_t chunk, int64_t max_docs, const std::string& format, bool strict) {
        analysis::ActivationsOptions o;
        o.run = m.run_options();
        o.seq = seq_options(chunk, max_docs, format, strict);
        o.hooks = hooks;
        return analysis_json(m,
                             [&] { return analysis::to_json(analysis::run_activations(m.model(), data, field, o)); });
      },
      py::arg("model"), py::arg("data"), py::arg("hooks") = std::vector<std::string>{}, py::arg("field") = "text",
      py::arg("chunk") = 0, py::arg("max_docs") = 0, py::arg("format") = "auto", py::arg("strict") = false);
  mod.def(
      "diff",
      [](PyModel& ref, PyModel& cand, const std::string& data, const std::string& field, bool layers, bool lens,
         int64_t chunk, int64_t max_docs, const std::string& format, bool strict, size_t n_worst) {
        if (&ref == &cand) fail("diff: the reference and the candidate are the same model object; load the file twice");
        analysis::DiffOptions o;
        o.run = ref.run_options();
        o.candidate_numerics = cand.run_options().numerics;
        o.seq = seq_options(chunk, max_docs, format, strict);
        o.layers = layers;
        o.lens = lens;
        o.n_worst = n_worst;
        nlohmann::ordered_json j;
        {
          PyModel::Busy a(ref);
          PyModel::Busy b(cand);
          py::gil_scoped_release release;
          j = analysis::to_json(analysis::run_diff(ref.model(), cand.model(), data, field, o));
        }
        return json_to_python(j);
      },
      py::arg("reference"), py::arg("candidate"), py::arg("data"), py::arg("field") = "text", py::arg("layers") = true,
      py::arg("lens") = true, py::arg("chunk") = 0, py::arg("max_docs") = 0, py::arg("format") = "auto",
      py::arg("strict") = false, py::arg("n_worst") = 10);
  mod.def(
      "explore",
      [](const std::vector<std::string>& inputs, PyModel* m, const std::string& field, const std::string& format,
         bool lowercase, size_t top_k) {
        data::ExploreOptions o;
        o.field = field;
        o.format = data::parse_format(format);
        o.lowercase = lowercase;
        o.threads = std::max(1u, std::thread::hardware_concurrency());
        const Tokenizer* tok = m != nullptr ? m->model().tokenizer.get() : nullptr;
        o.tokenizer = tok;
        if (m != nullptr) o.context_length = m->n_ctx();
        nlohmann::ordered_json j;
        {
          py::gil_scoped_release release;
          j = data::report_json(data::explore(inputs, o), tok, top_k);
        }
        return json_to_python(j);
      },
      py::arg("inputs"), py::arg("model") = nullptr, py::arg("field") = "text", py::arg("format") = "auto",
      py::arg("lowercase") = false, py::arg("top_k") = 20);

  mod.def(
      "word_cloud",
      [](const std::vector<std::pair<std::string, double>>& words, double width, double height, size_t max_words,
         const std::string& title) {
        std::vector<data::CloudWord> in;
        in.reserve(words.size());
        for (const auto& [w, weight] : words) {
          if (!(weight > 0)) fail("word_cloud: the weight of '", w, "' is ", weight, "; weights must be positive");
          in.push_back({w, weight});
        }
        return data::draw_word_cloud(data::layout_word_cloud(in, width, height, max_words), title).str();
      },
      py::arg("words"), py::arg("width") = 900.0, py::arg("height") = 500.0, py::arg("max_words") = 120,
      py::arg("title") = "");

  py::class_<PyDebugger>(mod, "Debugger")
      .def(py::init<PyModel&, const std::string&, std::optional<int64_t>>(), py::arg("model"), py::arg("prompt"),
           py::arg("cache_mb") = py::none(), py::keep_alive<1, 2>())
      .def("execute", &PyDebugger::execute, py::arg("line"))
      .def("tensor", &PyDebugger::tensor, py::arg("expr"))
      .def("logits", &PyDebugger::logits);
}
