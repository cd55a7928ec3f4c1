#include "engine/program.h"

#include <array>

#include "core/error.h"

namespace loupe {
namespace {

constexpr std::array<OpInfo, kOpKindCount> kOps = {{
    {OpKind::Embed, "embed", false, false, false},
    {OpKind::PosEmbed, "pos_embed", false, false, false},
    {OpKind::Mark, "mark", false, false, false},
    {OpKind::Add, "add", false, false, false},
    {OpKind::NormScale, "norm_scale", false, false, false},
    {OpKind::NormApply, "norm_apply", false, false, false},
    {OpKind::HeadNorm, "head_norm", false, false, false},
    {OpKind::MatMul, "matmul", false, false, false},
    {OpKind::Rope, "rope", false, false, false},
    {OpKind::KvStore, "kv_store", false, false, false},
    {OpKind::AttnScores, "attn_scores", true, false, true},
    {OpKind::Softmax, "softmax", false, false, false},
    {OpKind::AttnMix, "attn_mix", false, true, false},
    {OpKind::Gelu, "gelu", false, false, false},
    {OpKind::SiluMul, "silu_mul", false, false, false},
    {OpKind::GeluMul, "gelu_mul", false, false, false},
    {OpKind::SwigluOai, "swiglu_oai", false, false, false},
    {OpKind::MoeSelect, "moe_select", false, false, false},
    {OpKind::MoeWeights, "moe_weights", false, false, false},
    {OpKind::MoeExperts, "moe_experts", false, false, false},
    {OpKind::MoeCombine, "moe_combine", false, false, false},
    {OpKind::SoftCap, "soft_cap", false, false, false},
}};

constexpr bool ops_in_enum_order() {
  for (size_t i = 0; i < kOps.size(); ++i)
    if (static_cast<size_t>(kOps[i].kind) != i) return false;
  return true;
}
static_assert(ops_in_enum_order());

// Emits the ops of a program: one place for the hook lookup and the op fields.
class Builder {
 public:
  Builder(Program& p, int layer, std::string prefix) : p_(p), layer_(layer), prefix_(std::move(prefix)) {}

  Op& op(OpKind kind, HookKind hk, Buf out, Buf in0, Buf in1, const std::string& label) {
    Op o;
    o.kind = kind;
    o.layer = layer_;
    const auto id = p_.hooks.id(hk, layer_);
    o.hook = id ? *id : -1;
    o.out = out;
    o.in0 = in0;
    o.in1 = in1;
    o.label = prefix_ + label;
    p_.ops.push_back(std::move(o));
    return p_.ops.back();
  }
  // An op that is no hook point.
  Op& plain(OpKind kind, Buf out, Buf in0, Buf in1, const std::string& label) {
    Op& o = op(kind, HookKind::Embed, out, in0, in1, label);
    o.hook = -1;
    return o;
  }
  Op& matmul(HookKind hk, Buf out, Buf in, const Weight& w, const float* bias, const std::string& label) {
    Op& o = op(OpKind::MatMul, hk, out, in, Buf::None, label);
    o.w = &w;
    o.bias = bias;
    return o;
  }
  Op& matmul_plain(Buf out, Buf in, const Weight& w, const float* bias, const std::string& label) {
    Op& o = matmul(HookKind::Embed, out, in, w, bias, label);
    o.hook = -1;
    return o;
  }
  // norm_scale + norm_apply: `in` normalised into `out` with the hooks of one norm.
  void norm(HookKind scale_hook, HookKind out_hook, Buf in, Buf out, const float* gamma, const float* beta,
            const std::string& name) {
    op(OpKind::NormScale, scale_hook, Buf::Scale, in, Buf::None, name + ".scale");
    Op& a = op(OpKind::NormApply, out_hook, out, in, Buf::Scale, name + ".w");
    a.gamma = gamma;
    a.beta = beta;
  }

 private:
  Program& p_;
  int layer_;
  std::string prefix_;
};

void lower_attention(Builder& b, const ModelConfig& c, const LayerSpec& spec, const LayerWeights& L) {
  b.matmul(HookKind::Q, Buf::Q, Buf::Normed, L.wq, L.bq, "attn.W_Q");
  b.matmul(HookKind::K, Buf::K, Buf::Normed, L.wk, L.bk, "attn.W_K");
  b.matmul(HookKind::V, Buf::V, Buf::Normed, L.wv, L.bv, "attn.W_V");
  Buf q = Buf::Q, k = Buf::K;
  if (c.qk_norm) {
    b.op(OpKind::HeadNorm, HookKind::QNormed, Buf::QNorm, Buf::Q, Buf::None, "attn.q_norm").gamma = L.q_norm;
    b.op(OpKind::HeadNorm, HookKind::KNormed, Buf::KNorm, Buf::K, Buf::None, "attn.k_norm").gamma = L.k_norm;
    q = Buf::QNorm;
    k = Buf::KNorm;
  }
  if (c.rope != RopeStyle::None && spec.rope) {
    b.op(OpKind::Rope, HookKind::RotQ, Buf::RotQ, q, Buf::None, "attn.rope_q");
    b.op(OpKind::Rope, HookKind::RotK, Buf::RotK, k, Buf::None, "attn.rope_k");
    q = Buf::RotQ;
    k = Buf::RotK;
  }
  b.plain(OpKind::KvStore, Buf::None, k, Buf::V, "attn.kv_cache");
  b.op(OpKind::AttnScores, HookKind::AttnScores, Buf::Scores, q, Buf::None, "attn.scores");
  b.op(OpKind::Softmax, HookKind::Pattern, Buf::Pattern, Buf::Scores, Buf::None, "attn.softmax").aux = L.sinks;
  b.op(OpKind::AttnMix, HookKind::Z, Buf::Z, Buf::Pattern, Buf::None, "attn.mix_v");
  if (c.post_norms) {
    b.matmul_plain(Buf::AttnRaw, Buf::Z, L.wo, L.bo, "attn.W_O");
    b.norm(HookKind::Ln1PostScale, HookKind::AttnOut, Buf::AttnRaw, Buf::AttnOut, L.post_attn_norm, nullptr,
           "ln1_post");
  } else {
    b.matmul(HookKind::AttnOut, Buf::AttnOut, Buf::Z, L.wo, L.bo, "attn.W_O");
  }
}

void lower_mlp(Builder& b, const ModelConfig& c, const LayerWeights& L) {
  const Buf raw = c.post_norms ? Buf::MlpRaw : Buf::MlpOut;
  if (c.moe()) {
    b.matmul(HookKind::RouterLogits, Buf::Router, Buf::Normed, L.router, L.router_bias, "mlp.W_gate_inp");
    b.op(OpKind::MoeSelect, HookKind::ExpertIds, Buf::ExpertIds, Buf::Router, Buf::None, "mlp.select_experts");
    b.op(OpKind::MoeWeights, HookKind::ExpertWeights, Buf::ExpertWeights, Buf::Router, Buf::ExpertIds,
         "mlp.expert_weights");
    b.op(OpKind::MoeExperts, HookKind::ExpertOut, Buf::ExpertOut, Buf::Normed, Buf::ExpertIds, "mlp.experts");
    Op& comb = b.op(OpKind::MoeCombine, c.post_norms ? HookKind::Embed : HookKind::MlpOut, raw, Buf::ExpertOut,
                    Buf::ExpertWeights, "mlp.combine");
    if (c.post_norms) comb.hook = -1;
  } else {
    if (c.gated()) {
      b.matmul(HookKind::MlpPre, Buf::MlpPre, Buf::Normed, L.w_gate, nullptr, "mlp.W_gate");
      b.matmul(HookKind::MlpPreLinear, Buf::MlpPreLinear, Buf::Normed, L.w_up, L.b_up, "mlp.W_in");
      const OpKind act = c.mlp == MlpKind::GatedGelu   ? OpKind::GeluMul
                         : c.mlp == MlpKind::SwigluOai ? OpKind::SwigluOai
                                                       : OpKind::SiluMul;
      b.op(act, HookKind::MlpPost, Buf::MlpPost, Buf::MlpPre, Buf::MlpPreLinear, cat("mlp.", op_kind_name(act)));
    } else {
      b.matmul(HookKind::MlpPre, Buf::MlpPre, Buf::Normed, L.w_up, L.b_up, "mlp.W_in");
      b.op(OpKind::Gelu, HookKind::MlpPost, Buf::MlpPost, Buf::MlpPre, Buf::None, "mlp.gelu");
    }
    if (c.post_norms) {
      b.matmul_plain(Buf::MlpRaw, Buf::MlpPost, L.w_down, L.b_down, "mlp.W_out");
    } else {
      b.matmul(HookKind::MlpOut, Buf::MlpOut, Buf::MlpPost, L.w_down, L.b_down, "mlp.W_out");
    }
  }
  if (c.post_norms)
    b.norm(HookKind::Ln2PostScale, HookKind::MlpOut, Buf::MlpRaw, Buf::MlpOut, L.post_ffn_norm, nullptr, "ln2_post");
}

}  // namespace

const OpInfo& op_info(OpKind kind) {
  return kOps[static_cast<size_t>(kind)];
}

std::string_view op_kind_name(OpKind kind) {
  return op_info(kind).name;
}

Program lower(const Model& m) {
  const ModelConfig& c = m.config;
  Program p{{}, HookTable(c), {}};
  {
    Builder top(p, -1, "");
    if (c.arch == Arch::Gpt2) {
      top.op(OpKind::Embed, HookKind::Embed, Buf::Embed, Buf::None, Buf::None, "embed.W_E").w = &m.tok_embed;
      top.op(OpKind::PosEmbed, HookKind::PosEmbed, Buf::PosEmbed, Buf::None, Buf::None, "pos_embed.W_pos").w =
          &m.pos_embed;
      top.plain(OpKind::Add, Buf::Resid, Buf::Embed, Buf::PosEmbed, "embed + pos_embed");
    } else {
      Op& e = top.op(OpKind::Embed, HookKind::Embed, Buf::Resid, Buf::None, Buf::None, "embed.W_E");
      e.w = &m.tok_embed;
      e.scalar = c.embed_scale;
    }
  }
  for (int l = 0; l < static_cast<int>(c.n_layers); ++l) {
    const LayerWeights& L = m.layers[static_cast<size_t>(l)];
    Builder b(p, l, cat("blocks.", l, "."));
    b.op(OpKind::Mark, HookKind::ResidPre, Buf::Resid, Buf::None, Buf::None, "hook_resid_pre");
    b.norm(HookKind::Ln1Scale, HookKind::Ln1Normalized, Buf::Resid, Buf::Normed, L.ln1_w, L.ln1_b, "ln1");
    lower_attention(b, c, c.layers[static_cast<size_t>(l)], L);
    b.op(OpKind::Add, HookKind::ResidMid, Buf::Resid, Buf::Resid, Buf::AttnOut, "resid + attn_out");
    b.norm(HookKind::Ln2Scale, HookKind::Ln2Normalized, Buf::Resid, Buf::Normed, L.ln2_w, L.ln2_b, "ln2");
    lower_mlp(b, c, L);
    b.op(OpKind::Add, HookKind::ResidPost, Buf::Resid, Buf::Resid, Buf::MlpOut, "resid + mlp_out");
  }
  {
    Builder top(p, -1, "");
    top.norm(HookKind::LnFinalScale, HookKind::LnFinalNormalized, Buf::Resid, Buf::Normed, m.ln_final_w, m.ln_final_b,
             "ln_final");
    p.ops[p.ops.size() - 2].final_rows = true;
    p.ops.back().final_rows = true;
    if (c.final_softcap > 0.0f) {
      top.matmul_plain(Buf::Logits, Buf::Normed, m.unembed, nullptr, "unembed.W_U").final_rows = true;
      Op& cap = top.op(OpKind::SoftCap, HookKind::Logits, Buf::Logits, Buf::Logits, Buf::None, "unembed.soft_cap");
      cap.scalar = c.final_softcap;
      cap.final_rows = true;
    } else {
      top.matmul(HookKind::Logits, Buf::Logits, Buf::Normed, m.unembed, nullptr, "unembed.W_U").final_rows = true;
    }
  }

  p.hook_op.assign(static_cast<size_t>(p.hooks.size()), -1);
  for (size_t i = 0; i < p.ops.size(); ++i)
    if (p.ops[i].hook >= 0) p.hook_op[static_cast<size_t>(p.ops[i].hook)] = static_cast<int>(i);
  for (int h = 0; h < p.hooks.size(); ++h)
    LOUPE_ASSERT(p.hook_op[static_cast<size_t>(h)] >= 0, "hook ", p.hooks[h].name, " has no op");
  return p;
}

}  // namespace loupe
