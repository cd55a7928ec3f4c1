#include "engine/program.h"

#include "core/error.h"

namespace loupe {

std::string_view op_kind_name(OpKind kind) {
  switch (kind) {
    case OpKind::Embed: return "embed";
    case OpKind::PosEmbed: return "pos_embed";
    case OpKind::Mark: return "mark";
    case OpKind::Add: return "add";
    case OpKind::NormScale: return "norm_scale";
    case OpKind::NormApply: return "norm_apply";
    case OpKind::MatMul: return "matmul";
    case OpKind::Rope: return "rope";
    case OpKind::KvStore: return "kv_store";
    case OpKind::AttnScores: return "attn_scores";
    case OpKind::Softmax: return "softmax";
    case OpKind::AttnMix: return "attn_mix";
    case OpKind::Gelu: return "gelu";
    case OpKind::SiluMul: return "silu_mul";
  }
  return "?";
}

Program lower(const Model& m) {
  const ModelConfig& c = m.config;
  Program p{{}, HookTable(c), {}};
  auto hook = [&](HookKind k, int layer) {
    auto id = p.hooks.id(k, layer);
    return id ? *id : -1;
  };
  auto emit = [&](Op op) { p.ops.push_back(std::move(op)); };
  const bool gpt2 = c.arch == Arch::Gpt2;

  if (gpt2) {
    emit({OpKind::Embed, -1, hook(HookKind::Embed, -1), Buf::Embed, Buf::None, Buf::None, &m.tok_embed, nullptr,
          nullptr, nullptr, false, "embed.W_E"});
    emit({OpKind::PosEmbed, -1, hook(HookKind::PosEmbed, -1), Buf::PosEmbed, Buf::None, Buf::None, &m.pos_embed,
          nullptr, nullptr, nullptr, false, "pos_embed.W_pos"});
    emit({OpKind::Add, -1, -1, Buf::Resid, Buf::Embed, Buf::PosEmbed, nullptr, nullptr, nullptr, nullptr, false,
          "embed + pos_embed"});
  } else {
    emit({OpKind::Embed, -1, hook(HookKind::Embed, -1), Buf::Resid, Buf::None, Buf::None, &m.tok_embed, nullptr,
          nullptr, nullptr, false, "embed.W_E"});
  }
  for (int l = 0; l < static_cast<int>(c.n_layers); ++l) {
    const LayerWeights& L = m.layers[static_cast<size_t>(l)];
    const std::string b = cat("blocks.", l, ".");
    auto op = [&](OpKind kind, HookKind hk, Buf out, Buf in0, Buf in1, const std::string& label) {
      Op o;
      o.kind = kind;
      o.layer = l;
      o.hook = hook(hk, l);
      o.out = out;
      o.in0 = in0;
      o.in1 = in1;
      o.label = b + label;
      return o;
    };
    emit(op(OpKind::Mark, HookKind::ResidPre, Buf::Resid, Buf::None, Buf::None, "hook_resid_pre"));
    emit(op(OpKind::NormScale, HookKind::Ln1Scale, Buf::Scale, Buf::Resid, Buf::None, "ln1.scale"));
    Op n1 = op(OpKind::NormApply, HookKind::Ln1Normalized, Buf::Normed, Buf::Resid, Buf::Scale, "ln1.w");
    n1.gamma = L.ln1_w;
    n1.beta = L.ln1_b;
    emit(n1);
    auto mm = [&](HookKind hk, Buf out, Buf in, const Weight& w, const float* bias, const char* label) {
      Op o = op(OpKind::MatMul, hk, out, in, Buf::None, label);
      o.w = &w;
      o.bias = bias;
      emit(o);
    };
    mm(HookKind::Q, Buf::Q, Buf::Normed, L.wq, L.bq, "attn.W_Q");
    mm(HookKind::K, Buf::K, Buf::Normed, L.wk, L.bk, "attn.W_K");
    mm(HookKind::V, Buf::V, Buf::Normed, L.wv, L.bv, "attn.W_V");
    Buf q = Buf::Q, k = Buf::K;
    if (c.rope != RopeStyle::None) {
      emit(op(OpKind::Rope, HookKind::RotQ, Buf::RotQ, Buf::Q, Buf::None, "attn.rope_q"));
      emit(op(OpKind::Rope, HookKind::RotK, Buf::RotK, Buf::K, Buf::None, "attn.rope_k"));
      q = Buf::RotQ;
      k = Buf::RotK;
    }
    Op store = op(OpKind::KvStore, HookKind::Embed, Buf::None, k, Buf::V, "attn.kv_cache");
    store.hook = -1;
    emit(store);
    emit(op(OpKind::AttnScores, HookKind::AttnScores, Buf::Scores, q, Buf::None, "attn.scores"));
    emit(op(OpKind::Softmax, HookKind::Pattern, Buf::Pattern, Buf::Scores, Buf::None, "attn.softmax"));
    emit(op(OpKind::AttnMix, HookKind::Z, Buf::Z, Buf::Pattern, Buf::None, "attn.mix_v"));
    mm(HookKind::AttnOut, Buf::AttnOut, Buf::Z, L.wo, L.bo, "attn.W_O");
    emit(op(OpKind::Add, HookKind::ResidMid, Buf::Resid, Buf::Resid, Buf::AttnOut, "resid + attn_out"));
    emit(op(OpKind::NormScale, HookKind::Ln2Scale, Buf::Scale, Buf::Resid, Buf::None, "ln2.scale"));
    Op n2 = op(OpKind::NormApply, HookKind::Ln2Normalized, Buf::Normed, Buf::Resid, Buf::Scale, "ln2.w");
    n2.gamma = L.ln2_w;
    n2.beta = L.ln2_b;
    emit(n2);
    if (c.mlp == MlpKind::GatedSilu) {
      mm(HookKind::MlpPre, Buf::MlpPre, Buf::Normed, L.w_gate, nullptr, "mlp.W_gate");
      mm(HookKind::MlpPreLinear, Buf::MlpPreLinear, Buf::Normed, L.w_up, L.b_up, "mlp.W_in");
      emit(op(OpKind::SiluMul, HookKind::MlpPost, Buf::MlpPost, Buf::MlpPre, Buf::MlpPreLinear, "mlp.silu_mul"));
    } else {
      mm(HookKind::MlpPre, Buf::MlpPre, Buf::Normed, L.w_up, L.b_up, "mlp.W_in");
      emit(op(OpKind::Gelu, HookKind::MlpPost, Buf::MlpPost, Buf::MlpPre, Buf::None, "mlp.gelu"));
    }
    mm(HookKind::MlpOut, Buf::MlpOut, Buf::MlpPost, L.w_down, L.b_down, "mlp.W_out");
    emit(op(OpKind::Add, HookKind::ResidPost, Buf::Resid, Buf::Resid, Buf::MlpOut, "resid + mlp_out"));
  }
  Op fs{OpKind::NormScale, -1,         hook(HookKind::LnFinalScale, -1),
        Buf::Scale,        Buf::Resid, Buf::None,
        nullptr,           nullptr,    nullptr,
        nullptr,           true,       "ln_final.scale"};
  emit(fs);
  Op fa{OpKind::NormApply, -1,         hook(HookKind::LnFinalNormalized, -1),
        Buf::Normed,       Buf::Resid, Buf::Scale,
        nullptr,           nullptr,    m.ln_final_w,
        m.ln_final_b,      true,       "ln_final.w"};
  emit(fa);
  Op un{OpKind::MatMul, -1,          hook(HookKind::Logits, -1),
        Buf::Logits,    Buf::Normed, Buf::None,
        &m.unembed,     nullptr,     nullptr,
        nullptr,        true,        "unembed.W_U"};
  emit(un);

  p.hook_op.assign(static_cast<size_t>(p.hooks.size()), -1);
  for (size_t i = 0; i < p.ops.size(); ++i)
    if (p.ops[i].hook >= 0) p.hook_op[static_cast<size_t>(p.ops[i].hook)] = static_cast<int>(i);
  for (int h = 0; h < p.hooks.size(); ++h)
    LOUPE_ASSERT(p.hook_op[static_cast<size_t>(h)] >= 0, "hook ", p.hooks[h].name, " has no op");
  return p;
}

}  // namespace loupe
