#include "engine/hooks.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace loupe {
namespace {

ModelConfig llama(int layers) {
  ModelConfig c;
  c.d_model = 64;
  c.n_layers = layers;
  c.n_heads = 8;
  c.n_kv_heads = 4;
  c.d_head = 8;
  c.d_mlp = 172;
  c.d_vocab = 512;
  c.n_ctx = 512;
  return c;
}

std::vector<std::string> names(const HookTable& t, const std::vector<int>& ids) {
  std::vector<std::string> out;
  for (int id : ids) out.push_back(t[id].name);
  return out;
}

TEST(Hooks, GlobMatch) {
  EXPECT_TRUE(glob_match("blocks.*.hook_resid_post", "blocks.12.hook_resid_post"));
  EXPECT_TRUE(glob_match("*", "anything"));
  EXPECT_TRUE(glob_match("blocks.?.attn.*", "blocks.3.attn.hook_q"));
  EXPECT_FALSE(glob_match("blocks.?.attn.*", "blocks.13.attn.hook_q"));
  EXPECT_FALSE(glob_match("hook_embed", "hook_embeds"));
  EXPECT_TRUE(glob_match("*embed", "hook_pos_embed"));
}

TEST(Hooks, ResolveNamesGlobsAndShortForms) {
  HookTable t(llama(3));
  EXPECT_EQ(names(t, t.resolve("blocks.1.attn.hook_pattern")), std::vector<std::string>{"blocks.1.attn.hook_pattern"});
  EXPECT_EQ(names(t, t.resolve("pattern2")), std::vector<std::string>{"blocks.2.attn.hook_pattern"});
  EXPECT_EQ(
      names(t, t.resolve("resid_post")),
      (std::vector<std::string>{"blocks.0.hook_resid_post", "blocks.1.hook_resid_post", "blocks.2.hook_resid_post"}));
  EXPECT_EQ(names(t, t.resolve("blocks.*.hook_resid_mid")).size(), 3u);
  EXPECT_EQ(names(t, t.resolve("logits")), std::vector<std::string>{"unembed.hook_logits"});
  EXPECT_EQ(names(t, t.resolve("q0")), std::vector<std::string>{"blocks.0.attn.hook_q"});
  EXPECT_EQ(t.resolve("blocks.0.*").size(), 20u);
  // Layer norms in TransformerLens's form, the sublayer last.
  EXPECT_EQ(names(t, t.resolve("normalized2ln1")), std::vector<std::string>{"blocks.2.ln1.hook_normalized"});
  EXPECT_EQ(names(t, t.resolve("scale0ln2")), std::vector<std::string>{"blocks.0.ln2.hook_scale"});
  EXPECT_EQ(names(t, t.resolve("normalizedln2")).size(), 3u);
  EXPECT_EQ(names(t, t.resolve("normalized_final")), std::vector<std::string>{"ln_final.hook_normalized"});
}

TEST(Hooks, ResolveErrorsNameTheProblem) {
  HookTable t(llama(3));
  auto message = [&](const std::string& p) {
    try {
      t.resolve(p);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message("blocks.40.attn.hook_pattern"),
            "blocks.40.attn.hook_pattern: layer 40 out of range (model has 3 layers)");
  EXPECT_EQ(message("pattern7"), "pattern7: layer 7 out of range (model has 3 layers)");
  EXPECT_NE(message("hook_nonsense").find("unknown hook point"), std::string::npos);
  EXPECT_NE(message("blocks.*.hook_nothing").find("no hook point matches"), std::string::npos);
  EXPECT_NE(message("pos_embed").find("no 'hook_pos_embed' hook"), std::string::npos);
  EXPECT_NE(message("logits3").find("takes no layer number"), std::string::npos);
}

TEST(Hooks, Gpt2HasPositionsAndNoRope) {
  ModelConfig c = llama(2);
  c.arch = Arch::Gpt2;
  c.rope = RopeStyle::None;
  c.mlp = MlpKind::Gelu;
  HookTable t(c);
  EXPECT_TRUE(t.find("hook_pos_embed").has_value());
  EXPECT_FALSE(t.find("blocks.0.attn.hook_rot_q").has_value());
  EXPECT_FALSE(t.find("blocks.0.mlp.hook_pre_linear").has_value());
  EXPECT_EQ(t[1].name, "hook_pos_embed");
}

}  // namespace
}  // namespace loupe
