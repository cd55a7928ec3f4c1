#include "engine/hooks.h"

#include <array>
#include <cctype>

#include "core/error.h"
#include "core/suggest.h"

namespace loupe {
namespace {

struct KindInfo {
  HookKind kind;
  std::string_view suffix;
  std::string_view short_name;
  bool per_layer;
};

// The one table of hook points, in program order within a block.
constexpr std::array<KindInfo, kHookKindCount> kKinds = {{
    {HookKind::Embed, "hook_embed", "embed", false},
    {HookKind::PosEmbed, "hook_pos_embed", "pos_embed", false},
    {HookKind::ResidPre, "hook_resid_pre", "resid_pre", true},
    {HookKind::Ln1Scale, "ln1.hook_scale", "scaleln1", true},
    {HookKind::Ln1Normalized, "ln1.hook_normalized", "normalizedln1", true},
    {HookKind::Q, "attn.hook_q", "q", true},
    {HookKind::K, "attn.hook_k", "k", true},
    {HookKind::V, "attn.hook_v", "v", true},
    {HookKind::QNormed, "attn.hook_q_normed", "q_normed", true},
    {HookKind::KNormed, "attn.hook_k_normed", "k_normed", true},
    {HookKind::RotQ, "attn.hook_rot_q", "rot_q", true},
    {HookKind::RotK, "attn.hook_rot_k", "rot_k", true},
    {HookKind::AttnScores, "attn.hook_attn_scores", "attn_scores", true},
    {HookKind::Pattern, "attn.hook_pattern", "pattern", true},
    {HookKind::Z, "attn.hook_z", "z", true},
    {HookKind::Ln1PostScale, "ln1_post.hook_scale", "scaleln1_post", true},
    {HookKind::AttnOut, "hook_attn_out", "attn_out", true},
    {HookKind::ResidMid, "hook_resid_mid", "resid_mid", true},
    {HookKind::Ln2Scale, "ln2.hook_scale", "scaleln2", true},
    {HookKind::Ln2Normalized, "ln2.hook_normalized", "normalizedln2", true},
    {HookKind::MlpPre, "mlp.hook_pre", "pre", true},
    {HookKind::MlpPreLinear, "mlp.hook_pre_linear", "pre_linear", true},
    {HookKind::MlpPost, "mlp.hook_post", "post", true},
    {HookKind::RouterLogits, "mlp.hook_router_logits", "router_logits", true},
    {HookKind::ExpertIds, "mlp.hook_expert_ids", "expert_ids", true},
    {HookKind::ExpertWeights, "mlp.hook_expert_weights", "expert_weights", true},
    {HookKind::ExpertOut, "mlp.hook_expert_out", "expert_out", true},
    {HookKind::Ln2PostScale, "ln2_post.hook_scale", "scaleln2_post", true},
    {HookKind::MlpOut, "hook_mlp_out", "mlp_out", true},
    {HookKind::ResidPost, "hook_resid_post", "resid_post", true},
    {HookKind::LnFinalScale, "ln_final.hook_scale", "scale_final", false},
    {HookKind::LnFinalNormalized, "ln_final.hook_normalized", "normalized_final", false},
    {HookKind::Logits, "unembed.hook_logits", "logits", false},
}};

const KindInfo& info(HookKind k) {
  return kKinds[static_cast<size_t>(k)];
}

constexpr bool table_in_enum_order() {
  for (size_t i = 0; i < kKinds.size(); ++i)
    if (static_cast<size_t>(kKinds[i].kind) != i) return false;
  return true;
}
static_assert(table_in_enum_order());

}  // namespace

bool hook_present(const ModelConfig& c, HookKind k, int layer) {
  const bool rope_here = c.rope != RopeStyle::None && (layer < 0 || static_cast<size_t>(layer) >= c.layers.size() ||
                                                       c.layers[static_cast<size_t>(layer)].rope);
  switch (k) {
    case HookKind::PosEmbed: return c.arch == Arch::Gpt2;
    case HookKind::RotQ:
    case HookKind::RotK: return rope_here;
    case HookKind::QNormed:
    case HookKind::KNormed: return c.qk_norm;
    case HookKind::Ln1PostScale:
    case HookKind::Ln2PostScale: return c.post_norms;
    case HookKind::MlpPre:
    case HookKind::MlpPost: return !c.moe();
    case HookKind::MlpPreLinear: return c.gated() && !c.moe();
    case HookKind::RouterLogits:
    case HookKind::ExpertIds:
    case HookKind::ExpertWeights:
    case HookKind::ExpertOut: return c.moe();
    default: return true;
  }
}

std::string_view hook_suffix(HookKind kind) {
  return info(kind).suffix;
}
std::string_view hook_short_name(HookKind kind) {
  return info(kind).short_name;
}
bool hook_is_per_layer(HookKind kind) {
  return info(kind).per_layer;
}

HookTable::HookTable(const ModelConfig& c) : n_layers_(static_cast<int>(c.n_layers)) {
  auto add = [&](HookKind k, int layer) {
    if (!hook_present(c, k, layer)) return;
    std::string name = layer < 0 ? std::string(info(k).suffix) : cat("blocks.", layer, ".", info(k).suffix);
    points_.push_back({std::move(name), k, layer});
  };
  add(HookKind::Embed, -1);
  add(HookKind::PosEmbed, -1);
  for (int l = 0; l < n_layers_; ++l)
    for (const auto& k : kKinds)
      if (k.per_layer) add(k.kind, l);
  add(HookKind::LnFinalScale, -1);
  add(HookKind::LnFinalNormalized, -1);
  add(HookKind::Logits, -1);
}

std::optional<int> HookTable::find(std::string_view name) const {
  for (size_t i = 0; i < points_.size(); ++i)
    if (points_[i].name == name) return static_cast<int>(i);
  return std::nullopt;
}

std::optional<int> HookTable::id(HookKind kind, int layer) const {
  for (size_t i = 0; i < points_.size(); ++i)
    if (points_[i].kind == kind && (points_[i].layer == layer || !info(kind).per_layer)) return static_cast<int>(i);
  return std::nullopt;
}

bool glob_match(std::string_view p, std::string_view t) {
  size_t pi = 0, ti = 0, star = std::string_view::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == t[ti])) {
      ++pi;
      ++ti;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ti;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

std::vector<int> HookTable::resolve(std::string_view pattern) const {
  std::vector<int> out;
  if (pattern.empty()) fail("hook pattern is empty");
  if (auto exact = find(pattern)) return {*exact};
  // blocks.N.… with N out of range gets its own message.
  if (pattern.substr(0, 7) == "blocks.") {
    size_t dot = pattern.find('.', 7);
    std::string_view num = pattern.substr(7, dot == std::string_view::npos ? std::string_view::npos : dot - 7);
    if (!num.empty() && num.find_first_not_of("0123456789") == std::string_view::npos) {
      long layer = std::stol(std::string(num.substr(0, 9)));
      if (layer >= n_layers_) fail(pattern, ": layer ", layer, " out of range (model has ", n_layers_, " layers)");
    }
  }
  if (pattern.find_first_of("*?") != std::string_view::npos) {
    for (size_t i = 0; i < points_.size(); ++i)
      if (glob_match(pattern, points_[i].name)) out.push_back(static_cast<int>(i));
    if (out.empty()) fail(pattern, ": no hook point matches this pattern");
    return out;
  }
  // Short form: stem with an optional layer number ("pattern3", "resid_post", "logits"); the
  // layer norms as TransformerLens writes them, the sublayer last ("normalized3ln1", "scaleln2",
  // "scale3ln1_post").
  std::string_view body = pattern;
  std::string_view sublayer;
  for (std::string_view sub : {"ln1_post", "ln2_post", "ln1", "ln2"})
    if (sublayer.empty() && body.size() > sub.size() && body.ends_with(sub)) {
      sublayer = body.substr(body.size() - sub.size());
      body.remove_suffix(sub.size());
    }
  size_t digits = body.size();
  while (digits > 0 && std::isdigit(static_cast<unsigned char>(body[digits - 1]))) --digits;
  const std::string stem = cat(body.substr(0, digits), sublayer);
  std::string_view num = body.substr(digits);
  for (const auto& k : kKinds) {
    if (k.short_name != stem) continue;
    if (num.empty() || !k.per_layer) {
      if (!num.empty()) fail(pattern, ": '", stem, "' is not a per-layer hook and takes no layer number");
      for (size_t i = 0; i < points_.size(); ++i)
        if (points_[i].kind == k.kind) out.push_back(static_cast<int>(i));
    } else {
      long layer = num.size() > 9 ? n_layers_ : std::stol(std::string(num));
      if (layer >= n_layers_) fail(pattern, ": layer ", layer, " out of range (model has ", n_layers_, " layers)");
      if (auto i = id(k.kind, static_cast<int>(layer))) out.push_back(*i);
    }
    if (out.empty()) fail(pattern, ": this model has no '", k.suffix, "' hook");
    return out;
  }
  std::vector<std::string> names;
  names.reserve(points_.size() + std::size(kKinds));
  for (const HookPoint& p : points_) names.push_back(p.name);
  for (const auto& k : kKinds) names.emplace_back(k.short_name);
  std::string near = did_you_mean(pattern, names);
  fail(pattern, ": unknown hook point", near.empty() ? near : near.substr(0, near.size() - 1) + ";",
       near.empty() ? " (try" : " or try",
       " 'loupe info MODEL --hooks', a glob like 'blocks.*.hook_resid_post', or a short form like 'pattern0')");
}

}  // namespace loupe
