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
  Embed,       // out[i] = W_E[token i] (* scalar when set: Gemma's sqrt(d_model))
  PosEmbed,    // out[i] = W_pos[pos0 + i]
  Mark,        // no computation: exposes a buffer as a hook point (resid_pre)
  Add,         // out = in0 + in1
  NormScale,   // out[i] = rms or std of in0[i] (+eps), the hook_scale of TransformerLens
  NormApply,   // out = (in0 [- mean]) / in1 * gamma (+ beta)
  HeadNorm,    // out = rms-normalised in0 over each head of d_head values, * gamma [d_head]
  MatMul,      // out = in0 W^T (+ bias)
  Rope,        // out = rotate(in0) by position (the layer's base; none past n_rot)
  KvStore,     // cache[layer][slot(pos0 + i)] = in0[i] (keys), in1[i] (values)
  AttnScores,  // out[h, i, j] = q_i . k_j * scale (soft-capped), -inf outside the causal window
  Softmax,     // out[h, i, :] = softmax(in0[h, i, :]) (with the head's sink in the denominator)
  AttnMix,     // out[i, h] = sum_j in0[h, i, j] v_j
  Gelu,        // out = gelu_tanh(in0)
  SiluMul,     // out = silu(in0) * in1
  GeluMul,     // out = gelu_tanh(in0) * in1
  SwigluOai,   // out = min(in0, 7) sigmoid(1.702 min(in0, 7)) (clamp(in1, -7, 7) + 1)
  MoeSelect,   // out[i, :] = ids of the top k experts of router logits in0[i] (as floats)
  MoeWeights,  // out[i, :] = gate weights of experts in1[i] from router logits in0[i]
  MoeExperts,  // out[i, j] = expert in1[i, j] applied to in0[i] ([pos, k, d_model])
  MoeCombine,  // out[i] = sum_j in1[i, j] in0[i, j]
  SoftCap,     // out = scalar tanh(in0 / scalar) (Gemma 2's final logits; in place)
};
constexpr int kOpKindCount = static_cast<int>(OpKind::SoftCap) + 1;

// What every layer of the engine needs to know about an op kind, in one table: the
// interpreter, the profiler and the debugger's listing and input checks read it.
struct OpInfo {
  OpKind kind;
  std::string_view name;  // "matmul", as `list` and the profiler print it
  bool reads_keys;        // reads the layer's K cache (besides in0 / in1)
  bool reads_values;      // reads the layer's V cache
  bool masks_with_inf;    // its output holds -inf by design (masked scores): not a fault
};
const OpInfo& op_info(OpKind kind);
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
  QNorm,
  KNorm,
  RotQ,
  RotK,
  Scores,
  Pattern,
  Z,
  AttnRaw,  // W_O output before a post-norm (Gemma)
  AttnOut,
  MlpPre,
  MlpPreLinear,
  MlpPost,
  Router,         // [pos, n_experts]
  ExpertIds,      // [pos, k]
  ExpertWeights,  // [pos, k]
  ExpertOut,      // [pos, k, d_model]
  MlpRaw,         // W_down output before a post-norm
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
  const float* gamma = nullptr;  // NormApply, HeadNorm
  const float* beta = nullptr;   // NormApply (LayerNorm)
  bool final_rows = false;       // runs on the last row only unless every position's logits are wanted
  std::string label;             // what `list` shows: "blocks.3.attn.W_Q"
  const float* aux = nullptr;    // Softmax: the heads' sink logits
  float scalar = 0.0f;           // Embed: scale; SoftCap: the cap
};

struct Program {
  std::vector<Op> ops;
  HookTable hooks;
  std::vector<int> hook_op;  // hook id -> index of the op that produces it
};

Program lower(const Model& model);

}  // namespace loupe
