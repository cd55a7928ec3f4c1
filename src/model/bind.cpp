#include "model/bind.h"

#include "core/error.h"
#include "model/arch/family.h"
#include "model/weight_names.h"

namespace loupe::detail {
namespace {

std::string nm(WeightId id, int64_t layer = -1, const char* suffix = "weight") {
  return gguf_tensor_name(id, layer, suffix);
}

// A linear layer [out, in]; with transposed storage the file holds [in, out] floats.
Weight linear(const TensorTable& t, const std::string& name, int64_t out, int64_t in, const BindOptions& o) {
  if (!o.transposed_linear) return t.matrix(name, out, in);
  Weight w = t.matrix(name, in, out);
  if (w.type != DType::F32 && w.type != DType::F16 && w.type != DType::BF16)
    fail(t.source(), ": tensor '", name, "': transposed storage needs f32, f16 or bf16, not ", dtype_name(w.type));
  w.storage = Storage::Transposed;
  w.rows = out;
  w.cols = in;
  w.ld = out;
  return w;
}

// Rows [first, first + n) of a matrix (a slice of a fused projection, or one expert).
Weight slice_rows(const Weight& w, int64_t first, int64_t n, const std::string& name) {
  Weight s = w;
  s.name = name;
  s.rows = n;
  if (w.storage == Storage::Transposed) {
    s.data = w.data + static_cast<size_t>(first) * row_bytes(w.type, 1);
  } else {
    s.data = w.data + static_cast<size_t>(first) * row_bytes(w.type, w.cols);
  }
  return s;
}

// "blk.3.ffn_up_exps.weight", 5 -> "blk.3.ffn_up_exps.5.weight".
std::string expert_name(const std::string& stacked, int64_t e) {
  const size_t dot = stacked.rfind('.');
  return cat(stacked.substr(0, dot), ".", e, stacked.substr(dot));
}

class Binder {
 public:
  Binder(Model& m, const TensorTable& t, const BindOptions& o) : m_(m), t_(t), o_(o) {}

  const float* vec(const std::string& name, int64_t n) { return m_.vector_f32(t_.vector(name, n)); }
  const float* vec_opt(const std::string& name, int64_t n) { return m_.vector_f32(t_.vector_or_empty(name, n)); }
  // A small [rows, cols] table (per-expert biases) as floats.
  const float* table(const std::string& name, int64_t rows, int64_t cols) {
    return m_.vector_f32(t_.matrix(name, rows, cols));
  }
  // A norm gain: 1 + w where the format stores w.
  const float* norm(const std::string& name, int64_t n) {
    const float* g = vec(name, n);
    if (!o_.norm_plus_one) return g;
    std::vector<float> v(g, g + n);
    for (float& x : v) x += 1.0f;
    m_.owned.push_back(std::move(v));
    return m_.owned.back().data();
  }
  Weight lin(const std::string& name, int64_t out, int64_t in) { return linear(t_, name, out, in, o_); }
  // n_experts matrices [rows, cols] stacked in one [n_experts, rows, cols] tensor.
  std::vector<Weight> experts(const std::string& name, int64_t n, int64_t rows, int64_t cols) {
    if (t_.find(name) == nullptr && t_.find(expert_name(name, 0)) != nullptr) {
      // One tensor per expert (HF checkpoints), "blk.L.ffn_up_exps.E.weight".
      std::vector<Weight> out;
      for (int64_t e = 0; e < n; ++e) out.push_back(lin(expert_name(name, e), rows, cols));
      if (t_.find(expert_name(name, n)) != nullptr)
        fail(t_.source(), ": tensor ", t_.quoted(expert_name(name, n)), ": more experts than the ", n,
             " the config says");
      return out;
    }
    const RawTensor& raw = t_.need(name);
    if (raw.shape != std::vector<int64_t>{n, rows, cols})
      fail(t_.source(), ": tensor ", t_.quoted(name), " has shape ", shape_str(raw.shape), ", expected ",
           shape_str({n, rows, cols}));
    RawTensor flat = raw;
    flat.shape = {n * rows, cols};
    const Weight all = t_.bind_raw(flat, n * rows, cols);
    std::vector<Weight> out;
    for (int64_t e = 0; e < n; ++e) out.push_back(slice_rows(all, e * rows, rows, cat(name, "[", e, "]")));
    return out;
  }

 private:
  Model& m_;
  const TensorTable& t_;
  const BindOptions& o_;
};

// out[r] = v[map[r]]: a bias read in the same order as its permuted weight rows.
const float* permute_vector(Model& m, const float* v, const std::vector<int32_t>& map) {
  if (v == nullptr) return nullptr;
  std::vector<float> out(map.size());
  for (size_t r = 0; r < map.size(); ++r) out[r] = v[map[r]];
  m.owned.push_back(std::move(out));
  return m.owned.back().data();
}

void bind_attention(Binder& b, Model& m, const TensorTable& t, const BindOptions& o, int64_t l, LayerWeights& L) {
  const ModelConfig& c = m.config;
  if (t.find(nm(WeightId::AttnQkv, l)) != nullptr) {
    Weight qkv = b.lin(nm(WeightId::AttnQkv, l), c.d_q() + 2 * c.d_kv(), c.d_model);
    L.wq = slice_rows(qkv, 0, c.d_q(), nm(WeightId::AttnQkv, l) + "[q]");
    L.wk = slice_rows(qkv, c.d_q(), c.d_kv(), nm(WeightId::AttnQkv, l) + "[k]");
    L.wv = slice_rows(qkv, c.d_q() + c.d_kv(), c.d_kv(), nm(WeightId::AttnQkv, l) + "[v]");
    if (const float* bias = b.vec_opt(nm(WeightId::AttnQkv, l, "bias"), c.d_q() + 2 * c.d_kv())) {
      L.bq = bias;
      L.bk = bias + c.d_q();
      L.bv = bias + c.d_q() + c.d_kv();
    }
  } else {
    L.wq = b.lin(nm(WeightId::AttnQ, l), c.d_q(), c.d_model);
    L.wk = b.lin(nm(WeightId::AttnK, l), c.d_kv(), c.d_model);
    L.wv = b.lin(nm(WeightId::AttnV, l), c.d_kv(), c.d_model);
    L.bq = b.vec_opt(nm(WeightId::AttnQ, l, "bias"), c.d_q());
    L.bk = b.vec_opt(nm(WeightId::AttnK, l, "bias"), c.d_kv());
    L.bv = b.vec_opt(nm(WeightId::AttnV, l, "bias"), c.d_kv());
  }
  if (c.qkv_bias && (L.bq == nullptr || L.bk == nullptr || L.bv == nullptr))
    fail(t.source(), ": tensor ", t.quoted(nm(WeightId::AttnQ, l, "bias")), " (or k/v bias) is missing; ", c.arch_label,
         " needs q/k/v biases");
  if (o.unpermute_qk) {
    L.wq.row_map = unpermute_rotate_half(c.n_heads, c.d_head);
    L.wk.row_map = unpermute_rotate_half(c.n_kv_heads, c.d_head);
    L.bq = permute_vector(m, L.bq, L.wq.row_map);
    L.bk = permute_vector(m, L.bk, L.wk.row_map);
  }
  if (c.qk_norm) {
    L.q_norm = b.norm(nm(WeightId::AttnQNorm, l), c.d_head);
    L.k_norm = b.norm(nm(WeightId::AttnKNorm, l), c.d_head);
  }
  if (c.attn_sinks) L.sinks = b.vec(nm(WeightId::AttnSinks, l), c.n_heads);
  L.wo = b.lin(nm(WeightId::AttnOutput, l), c.d_model, c.d_q());
  L.bo = b.vec_opt(nm(WeightId::AttnOutput, l, "bias"), c.d_model);
}

void bind_mlp(Binder& b, const TensorTable& t, const ModelConfig& c, int64_t l, LayerWeights& L) {
  if (c.moe()) {
    const int64_t e = c.n_experts;
    L.router = b.lin(nm(WeightId::FfnGateInp, l), e, c.d_model);
    L.expert_gate = b.experts(nm(WeightId::FfnGateExps, l), e, c.d_mlp, c.d_model);
    L.expert_up = b.experts(nm(WeightId::FfnUpExps, l), e, c.d_mlp, c.d_model);
    L.expert_down = b.experts(nm(WeightId::FfnDownExps, l), e, c.d_model, c.d_mlp);
    if (c.moe_bias) {
      L.router_bias = b.vec(nm(WeightId::FfnGateInp, l, "bias"), e);
      L.expert_gate_bias = b.table(nm(WeightId::FfnGateExps, l, "bias"), e, c.d_mlp);
      L.expert_up_bias = b.table(nm(WeightId::FfnUpExps, l, "bias"), e, c.d_mlp);
      L.expert_down_bias = b.table(nm(WeightId::FfnDownExps, l, "bias"), e, c.d_model);
    }
    return;
  }
  if (c.gated()) {
    if (t.find(nm(WeightId::FfnGate, l)) != nullptr) {
      L.w_gate = b.lin(nm(WeightId::FfnGate, l), c.d_mlp, c.d_model);
      L.w_up = b.lin(nm(WeightId::FfnUp, l), c.d_mlp, c.d_model);
    } else {  // one fused [gate; up] projection (Phi-3)
      const RawTensor* up = t.find(nm(WeightId::FfnUp, l));
      if (up == nullptr || up->shape.empty() || up->shape.front() != 2 * c.d_mlp)
        fail(t.source(), ": tensor ", t.quoted(nm(WeightId::FfnGate, l)), " is missing (and ",
             t.quoted(nm(WeightId::FfnUp, l)), " is not a fused gate+up projection of ", 2 * c.d_mlp, " rows)");
      Weight fused = b.lin(nm(WeightId::FfnUp, l), 2 * c.d_mlp, c.d_model);
      L.w_gate = slice_rows(fused, 0, c.d_mlp, nm(WeightId::FfnUp, l) + "[gate]");
      L.w_up = slice_rows(fused, c.d_mlp, c.d_mlp, nm(WeightId::FfnUp, l) + "[up]");
    }
  } else {
    L.w_up = b.lin(nm(WeightId::FfnUp, l), c.d_mlp, c.d_model);
  }
  L.w_down = b.lin(nm(WeightId::FfnDown, l), c.d_model, c.d_mlp);
  L.b_up = b.vec_opt(nm(WeightId::FfnUp, l, "bias"), c.d_mlp);
  L.b_down = b.vec_opt(nm(WeightId::FfnDown, l, "bias"), c.d_model);
}

}  // namespace

void bind_weights(Model& m, const TensorTable& t, const BindOptions& o) {
  const ModelConfig& c = m.config;
  const arch::Family& fam = arch::family(c.arch);
  Binder b(m, t, o);
  m.tensors = t.summaries();
  m.tok_embed = t.matrix(nm(WeightId::TokenEmbd), c.d_vocab, c.d_model);
  if (c.arch == Arch::Gpt2) m.pos_embed = t.matrix(nm(WeightId::PositionEmbd), c.n_ctx, c.d_model);
  const bool ln = c.norm == NormKind::LayerNorm;
  m.layers.resize(static_cast<size_t>(c.n_layers));
  for (int64_t l = 0; l < c.n_layers; ++l) {
    LayerWeights& L = m.layers[static_cast<size_t>(l)];
    L.ln1_w = b.norm(nm(WeightId::AttnNorm, l), c.d_model);
    L.ln2_w = b.norm(nm(fam.ffn_norm, l), c.d_model);
    if (ln) {
      L.ln1_b = b.vec(nm(WeightId::AttnNorm, l, "bias"), c.d_model);
      L.ln2_b = b.vec(nm(fam.ffn_norm, l, "bias"), c.d_model);
    }
    if (c.post_norms) {
      L.post_attn_norm = b.norm(nm(WeightId::AttnPostNorm, l), c.d_model);
      L.post_ffn_norm = b.norm(nm(WeightId::FfnPostNorm, l), c.d_model);
    }
    bind_attention(b, m, t, o, l, L);
    bind_mlp(b, t, c, l, L);
    if (c.out_bias && (L.bo == nullptr || L.b_up == nullptr || L.b_down == nullptr))
      fail(t.source(), ": layer ", l, ": attention output / MLP biases are missing; ", c.arch_label, " needs them");
  }
  m.ln_final_w = b.norm(nm(WeightId::OutputNorm), c.d_model);
  if (ln) m.ln_final_b = b.vec(nm(WeightId::OutputNorm, -1, "bias"), c.d_model);
  m.unembed = t.matrix_or_empty(nm(WeightId::Output), c.d_vocab, c.d_model);
  if (m.unembed.empty()) {
    m.unembed = m.tok_embed;
    m.config.tied_embeddings = true;
  } else {
    m.config.tied_embeddings = false;
  }
  if (t.find(nm(WeightId::RopeFreqs)) != nullptr) {
    m.rope_freq_factors = b.vec(nm(WeightId::RopeFreqs), c.n_rot() / 2);
  } else if (t.find("rope_factors_short.weight") != nullptr) {
    // Phi-3 LongRoPE: the short factors serve contexts within the original length.
    m.rope_freq_factors = b.vec("rope_factors_short.weight", c.n_rot() / 2);
  }
}

}  // namespace loupe::detail
