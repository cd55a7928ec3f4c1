#include "engine/interpreter.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "engine/norm.h"
#include "engine/rope.h"
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
    : model_(model), program_(lower(model)), pool_(options.n_threads) {
  const ModelConfig& c = model.config;
  n_ctx_ = options.n_ctx > 0 ? options.n_ctx : std::min<int64_t>(c.n_ctx, 4096);
  if (c.arch == Arch::Gpt2 && n_ctx_ > c.n_ctx)
    fail("context of ", n_ctx_, " positions exceeds the ", c.n_ctx, " learned positions of this model");
  if (n_ctx_ > (int64_t(1) << 20)) fail("context of ", n_ctx_, " positions is too large");
  max_batch_ = std::clamp<int64_t>(options.max_batch, 1, n_ctx_);
  for (int b = 0; b < kBufCount; ++b) {
    const Buf buf_id = static_cast<Buf>(b);
    size_t n = (buf_id == Buf::Scores || buf_id == Buf::Pattern) ? static_cast<size_t>(c.n_heads * max_batch_ * n_ctx_)
                                                                 : static_cast<size_t>(width(buf_id) * max_batch_);
    bufs_[static_cast<size_t>(b)].assign(n, 0.0f);
  }
  k_cache_.assign(static_cast<size_t>(c.n_layers * n_ctx_ * c.d_kv()), 0.0f);
  v_cache_.assign(k_cache_.size(), 0.0f);
  if (c.rope != RopeStyle::None) {
    const int64_t half = c.d_head / 2;
    rope_cos_.resize(static_cast<size_t>(n_ctx_ * half));
    rope_sin_.resize(rope_cos_.size());
    const std::vector<double> freqs = rope_frequencies(c, model.rope_freq_factors);
    for (int64_t i = 0; i < half; ++i) {
      const double f = freqs[static_cast<size_t>(i)];
      for (int64_t p = 0; p < n_ctx_; ++p) {
        const double a = static_cast<double>(p) * f;
        rope_cos_[static_cast<size_t>(p * half + i)] = static_cast<float>(std::cos(a));
        rope_sin_[static_cast<size_t>(p * half + i)] = static_cast<float>(std::sin(a));
      }
    }
  }
  q8_activations_ = options.q8_activations;
  subs_.resize(static_cast<size_t>(program_.hooks.size()));
  tokens_.reserve(static_cast<size_t>(max_batch_));
}

Interpreter::~Interpreter() = default;

int64_t Interpreter::width(Buf b) const {
  const ModelConfig& c = model_.config;
  switch (b) {
    case Buf::Resid:
    case Buf::Embed:
    case Buf::PosEmbed:
    case Buf::Normed:
    case Buf::AttnOut:
    case Buf::MlpOut: return c.d_model;
    case Buf::Scale: return 1;
    case Buf::Q:
    case Buf::RotQ:
    case Buf::Z: return c.d_q();
    case Buf::K:
    case Buf::V:
    case Buf::RotK: return c.d_kv();
    case Buf::Scores:
    case Buf::Pattern: return n_ctx_ * c.n_heads;
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
  n_past_ = std::clamp<int64_t>(n, 0, n_past_);
}

HookEvent Interpreter::view(int op_index) {
  const Op& op = program_.ops[static_cast<size_t>(op_index)];
  const ModelConfig& c = model_.config;
  HookEvent e;
  e.hook = op.hook;
  e.point = op.hook >= 0 ? &program_.hooks[op.hook] : nullptr;
  e.op_index = op_index;
  e.pos0 = op.final_rows ? pos0_ + n_ - final_rows_ : pos0_;
  e.tokens = std::span<const int32_t>(tokens_);
  const int64_t rows = rows_of(op);
  Buf out = op.kind == OpKind::KvStore ? op.in0 : op.out;
  e.data = buf(out);
  switch (out) {
    case Buf::Q:
    case Buf::RotQ:
    case Buf::Z: e.shape = {3, {rows, c.n_heads, c.d_head, 0}}; break;
    case Buf::K:
    case Buf::V:
    case Buf::RotK: e.shape = {3, {rows, c.n_kv_heads, c.d_head, 0}}; break;
    case Buf::Scores:
    case Buf::Pattern: e.shape = {3, {c.n_heads, rows, pos0_ + n_, 0}}; break;
    default: e.shape = {2, {rows, width(out), 0, 0}}; break;
  }
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
  if (op_listener_ != nullptr) {
    op_listener_->before_op(pc_);
    run_op(op);
    op_listener_->after_op(pc_);
  } else {
    run_op(op);
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
    case OpKind::Embed:
      for (int64_t i = 0; i < n_; ++i) op.w->row(tokens_[static_cast<size_t>(i)], buf(op.out) + i * c.d_model);
      return;
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
      matmul(pool_, *op.w, x, rows, buf(op.out), op.bias, q8_activations_);
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
      for (int64_t i = 0; i < n; ++i) {
        const float v = x[i];
        y[i] = 0.5f * v * (1.0f + std::tanh(0.7978845608028654f * (v + 0.044715f * v * v * v)));
      }
      return;
    }
    case OpKind::SiluMul: {
      const float* g = buf(op.in0);
      const float* u = buf(op.in1);
      float* y = buf(op.out);
      const int64_t w = c.d_mlp;
      if (rows * w < (int64_t{1} << 16)) {  // too little work to be worth waking the pool
        silu_mul_f32(g, u, y, rows * w);
        return;
      }
      pool_.parallel_for(rows,
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
  rows_in_parallel(pool_, rows, d, [&](int64_t i) { s[i] = norm_scale(x + i * d, d, c.norm, c.norm_eps); });
}

void Interpreter::op_norm_apply(const Op& op) {
  const ModelConfig& c = model_.config;
  const int64_t rows = rows_of(op);
  const int64_t d = c.d_model;
  const float* x = buf(op.in0) + (op.final_rows ? (n_ - rows) * d : 0);
  const float* s = buf(op.in1);
  float* y = buf(op.out);
  rows_in_parallel(pool_, rows, d,
                   [&](int64_t i) { norm_apply(x + i * d, d, c.norm, s[i], op.gamma, op.beta, y + i * d); });
}

void Interpreter::op_rope(const Op& op) {
  const ModelConfig& c = model_.config;
  const int64_t width_ = width(op.out);
  const int64_t heads = width_ / c.d_head;
  const int64_t half = c.d_head / 2;
  const float* x = buf(op.in0);
  float* y = buf(op.out);
  rows_in_parallel(pool_, n_, width_, [&](int64_t i) {
    const float* cs = rope_cos_.data() + (pos0_ + i) * half;
    const float* sn = rope_sin_.data() + (pos0_ + i) * half;
    for (int64_t h = 0; h < heads; ++h)
      rope_f32(x + i * width_ + h * c.d_head, y + i * width_ + h * c.d_head, cs, sn, half,
               c.rope == RopeStyle::Adjacent);
  });
}

void Interpreter::op_kv_store(const Op& op) {
  const ModelConfig& c = model_.config;
  const int64_t dkv = c.d_kv();
  float* kc = k_cache_.data() + (op.layer * n_ctx_ + pos0_) * dkv;
  float* vc = v_cache_.data() + (op.layer * n_ctx_ + pos0_) * dkv;
  std::copy_n(buf(op.in0), n_ * dkv, kc);
  std::copy_n(buf(op.in1), n_ * dkv, vc);
}

void Interpreter::op_attn_scores(const Op& op) {
  const ModelConfig& c = model_.config;
  const int64_t kv_len = pos0_ + n_;
  const int64_t dkv = c.d_kv();
  const int64_t group = c.n_heads / c.n_kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.d_head));
  const float* q = buf(op.in0);
  const float* kc = k_cache_.data() + op.layer * n_ctx_ * dkv;
  float* s = buf(op.out);
  const int64_t n = n_;
  pool_.parallel_for(c.n_heads * n, [&](int64_t begin, int64_t end) {
    // Runs of query rows of one head (rows h n + i, consecutive in r); row i sees positions
    // [0, pos0 + i], the rest is masked.
    for (int64_t r = begin; r < end;) {
      const int64_t h = r / n, i = r % n;
      const int64_t rows = std::min(end - r, n - i);
      float* first = s + (h * n + i) * kv_len;
      attn_scores_rows(q + i * c.d_q() + h * c.d_head, c.d_q(), rows, kc + (h / group) * c.d_head, dkv, pos0_ + i + 1,
                       c.d_head, scale, first, kv_len);
      for (int64_t t = 0; t < rows; ++t)
        std::fill(first + t * kv_len + pos0_ + i + t + 1, first + (t + 1) * kv_len,
                  -std::numeric_limits<float>::infinity());
      r += rows;
    }
  });
}

void Interpreter::op_softmax(const Op& op) {
  const ModelConfig& c = model_.config;
  const int64_t kv_len = pos0_ + n_;
  const float* s = buf(op.in0);
  float* p = buf(op.out);
  pool_.parallel_for(c.n_heads * n_, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) softmax_row(s + r * kv_len, p + r * kv_len, kv_len);
  });
}

void Interpreter::op_attn_mix(const Op& op) {
  const ModelConfig& c = model_.config;
  const int64_t kv_len = pos0_ + n_;
  const int64_t dkv = c.d_kv();
  const int64_t group = c.n_heads / c.n_kv_heads;
  const float* p = buf(op.in0);
  const float* vc = v_cache_.data() + op.layer * n_ctx_ * dkv;
  float* z = buf(op.out);
  const int64_t n = n_;
  pool_.parallel_for(c.n_heads * n, [&](int64_t begin, int64_t end) {
    // Runs of query rows of one head (rows h n + i, consecutive in r).
    for (int64_t r = begin; r < end;) {
      const int64_t h = r / n, i = r % n;
      const int64_t rows = std::min(end - r, n - i);
      const float* vh = vc + (h / group) * c.d_head;
      attn_mix_rows(p + (h * n + i) * kv_len, kv_len, rows, kv_len, vh, dkv, c.d_head, z + i * c.d_q() + h * c.d_head,
                    c.d_q());
      r += rows;
    }
  });
}

}  // namespace loupe
