// Format variants built from the stories260K files: sharded safetensors, architectures that
// share llama's math (Mistral, Qwen2 with zero biases), Llama-3 rope scaling, llama2.c's
// untied classifier and its int8 group rule. Each must reproduce run.c's logits.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "engine/driver.h"
#include "engine/rope.h"
#include "model/weights.h"
#include "test_support.h"

namespace loupe {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::shared;

std::vector<int32_t> ref_tokens() {
  auto j = json::parse(test::read_file(shared("reference/stories260K/runc_greedy_once_upon_a_time_n64.json")));
  return j["input_tokens"].get<std::vector<int32_t>>();
}

double max_diff_to_reference(const std::string& model_path) {
  auto m = load_model(model_path);
  auto tokens = ref_tokens();
  auto ref = test::read_f32(shared("reference/stories260K/runc_greedy_once_upon_a_time_n64.logits.f32"));
  Interpreter interp(*m, RunOptions{2, 0, 256});
  std::vector<float> got(tokens.size() * 512);
  forward(interp, tokens, true,
          [&](const float* l, int64_t rows, int64_t first) { std::copy_n(l, rows * 512, got.data() + first * 512); });
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, static_cast<double>(std::fabs(got[i] - ref[i])));
  return worst;
}

struct SafeTensor {
  std::string name;
  json entry;
  std::string bytes;
};

std::vector<SafeTensor> read_safetensors(const std::string& path) {
  std::string raw = test::read_file(path);
  uint64_t n;
  std::memcpy(&n, raw.data(), 8);
  json h = json::parse(raw.substr(8, n));
  std::vector<SafeTensor> out;
  for (auto it = h.begin(); it != h.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    auto off = it.value()["data_offsets"];
    out.push_back(
        {it.key(), it.value(), raw.substr(8 + n + off[0].get<size_t>(), off[1].get<size_t>() - off[0].get<size_t>())});
  }
  return out;
}

void write_safetensors(const std::string& path, const std::vector<SafeTensor>& tensors) {
  json h = json::object();
  size_t off = 0;
  std::string data;
  for (const auto& t : tensors) {
    json e = t.entry;
    e["data_offsets"] = {off, off + t.bytes.size()};
    h[t.name] = e;
    off += t.bytes.size();
    data += t.bytes;
  }
  std::string hs = h.dump();
  hs.append((8 - hs.size() % 8) % 8, ' ');  // as safetensors writers do: data 8-byte aligned
  uint64_t n = hs.size();
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(&n), 8);
  f << hs << data;
}

// A copy of stories260K-hf with config.json edited by `edit` and tensors by `more`.
std::string hf_variant(const std::string& tag, const std::function<void(json&)>& edit,
                       const std::function<void(std::vector<SafeTensor>&)>& more = nullptr) {
  const std::string dir = test::temp_dir(tag);
  json cfg = json::parse(test::read_file(shared("models/stories260K-hf/config.json")));
  edit(cfg);
  std::ofstream(dir + "/config.json") << cfg.dump(2);
  auto tensors = read_safetensors(shared("models/stories260K-hf/model.safetensors"));
  if (more) more(tensors);
  write_safetensors(dir + "/model.safetensors", tensors);
  fs::copy_file(shared("models/stories260K-hf/tokenizer.model"), dir + "/tokenizer.model");
  return dir;
}

TEST(Formats, ShardedSafetensorsWithIndex) {
  const std::string dir = test::temp_dir("shards");
  fs::copy_file(shared("models/stories260K-hf/config.json"), dir + "/config.json");
  auto tensors = read_safetensors(shared("models/stories260K-hf/model.safetensors"));
  std::vector<SafeTensor> a(tensors.begin(), tensors.begin() + static_cast<long>(tensors.size() / 2));
  std::vector<SafeTensor> b(tensors.begin() + static_cast<long>(tensors.size() / 2), tensors.end());
  write_safetensors(dir + "/model-00001-of-00002.safetensors", a);
  write_safetensors(dir + "/model-00002-of-00002.safetensors", b);
  json index;
  for (const auto& t : a) index["weight_map"][t.name] = "model-00001-of-00002.safetensors";
  for (const auto& t : b) index["weight_map"][t.name] = "model-00002-of-00002.safetensors";
  std::ofstream(dir + "/model.safetensors.index.json") << index.dump();
  EXPECT_LE(max_diff_to_reference(dir), 1e-4);
  fs::remove_all(dir);
}

TEST(Formats, MistralConfigRunsAsLlama) {
  auto dir = hf_variant("mistral", [](json& c) {
    c["model_type"] = "mistral";
    c["architectures"] = {"MistralForCausalLM"};
  });
  EXPECT_LE(max_diff_to_reference(dir), 1e-4);
  fs::remove_all(dir);
}

// Qwen2 rotates halves of each head on HF's rows as stored; llama un-permutes them and rotates
// adjacent pairs: the same computation, so zero q/k/v biases must reproduce run.c.
TEST(Formats, Qwen2WithZeroBiasesMatchesLlama) {
  auto dir = hf_variant(
      "qwen2",
      [](json& c) {
        c["model_type"] = "qwen2";
        c["architectures"] = {"Qwen2ForCausalLM"};
      },
      [](std::vector<SafeTensor>& t) {
        for (int l = 0; l < 5; ++l)
          for (auto [proj, n] : {std::pair<const char*, int>{"q", 64}, {"k", 32}, {"v", 32}})
            t.push_back({"model.layers." + std::to_string(l) + ".self_attn." + proj + "_proj.bias",
                         json{{"dtype", "F32"}, {"shape", {n}}}, std::string(static_cast<size_t>(n) * 4, '\0')});
      });
  auto m = load_model(dir);
  EXPECT_EQ(m->config.arch, Arch::Qwen2);
  EXPECT_EQ(m->config.rope, RopeStyle::Halves);
  EXPECT_NE(m->layers[0].bq, nullptr);
  EXPECT_LE(max_diff_to_reference(dir), 1e-4);
  fs::remove_all(dir);
}

TEST(Formats, Qwen2WithoutBiasesIsAnError) {
  auto dir = hf_variant("qwen2-nobias", [](json& c) { c["model_type"] = "qwen2"; });
  try {
    load_model(dir);
    ADD_FAILURE() << "loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("blk.0.attn_q.bias"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(Formats, Llama3RopeScalingParsedAndNeutralAtFactorOne) {
  auto dir = hf_variant("llama3", [](json& c) {
    c["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", 1.0},
                         {"low_freq_factor", 1.0},
                         {"high_freq_factor", 4.0},
                         {"original_max_position_embeddings", 64}};
  });
  auto m = load_model(dir);
  EXPECT_EQ(m->config.rope_scaling, RopeScaling::Llama3);
  EXPECT_EQ(m->config.rope_original_ctx, 64);
  EXPECT_LE(max_diff_to_reference(dir), 1e-4);
  fs::remove_all(dir);
}

// Llama 3.1's published numbers: theta 500000, d_head 128, factor 8, low 1, high 4, 8192.
TEST(Rope, Llama3FrequenciesFollowTheFormula) {
  ModelConfig c;
  c.d_head = 128;
  c.rope_theta = 500000.0f;
  c.rope_scaling = RopeScaling::Llama3;
  c.rope_factor = 8.0f;
  c.rope_low_freq_factor = 1.0f;
  c.rope_high_freq_factor = 4.0f;
  c.rope_original_ctx = 8192;
  auto f = rope_frequencies(c, nullptr);
  ASSERT_EQ(f.size(), 64u);
  for (int i = 0; i < 64; ++i) {
    const double base = std::pow(500000.0, -2.0 * i / 128.0);
    const double wavelen = 2 * M_PI / base;
    double want;
    if (wavelen < 8192.0 / 4.0)
      want = base;  // short wavelengths kept
    else if (wavelen > 8192.0 / 1.0)
      want = base / 8.0;  // long ones scaled
    else {
      const double s = (8192.0 / wavelen - 1.0) / (4.0 - 1.0);
      want = (1 - s) * base / 8.0 + s * base;
    }
    EXPECT_NEAR(f[static_cast<size_t>(i)], want, 1e-12 * std::max(1.0, want)) << i;
  }
  EXPECT_DOUBLE_EQ(f[0], 1.0);
  EXPECT_NEAR(f[63], std::pow(500000.0, -126.0 / 128.0) / 8.0, 1e-15);
  c.rope_scaling = RopeScaling::Linear;
  c.rope_factor = 4.0f;
  EXPECT_NEAR(rope_frequencies(c, nullptr)[10], std::pow(500000.0, -20.0 / 128.0) / 4.0, 1e-15);
  std::vector<float> factors(64, 2.0f);
  c.rope_scaling = RopeScaling::None;
  EXPECT_NEAR(rope_frequencies(c, factors.data())[10], std::pow(500000.0, -20.0 / 128.0) / 2.0, 1e-15);
}

// The legacy format marks an untied classifier with a negative vocab_size and stores it after
// the freq_cis tables: a copy of the embedding there must give the same logits.
TEST(Formats, Llama2cUntiedClassifier) {
  std::string raw = test::read_file(shared("models/stories260K/stories260K.bin"));
  int32_t vocab;
  std::memcpy(&vocab, raw.data() + 20, 4);
  ASSERT_EQ(vocab, 512);
  int32_t neg = -vocab;
  std::memcpy(raw.data() + 20, &neg, 4);
  raw += raw.substr(28, 512 * 64 * 4);  // the embedding, as the classifier
  const std::string dir = test::temp_dir("untied");
  std::ofstream(dir + "/model.bin", std::ios::binary) << raw;
  fs::copy_file(shared("models/stories260K/tok512.bin"), dir + "/tok512.bin");
  auto m = load_model(dir + "/model.bin");
  EXPECT_FALSE(m->config.tied_embeddings);
  EXPECT_NE(m->unembed.data, m->tok_embed.data);
  EXPECT_LE(max_diff_to_reference(dir + "/model.bin"), 1e-4);
  fs::remove_all(dir);
}

// Export v2 quantises the flattened tensor in groups: a group size that does not divide a
// tensor cannot be represented, and loupe says so instead of reading garbage.
TEST(Formats, Llama2cInt8GroupMustDivideTensors) {
  std::string raw = test::read_file(shared("models/stories260K/stories260K_q80.bin"));
  int32_t group;
  std::memcpy(&group, raw.data() + 37, 4);
  ASSERT_EQ(group, 32);
  int32_t bad = 48;
  std::memcpy(raw.data() + 37, &bad, 4);
  const std::string dir = test::temp_dir("group");
  std::ofstream(dir + "/q.bin", std::ios::binary) << raw;
  try {
    load_model(dir + "/q.bin");
    ADD_FAILURE() << "loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a multiple of the group size 48"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace loupe
