#include "engine/interpreter.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "core/error.h"
#include "engine/activations.h"
#include "engine/norm.h"
#include "engine/rope.h"
#include "engine/run.h"
#include "tensor/ggml_dot.h"
#include "tensor/kernels.h"
#include "tensor/matmul.h"

namespace loupe {

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < rank; ++i) n *= dims[static_cast<size_t>(i)];
  return n;
}

namespace {

// f(i) for rows i in [0, rows) of `width` elements each, on the pool when there is enough work;
// each row is computed by one thread, so results do not depend on the split.
template <class F>
void rows_in_parallel(ThreadPool& pool, int64_t rows, int64_t width, const F& f) {
  if (rows * width < (int64_t{1} << 16)) {  // too little work to be worth waking the pool
    for (int64_t i = 0; i < rows; ++i) f(i);
    return;
  }
  pool.parallel_for(rows, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) f(i);
  });
}

}  // namespace

Interpreter::Interpreter(const Model& model, const RunOptions& options)
    : model_(model),
      program_(lower(model)),
      pool_(options.pool ? options.pool : std::make_shared<ThreadPool>(options.n_threads)),
      cancel_(options.cancel) {
  const ModelConfig& c = model.config;
  n_ctx_ = effective_context(c, options.n_ctx);
  max_batch_ = std::clamp<int64_t>(options.max_batch, 1, n_ctx_);
  for (int b = 0; b < kBufCount; ++b) {
    const Buf buf_id = static_cast<Buf>(b);
    size_t n = (buf_id == Buf::Scores || buf_id == Buf::Pattern) ? static_cast<size_t>(c.n_heads * max_batch_ * n_ctx_)
                                                                 : static_cast<size_t>(width(buf_id) * max_batch_);
    bufs_[static_cast<size_t>(b)].assign(n, 0.0f);
  }
  size_t kv_total = 0;
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const int64_t w = c.layers[static_cast<size_t>(l)].window;
    const int64_t cap = w > 0 ? std::min(n_ctx_, w + max_batch_ - 1) : n_ctx_;
    kv_cap_.push_back(cap);
    kv_offset_.push_back(kv_total);
    kv_total += static_cast<size_t>(cap * c.d_kv());
  }
  k_cache_.assign(kv_total, 0.0f);
  v_cache_.assign(kv_total, 0.0f);
  if (c.rope != RopeStyle::None) {
    const int64_t half = c.n_rot() / 2;
    std::vector<std::pair<float, bool>> keys;
    for (const LayerSpec& spec : c.layers) {
      const std::pair<float, bool> key{spec.rope_theta, spec.rope_scaled};
      auto it = std::find(keys.begin(), keys.end(), key);
      if (it == keys.end() && spec.rope) {
        const std::vector<double> freqs =
            rope_frequencies(c, model.rope_freq_factors, spec.rope_theta, spec.rope_scaled);
        const double mag = rope_magnitude(c, spec.rope_scaled);
        const auto table_size = static_cast<size_t>(n_ctx_ * half);
        std::vector<float> cs(table_size), sn(table_size);
        // llama.cpp's numerics: ggml's table (float angles, one multiplication per pair, frequency
        // factors, linear scaling and YaRN as ggml applies them); Llama 3 scaling computed here
        // keeps the exact table (llama.cpp takes it from a rope_freqs tensor, the factors).
        const RopeScaling scaling = spec.rope_scaled ? c.rope_scaling : RopeScaling::None;
        const float base = spec.rope_theta > 0.0f ? spec.rope_theta : c.rope_theta;
        if (options.numerics == Numerics::LlamaCpp && scaling != RopeScaling::Llama3) {
          ggml::RopeYarn yarn;
          yarn.mscale = c.rope_attn_factor;
          if (scaling == RopeScaling::Yarn) {
            yarn.ext_factor = 1.0f;
            ggml::rope_yarn_corr_dims(c.n_rot(), c.rope_original_ctx, base, c.yarn_beta_fast, c.yarn_beta_slow,
                                      yarn.corr_lo, yarn.corr_hi);
          }
          ggml::rope_table(n_ctx_, c.n_rot(), base, model.rope_freq_factors,
                           scaling == RopeScaling::None ? 1.0f : 1.0f / c.rope_factor, cs.data(), sn.data(), yarn);
        } else
          for (int64_t i = 0; i < half; ++i) {
            const double f = freqs[static_cast<size_t>(i)];
            for (int64_t p = 0; p < n_ctx_; ++p) {
              const double a = static_cast<double>(p) * f;
              cs[static_cast<size_t>(p * half + i)] = static_cast<float>(std::cos(a) * mag);
              sn[static_cast<size_t>(p * half + i)] = static_cast<float>(std::sin(a) * mag);
            }
          }
        rope_cos_.push_back(std::move(cs));
        rope_sin_.push_back(std::move(sn));
        keys.push_back(key);
        it = keys.end() - 1;
      }
      rope_table_.push_back(spec.rope ? static_cast<int>(it - keys.begin()) : -1);
    }
  }
  if (c.moe()) {
    moe_x_.resize(static_cast<size_t>(max_batch_ * c.d_model));
    moe_g_.resize(static_cast<size_t>(max_batch_ * c.d_mlp));
    moe_u_.resize(moe_g_.size());
    moe_y_.resize(moe_x_.size());
    moe_rows_.reserve(static_cast<size_t>(max_batch_ * c.n_experts_used));
  }
  numerics_ = options.numerics;
  subs_.resize(static_cast<size_t>(program_.hooks.size()));
  tokens_.reserve(static_cast<size_t>(max_batch_));
}

Interpreter::~Interpreter() = default;

int64_t Interpreter::width(Buf b) const {
  return buf_width(model_.config, b, n_ctx_);
}

int64_t buf_width(const ModelConfig& c, Buf b, int64_t n_ctx) {
  switch (b) {
    case Buf::Resid:
    case Buf::Embed:
    case Buf::PosEmbed:
    case Buf::Normed:
    case Buf::AttnRaw:
    case Buf::AttnOut:
    case Buf::MlpRaw:
    case Buf::MlpOut: return c.d_model;
    case Buf::Scale: return 1;
    case Buf::Q:
    case Buf::QNorm:
    case Buf::RotQ:
    case Buf::Z: return c.d_q();
    case Buf::K:
    case Buf::V:
    case Buf::KNorm:
    case Buf::RotK: return c.d_kv();
    case Buf::Router: return c.n_experts;
    case Buf::ExpertIds:
    case Buf::ExpertWeights: return c.n_experts_used;
    case Buf::ExpertOut: return c.n_experts_used * c.d_model;
    case Buf::Scores:
    case Buf::Pattern: return n_ctx * c.n_heads;
    case Buf::MlpPre:
    case Buf::MlpPreLinear:
    case Buf::MlpPost: return c.d_mlp;
    case Buf::Logits: return c.d_vocab;
    case Buf::None: return 0;
  }
  return 0;
}

void Interpreter::observe(int hook, Observer* observer) {
  LOUPE_ASSERT(hook >= 0 && hook < program_.hooks.size(), "hook id ", hook);
  subs_[static_cast<size_t>(hook)].push_back(observer);
}

void Interpreter::unobserve(Observer* observer) {
  for (auto& s : subs_) s.erase(std::remove(s.begin(), s.end(), observer), s.end());
}

void Interpreter::unobserve(int hook, Observer* observer) {
  LOUPE_ASSERT(hook >= 0 && hook < program_.hooks.size(), "hook id ", hook);
  auto& s = subs_[static_cast<size_t>(hook)];
  auto it = std::find(s.begin(), s.end(), observer);
  if (it != s.end()) s.erase(it);
}

Subscription Interpreter::subscribe(int hook, Observer* observer) {
  observe(hook, observer);
  Subscription sub;
  sub.interp_ = this;
  sub.hook_ = hook;
  sub.observer_ = observer;
  return sub;
}

void Interpreter::add_op_listener(OpListener* listener) {
  LOUPE_ASSERT(listener != nullptr, "null op listener");
  op_listeners_.push_back(listener);
}

void Interpreter::remove_op_listener(OpListener* listener) {
  auto it = std::find(op_listeners_.begin(), op_listeners_.end(), listener);
  if (it != op_listeners_.end()) op_listeners_.erase(it);
}

Subscription Interpreter::listen(OpListener* listener) {
  add_op_listener(listener);
  Subscription sub;
  sub.interp_ = this;
  sub.listener_ = listener;
  return sub;
}

Subscription& Subscription::operator=(Subscription&& o) noexcept {
  if (this != &o) {
    reset();
    interp_ = std::exchange(o.interp_, nullptr);
    hook_ = o.hook_;
    observer_ = o.observer_;
    listener_ = o.listener_;
  }
  return *this;
}

void Subscription::reset() {
  if (interp_ == nullptr) return;
  if (listener_ != nullptr) {
    interp_->remove_op_listener(listener_);
  } else {
    interp_->unobserve(hook_, observer_);
  }
  interp_ = nullptr;
}

void Interpreter::begin(std::span<const int32_t> tokens, bool all_logits) {
  LOUPE_ASSERT(pc_ < 0, "begin() during a pass");
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) fail("no tokens to run");
  if (n > max_batch_) fail("batch of ", n, " tokens exceeds the maximum batch of ", max_batch_);
  if (n_past_ + n > n_ctx_)
    fail("positions ", n_past_, "..", n_past_ + n - 1, " exceed the context of ", n_ctx_, " positions");
  for (int64_t i = 0; i < n; ++i)
    if (tokens[static_cast<size_t>(i)] < 0 || tokens[static_cast<size_t>(i)] >= model_.config.d_vocab)
      fail("token id ", tokens[static_cast<size_t>(i)], " at index ", i, " is out of range (vocabulary of ",
           model_.config.d_vocab, ")");
  tokens_.assign(tokens.begin(), tokens.end());
  pos0_ = n_past_;
  n_ = n;
  final_rows_ = all_logits ? n : 1;
  pc_ = 0;
}

void Interpreter::finish() {
  while (pc_ >= 0) step();
}

void Interpreter::rewind(int64_t n) {
  LOUPE_ASSERT(pc_ < 0, "rewind() during a pass");
  n = std::clamp<int64_t>(n, 0, n_past_);
  // A ring keeps positions n_past - kv_cap .. n_past - 1; continuing at n needs n - window + 1 .. n - 1.
  for (int64_t l = 0; l < model_.config.n_layers && n > 0; ++l) {
    const int64_t w = model_.config.layers[static_cast<size_t>(l)].window;
    if (w > 0 && std::max<int64_t>(0, n - w + 1) < n_past_ - kv_cap_[static_cast<size_t>(l)])
      fail("cannot go back to position ", n, ": layer ", l, "'s sliding-window cache (",
           kv_cap_[static_cast<size_t>(l)],
           " positions) no longer holds the keys before it; start again from position 0");
  }
  n_past_ = n;
}

Shape buf_shape(const ModelConfig& c, Buf out, int64_t rows, int64_t keys, int64_t n_ctx) {
  switch (out) {
    case Buf::Q:
    case Buf::QNorm:
    case Buf::RotQ:
    case Buf::Z: return {3, {rows, c.n_heads, c.d_head, 0}};
    case Buf::K:
    case Buf::V:
    case Buf::KNorm:
    case Buf::RotK: return {3, {rows, c.n_kv_heads, c.d_head, 0}};
    case Buf::ExpertOut: return {3, {rows, c.n_experts_used, c.d_model, 0}};
    case Buf::Scores:
    case Buf::Pattern: return {3, {c.n_heads, rows, keys, 0}};
    default: return {2, {rows, buf_width(c, out, n_ctx), 0, 0}};
  }
}

Shape hook_tensor_shape(const Program& program, const ModelConfig& c, int hook, int64_t rows, int64_t keys,
                        bool all_logits) {
  LOUPE_ASSERT(hook >= 0 && hook < program.hooks.size(), "hook id ", hook);
  const Op& op = program.ops[static_cast<size_t>(program.hook_op[static_cast<size_t>(hook)])];
  const Buf out = op.kind == OpKind::KvStore ? op.in0 : op.out;
  return buf_shape(c, out, op.final_rows && !all_logits ? 1 : rows, keys, keys);
}

Shape Interpreter::hook_shape(int hook, int64_t rows, int64_t keys, bool all_logits) const {
  return hook_tensor_shape(program_, model_.config, hook, rows, keys, all_logits);
}

HookEvent Interpreter::view(int op_index) {
  const Op& op = program_.ops[static_cast<size_t>(op_index)];
  HookEvent e;
  e.hook = op.hook;
  e.point = op.hook >= 0 ? &program_.hooks[op.hook] : nullptr;
  e.op_index = op_index;
  e.pos0 = op.final_rows ? pos0_ + n_ - final_rows_ : pos0_;
  e.tokens = std::span<const int32_t>(tokens_);
  const Buf out = op.kind == OpKind::KvStore ? op.in0 : op.out;
  e.data = buf(out);
  e.shape = buf_shape(model_.config, out, rows_of(op), pos0_ + n_, n_ctx_);
  return e;
}

int64_t Interpreter::scratch_bytes() const {
  size_t n = 0;
  for (const auto& b : bufs_) n += b.size();
  return static_cast<int64_t>(n * sizeof(float));
}

void Interpreter::step() {
  LOUPE_ASSERT(pc_ >= 0, "step() outside a pass");
  const Op& op = program_.ops[static_cast<size_t>(pc_)];
  if (!op_listeners_.empty()) {
    for (OpListener* l : op_listeners_) l->before_op(pc_);
    run_op(op);
    for (auto it = op_listeners_.rbegin(); it != op_listeners_.rend(); ++it) (*it)->after_op(pc_);
  } else {
    run_op(op);
  }
  if (cancel_ && cancel_->load(std::memory_order_relaxed)) {
    pc_ = -1;
    fail("cancelled");
  }
  if (op.hook >= 0 && !subs_[static_cast<size_t>(op.hook)].empty()) {
    HookEvent e = view(pc_);
    for (Observer* o : subs_[static_cast<size_t>(op.hook)]) o->on_hook(e);
  }
  if (++pc_ == static_cast<int>(program_.ops.size())) {
    pc_ = -1;
    n_past_ = pos0_ + n_;
    logit_rows_ = final_rows_;
  }
}

void Interpreter::run_op(const Op& op) {
  const ModelConfig& c = model_.config;
  const int64_t rows = rows_of(op);
  switch (op.kind) {
    case OpKind::Embed: {
      float* out = buf(op.out);
      for (int64_t i = 0; i < n_; ++i) op.w->row(tokens_[static_cast<size_t>(i)], out + i * c.d_model);
      if (op.scalar != 0.0f)
        for (int64_t i = 0; i < n_ * c.d_model; ++i) out[i] *= op.scalar;
      return;
    }
    case OpKind::PosEmbed:
      for (int64_t i = 0; i < n_; ++i) op.w->row(pos0_ + i, buf(op.out) + i * c.d_model);
      return;
    case OpKind::Mark: return;
    case OpKind::Add: {
      const int64_t w = width(op.out);
      float* out = buf(op.out);
      const float* a = buf(op.in0);
      const float* b = buf(op.in1);
      for (int64_t i = 0; i < rows * w; ++i) out[i] = a[i] + b[i];
      return;
    }
    case OpKind::NormScale: op_norm_scale(op); return;
    case OpKind::NormApply: op_norm_apply(op); return;
    case OpKind::MatMul: {
      const float* x = buf(op.in0);
      matmul(*pool_, *op.w, x, rows, buf(op.out), op.bias, numerics_);
      return;
    }
    case OpKind::Rope: op_rope(op); return;
    case OpKind::KvStore: op_kv_store(op); return;
    case OpKind::AttnScores: op_attn_scores(op); return;
    case OpKind::Softmax: op_softmax(op); return;
    case OpKind::AttnMix: op_attn_mix(op); return;
    case OpKind::Gelu: {
      const float* x = buf(op.in0);
      float* y = buf(op.out);
      const int64_t n = rows * c.d_mlp;
      if (numerics_ != Numerics::Exact)
        gelu_mul_f32_ggml(x, nullptr, y, n);
      else
        for (int64_t i = 0; i < n; ++i) y[i] = gelu_tanh(x[i]);
      return;
    }
    case OpKind::HeadNorm: op_head_norm(op); return;
    case OpKind::GeluMul:
    case OpKind::SwigluOai: {
      const float* g = buf(op.in0);
      const float* u = buf(op.in1);
      float* y = buf(op.out);
      const int64_t w = c.d_mlp;
      const bool gelu = op.kind == OpKind::GeluMul;
      rows_in_parallel(*pool_, rows, w, [&](int64_t i) {
        if (gelu) {
          (numerics_ != Numerics::Exact ? gelu_mul_f32_ggml : gelu_mul_f32)(g + i * w, u + i * w, y + i * w, w);
        } else {
          for (int64_t j = i * w; j < (i + 1) * w; ++j) y[j] = swiglu_oai(g[j], u[j]);
        }
      });
      return;
    }
    case OpKind::MoeSelect: op_moe_select(op); return;
    case OpKind::MoeWeights: op_moe_weights(op); return;
    case OpKind::MoeExperts: op_moe_experts(op); return;
    case OpKind::MoeCombine: op_moe_combine(op); return;
    case OpKind::SoftCap: {
      float* y = buf(op.out);
      const float* x = buf(op.in0);
      const int64_t n = rows * width(op.out);
      const float cap = op.scalar, inv = 1.0f / op.scalar;
      for (int64_t i = 0; i < n; ++i) y[i] = cap * std::tanh(x[i] * inv);
      return;
    }
    case OpKind::SiluMul: {
      const float* g = buf(op.in0);
      const float* u = buf(op.in1);
      float* y = buf(op.out);
      const int64_t w = c.d_mlp;
      if (numerics_ == Numerics::LlamaCpp) {  // ggml's SwiGLU, row by row
        rows_in_parallel(*pool_, rows, w, [&](int64_t i) { ggml::swiglu(g + i * w, u + i * w, y + i * w, w); });
        return;
      }
      if (rows * w < (int64_t{1} << 16)) {  // too little work to be worth waking the pool
        silu_mul_f32(g, u, y, rows * w);
        return;
      }
      pool_->parallel_for(rows,
                          [&](int64_t b, int64_t e) { silu_mul_f32(g + b * w, u + b * w, y + b * w, (e - b) * w); });
      return;
    }
  }
}

// Final ops read the last rows of the residual stream and write rows from 0.
void Interpreter::op_norm_scale(const Op& op) {
  const ModelConfig& c = model_.config;
  const int64_t rows = rows_of(op);
  const int64_t d = c.d_model;
  const float* x = buf(op.in0) + (op.final_rows ? (n_ - rows) * d : 0);
  float* s = buf(op.out);
  if (numerics_ == Numerics::LlamaCpp && c.norm == NormKind::RmsNorm) {
    rows_in_parallel(*pool_, rows, d, [&](int64_t i) { s[i] = ggml::rms_root(x + i * d, d, c.norm_eps); });
    return;
  }
  if (numerics_ == Numerics::LlamaCpp && c.norm == NormKind::LayerNorm) {
    rows_in_parallel(*pool_, rows, d, [&](int64_t i) {
      const float* xi = x + i * d;
      s[i] = ggml::layer_norm_root(xi, d, ggml::layer_norm_mean(xi, d), c.norm_eps);
    });
    return;
  }
  rows_in_parallel(*pool_, rows, d, [&](int64_t i) { s[i] = norm_scale(x + i * d, d, c.norm, c.norm_eps); });
}

void Interpreter::op_norm_apply(const Op& op) {
  const ModelConfig& c = model_.config;
  const int64_t rows = rows_of(op);
  const int64_t d = c.d_model;
  const float* x = buf(op.in0) + (op.final_rows ? (n_ - rows) * d : 0);
  const float* s = buf(op.in1);
  float* y = buf(op.out);
  if (numerics_ == Numerics::LlamaCpp) {  // ggml_norm's mean; its scale, gain and bias as three ops
    const bool layer = c.norm == NormKind::LayerNorm;
    rows_in_parallel(*pool_, rows, d, [&](int64_t i) {
      const float* xi = x + i * d;
      ggml::norm_apply(xi, d, layer ? ggml::layer_norm_mean(xi, d) : 0.0f, 1.0f / s[i], op.gamma, op.beta, y + i * d);
    });
    return;
  }
  rows_in_parallel(*pool_, rows, d,
                   [&](int64_t i) { norm_apply(x + i * d, d, c.norm, s[i], op.gamma, op.beta, y + i * d); });
}

void Interpreter::op_rope(const Op& op) {
  const ModelConfig& c = model_.config;
  const int64_t width_ = width(op.out);
  const int64_t heads = width_ / c.d_head;
  const int64_t n_rot = c.n_rot();
  const int64_t half = n_rot / 2;
  const int table = rope_table_[static_cast<size_t>(op.layer)];
  LOUPE_ASSERT(table >= 0, "rope op in a layer without RoPE");
  const std::vector<float>& cos_t = rope_cos_[static_cast<size_t>(table)];
  const std::vector<float>& sin_t = rope_sin_[static_cast<size_t>(table)];
  const float* x = buf(op.in0);
  float* y = buf(op.out);
  rows_in_parallel(*pool_, n_, width_, [&](int64_t i) {
    const float* cs = cos_t.data() + (pos0_ + i) * half;
    const float* sn = sin_t.data() + (pos0_ + i) * half;
    for (int64_t h = 0; h < heads; ++h) {
      const float* xh = x + i * width_ + h * c.d_head;
      float* yh = y + i * width_ + h * c.d_head;
      if (numerics_ == Numerics::LlamaCpp)
        ggml::rope(xh, yh, cs, sn, half, c.rope == RopeStyle::Adjacent);
      else
        rope_f32(xh, yh, cs, sn, half, c.rope == RopeStyle::Adjacent);
      std::copy(xh + n_rot, xh + c.d_head, yh + n_rot);  // partial RoPE: the rest passes through
    }
  });
}

void Interpreter::op_head_norm(const Op& op) {
  const ModelConfig& c = model_.config;
  const int64_t w = width(op.out);
  const int64_t heads = w / c.d_head;
  const float* x = buf(op.in0);
  float* y = buf(op.out);
  rows_in_parallel(*pool_, n_ * heads, c.d_head, [&](int64_t r) {
    const float* xr = x + r * c.d_head;
    const float scale = numerics_ == Numerics::LlamaCpp ? ggml::rms_root(xr, c.d_head, c.norm_eps)
                                                        : norm_scale(xr, c.d_head, NormKind::RmsNorm, c.norm_eps);
    norm_apply(xr, c.d_head, NormKind::RmsNorm, scale, op.gamma, nullptr, y + r * c.d_head);
  });
}

int64_t Interpreter::window_start(int layer, int64_t p) const {
  const int64_t w = model_.config.layers[static_cast<size_t>(layer)].window;
  return w > 0 ? std::max<int64_t>(0, p - w + 1) : 0;
}

bool Interpreter::ggml_attention(int layer) const {
  return numerics_ == Numerics::LlamaCpp && pos0_ + n_ <= kv_cap_[static_cast<size_t>(layer)];
}

bool Interpreter::window_binds(int layer) const {
  // Until the pass reaches past the window, every query sees all keys from position 0 and the
  // ring has not wrapped (slot = position): the causal kernels apply as they are.
  const int64_t w = model_.config.layers[static_cast<size_t>(layer)].window;
  return w > 0 && pos0_ + n_ > w;
}

void Interpreter::op_kv_store(const Op& op) {
  const int64_t dkv = model_.config.d_kv();
  float* kc = k_cache_.data() + kv_offset_[static_cast<size_t>(op.layer)];
  float* vc = v_cache_.data() + kv_offset_[static_cast<size_t>(op.layer)];
  for (int64_t i = 0; i < n_; ++i) {
    const int64_t s = slot(op.layer, pos0_ + i);
    std::copy_n(buf(op.in0) + i * dkv, dkv, kc + s * dkv);
    std::copy_n(buf(op.in1) + i * dkv, dkv, vc + s * dkv);
  }
}

namespace {

// Keys [lo, hi] of a layer's cache as at most two runs of slots (a ring wraps once).
struct KeyRuns {
  int64_t slot[2] = {0, 0};
  int64_t len[2] = {0, 0};
};
KeyRuns key_runs(int64_t lo, int64_t hi, int64_t cap) {
  KeyRuns r;
  const int64_t n = hi - lo + 1;
  r.slot[0] = lo % cap;
  r.len[0] = std::min(n, cap - r.slot[0]);
  r.len[1] = n - r.len[0];
  return r;
}

}  // namespace

void Interpreter::op_attn_scores(const Op& op) {
  const ModelConfig& c = model_.config;
  const int64_t kv_len = pos0_ + n_;
  const int64_t dkv = c.d_kv();
  const int64_t group = c.n_heads / c.n_kv_heads;
  const float scale = c.attn_scale > 0.0f ? c.attn_scale : 1.0f / std::sqrt(static_cast<float>(c.d_head));
  const float* q = buf(op.in0);
  const float* kc = k_at(op.layer);
  float* s = buf(op.out);
  const int64_t n = n_;
  const bool windowed = window_binds(op.layer);
  const int64_t cap = kv_cap_[static_cast<size_t>(op.layer)];
  constexpr float neg_inf = -std::numeric_limits<float>::infinity();
  pool_->parallel_for(c.n_heads * n, [&](int64_t begin, int64_t end) {
    if (ggml_attention(op.layer)) {
      // ggml's K Q product: vec_dot_f32 of each cached key (slot = position: the ring has not
      // wrapped) with the query, then the scale; llama.cpp's Gemma and Phi-3 graphs scale the
      // query first and the product then stands as it is.
      std::vector<float> qs(static_cast<size_t>(c.d_head));
      const bool scale_q = c.arch == Arch::Gemma2 || c.arch == Arch::Gemma3 || c.arch == Arch::Phi3;
      for (int64_t r = begin; r < end; ++r) {
        const int64_t h = r / n, i = r % n, p = pos0_ + i;
        const float* qr = q + i * c.d_q() + h * c.d_head;
        if (scale_q) {
          for (int64_t t = 0; t < c.d_head; ++t) qs[static_cast<size_t>(t)] = qr[t] * scale;
          qr = qs.data();
        }
        const float* kh = kc + (h / group) * c.d_head;
        float* row = s + r * kv_len;
        const int64_t lo = window_start(op.layer, p);
        std::fill(row, row + lo, neg_inf);
        for (int64_t j = lo; j <= p; ++j) {
          const float d = ggml::dot_f32(kh + j * dkv, qr, c.d_head);
          row[j] = scale_q ? d : d * scale;
        }
        std::fill(row + p + 1, row + kv_len, neg_inf);
      }
    } else if (!windowed) {
      // Runs of query rows of one head (rows h n + i, consecutive in r); row i sees positions
      // [0, pos0 + i], the rest is masked.
      for (int64_t r = begin; r < end;) {
        const int64_t h = r / n, i = r % n;
        const int64_t rows = std::min(end - r, n - i);
        float* first = s + (h * n + i) * kv_len;
        attn_scores_rows(q + i * c.d_q() + h * c.d_head, c.d_q(), rows, kc + (h / group) * c.d_head, dkv, pos0_ + i + 1,
                         c.d_head, scale, first, kv_len);
        for (int64_t t = 0; t < rows; ++t)
          std::fill(first + t * kv_len + pos0_ + i + t + 1, first + (t + 1) * kv_len, neg_inf);
        r += rows;
      }
    } else {
      // A query at p sees keys [p - window + 1, p], one or two runs of the ring.
      for (int64_t r = begin; r < end; ++r) {
        const int64_t h = r / n, i = r % n, p = pos0_ + i;
        const int64_t lo = window_start(op.layer, p);
        float* row = s + r * kv_len;
        std::fill(row, row + lo, neg_inf);
        std::fill(row + p + 1, row + kv_len, neg_inf);
        const KeyRuns runs = key_runs(lo, p, cap);
        float* out = row + lo;
        for (int t = 0; t < 2 && runs.len[t] > 0; ++t) {
          attn_scores_rows(q + i * c.d_q() + h * c.d_head, c.d_q(), 1, kc + runs.slot[t] * dkv + (h / group) * c.d_head,
                           dkv, runs.len[t], c.d_head, scale, out, kv_len);
          out += runs.len[t];
        }
      }
    }
    if (c.attn_softcap > 0.0f) {
      const float cap_v = c.attn_softcap, inv = 1.0f / c.attn_softcap;
      for (int64_t r = begin; r < end; ++r) {
        const int64_t p = pos0_ + r % n;
        float* row = s + r * kv_len;
        for (int64_t j = window_start(op.layer, p); j <= p; ++j) row[j] = cap_v * std::tanh(row[j] * inv);
      }
    }
  });
}

void Interpreter::op_softmax(const Op& op) {
  const ModelConfig& c = model_.config;
  const int64_t kv_len = pos0_ + n_;
  const float* s = buf(op.in0);
  float* p = buf(op.out);
  const int64_t n = n_;
  pool_->parallel_for(c.n_heads * n, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      // Only keys [lo, pos] can have weight; the rest of the row is exactly zero.
      const int64_t pos = pos0_ + r % n;
      const int64_t lo = window_start(op.layer, pos);
      const float* in = s + r * kv_len;
      float* out = p + r * kv_len;
      std::fill(out, out + lo, 0.0f);
      std::fill(out + pos + 1, out + kv_len, 0.0f);
      if (ggml_attention(op.layer)) {  // the masked scores (-inf) give exactly 0
        ggml::softmax(in, pos + 1, out, op.aux != nullptr ? op.aux + r / n : nullptr);
        continue;
      }
      if (op.aux == nullptr) {
        softmax_row(in + lo, out + lo, pos - lo + 1);
        continue;
      }
      // With a sink: exp(s_j - m) / (sum_j exp(s_j - m) + exp(sink - m)), m over scores and sink.
      const float sink = op.aux[r / n];
      float m = sink;
      for (int64_t j = lo; j <= pos; ++j) m = std::max(m, in[j]);
      double sum = std::exp(static_cast<double>(sink - m));
      for (int64_t j = lo; j <= pos; ++j) {
        out[j] = std::exp(in[j] - m);
        sum += out[j];
      }
      const auto inv = static_cast<float>(1.0 / sum);
      for (int64_t j = lo; j <= pos; ++j) out[j] *= inv;
    }
  });
}

void Interpreter::op_attn_mix(const Op& op) {
  const ModelConfig& c = model_.config;
  const int64_t kv_len = pos0_ + n_;
  const int64_t dkv = c.d_kv();
  const int64_t group = c.n_heads / c.n_kv_heads;
  const float* p = buf(op.in0);
  const float* vc = v_at(op.layer);
  float* z = buf(op.out);
  const int64_t n = n_;
  const bool windowed = window_binds(op.layer);
  const int64_t cap = kv_cap_[static_cast<size_t>(op.layer)];
  pool_->parallel_for(c.n_heads * n, [&](int64_t begin, int64_t end) {
    if (ggml_attention(op.layer)) {
      // ggml's product of the transposed V cache with the weights: vec_dot_f32 per output (the
      // zero weights outside a window add nothing).
      for (int64_t r = begin; r < end; ++r) {
        const int64_t h = r / n, i = r % n;
        ggml::mix_f32(p + r * kv_len, pos0_ + i + 1, vc + (h / group) * c.d_head, dkv, c.d_head,
                      z + i * c.d_q() + h * c.d_head);
      }
      return;
    }
    if (!windowed) {
      // Runs of query rows of one head (rows h n + i, consecutive in r).
      for (int64_t r = begin; r < end;) {
        const int64_t h = r / n, i = r % n;
        const int64_t rows = std::min(end - r, n - i);
        const float* vh = vc + (h / group) * c.d_head;
        attn_mix_rows(p + (h * n + i) * kv_len, kv_len, rows, kv_len, vh, dkv, c.d_head, z + i * c.d_q() + h * c.d_head,
                      c.d_q());
        r += rows;
      }
      return;
    }
    std::vector<float> part(static_cast<size_t>(c.d_head));
    for (int64_t r = begin; r < end; ++r) {
      const int64_t h = r / n, i = r % n, pos = pos0_ + i;
      const int64_t lo = window_start(op.layer, pos);
      const KeyRuns runs = key_runs(lo, pos, cap);
      float* zr = z + i * c.d_q() + h * c.d_head;
      const float* pr = p + r * kv_len + lo;
      const float* vh = vc + (h / group) * c.d_head;
      attn_mix_rows(pr, kv_len, 1, runs.len[0], vh + runs.slot[0] * dkv, dkv, c.d_head, zr, c.d_q());
      if (runs.len[1] > 0) {
        attn_mix_rows(pr + runs.len[0], kv_len, 1, runs.len[1], vh, dkv, c.d_head, part.data(), c.d_head);
        for (int64_t d = 0; d < c.d_head; ++d) zr[d] += part[static_cast<size_t>(d)];
      }
    }
  });
}

namespace {

// Indices of the k largest values (ties: the lower index first, as a stable sort gives). NaNs
// rank above every number (a strict order even then), so a NaN router logit is chosen and its
// NaN weight reaches the output instead of being passed over.
void top_k(const float* v, int64_t n, int64_t k, float* ids) {
  thread_local std::vector<int32_t> order;
  order.resize(static_cast<size_t>(n));
  for (int64_t e = 0; e < n; ++e) order[static_cast<size_t>(e)] = static_cast<int32_t>(e);
  std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t a, int32_t b) {
    const bool na = std::isnan(v[a]), nb = std::isnan(v[b]);
    if (na != nb) return na;
    if (!na && v[a] != v[b]) return v[a] > v[b];
    return a < b;
  });
  for (int64_t j = 0; j < k; ++j) ids[j] = static_cast<float>(order[static_cast<size_t>(j)]);
}

// softmax of n values into out (float, max subtracted; the sum in double).
// ggml_soft_max of a whole row (ggml::softmax, no mask): the router's probabilities in llama.cpp
// numerics.
void ggml_softmax(const float* x, int64_t n, float* out) {
  ggml::softmax(x, n, out, nullptr, false);
}

void softmax_plain(const float* x, int64_t n, float* out) {
  float m = x[0];
  for (int64_t i = 1; i < n; ++i) m = std::max(m, x[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    out[i] = std::exp(x[i] - m);
    sum += out[i];
  }
  const auto inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) out[i] *= inv;
}

// Expert ids come from a hook an observer may have edited: checked before use.
void check_expert_ids(const ModelConfig& c, int layer, const float* ids, int64_t n, int64_t pos0) {
  const int64_t k = c.n_experts_used;
  for (int64_t t = 0; t < n * k; ++t) {
    const float id = ids[t];
    if (!(id >= 0.0f && id < static_cast<float>(c.n_experts)) || id != std::floor(id))
      fail("blocks.", layer, ".mlp.hook_expert_ids: expert id ", id, " at position ", pos0 + t / k,
           " is not an expert of this model (0..", c.n_experts - 1, ")");
  }
}

}  // namespace

void Interpreter::op_moe_select(const Op& op) {
  const ModelConfig& c = model_.config;
  const int64_t e = c.n_experts, k = c.n_experts_used;
  const float* r = buf(op.in0);
  float* ids = buf(op.out);
  std::vector<float> probs(static_cast<size_t>(e));
  for (int64_t i = 0; i < n_; ++i) {
    const float* ri = r + i * e;
    if (c.moe_gating == MoeGating::SoftmaxTopK) {  // chosen by probability, as llama.cpp does
      (numerics_ == Numerics::LlamaCpp ? ggml_softmax : softmax_plain)(ri, e, probs.data());
      ri = probs.data();
    }
    top_k(ri, e, k, ids + i * k);
  }
}

void Interpreter::op_moe_weights(const Op& op) {
  const ModelConfig& c = model_.config;
  const int64_t e = c.n_experts, k = c.n_experts_used;
  const float* r = buf(op.in0);
  const float* ids = buf(op.in1);
  float* w = buf(op.out);
  check_expert_ids(c, op.layer, ids, n_, pos0_);
  std::vector<float> probs(static_cast<size_t>(e)), sel(static_cast<size_t>(k));
  for (int64_t i = 0; i < n_; ++i) {
    const float* ri = r + i * e;
    float* wi = w + i * k;
    const bool ggml_ops = numerics_ == Numerics::LlamaCpp;
    if (c.moe_gating == MoeGating::SoftmaxTopK) {
      (ggml_ops ? ggml_softmax : softmax_plain)(ri, e, probs.data());
      float sum = 0.0f;
      double sum_d = 0.0;  // ggml_sum_rows: a double sum, then float
      for (int64_t j = 0; j < k; ++j) {
        wi[j] = probs[static_cast<size_t>(ids[i * k + j])];
        sum += wi[j];
        sum_d += static_cast<double>(wi[j]);
      }
      if (ggml_ops) sum = static_cast<float>(sum_d);
      if (c.moe_norm_topk)
        for (int64_t j = 0; j < k; ++j) wi[j] /= sum;
    } else {
      for (int64_t j = 0; j < k; ++j) sel[static_cast<size_t>(j)] = ri[static_cast<int64_t>(ids[i * k + j])];
      (ggml_ops ? ggml_softmax : softmax_plain)(sel.data(), k, wi);
    }
  }
}

void Interpreter::op_moe_experts(const Op& op) {
  const ModelConfig& c = model_.config;
  const LayerWeights& L = model_.layers[static_cast<size_t>(op.layer)];
  const int64_t k = c.n_experts_used, d = c.d_model, f = c.d_mlp;
  const float* x = buf(op.in0);
  const float* ids = buf(op.in1);
  float* out = buf(op.out);
  check_expert_ids(c, op.layer, ids, n_, pos0_);
  const size_t need = static_cast<size_t>(n_ * k);
  if (moe_x_.size() < need * static_cast<size_t>(d)) {
    moe_x_.resize(need * static_cast<size_t>(d));
    moe_y_.resize(moe_x_.size());
    moe_g_.resize(need * static_cast<size_t>(f));
    moe_u_.resize(moe_g_.size());
  }
  for (int64_t e = 0; e < c.n_experts; ++e) {
    moe_rows_.clear();
    for (int64_t t = 0; t < n_ * k; ++t)
      if (static_cast<int64_t>(ids[t]) == e) moe_rows_.push_back(t);
    const auto m = static_cast<int64_t>(moe_rows_.size());
    if (m == 0) continue;
    for (int64_t r = 0; r < m; ++r)
      std::copy_n(x + (moe_rows_[static_cast<size_t>(r)] / k) * d, d, moe_x_.data() + r * d);
    const auto eu = static_cast<size_t>(e);
    const float* bg = L.expert_gate_bias ? L.expert_gate_bias + e * f : nullptr;
    const float* bu = L.expert_up_bias ? L.expert_up_bias + e * f : nullptr;
    const float* bd = L.expert_down_bias ? L.expert_down_bias + e * d : nullptr;
    matmul(*pool_, L.expert_gate[eu], moe_x_.data(), m, moe_g_.data(), bg, numerics_);
    matmul(*pool_, L.expert_up[eu], moe_x_.data(), m, moe_u_.data(), bu, numerics_);
    float* g = moe_g_.data();
    const float* u = moe_u_.data();
    switch (c.mlp) {
      case MlpKind::GatedSilu:
        if (numerics_ == Numerics::LlamaCpp)
          for (int64_t r = 0; r < m; ++r) ggml::swiglu(g + r * f, u + r * f, g + r * f, f);
        else
          silu_mul_f32(g, u, g, m * f);
        break;
      case MlpKind::GatedGelu: (numerics_ != Numerics::Exact ? gelu_mul_f32_ggml : gelu_mul_f32)(g, u, g, m * f); break;
      case MlpKind::SwigluOai:
        for (int64_t j = 0; j < m * f; ++j) g[j] = swiglu_oai(g[j], u[j]);
        break;
      case MlpKind::Gelu: LOUPE_ASSERT(false, "experts are gated");
    }
    matmul(*pool_, L.expert_down[eu], g, m, moe_y_.data(), bd, numerics_);
    for (int64_t r = 0; r < m; ++r) std::copy_n(moe_y_.data() + r * d, d, out + moe_rows_[static_cast<size_t>(r)] * d);
  }
}

void Interpreter::op_moe_combine(const Op& op) {
  const ModelConfig& c = model_.config;
  const int64_t k = c.n_experts_used, d = c.d_model;
  const float* y = buf(op.in0);
  const float* w = buf(op.in1);
  float* out = buf(op.out);
  if (numerics_ == Numerics::LlamaCpp) {
    for (int64_t i = 0; i < n_; ++i) ggml::weighted_sum(y + i * k * d, w + i * k, k, d, out + i * d);
    return;
  }
  for (int64_t i = 0; i < n_; ++i) {
    float* oi = out + i * d;
    for (int64_t j = 0; j < d; ++j) oi[j] = 0.0f;
    for (int64_t s = 0; s < k; ++s) {
      const float ws = w[i * k + s];
      const float* ys = y + (i * k + s) * d;
      for (int64_t j = 0; j < d; ++j) oi[j] += ws * ys[j];
    }
  }
}

}  // namespace loupe
