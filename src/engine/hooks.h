// Hook points: the TransformerLens names, built once per model from one table. The engine
// refers to hooks by index and never builds name strings while it runs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/config.h"

namespace loupe {

enum class HookKind : uint8_t {
  Embed,
  PosEmbed,
  ResidPre,
  Ln1Scale,
  Ln1Normalized,
  Q,
  K,
  V,
  QNormed,
  KNormed,
  RotQ,
  RotK,
  AttnScores,
  Pattern,
  Z,
  Ln1PostScale,
  AttnOut,
  ResidMid,
  Ln2Scale,
  Ln2Normalized,
  MlpPre,
  MlpPreLinear,
  MlpPost,
  RouterLogits,
  ExpertIds,
  ExpertWeights,
  ExpertOut,
  Ln2PostScale,
  MlpOut,
  ResidPost,
  LnFinalScale,
  LnFinalNormalized,
  Logits,
};

struct HookPoint {
  std::string name;  // "blocks.3.attn.hook_pattern"
  HookKind kind;
  int layer;  // -1 outside the blocks
};
constexpr int kHookKindCount = static_cast<int>(HookKind::Logits) + 1;

// Whether a model of this config has the hook in that layer (layer ignored for top-level kinds).
bool hook_present(const ModelConfig& config, HookKind kind, int layer);
// The name of a hook kind inside its block ("attn.hook_pattern") or at top level ("hook_embed").
std::string_view hook_suffix(HookKind kind);
// The short form's stem: "pattern", "resid_post", "q", ... ("pattern3" names layer 3).
std::string_view hook_short_name(HookKind kind);
bool hook_is_per_layer(HookKind kind);

class HookTable {
 public:
  explicit HookTable(const ModelConfig& config);

  const std::vector<HookPoint>& points() const { return points_; }
  int size() const { return static_cast<int>(points_.size()); }
  const HookPoint& operator[](int id) const { return points_[static_cast<size_t>(id)]; }

  // Exact name -> id.
  std::optional<int> find(std::string_view name) const;
  // The id of a kind in a layer (layer ignored for top-level kinds); nullopt when the model
  // has no such hook (e.g. hook_pos_embed on a llama).
  std::optional<int> id(HookKind kind, int layer) const;
  // Resolves a name, a glob ("blocks.*.attn.hook_pattern", '*' and '?'), or a short form
  // ("pattern3", "resid_post", "q0") to hook ids in program order. Throws Error naming the
  // pattern when nothing matches, and the layer range when a layer is out of range.
  std::vector<int> resolve(std::string_view pattern) const;

 private:
  std::vector<HookPoint> points_;
  int n_layers_;
};

bool glob_match(std::string_view pattern, std::string_view text);

}  // namespace loupe
