// Bad files of the newer families: a missing or misshapen tensor, an expert count of zero, a
// window larger than the context, an unknown quant type id each get an error naming the key
// or tensor (never a crash, never a model that runs wrong).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <set>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/gguf_writer.h"
#include "model/synth.h"
#include "model/weights.h"
#include "test_support.h"

namespace loupe {
namespace {

namespace fs = std::filesystem;

struct Edit {
  std::function<bool(const std::string& key, GgufValue& v)> meta;                 // false drops the key
  std::function<bool(const std::string& name, std::vector<int64_t>& ne)> tensor;  // false drops the tensor
};

// Copies a GGUF file with metadata and tensors edited.
void rewrite(const std::string& src, const std::string& dst, const Edit& e) {
  GgufFile g = GgufFile::open(src);
  GgufWriter w;
  for (auto [key, v] : g.metadata())
    if (!e.meta || e.meta(key, v)) w.set(key, v);
  for (const auto& t : g.tensors()) {
    std::vector<int64_t> ne = t.ne;
    if (e.tensor && !e.tensor(t.name, ne)) continue;
    int64_t n = 1;
    for (int64_t d : ne) n *= d;
    std::vector<uint8_t> data(row_bytes(t.type, ne[0]) * static_cast<size_t>(n / ne[0]));
    std::memcpy(data.data(), t.data, std::min(data.size(), t.nbytes));
    w.add_tensor(t.name, t.type, ne, std::move(data));
  }
  w.write(dst);
}

class FamilyBadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string vocab = test::shared("models/stories260K-gguf/stories260K-f32.gguf");
    if (!fs::exists(vocab)) GTEST_SKIP();
    dir_ = test::temp_dir("family-bad");
    for (Arch a : {Arch::Gemma3, Arch::Qwen3Moe}) {
      SynthSpec s;
      s.arch = a;
      s.d_model = 32;
      s.n_layers = 2;
      s.n_heads = 2;
      s.n_ctx = 32;
      s.window = 4;
      s.n_experts = a == Arch::Qwen3Moe ? 4 : 0;
      s.n_experts_used = a == Arch::Qwen3Moe ? 2 : 0;
      s.vocab_path = vocab;
      write_synth_gguf(make_synth_model(s), s, path(a), nullptr);
    }
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::string path(Arch a) const { return dir_ + (a == Arch::Gemma3 ? "/gemma3.gguf" : "/moe.gguf"); }
  // The error loading an edited copy of the family's file.
  std::string error_of(Arch a, const Edit& e) {
    const std::string out = dir_ + "/bad.gguf";
    rewrite(path(a), out, e);
    try {
      load_model(out);
    } catch (const Error& err) {
      return err.what();
    }
    return "(loaded without error)";
  }
  std::string dir_;
};

TEST_F(FamilyBadInput, GoodFilesLoad) {
  EXPECT_NO_THROW(load_model(path(Arch::Gemma3)));
  EXPECT_NO_THROW(load_model(path(Arch::Qwen3Moe)));
}

TEST_F(FamilyBadInput, MissingTensorIsNamed) {
  const std::string e =
      error_of(Arch::Gemma3, {nullptr, [](const std::string& n, auto&) { return n != "blk.1.post_ffw_norm.weight"; }});
  EXPECT_NE(e.find("blk.1.post_ffw_norm.weight"), std::string::npos) << e;
  EXPECT_NE(e.find("missing"), std::string::npos) << e;
  const std::string q =
      error_of(Arch::Gemma3, {nullptr, [](const std::string& n, auto&) { return n != "blk.0.attn_k_norm.weight"; }});
  EXPECT_NE(q.find("blk.0.attn_k_norm.weight"), std::string::npos) << q;
}

TEST_F(FamilyBadInput, MisshapenTensorIsNamed) {
  const std::string e = error_of(Arch::Qwen3Moe, {nullptr, [](const std::string& n, std::vector<int64_t>& ne) {
                                                    if (n == "blk.1.ffn_up_exps.weight") ne[2] = 3;  // 3 experts, not 4
                                                    return true;
                                                  }});
  EXPECT_NE(e.find("blk.1.ffn_up_exps.weight"), std::string::npos) << e;
  EXPECT_NE(e.find("shape"), std::string::npos) << e;
}

TEST_F(FamilyBadInput, ZeroExpertsIsNamed) {
  const std::string e = error_of(Arch::Qwen3Moe, {[](const std::string& k, GgufValue& v) {
                                                    if (k == "qwen3moe.expert_count") v.u = v.i = 0;
                                                    return true;
                                                  },
                                                  nullptr});
  EXPECT_NE(e.find("qwen3moe.expert_count"), std::string::npos) << e;
  const std::string u = error_of(Arch::Qwen3Moe, {[](const std::string& k, GgufValue& v) {
                                                    if (k == "qwen3moe.expert_used_count") v.u = v.i = 9;
                                                    return true;
                                                  },
                                                  nullptr});
  EXPECT_NE(u.find("experts used per token 9"), std::string::npos) << u;
}

TEST_F(FamilyBadInput, WindowLargerThanContextIsNamed) {
  const std::string e = error_of(Arch::Gemma3, {[](const std::string& k, GgufValue& v) {
                                                  if (k == "gemma3.attention.sliding_window") v.u = v.i = 4096;
                                                  return true;
                                                },
                                                nullptr});
  EXPECT_NE(e.find("sliding window of 4096"), std::string::npos) << e;
  EXPECT_NE(e.find("context length 32"), std::string::npos) << e;
  const std::string m = error_of(
      Arch::Gemma3, {[](const std::string& k, GgufValue&) { return k != "gemma3.attention.sliding_window"; }, nullptr});
  EXPECT_NE(m.find("gemma3.attention.sliding_window"), std::string::npos) << m;
}

TEST_F(FamilyBadInput, UnknownQuantTypeIdIsNamed) {
  // Patch the type id of the first tensor's entry to 99 in a copy of the file.
  std::string bytes = test::read_file(path(Arch::Gemma3));
  const std::string name = "token_embd.weight";
  const size_t at = bytes.find(name);
  ASSERT_NE(at, std::string::npos);
  // name, n_dims (u32), ne (n_dims x u64), then the type (u32).
  uint32_t n_dims = 0;
  std::memcpy(&n_dims, bytes.data() + at + name.size(), 4);
  const size_t type_at = at + name.size() + 4 + 8 * n_dims;
  const uint32_t bad = 99;
  std::memcpy(bytes.data() + type_at, &bad, 4);
  const std::string out = dir_ + "/badtype.gguf";
  {
    FILE* f = std::fopen(out.c_str(), "wb");
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }
  try {
    load_model(out);
    FAIL() << "loaded a file with tensor type 99";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("99"), std::string::npos) << m;
    EXPECT_NE(m.find("token_embd.weight"), std::string::npos) << m;
  }
}

// `loupe model new` writes only files llama.cpp can load: families whose llama.cpp graph builds
// the query projection d_model wide refuse another head width, naming the flag.
TEST_F(FamilyBadInput, FixedHeadWidthFamiliesRefuseDHead) {
  for (Arch a : {Arch::Qwen2, Arch::Phi3, Arch::Gpt2}) {
    SynthSpec s;
    s.arch = a;
    s.d_model = 32;
    s.n_layers = 1;
    s.n_heads = 2;
    s.d_head = 8;
    s.vocab_path = test::shared("models/stories260K-gguf/stories260K-f32.gguf");
    try {
      make_synth_model(s);
      ADD_FAILURE() << arch_name(a) << " took --d-head 8 with 2 heads of a 32-wide model";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--d-head"), std::string::npos) << e.what();
    }
    s.d_head = 16;
    EXPECT_NO_THROW(make_synth_model(s)) << arch_name(a);
  }
}

// Quantised synthetic files keep what llama-quantize keeps float: biases (the experts' are 2-D)
// and the MoE router.
TEST_F(FamilyBadInput, QuantisedFilesKeepBiasesAndRouterFloat) {
  SynthSpec s;
  s.arch = Arch::GptOss;
  s.d_model = 64;
  s.n_layers = 2;
  s.n_heads = 2;
  s.n_ctx = 32;
  s.window = 4;
  s.n_experts = 4;
  s.n_experts_used = 2;
  s.type = DType::MXFP4;
  s.vocab_path = test::shared("models/stories260K-gguf/stories260K-f32.gguf");
  const std::string out = dir_ + "/oss-mxfp4.gguf";
  write_synth_gguf(make_synth_model(s), s, out, nullptr);
  GgufFile g = GgufFile::open(out);
  int experts = 0;
  for (const auto& t : g.tensors()) {
    const bool keep = t.name.ends_with(".bias") || t.name.find("ffn_gate_inp") != std::string::npos;
    if (keep) {
      EXPECT_EQ(t.type, DType::F32) << t.name;
    }
    if (t.name.find("_exps.weight") != std::string::npos) {
      EXPECT_EQ(t.type, DType::MXFP4) << t.name;
      ++experts;
    }
  }
  EXPECT_EQ(experts, 6);
  EXPECT_NO_THROW(load_model(out));
}

// llama-quantize's Q4_K_M rule (use_more_bits) on 16 layers: layers 0, 1, 4, 7, 10, 13, 14, 15
// get Q6_K attn_v and ffn_down, the rest Q4_K; output.weight Q6_K; token_embd the base type.
TEST(QuantMix, KmMixFollowsLlamaQuantize) {
  const std::set<int> more = {0, 1, 4, 7, 10, 13, 14, 15};
  for (int i = 0; i < 16; ++i) {
    const DType want = more.count(i) ? DType::Q6_K : DType::Q4_K;
    EXPECT_EQ(quant_mix_type("blk." + std::to_string(i) + ".attn_v.weight", 16, DType::Q4_K), want) << i;
    EXPECT_EQ(quant_mix_type("blk." + std::to_string(i) + ".ffn_down.weight", 16, DType::Q4_K), want) << i;
    EXPECT_EQ(quant_mix_type("blk." + std::to_string(i) + ".attn_q.weight", 16, DType::Q4_K), DType::Q4_K) << i;
    EXPECT_EQ(quant_mix_type("blk." + std::to_string(i) + ".ffn_up.weight", 16, DType::Q4_K), DType::Q4_K) << i;
  }
  EXPECT_EQ(quant_mix_type("output.weight", 16, DType::Q5_K), DType::Q6_K);
  EXPECT_EQ(quant_mix_type("token_embd.weight", 16, DType::Q5_K), DType::Q5_K);
}

TEST_F(FamilyBadInput, KmMixFileLoadsWithItsTypes) {
  SynthSpec s;
  s.d_model = 256;
  s.n_layers = 3;
  s.n_heads = 4;
  s.d_mlp = 512;
  s.n_ctx = 32;
  s.type = DType::Q4_K;
  s.k_mix = true;
  s.vocab_path = test::shared("models/stories260K-gguf/stories260K-f32.gguf");
  const std::string out = dir_ + "/llama-q4_k_m.gguf";
  write_synth_gguf(make_synth_model(s), s, out, nullptr);
  GgufFile g = GgufFile::open(out);
  int q6 = 0;
  for (const auto& t : g.tensors())
    if (t.type == DType::Q6_K) ++q6;
  // n = 3: n / 8 = 0, so layers with i % 3 == 2 (layer 2) and i >= 7 * 3 / 8 = 2: layer 2 only.
  EXPECT_EQ(g.find_tensor("blk.2.attn_v.weight")->type, DType::Q6_K);
  EXPECT_EQ(g.find_tensor("blk.0.ffn_down.weight")->type, DType::Q4_K);
  EXPECT_EQ(g.find_tensor("blk.0.attn_q.weight")->type, DType::Q4_K);
  EXPECT_EQ(q6, 2 + (g.find_tensor("output.weight") != nullptr ? 1 : 0));
  EXPECT_NO_THROW(load_model(out));
}

}  // namespace
}  // namespace loupe
