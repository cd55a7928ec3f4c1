#include "engine/backward.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "engine/activations.h"
#include "engine/rope.h"
#include "tensor/matmul.h"

namespace loupe {
namespace {

constexpr double kSqrt2OverPi = 0.7978845608028654;

// d gelu_tanh(x) / dx.
double gelu_grad(double x) {
  const double u = kSqrt2OverPi * (x + 0.044715 * x * x * x);
  const double t = std::tanh(u);
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * kSqrt2OverPi * (1.0 + 3.0 * 0.044715 * x * x);
}
double gelu(double x) {
  return 0.5 * x * (1.0 + std::tanh(kSqrt2OverPi * (x + 0.044715 * x * x * x)));
}
double sigmoid(double x) {
  return 1.0 / (1.0 + std::exp(-x));
}
double silu(double x) {
  return x * sigmoid(x);
}
double silu_grad(double x) {
  const double s = sigmoid(x);
  return s * (1.0 + x * (1.0 - s));
}

// The gated activations' partial derivatives: y = act(g, u); dg, du given dy.
void gated_grad(MlpKind kind, double g, double u, double dy, double& dg, double& du) {
  switch (kind) {
    case MlpKind::GatedSilu:
      dg = dy * u * silu_grad(g);
      du = dy * silu(g);
      return;
    case MlpKind::GatedGelu:
      dg = dy * u * gelu_grad(g);
      du = dy * gelu(g);
      return;
    case MlpKind::SwigluOai: {
      constexpr double limit = 7.0, alpha = 1.702;
      const double x = std::min(g, limit);
      const double y = std::clamp(u, -limit, limit);
      const double s = sigmoid(alpha * x);
      const double f = x * s;
      dg = g < limit ? dy * (y + 1.0) * (s + alpha * x * s * (1.0 - s)) : 0.0;
      du = (u > -limit && u < limit) ? dy * f : 0.0;
      return;
    }
    case MlpKind::Gelu: break;
  }
  dg = du = 0.0;
}

MlpKind gated_kind(OpKind k) {
  switch (k) {
    case OpKind::GeluMul: return MlpKind::GatedGelu;
    case OpKind::SwigluOai: return MlpKind::SwigluOai;
    default: return MlpKind::GatedSilu;
  }
}

}  // namespace

void matmul_transposed_acc(ThreadPool& pool, const Weight& w, const float* g, int64_t rows, float* dx) {
  const int64_t out = w.rows, in = w.cols;
  constexpr int64_t kChunk = 64;
  std::vector<float> chunk(static_cast<size_t>(kChunk * in));
  for (int64_t i0 = 0; i0 < out; i0 += kChunk) {
    const int64_t m = std::min(kChunk, out - i0);
    pool.parallel_for(m, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) w.row(i0 + i, chunk.data() + i * in);
    });
    pool.parallel_for(rows, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        float* d = dx + r * in;
        const float* gr = g + r * out + i0;
        for (int64_t i = 0; i < m; ++i) {
          const float gi = gr[i];
          if (gi == 0.0f) continue;
          const float* wr = chunk.data() + i * in;
          for (int64_t j = 0; j < in; ++j) d[j] += gi * wr[j];
        }
      }
    });
  }
}

Tape::Tape(Interpreter& interp, int64_t budget_bytes) : interp_(interp), budget_(budget_bytes) {
  const Program& p = interp_.program();
  const size_t n = p.ops.size();
  values_.resize(n);
  grads_.resize(n);
  out_scale_.resize(n);
  shapes_.resize(n);
  rows_.assign(n, 0);
  keep_.assign(n, false);
  auto need = [&](int op, Buf b) {
    const int s = source(op, b);
    if (s >= 0) keep_[static_cast<size_t>(s)] = true;
  };
  const ModelConfig& c = interp_.model().config;
  for (int k = 0; k < static_cast<int>(n); ++k) {
    const Op& op = p.ops[static_cast<size_t>(k)];
    switch (op.kind) {
      case OpKind::NormScale:
        need(k, op.in0);
        keep_[static_cast<size_t>(k)] = true;
        break;
      case OpKind::AttnScores:
        need(k, op.in0);
        if (c.attn_softcap > 0.0f) keep_[static_cast<size_t>(k)] = true;
        break;
      case OpKind::KvStore:
      case OpKind::NormApply:
      case OpKind::SiluMul:
      case OpKind::GeluMul:
      case OpKind::SwigluOai:
      case OpKind::MoeWeights:
      case OpKind::MoeExperts:
      case OpKind::MoeCombine:
        need(k, op.in0);
        need(k, op.in1);
        break;
      case OpKind::HeadNorm:
      case OpKind::Gelu:
      case OpKind::AttnMix: need(k, op.in0); break;
      case OpKind::Softmax:
      case OpKind::SoftCap: keep_[static_cast<size_t>(k)] = true; break;
      default: break;
    }
  }
  keep_[n - 1] = true;  // the logits
}

Tape::~Tape() = default;

int Tape::source(int op, Buf b) const {
  if (b == Buf::None) return -1;
  const auto& ops = interp_.program().ops;
  for (int j = op - 1; j >= 0; --j)
    if (ops[static_cast<size_t>(j)].kind != OpKind::KvStore && ops[static_cast<size_t>(j)].out == b) return j;
  return -1;
}

void Tape::charge(size_t floats) {
  held_ += static_cast<int64_t>(floats * sizeof(float));
  if (budget_ > 0 && held_ > budget_)
    fail("the backward pass needs more than its memory budget of ", budget_ >> 20, " MiB to keep this pass's tensors (",
         n_, " tokens); raise it (--grad-mb) or use a shorter prompt");
}

void Tape::capture(int op) {
  const HookEvent e = interp_.view(op);
  shapes_[static_cast<size_t>(op)] = e.shape;
  const Op& o = interp_.program().ops[static_cast<size_t>(op)];
  rows_[static_cast<size_t>(op)] = o.final_rows ? final_rows_ : n_;
  auto& v = values_[static_cast<size_t>(op)];
  v.clear();
  if (!keep_[static_cast<size_t>(op)]) return;
  const auto numel = static_cast<size_t>(e.shape.numel());
  charge(numel);
  v.assign(e.data, e.data + numel);
}

void Tape::before_op(int op_index) {
  if (op_index > 0) capture(op_index - 1);
}

void Tape::after_op(int /*op_index*/) {}

void Tape::record(std::span<const int32_t> tokens, bool all_logits) {
  for (auto& v : values_) std::vector<float>().swap(v);
  for (auto& g : grads_) std::vector<float>().swap(g);
  held_ = 0;
  n_ = static_cast<int64_t>(tokens.size());
  final_rows_ = all_logits ? n_ : 1;
  tokens_.assign(tokens.begin(), tokens.end());
  wgrad_.clear();
  interp_.rewind(0);
  {
    Subscription sub = interp_.listen(this);
    interp_.begin(tokens, all_logits);
    interp_.finish();
  }
  capture(static_cast<int>(values_.size()) - 1);
}

std::span<const float> Tape::logits() const {
  return values_.back();
}

std::span<const float> Tape::value(int op) const {
  return values_[static_cast<size_t>(op)];
}

std::span<const float> Tape::grad(int op) const {
  return grads_[static_cast<size_t>(op)];
}

std::span<const float> Tape::hook_value(int hook) const {
  return value(interp_.program().hook_op[static_cast<size_t>(hook)]);
}

std::span<const float> Tape::hook_grad(int hook) const {
  return grad(interp_.program().hook_op[static_cast<size_t>(hook)]);
}

Shape Tape::hook_shape(int hook) const {
  return shape(interp_.program().hook_op[static_cast<size_t>(hook)]);
}

int64_t Tape::bytes() const {
  return held_;
}

std::vector<float>& Tape::grad_of(int op) {
  auto& g = grads_[static_cast<size_t>(op)];
  if (g.empty()) {
    const auto numel = static_cast<size_t>(shapes_[static_cast<size_t>(op)].numel());
    charge(numel);
    g.assign(numel, 0.0f);
  }
  return g;
}

std::vector<float> Tape::seed_logit(int64_t row, int32_t token) const {
  const int64_t v = interp_.model().config.d_vocab;
  LOUPE_ASSERT(row >= 0 && row < final_rows_ && token >= 0 && token < v, "seed row ", row, " token ", token);
  std::vector<float> s(static_cast<size_t>(final_rows_ * v), 0.0f);
  s[static_cast<size_t>(row * v + token)] = 1.0f;
  return s;
}

std::vector<float> Tape::seed_logprob(int64_t row, int32_t token) const {
  const int64_t v = interp_.model().config.d_vocab;
  std::vector<float> s = seed_logit(row, token);
  const float* l = logits().data() + row * v;
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < v; ++j) m = std::max(m, static_cast<double>(l[j]));
  double sum = 0.0;
  for (int64_t j = 0; j < v; ++j) sum += std::exp(static_cast<double>(l[j]) - m);
  for (int64_t j = 0; j < v; ++j)
    s[static_cast<size_t>(row * v + j)] -= static_cast<float>(std::exp(static_cast<double>(l[j]) - m) / sum);
  return s;
}

void Tape::backward(std::span<const float> seed) {
  const int last = static_cast<int>(values_.size()) - 1;
  LOUPE_ASSERT(!values_[static_cast<size_t>(last)].empty(), "backward() before record()");
  for (auto& g : grads_) {
    held_ -= static_cast<int64_t>(g.size() * sizeof(float));
    std::vector<float>().swap(g);
  }
  for (auto& [key, g] : wgrad_) held_ -= static_cast<int64_t>(g.size() * sizeof(float));
  wgrad_.clear();
  if (static_cast<int64_t>(seed.size()) != shapes_[static_cast<size_t>(last)].numel())
    fail("backward: the seed has ", seed.size(), " values; the logits have ",
         shapes_[static_cast<size_t>(last)].numel());
  std::vector<float>& g = grad_of(last);
  std::copy(seed.begin(), seed.end(), g.begin());
  std::vector<float> scaled;
  for (int k = last; k >= 0; --k) {
    const std::vector<float>& gk = grads_[static_cast<size_t>(k)];
    if (gk.empty()) continue;
    const std::vector<float>& sc = out_scale_[static_cast<size_t>(k)];
    if (sc.empty()) {
      vjp(k, gk);
      continue;
    }
    LOUPE_ASSERT(sc.size() == gk.size(), "output scale of op ", k, ": ", sc.size(), " values for ", gk.size());
    scaled.resize(gk.size());
    for (size_t i = 0; i < gk.size(); ++i) scaled[i] = gk[i] * sc[i];
    vjp(k, scaled);
  }
}

void Tape::enable_weight_grads(bool on) {
  weight_grads_ = on;
  if (!on) return;
  const auto& ops = interp_.program().ops;
  for (int k = 0; k < static_cast<int>(ops.size()); ++k) {
    const Op& op = ops[static_cast<size_t>(k)];
    if (op.kind == OpKind::MatMul) {
      const int s = source(k, op.in0);
      if (s >= 0) keep_[static_cast<size_t>(s)] = true;
    }
  }
}

const std::vector<float>* Tape::weight_grad(const void* data) const {
  const auto it = wgrad_.find(data);
  return it == wgrad_.end() ? nullptr : &it->second;
}

std::vector<float>& Tape::wgrad(const void* key, size_t n) {
  std::vector<float>& g = wgrad_[key];
  if (g.empty()) {
    charge(n);
    g.assign(n, 0.0f);
  }
  return g;
}

void Tape::set_output_scale(int op, std::vector<float> scale) {
  out_scale_[static_cast<size_t>(op)] = std::move(scale);
}

void Tape::clear_output_scales() {
  for (auto& s : out_scale_) std::vector<float>().swap(s);
}

void Tape::vjp(int k, const std::vector<float>& G) {
  const Program& p = interp_.program();
  const Op& op = p.ops[static_cast<size_t>(k)];
  const ModelConfig& c = interp_.model().config;
  ThreadPool& pool = interp_.pool();
  const int64_t rows = rows_[static_cast<size_t>(k)];
  const int64_t n = n_;
  const int s0 = source(k, op.in0), s1 = source(k, op.in1);
  // The rows of a source read by this op: a final op reads the last rows of the residual stream.
  auto offset = [&](int s, int64_t width) { return (rows_[static_cast<size_t>(s)] - rows) * width; };
  auto val = [&](int s) { return values_[static_cast<size_t>(s)].data(); };
  switch (op.kind) {
    case OpKind::Embed:
    case OpKind::PosEmbed: {
      if (!weight_grads_) return;
      const Weight& w = *op.w;
      LOUPE_ASSERT(w.type == DType::F32 && w.storage == Storage::Rows && w.row_map.empty(),
                   "weight gradients need F32 rows: ", w.name);
      std::vector<float>& dw = wgrad(w.data, static_cast<size_t>(w.rows * w.cols));
      const float f = op.kind == OpKind::Embed && op.scalar != 0.0f ? op.scalar : 1.0f;
      for (int64_t i = 0; i < n; ++i) {
        const int64_t r = op.kind == OpKind::Embed ? tokens_[static_cast<size_t>(i)] : i;
        for (int64_t j = 0; j < w.cols; ++j)
          dw[static_cast<size_t>(r * w.cols + j)] += f * G[static_cast<size_t>(i * w.cols + j)];
      }
      return;
    }
    case OpKind::KvStore:
    case OpKind::MoeSelect: return;
    case OpKind::Mark: {
      const int s = source(k, op.out);
      if (s < 0) return;
      std::vector<float>& d = grad_of(s);
      for (size_t i = 0; i < G.size(); ++i) d[i] += G[i];
      return;
    }
    case OpKind::Add: {
      for (int s : {s0, s1}) {
        if (s < 0) continue;
        std::vector<float>& d = grad_of(s);
        for (size_t i = 0; i < G.size(); ++i) d[i] += G[i];
      }
      return;
    }
    case OpKind::NormScale: {
      const int64_t d = c.d_model;
      const float* x = val(s0) + offset(s0, d);
      const float* sv = val(k);
      float* dx = grad_of(s0).data() + offset(s0, d);
      for (int64_t i = 0; i < rows; ++i) {
        const float* xi = x + i * d;
        double mean = 0.0;
        if (c.norm == NormKind::LayerNorm) {
          for (int64_t j = 0; j < d; ++j) mean += xi[j];
          mean /= static_cast<double>(d);
        }
        const double f = G[static_cast<size_t>(i)] / (static_cast<double>(d) * sv[i]);
        for (int64_t j = 0; j < d; ++j) dx[i * d + j] += static_cast<float>(f * (xi[j] - mean));
      }
      return;
    }
    case OpKind::NormApply: {
      const int64_t d = c.d_model;
      const float* x = val(s0) + offset(s0, d);
      const float* sv = val(s1) + offset(s1, 1);
      float* dx = grad_of(s0).data() + offset(s0, d);
      float* ds = grad_of(s1).data() + offset(s1, 1);
      const bool centred = c.norm == NormKind::LayerNorm;
      for (int64_t i = 0; i < rows; ++i) {
        const float* xi = x + i * d;
        const float* gi = G.data() + i * d;
        double mean = 0.0, mean_gg = 0.0, dsi = 0.0;
        if (centred) {
          for (int64_t j = 0; j < d; ++j) mean += xi[j];
          mean /= static_cast<double>(d);
        }
        const double s = sv[i];
        for (int64_t j = 0; j < d; ++j) {
          const double gg = static_cast<double>(gi[j]) * op.gamma[j];
          mean_gg += gg;
          dsi -= gg * (xi[j] - mean);
        }
        mean_gg = centred ? mean_gg / static_cast<double>(d) : 0.0;
        for (int64_t j = 0; j < d; ++j)
          dx[i * d + j] += static_cast<float>((static_cast<double>(gi[j]) * op.gamma[j] - mean_gg) / s);
        ds[i] += static_cast<float>(dsi / (s * s));
        if (weight_grads_) {
          std::vector<float>& dg = wgrad(op.gamma, static_cast<size_t>(d));
          for (int64_t j = 0; j < d; ++j)
            dg[static_cast<size_t>(j)] += static_cast<float>(gi[j] * ((xi[j] - mean) / s));
          if (op.beta != nullptr) {
            std::vector<float>& dbeta = wgrad(op.beta, static_cast<size_t>(d));
            for (int64_t j = 0; j < d; ++j) dbeta[static_cast<size_t>(j)] += gi[j];
          }
        }
      }
      return;
    }
    case OpKind::HeadNorm: {
      const int64_t dh = c.d_head;
      const int64_t segs = static_cast<int64_t>(G.size()) / dh;
      const float* x = val(s0);
      float* dx = grad_of(s0).data();
      for (int64_t r = 0; r < segs; ++r) {
        const float* xr = x + r * dh;
        const float* gr = G.data() + r * dh;
        double ss = 0.0, dot = 0.0;
        for (int64_t j = 0; j < dh; ++j) {
          ss += static_cast<double>(xr[j]) * xr[j];
          dot += static_cast<double>(gr[j]) * op.gamma[j] * xr[j];
        }
        const double s = std::sqrt(ss / static_cast<double>(dh) + c.norm_eps);
        for (int64_t j = 0; j < dh; ++j)
          dx[r * dh + j] += static_cast<float>(static_cast<double>(gr[j]) * op.gamma[j] / s -
                                               xr[j] * dot / (static_cast<double>(dh) * s * s * s));
        if (weight_grads_) {
          std::vector<float>& dg = wgrad(op.gamma, static_cast<size_t>(dh));
          for (int64_t j = 0; j < dh; ++j) dg[static_cast<size_t>(j)] += static_cast<float>(gr[j] * (xr[j] / s));
        }
      }
      return;
    }
    case OpKind::MatMul: {
      if (s0 < 0) return;
      const int64_t in = op.w->cols;
      if (weight_grads_) {
        const Weight& w = *op.w;
        LOUPE_ASSERT(w.type == DType::F32 && w.storage == Storage::Rows && w.row_map.empty(),
                     "weight gradients need F32 rows: ", w.name);
        std::vector<float>& dw = wgrad(w.data, static_cast<size_t>(w.rows * in));
        const float* x = val(s0) + offset(s0, in);
        // dW[i, :] += sum_r G[r, i] x[r, :], rows of dW split over the threads.
        pool.parallel_for(w.rows, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) {
            float* d = dw.data() + i * in;
            for (int64_t r = 0; r < rows; ++r) {
              const float gi = G[static_cast<size_t>(r * w.rows + i)];
              if (gi == 0.0f) continue;
              const float* xr = x + r * in;
              for (int64_t j = 0; j < in; ++j) d[j] += gi * xr[j];
            }
          }
        });
        if (op.bias != nullptr) {
          std::vector<float>& db = wgrad(op.bias, static_cast<size_t>(w.rows));
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t i = 0; i < w.rows; ++i) db[static_cast<size_t>(i)] += G[static_cast<size_t>(r * w.rows + i)];
        }
      }
      float* dx = grad_of(s0).data() + offset(s0, in);
      matmul_transposed_acc(pool, *op.w, G.data(), rows, dx);
      return;
    }
    case OpKind::Rope: {
      const LayerSpec& spec = c.layers[static_cast<size_t>(op.layer)];
      const int64_t half = c.n_rot() / 2;
      const std::vector<double> freqs =
          rope_frequencies(c, interp_.model().rope_freq_factors, spec.rope_theta, spec.rope_scaled);
      const double mag = rope_magnitude(c, spec.rope_scaled);
      const int64_t width = shapes_[static_cast<size_t>(k)].dims[1] * c.d_head;
      const int64_t heads = width / c.d_head;
      const bool adjacent = c.rope == RopeStyle::Adjacent;
      float* dx = grad_of(s0).data();
      for (int64_t i = 0; i < n; ++i)
        for (int64_t h = 0; h < heads; ++h) {
          const float* gh = G.data() + i * width + h * c.d_head;
          float* dh = dx + i * width + h * c.d_head;
          for (int64_t t = 0; t < half; ++t) {
            const double a = static_cast<double>(i) * freqs[static_cast<size_t>(t)];
            const double cs = std::cos(a) * mag, sn = std::sin(a) * mag;
            const int64_t ia = adjacent ? 2 * t : t;
            const int64_t ib = adjacent ? 2 * t + 1 : t + half;
            dh[ia] += static_cast<float>(gh[ia] * cs + gh[ib] * sn);
            dh[ib] += static_cast<float>(-gh[ia] * sn + gh[ib] * cs);
          }
          for (int64_t t = 2 * half; t < c.d_head; ++t) dh[t] += gh[t];
        }
      return;
    }
    case OpKind::AttnScores: {
      int kv = k - 1;  // the layer's cache store precedes its scores
      while (p.ops[static_cast<size_t>(kv)].kind != OpKind::KvStore) --kv;
      const int ks = source(kv, p.ops[static_cast<size_t>(kv)].in0);
      const float* q = val(s0);
      const float* kk = val(ks);
      float* dq = grad_of(s0).data();
      float* dk = grad_of(ks).data();
      const int64_t dkv = c.d_kv(), dq_w = c.d_q(), group = c.n_heads / c.n_kv_heads;
      const double scale = c.attn_scale > 0.0f ? c.attn_scale : 1.0 / std::sqrt(static_cast<double>(c.d_head));
      const int64_t window = c.layers[static_cast<size_t>(op.layer)].window;
      const float* sv = c.attn_softcap > 0.0f ? val(k) : nullptr;
      for (int64_t h = 0; h < c.n_heads; ++h)
        for (int64_t i = 0; i < n; ++i) {
          const int64_t lo = window > 0 ? std::max<int64_t>(0, i - window + 1) : 0;
          const float* gr = G.data() + (h * n + i) * n;
          const float* qi = q + i * dq_w + h * c.d_head;
          float* dqi = dq + i * dq_w + h * c.d_head;
          for (int64_t j = lo; j <= i; ++j) {
            double d = gr[j];
            if (d == 0.0) continue;
            if (sv != nullptr) {
              const double t = sv[(h * n + i) * n + j] / c.attn_softcap;
              d *= 1.0 - t * t;
            }
            d *= scale;
            const float* kj = kk + j * dkv + (h / group) * c.d_head;
            float* dkj = dk + j * dkv + (h / group) * c.d_head;
            for (int64_t t = 0; t < c.d_head; ++t) {
              dqi[t] += static_cast<float>(d * kj[t]);
              dkj[t] += static_cast<float>(d * qi[t]);
            }
          }
        }
      return;
    }
    case OpKind::Softmax: {
      const float* pv = val(k);
      float* ds = grad_of(s0).data();
      for (int64_t r = 0; r < c.n_heads * n; ++r) {
        const float* pr = pv + r * n;
        const float* gr = G.data() + r * n;
        double dot = 0.0;
        for (int64_t j = 0; j < n; ++j) dot += static_cast<double>(pr[j]) * gr[j];
        for (int64_t j = 0; j < n; ++j)
          if (pr[j] != 0.0f) ds[r * n + j] += static_cast<float>(pr[j] * (gr[j] - dot));
      }
      return;
    }
    case OpKind::AttnMix: {
      int kv = k - 1;
      while (p.ops[static_cast<size_t>(kv)].kind != OpKind::KvStore) --kv;
      const int vs = source(kv, p.ops[static_cast<size_t>(kv)].in1);
      const float* pv = val(s0);
      const float* v = val(vs);
      float* dp = grad_of(s0).data();
      float* dv = grad_of(vs).data();
      const int64_t dkv = c.d_kv(), dq_w = c.d_q(), group = c.n_heads / c.n_kv_heads;
      const int64_t window = c.layers[static_cast<size_t>(op.layer)].window;
      for (int64_t h = 0; h < c.n_heads; ++h)
        for (int64_t i = 0; i < n; ++i) {
          const float* gi = G.data() + i * dq_w + h * c.d_head;
          const float* pr = pv + (h * n + i) * n;
          float* dpr = dp + (h * n + i) * n;
          for (int64_t j = window > 0 ? std::max<int64_t>(0, i - window + 1) : 0; j <= i; ++j) {
            const float* vj = v + j * dkv + (h / group) * c.d_head;
            float* dvj = dv + j * dkv + (h / group) * c.d_head;
            double dot = 0.0;
            for (int64_t t = 0; t < c.d_head; ++t) {
              dot += static_cast<double>(gi[t]) * vj[t];
              dvj[t] += pr[j] * gi[t];
            }
            dpr[j] += static_cast<float>(dot);
          }
        }
      return;
    }
    case OpKind::Gelu: {
      const float* x = val(s0);
      float* dx = grad_of(s0).data();
      for (size_t i = 0; i < G.size(); ++i) dx[i] += static_cast<float>(G[i] * gelu_grad(x[i]));
      return;
    }
    case OpKind::SiluMul:
    case OpKind::GeluMul:
    case OpKind::SwigluOai: {
      const MlpKind kind = gated_kind(op.kind);
      const float* g = val(s0);
      const float* u = val(s1);
      float* dg = grad_of(s0).data();
      float* du = grad_of(s1).data();
      for (size_t i = 0; i < G.size(); ++i) {
        double a = 0.0, b = 0.0;
        gated_grad(kind, g[i], u[i], G[i], a, b);
        dg[i] += static_cast<float>(a);
        du[i] += static_cast<float>(b);
      }
      return;
    }
    case OpKind::MoeWeights: {
      const int64_t e = c.n_experts, kk = c.n_experts_used;
      const float* r = val(s0);
      const float* ids = val(s1);
      float* dr = grad_of(s0).data();
      std::vector<double> probs(static_cast<size_t>(e)), dprob(static_cast<size_t>(e));
      for (int64_t i = 0; i < n; ++i) {
        const float* ri = r + i * e;
        const float* gi = G.data() + i * kk;
        const float* idi = ids + i * kk;
        if (c.moe_gating == MoeGating::SoftmaxTopK) {
          double m = ri[0], sum = 0.0;
          for (int64_t t = 1; t < e; ++t) m = std::max(m, static_cast<double>(ri[t]));
          for (int64_t t = 0; t < e; ++t) sum += probs[static_cast<size_t>(t)] = std::exp(ri[t] - m);
          for (double& v : probs) v /= sum;
          std::fill(dprob.begin(), dprob.end(), 0.0);
          double sel = 0.0, gp = 0.0;
          for (int64_t j = 0; j < kk; ++j) {
            const double pj = probs[static_cast<size_t>(idi[j])];
            sel += pj;
            gp += gi[j] * pj;
          }
          for (int64_t j = 0; j < kk; ++j)
            dprob[static_cast<size_t>(idi[j])] += c.moe_norm_topk ? gi[j] / sel - gp / (sel * sel) : gi[j];
          double dot = 0.0;
          for (int64_t t = 0; t < e; ++t) dot += dprob[static_cast<size_t>(t)] * probs[static_cast<size_t>(t)];
          for (int64_t t = 0; t < e; ++t)
            dr[i * e + t] += static_cast<float>(probs[static_cast<size_t>(t)] * (dprob[static_cast<size_t>(t)] - dot));
        } else {
          double m = -std::numeric_limits<double>::infinity(), sum = 0.0;
          for (int64_t j = 0; j < kk; ++j) m = std::max(m, static_cast<double>(ri[static_cast<int64_t>(idi[j])]));
          std::vector<double> w(static_cast<size_t>(kk));
          for (int64_t j = 0; j < kk; ++j)
            sum += w[static_cast<size_t>(j)] = std::exp(ri[static_cast<int64_t>(idi[j])] - m);
          double dot = 0.0;
          for (int64_t j = 0; j < kk; ++j) {
            w[static_cast<size_t>(j)] /= sum;
            dot += w[static_cast<size_t>(j)] * gi[j];
          }
          for (int64_t j = 0; j < kk; ++j)
            dr[i * e + static_cast<int64_t>(idi[j])] += static_cast<float>(w[static_cast<size_t>(j)] * (gi[j] - dot));
        }
      }
      return;
    }
    case OpKind::MoeExperts: {
      const LayerWeights& L = interp_.model().layers[static_cast<size_t>(op.layer)];
      const int64_t kk = c.n_experts_used, d = c.d_model, f = c.d_mlp;
      const float* x = val(s0);
      const float* ids = val(s1);
      float* dx = grad_of(s0).data();
      std::vector<int64_t> slots;
      std::vector<float> xs, gs, us, dy, dh, dgs, dus, dxs;
      for (int64_t e = 0; e < c.n_experts; ++e) {
        slots.clear();
        for (int64_t t = 0; t < n * kk; ++t)
          if (static_cast<int64_t>(ids[t]) == e) slots.push_back(t);
        const auto m = static_cast<int64_t>(slots.size());
        if (m == 0) continue;
        xs.assign(static_cast<size_t>(m * d), 0.0f);
        dy.assign(static_cast<size_t>(m * d), 0.0f);
        for (int64_t r = 0; r < m; ++r) {
          const int64_t t = slots[static_cast<size_t>(r)];
          std::copy_n(x + (t / kk) * d, d, xs.data() + r * d);
          std::copy_n(G.data() + t * d, d, dy.data() + r * d);
        }
        const auto eu = static_cast<size_t>(e);
        gs.assign(static_cast<size_t>(m * f), 0.0f);
        us.assign(gs.size(), 0.0f);
        matmul(pool, L.expert_gate[eu], xs.data(), m, gs.data(),
               L.expert_gate_bias ? L.expert_gate_bias + e * f : nullptr, Numerics::Exact);
        matmul(pool, L.expert_up[eu], xs.data(), m, us.data(), L.expert_up_bias ? L.expert_up_bias + e * f : nullptr,
               Numerics::Exact);
        dh.assign(gs.size(), 0.0f);
        matmul_transposed_acc(pool, L.expert_down[eu], dy.data(), m, dh.data());
        dgs.assign(gs.size(), 0.0f);
        dus.assign(gs.size(), 0.0f);
        for (size_t i = 0; i < gs.size(); ++i) {
          double a = 0.0, b = 0.0;
          gated_grad(c.mlp, gs[i], us[i], dh[i], a, b);
          dgs[i] = static_cast<float>(a);
          dus[i] = static_cast<float>(b);
        }
        dxs.assign(xs.size(), 0.0f);
        matmul_transposed_acc(pool, L.expert_gate[eu], dgs.data(), m, dxs.data());
        matmul_transposed_acc(pool, L.expert_up[eu], dus.data(), m, dxs.data());
        for (int64_t r = 0; r < m; ++r) {
          float* dxi = dx + (slots[static_cast<size_t>(r)] / kk) * d;
          for (int64_t j = 0; j < d; ++j) dxi[j] += dxs[static_cast<size_t>(r * d + j)];
        }
      }
      return;
    }
    case OpKind::MoeCombine: {
      const int64_t kk = c.n_experts_used, d = c.d_model;
      const float* y = val(s0);
      const float* w = val(s1);
      float* dy = grad_of(s0).data();
      float* dw = grad_of(s1).data();
      for (int64_t i = 0; i < n; ++i) {
        const float* gi = G.data() + i * d;
        for (int64_t s = 0; s < kk; ++s) {
          const float ws = w[i * kk + s];
          const float* ys = y + (i * kk + s) * d;
          float* dys = dy + (i * kk + s) * d;
          double dot = 0.0;
          for (int64_t j = 0; j < d; ++j) {
            dys[j] += ws * gi[j];
            dot += static_cast<double>(gi[j]) * ys[j];
          }
          dw[i * kk + s] += static_cast<float>(dot);
        }
      }
      return;
    }
    case OpKind::SoftCap: {
      const float* yv = val(k);
      float* dx = grad_of(s0).data();
      for (size_t i = 0; i < G.size(); ++i) {
        const double t = yv[i] / op.scalar;
        dx[i] += static_cast<float>(G[i] * (1.0 - t * t));
      }
      return;
    }
  }
}

}  // namespace loupe
