// The newer families against llama.cpp (../shared/reference/archs): random-weight GGUF models of
// Qwen3, Qwen3-MoE, Gemma 2/3, Phi-3, SmolLM3 and gpt-oss. Logits within 1e-4 of the float64
// reference where llama.cpp approximates (GELU table, Q8_0 activations into MXFP4), else of
// llama.cpp's own, with the same argmax at every position; the same whether the sequence runs
// as one batch, one token at a time or in uneven batches (sliding-window rings wrap).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "engine/driver.h"
#include "engine/interpreter.h"
#include "model/weights.h"
#include "test_support.h"

namespace loupe {
namespace {

namespace fs = std::filesystem;

struct Case {
  std::string name;
  double tol_llamacpp;  // against .logits.f32 when an exact file exists
};

std::string arch_file(const std::string& name, const std::string& ext) {
  return test::shared("reference/archs/" + name + ext);
}

std::vector<int32_t> case_tokens(const std::string& name) {
  auto j = nlohmann::json::parse(test::read_file(arch_file(name, ".tokens.json")));
  return j["tokens"].get<std::vector<int32_t>>();
}

std::vector<float> run_logits(const Model& m, const std::vector<int32_t>& tokens, int64_t max_batch, int threads,
                              int64_t n_ctx = 0) {
  RunOptions ro;
  ro.n_threads = threads;
  ro.max_batch = max_batch;
  ro.n_ctx = n_ctx;
  Interpreter interp(m, ro);
  const int64_t V = m.config.d_vocab;
  std::vector<float> out(tokens.size() * static_cast<size_t>(V));
  forward(interp, tokens, true,
          [&](const float* l, int64_t rows, int64_t first) { std::copy_n(l, rows * V, out.data() + first * V); });
  return out;
}

std::pair<double, int> compare(const std::vector<float>& a, const std::vector<float>& b, int64_t V) {
  const test::LogitsGap g = test::logits_gap(a, b, V);
  return {g.max_abs, g.argmax_mismatches};
}

class ArchReference : public ::testing::TestWithParam<Case> {};

TEST_P(ArchReference, LogitsMatch) {
  const Case& k = GetParam();
  const std::string path = arch_file(k.name, ".gguf");
  if (!fs::exists(path)) GTEST_SKIP() << path << " not found";
  auto m = load_model(path);
  const std::vector<int32_t> tokens = case_tokens(k.name);
  const int64_t V = m->config.d_vocab;
  const std::vector<float> got = run_logits(*m, tokens, 256, 2);
  const bool exact_file = fs::exists(arch_file(k.name, ".logits.exact.f32"));
  const std::vector<float> ref = test::read_f32(arch_file(k.name, exact_file ? ".logits.exact.f32" : ".logits.f32"));
  ASSERT_EQ(got.size(), ref.size());
  auto [worst, mismatched] = compare(got, ref, V);
  EXPECT_LE(worst, 1e-4) << k.name << (exact_file ? " vs float64" : " vs llama.cpp");
  EXPECT_EQ(mismatched, 0) << k.name;
  if (exact_file && k.tol_llamacpp > 0) {
    auto [w2, mm2] = compare(got, test::read_f32(arch_file(k.name, ".logits.f32")), V);
    EXPECT_LE(w2, k.tol_llamacpp) << k.name << " vs llama.cpp";
  }
  // One token per pass (as llama.cpp decoded it) and uneven batches of 5 (a window of 8 then
  // wraps its ring inside a batch): the same logits.
  for (int64_t batch : {int64_t{1}, int64_t{5}}) {
    auto [w3, mm3] = compare(run_logits(*m, tokens, batch, 1), got, V);
    EXPECT_LE(w3, 2e-5) << k.name << " batch " << batch;
    EXPECT_EQ(mm3, 0) << k.name << " batch " << batch;
  }
}

INSTANTIATE_TEST_SUITE_P(Families, ArchReference,
                         ::testing::Values(Case{"qwen3", 0}, Case{"qwen3moe", 0}, Case{"gemma2", 5e-2},
                                           Case{"gemma3", 5e-2}, Case{"phi3", 0}, Case{"smollm3", 0},
                                           Case{"gpt-oss", 0}, Case{"gpt-oss-mxfp4", 0}),
                         [](const ::testing::TestParamInfo<Case>& i) {
                           std::string n = i.param.name;
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

// The KV cache of a sliding-window layer is a ring of window + batch - 1 positions: it never
// holds the whole context.
TEST(ArchWindows, CacheDoesNotGrowPastTheWindow) {
  const std::string path = arch_file("gemma3", ".gguf");
  if (!fs::exists(path)) GTEST_SKIP() << path << " not found";
  auto m = load_model(path);
  RunOptions ro;
  ro.n_ctx = 1024;
  ro.max_batch = 16;
  Interpreter interp(*m, ro);
  const ModelConfig& c = m->config;
  int64_t want = 0;
  for (const LayerSpec& s : c.layers) want += (s.window > 0 ? s.window + 15 : 1024) * c.d_kv() * 2;
  EXPECT_EQ(interp.kv_cache_bytes(), want * static_cast<int64_t>(sizeof(float)));
  EXPECT_LT(interp.kv_cache_bytes(), c.n_layers * 1024 * c.d_kv() * 2 * static_cast<int64_t>(sizeof(float)));
}

}  // namespace
}  // namespace loupe
