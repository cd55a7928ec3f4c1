#include "model/bind.h"

#include "core/error.h"

namespace loupe::detail {
namespace {

std::string blk(int64_t l, const char* rest) {
  return cat("blk.", l, ".", rest);
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

// Rows [first, first + n) of a matrix (a slice of a fused projection).
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

const float* vec(Model& m, const TensorTable& t, const std::string& name, int64_t n) {
  return m.vector_f32(t.vector(name, n));
}

const float* vec_opt(Model& m, const TensorTable& t, const std::string& name, int64_t n) {
  return m.vector_f32(t.vector_or_empty(name, n));
}

// out[r] = v[map[r]]: a bias read in the same order as its permuted weight rows.
const float* permute_vector(Model& m, const float* v, const std::vector<int32_t>& map) {
  if (v == nullptr) return nullptr;
  std::vector<float> out(map.size());
  for (size_t r = 0; r < map.size(); ++r) out[r] = v[map[r]];
  m.owned.push_back(std::move(out));
  return m.owned.back().data();
}

}  // namespace

void bind_weights(Model& m, const TensorTable& t, const BindOptions& o) {
  const ModelConfig& c = m.config;
  m.tensors = t.summaries();
  const bool gpt2 = c.arch == Arch::Gpt2;
  m.tok_embed = t.matrix("token_embd.weight", c.d_vocab, c.d_model);
  if (gpt2) m.pos_embed = t.matrix("position_embd.weight", c.n_ctx, c.d_model);
  m.layers.resize(static_cast<size_t>(c.n_layers));
  for (int64_t l = 0; l < c.n_layers; ++l) {
    LayerWeights& L = m.layers[static_cast<size_t>(l)];
    L.ln1_w = vec(m, t, blk(l, "attn_norm.weight"), c.d_model);
    L.ln2_w = vec(m, t, blk(l, "ffn_norm.weight"), c.d_model);
    if (c.norm == NormKind::LayerNorm) {
      L.ln1_b = vec(m, t, blk(l, "attn_norm.bias"), c.d_model);
      L.ln2_b = vec(m, t, blk(l, "ffn_norm.bias"), c.d_model);
    }
    if (t.find(blk(l, "attn_qkv.weight")) != nullptr) {
      Weight qkv = linear(t, blk(l, "attn_qkv.weight"), c.d_q() + 2 * c.d_kv(), c.d_model, o);
      L.wq = slice_rows(qkv, 0, c.d_q(), blk(l, "attn_qkv.weight[q]"));
      L.wk = slice_rows(qkv, c.d_q(), c.d_kv(), blk(l, "attn_qkv.weight[k]"));
      L.wv = slice_rows(qkv, c.d_q() + c.d_kv(), c.d_kv(), blk(l, "attn_qkv.weight[v]"));
      if (const float* b = vec_opt(m, t, blk(l, "attn_qkv.bias"), c.d_q() + 2 * c.d_kv())) {
        L.bq = b;
        L.bk = b + c.d_q();
        L.bv = b + c.d_q() + c.d_kv();
      }
    } else {
      L.wq = linear(t, blk(l, "attn_q.weight"), c.d_q(), c.d_model, o);
      L.wk = linear(t, blk(l, "attn_k.weight"), c.d_kv(), c.d_model, o);
      L.wv = linear(t, blk(l, "attn_v.weight"), c.d_kv(), c.d_model, o);
      L.bq = vec_opt(m, t, blk(l, "attn_q.bias"), c.d_q());
      L.bk = vec_opt(m, t, blk(l, "attn_k.bias"), c.d_kv());
      L.bv = vec_opt(m, t, blk(l, "attn_v.bias"), c.d_kv());
      if (c.qkv_bias && (L.bq == nullptr || L.bk == nullptr || L.bv == nullptr))
        fail(t.source(), ": tensor ", t.quoted(blk(l, "attn_q.bias")), " (or k/v bias) is missing; ", c.arch_label,
             " needs q/k/v biases");
    }
    if (o.unpermute_qk) {
      L.wq.row_map = unpermute_rotate_half(c.n_heads, c.d_head);
      L.wk.row_map = unpermute_rotate_half(c.n_kv_heads, c.d_head);
      L.bq = permute_vector(m, L.bq, L.wq.row_map);
      L.bk = permute_vector(m, L.bk, L.wk.row_map);
    }
    L.wo = linear(t, blk(l, "attn_output.weight"), c.d_model, c.d_q(), o);
    L.bo = vec_opt(m, t, blk(l, "attn_output.bias"), c.d_model);
    if (c.mlp == MlpKind::GatedSilu) L.w_gate = linear(t, blk(l, "ffn_gate.weight"), c.d_mlp, c.d_model, o);
    L.w_up = linear(t, blk(l, "ffn_up.weight"), c.d_mlp, c.d_model, o);
    L.w_down = linear(t, blk(l, "ffn_down.weight"), c.d_model, c.d_mlp, o);
    L.b_up = vec_opt(m, t, blk(l, "ffn_up.bias"), c.d_mlp);
    L.b_down = vec_opt(m, t, blk(l, "ffn_down.bias"), c.d_model);
    if (c.out_bias && (L.bo == nullptr || L.b_up == nullptr || L.b_down == nullptr))
      fail(t.source(), ": layer ", l, ": attention output / MLP biases are missing; ", c.arch_label, " needs them");
  }
  m.ln_final_w = vec(m, t, "output_norm.weight", c.d_model);
  if (c.norm == NormKind::LayerNorm) m.ln_final_b = vec(m, t, "output_norm.bias", c.d_model);
  m.unembed = t.matrix_or_empty("output.weight", c.d_vocab, c.d_model);
  if (m.unembed.empty()) {
    m.unembed = m.tok_embed;
    m.config.tied_embeddings = true;
  } else {
    m.config.tied_embeddings = false;
  }
  if (const RawTensor* f = t.find("rope_freqs.weight")) {
    (void)f;
    m.rope_freq_factors = vec(m, t, "rope_freqs.weight", c.d_head / 2);
  }
}

}  // namespace loupe::detail
