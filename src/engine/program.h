// A model lowered once into a flat program of named ops. Each op writes one buffer; an op that
// is a hook point names it, so observers see exactly the tensor TransformerLens would show.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/hooks.h"
#include "model/weights.h"

namespace loupe {

enum class OpKind : uint8_t {
  Embed,       // out[i] = W_E[token i]
  PosEmbed,    // out[i] = W_pos[pos0 + i]
  Mark,        // no computation: exposes a buffer as a hook point (resid_pre)
  Add,         // out = in0 + in1
  NormScale,   // out[i] = rms or std of in0[i] (+eps), the hook_scale of TransformerLens
  NormApply,   // out = (in0 [- mean]) / in1 * gamma (+ beta)
  MatMul,      // out = in0 W^T (+ bias)
  Rope,        // out = rotate(in0) by position
  KvStore,     // cache[layer][pos0 + i] = in0[i] (keys), in1[i] (values)
  AttnScores,  // out[h, i, j] = q_i . k_j / sqrt(d_head), -inf for j > pos0 + i
  Softmax,     // out[h, i, :] = softmax(in0[h, i, :])
  AttnMix,     // out[i, h] = sum_j in0[h, i, j] v_j
  Gelu,        // out = gelu_tanh(in0)
  SiluMul,     // out = silu(in0) * in1
};

std::string_view op_kind_name(OpKind kind);

// Activation buffers, reused by every layer. Widths per position are in Interpreter.
enum class Buf : uint8_t {
  Resid,
  Embed,
  PosEmbed,
  Scale,
  Normed,
  Q,
  K,
  V,
  RotQ,
  RotK,
  Scores,
  Pattern,
  Z,
  AttnOut,
  MlpPre,
  MlpPreLinear,
  MlpPost,
  MlpOut,
  Logits,
  None,
};
constexpr int kBufCount = static_cast<int>(Buf::None);

struct Op {
  OpKind kind = OpKind::Mark;
  int layer = -1;
  int hook = -1;  // hook id of the output tensor; -1 when it is not a hook point
  Buf out = Buf::None;
  Buf in0 = Buf::None;
  Buf in1 = Buf::None;
  const Weight* w = nullptr;     // MatMul, Embed, PosEmbed
  const float* bias = nullptr;   // MatMul
  const float* gamma = nullptr;  // NormApply
  const float* beta = nullptr;   // NormApply (LayerNorm)
  bool final_rows = false;       // runs on the last row only unless every position's logits are wanted
  std::string label;             // what `list` shows: "blocks.3.attn.W_Q"
};

struct Program {
  std::vector<Op> ops;
  HookTable hooks;
  std::vector<int> hook_op;  // hook id -> index of the op that produces it
};

Program lower(const Model& model);

}  // namespace loupe
