// loupe lens / attention / attribute / activations on stories260K, each figure against a
// computation written here from captured hook tensors and the model's weights.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "analysis/attention.h"
#include "core/npy.h"
#include "engine/driver.h"
#include "model/weights.h"
#include "test_support.h"
#include "tokenizer/tokenizer.h"
#include "unit/xml_check.h"

namespace loupe {
namespace {

const std::string kF32 = "models/stories260K-gguf/stories260K-f32.gguf";
const std::string kPrompt = "Once upon a time, there was a little girl named";

// Captures whole hook tensors of single-pass runs (appended in run order).
class Capture : public Observer {
 public:
  void on_hook(const HookEvent& e) override {
    auto& v = data[e.point->name];
    v.insert(v.end(), e.data, e.data + e.shape.numel());
  }
  std::map<std::string, std::vector<float>> data;
};

Capture capture(const Model& m, const std::vector<int32_t>& tokens, const std::vector<std::string>& hooks,
                Observer* edit = nullptr, const std::string& edit_hook = "") {
  Interpreter interp(m, RunOptions{2, 0, 1024});
  Capture cap;
  if (edit != nullptr) interp.observe(*interp.hooks().find(edit_hook), edit);
  for (const auto& h : hooks) interp.observe(*interp.hooks().find(h), &cap);
  forward(interp, tokens, true, nullptr);
  return cap;
}

nlohmann::json run_json(const std::string& args) {
  auto r = test::run_loupe(args + " --json -t 2");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out);
}

std::vector<double> log_probs(const std::vector<double>& logits) {
  double mx = *std::max_element(logits.begin(), logits.end()), z = 0;
  for (double l : logits) z += std::exp(l - mx);
  std::vector<double> out;
  for (double l : logits) out.push_back(l - mx - std::log(z));
  return out;
}

// ln_final + unembedding in double.
std::vector<double> read_out(const Model& m, const float* resid) {
  const int64_t d = m.config.d_model, V = m.config.d_vocab;
  double ss = 0;
  for (int64_t k = 0; k < d; ++k) ss += static_cast<double>(resid[k]) * resid[k];
  const double s = std::sqrt(ss / d + m.config.norm_eps);
  std::vector<float> row(static_cast<size_t>(d));
  std::vector<double> logits(static_cast<size_t>(V));
  for (int64_t t = 0; t < V; ++t) {
    m.unembed.row(t, row.data());
    double acc = 0;
    for (int64_t k = 0; k < d; ++k) acc += resid[k] / s * m.ln_final_w[k] * row[static_cast<size_t>(k)];
    logits[static_cast<size_t>(t)] = acc;
  }
  return logits;
}

class ViewsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = load_model(test::shared(kF32));
    tokens_ = model_->tokenizer->encode(kPrompt, true);
    dir_ = test::temp_dir("views");
  }
  static void TearDownTestSuite() {
    model_.reset();
    std::filesystem::remove_all(dir_);
  }
  static inline std::unique_ptr<Model> model_;
  static inline std::vector<int32_t> tokens_;
  static inline std::string dir_;
};

TEST_F(ViewsTest, LogitLensMatchesDirectReadOut) {
  const auto j =
      run_json("lens " + test::shared(kF32) + " -p \"" + kPrompt + "\" --target Lily --svg " + dir_ + "/lens.svg");
  const int32_t lily = model_->tokenizer->encode("Lily", false)[0];
  ASSERT_EQ(j["target"].get<int32_t>(), lily);
  ASSERT_EQ(j["rows"].size(), 15u);  // resid_pre, resid_mid, resid_post x 5 layers
  const int64_t d = model_->config.d_model, n = static_cast<int64_t>(tokens_.size());
  Capture cap = capture(*model_, tokens_, {"blocks.2.hook_resid_mid", "unembed.hook_logits"});
  const auto& resid = cap.data["blocks.2.hook_resid_mid"];
  const auto& final_logits = cap.data["unembed.hook_logits"];
  const nlohmann::json* row = nullptr;
  for (const auto& r : j["rows"])
    if (r["hook"] == "blocks.2.hook_resid_mid") row = &r;
  ASSERT_NE(row, nullptr);
  for (int64_t p = 0; p < n; ++p) {
    const std::vector<double> lp = log_probs(read_out(*model_, resid.data() + p * d));
    const std::vector<double> fin =
        log_probs(std::vector<double>(final_logits.begin() + p * 512, final_logits.begin() + (p + 1) * 512));
    const auto& cell = (*row)["positions"][static_cast<size_t>(p)];
    const int64_t top = std::max_element(lp.begin(), lp.end()) - lp.begin();
    EXPECT_EQ(cell["top"][0]["token"].get<int64_t>(), top) << p;
    EXPECT_NEAR(cell["top"][0]["p"].get<double>(), std::exp(lp[static_cast<size_t>(top)]), 1e-5);
    EXPECT_NEAR(cell["target_p"].get<double>(), std::exp(lp[static_cast<size_t>(lily)]), 1e-5);
    int64_t rank = 0;
    for (double v : lp) rank += v > lp[static_cast<size_t>(lily)];
    EXPECT_EQ(cell["target_rank"].get<int64_t>(), rank) << p;
    double kl = 0;
    for (size_t k = 0; k < fin.size(); ++k) kl += std::exp(fin[k]) * (fin[k] - lp[k]);
    EXPECT_NEAR(cell["kl_to_final"].get<double>(), kl, 1e-4 * std::max(1.0, kl)) << p;
  }
  // At the last residual the lens is the model's output.
  for (const auto& cell : j["rows"][14]["positions"]) EXPECT_NEAR(cell["kl_to_final"].get<double>(), 0.0, 1e-9);
  const std::string svg = test::read_file(dir_ + "/lens.svg");
  EXPECT_NE(svg.find("blocks.2.hook_resid_mid"), std::string::npos);
  EXPECT_NE(svg.find("Lily"), std::string::npos);
  EXPECT_GE(test::parse_xml(svg)->all("rect").size(), 5u);  // well-formed; a cell per layer and position
  // JSON carries token text raw; pictures show spaces as ␣.
  const auto texts = j["token_texts"].get<std::vector<std::string>>();
  EXPECT_NE(std::find(texts.begin(), texts.end(), " upon"), texts.end());
  EXPECT_NE(svg.find("\u2423upon"), std::string::npos);
}

TEST_F(ViewsTest, AttentionScoresMatchCapturedPatterns) {
  const auto j = run_json("attention " + test::shared(kF32) + " -p \"" + kPrompt + "\" --npy " + dir_ + "/att --svg " +
                          dir_ + "/attsvg --induction-len 12");
  const auto n = static_cast<int64_t>(tokens_.size());
  const std::vector<int32_t> ind = j["induction_tokens"].get<std::vector<int32_t>>();
  ASSERT_EQ(ind.size(), 25u);
  for (size_t i = 1; i <= 12; ++i) EXPECT_EQ(ind[i], ind[i + 12]);
  for (int l = 0; l < 5; ++l) {
    const std::string hook = "blocks." + std::to_string(l) + ".attn.hook_pattern";
    const auto p = capture(*model_, tokens_, {hook}).data[hook];  // [8, n, n]
    const auto q = capture(*model_, ind, {hook}).data[hook];      // [8, 25, 25]
    const NpyArray npy = read_npy(dir_ + "/att/" + hook + ".npy");
    EXPECT_EQ(npy.shape, (std::vector<int64_t>{8, n, n}));
    EXPECT_EQ(npy.data, p);
    for (int h = 0; h < 8; ++h) {
      double ent = 0, sink = 0, prev = 0, induction = 0;
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t k = 0; k <= i; ++k) {
          const double a = p[static_cast<size_t>((h * n + i) * n + k)];
          if (a > 0) ent -= a * std::log(a);
        }
        sink += p[static_cast<size_t>((h * n + i) * n)];
        if (i > 0) prev += p[static_cast<size_t>((h * n + i) * n + i - 1)];
      }
      for (int64_t i = 13; i < 25; ++i) induction += q[static_cast<size_t>((h * 25 + i) * 25 + i - 11)];
      const auto& e = j["heads"][static_cast<size_t>(l * 8 + h)];
      EXPECT_NEAR(e["entropy"].get<double>(), ent / n, 1e-6);
      EXPECT_NEAR(e["sink"].get<double>(), sink / n, 1e-6);
      EXPECT_NEAR(e["prev_token"].get<double>(), prev / (n - 1), 1e-6);
      EXPECT_NEAR(e["induction"].get<double>(), induction / 12, 1e-6);
    }
  }
  // Each layer's chance baseline is uniform attention's scores.
  ASSERT_EQ(j["chance"].size(), 5u);
  const analysis::HeadScores chance = analysis::chance_scores(n, 0, 25, 12);
  EXPECT_NEAR(j["chance"][2]["prev_token"].get<double>(), chance.prev_token, 1e-12);
  EXPECT_NEAR(j["chance"][2]["induction"].get<double>(), chance.induction, 1e-12);
  const std::string svg = test::read_file(dir_ + "/attsvg/pattern_L1_H3.svg");
  EXPECT_NE(svg.find("\u2423upon"), std::string::npos);  // token labels, spaces visible
  EXPECT_GE(test::parse_xml(svg)->all("text").size(), 4u);
  test::parse_xml(test::read_file(dir_ + "/attsvg/summary.svg"));
  EXPECT_NE(test::read_file(dir_ + "/attsvg/summary.svg").find("induction score"), std::string::npos);
}

// A long prompt's heatmaps are drawn in blocks of positions: each file stays small.
TEST_F(ViewsTest, LongPromptAttentionPicturesStaySmall) {
  std::string text;
  for (int i = 0; i < 25; ++i) text += "Once upon a time, there was a little girl named Lily. ";
  std::ofstream(dir_ + "/long.txt") << text;
  const auto j = run_json("attention " + test::shared(kF32) + " -f " + dir_ + "/long.txt --svg " + dir_ + "/longsvg");
  ASSERT_GT(j["tokens"].size(), 300u);
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_ + "/longsvg")) {
    ++files;
    EXPECT_LT(std::filesystem::file_size(e.path()), size_t{3} << 20) << e.path();
  }
  EXPECT_EQ(files, 5u * 8u + 1u);
  const std::string svg = test::read_file(dir_ + "/longsvg/pattern_L0_H0.svg");
  EXPECT_NE(svg.find("(blocks of 4 positions: mean attention)"), std::string::npos);
  test::parse_xml(svg);
}

// Zeroes one row of the embedding (the occlusion of the test's own run).
class ZeroRow : public Observer {
 public:
  explicit ZeroRow(int64_t row) : row_(row) {}
  void on_hook(const HookEvent& e) override { std::fill_n(e.data + row_ * 64, 64, 0.0f); }

 private:
  int64_t row_;
};

TEST_F(ViewsTest, AttributionPartsSumToTheLogit) {
  const auto j = run_json("attribute " + test::shared(kF32) + " -p \"" + kPrompt + "\" --target Lily");
  const int32_t lily = j["target"];
  const auto n = static_cast<int64_t>(tokens_.size());
  const int64_t last = n - 1;
  std::vector<std::string> hooks = {"hook_embed", "ln_final.hook_scale", "unembed.hook_logits"};
  for (int l = 0; l < 5; ++l) {
    hooks.push_back("blocks." + std::to_string(l) + ".hook_attn_out");
    hooks.push_back("blocks." + std::to_string(l) + ".hook_mlp_out");
  }
  Capture cap = capture(*model_, tokens_, hooks);
  const double logit = cap.data["unembed.hook_logits"][static_cast<size_t>(last * 512 + lily)];
  EXPECT_NEAR(j["logit"].get<double>(), logit, 1e-5);
  EXPECT_NEAR(j["parts_sum"].get<double>(), logit, 1e-3);
  const double scale = cap.data["ln_final.hook_scale"][static_cast<size_t>(last)];
  std::vector<float> wu(64);
  model_->unembed.row(lily, wu.data());
  auto dla = [&](const std::string& hook) {
    double s = 0;
    for (int k = 0; k < 64; ++k)
      s += cap.data[hook][static_cast<size_t>(last * 64 + k)] * model_->ln_final_w[k] * wu[k] / scale;
    return s;
  };
  EXPECT_NEAR(j["parts"][0]["logit"].get<double>(), dla("hook_embed"), 1e-5);
  for (int l = 0; l < 5; ++l) {
    const double attn = dla("blocks." + std::to_string(l) + ".hook_attn_out");
    EXPECT_NEAR(j["parts"][static_cast<size_t>(1 + 2 * l)]["logit"].get<double>(), attn, 1e-5);
    EXPECT_NEAR(j["parts"][static_cast<size_t>(2 + 2 * l)]["logit"].get<double>(),
                dla("blocks." + std::to_string(l) + ".hook_mlp_out"), 1e-5);
    double heads = 0;
    for (int h = 0; h < 8; ++h) heads += j["heads"][static_cast<size_t>(l * 8 + h)]["logit"].get<double>();
    EXPECT_NEAR(heads + j["attn_bias"][static_cast<size_t>(l)].get<double>(), attn, 1e-6);
    EXPECT_NEAR(j["attn_bias"][static_cast<size_t>(l)].get<double>(), 0.0, 1e-4);  // llama: no output bias
  }
  // Occlusion of position 6 against the test's own ablated run.
  ZeroRow zero(6);
  Capture ablated = capture(*model_, tokens_, {"unembed.hook_logits"}, &zero, "hook_embed");
  const double ablated_logit = ablated.data["unembed.hook_logits"][static_cast<size_t>(last * 512 + lily)];
  ASSERT_EQ(j["occlusion"].size(), static_cast<size_t>(n));
  EXPECT_NEAR(j["occlusion"][6]["delta_logit"].get<double>(), ablated_logit - logit, 1e-4);

  auto bad = test::run_loupe("attribute " + test::shared(kF32) + " -p \"" + kPrompt + "\" --target \"upon a\"");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("--target: 'upon a' is 2 tokens"), std::string::npos) << bad.err;
  bad = test::run_loupe("attribute " + test::shared(kF32) + " -p \"" + kPrompt + "\" --target 9999");
  EXPECT_NE(bad.err.find("--target: token id 9999 is out of range"), std::string::npos) << bad.err;
}

TEST_F(ViewsTest, ActivationStatisticsMatchCapture) {
  const std::vector<std::string> docs = {"Once upon a time, there was a little girl named Lily.",
                                         "Tom had a big red ball.", "She loved to play outside in the park."};
  {
    std::ofstream out(dir_ + "/acts.txt");
    for (const auto& d : docs) out << d << "\n";
  }
  const auto j = run_json("activations " + test::shared(kF32) + " --data " + dir_ +
                          "/acts.txt --hook resid_post --hook pre1 --svg " + dir_ + "/acts");
  std::vector<float> resid, pre;
  std::vector<size_t> rows_per_doc;
  for (const auto& d : docs) {
    Capture c =
        capture(*model_, model_->tokenizer->encode(d, true), {"blocks.3.hook_resid_post", "blocks.1.mlp.hook_pre"});
    resid.insert(resid.end(), c.data["blocks.3.hook_resid_post"].begin(), c.data["blocks.3.hook_resid_post"].end());
    pre.insert(pre.end(), c.data["blocks.1.mlp.hook_pre"].begin(), c.data["blocks.1.mlp.hook_pre"].end());
  }
  const nlohmann::json* h3 = nullptr;
  const nlohmann::json* p1 = nullptr;
  for (const auto& h : j["hooks"]) {
    if (h["hook"] == "blocks.3.hook_resid_post") h3 = &h;
    if (h["hook"] == "blocks.1.mlp.hook_pre") p1 = &h;
  }
  ASSERT_NE(h3, nullptr);
  ASSERT_NE(p1, nullptr);
  EXPECT_EQ(j["hooks"].size(), 6u);
  const double n = static_cast<double>(resid.size());
  double mean = 0;
  for (float v : resid) mean += v;
  mean /= n;
  double m2 = 0, m4 = 0, norm = 0;
  for (float v : resid) {
    m2 += (v - mean) * (v - mean);
    m4 += std::pow(v - mean, 4);
  }
  for (size_t r = 0; r < resid.size() / 64; ++r) {
    double ss = 0;
    for (size_t k = 0; k < 64; ++k) ss += static_cast<double>(resid[r * 64 + k]) * resid[r * 64 + k];
    norm += std::sqrt(ss);
  }
  EXPECT_EQ((*h3)["count"].get<double>(), n);
  EXPECT_NEAR((*h3)["mean"].get<double>(), mean, 1e-9);
  EXPECT_NEAR((*h3)["std"].get<double>(), std::sqrt(m2 / n), 1e-9);
  EXPECT_NEAR((*h3)["kurtosis"].get<double>(), n * m4 / (m2 * m2), 1e-7);
  EXPECT_NEAR((*h3)["mean_norm"].get<double>(), norm / (n / 64), 1e-9);
  EXPECT_EQ((*h3)["nan"].get<int>(), 0);
  // The histogram covers every value: its range holds the minimum and maximum of all batches.
  int64_t hist_total = 0;
  for (const auto& c : (*h3)["histogram"]["counts"]) hist_total += c.get<int64_t>();
  EXPECT_EQ(hist_total, static_cast<int64_t>(n));
  EXPECT_LE((*h3)["histogram"]["lo"].get<double>(), *std::min_element(resid.begin(), resid.end()));
  EXPECT_GT((*h3)["histogram"]["hi"].get<double>(), *std::max_element(resid.begin(), resid.end()));
  // Dead and always-on neurons of layer 1 from the captured pre-activations.
  std::vector<int64_t> dead, on;
  const size_t rows = pre.size() / 172;
  for (size_t k = 0; k < 172; ++k) {
    size_t pos = 0;
    for (size_t r = 0; r < rows; ++r) pos += pre[r * 172 + k] > 0;
    if (pos == 0) dead.push_back(static_cast<int64_t>(k));
    if (pos == rows) on.push_back(static_cast<int64_t>(k));
  }
  EXPECT_EQ((*p1)["dead_neurons"].get<std::vector<int64_t>>(), dead);
  EXPECT_EQ((*p1)["always_on_neurons"].get<std::vector<int64_t>>(), on);
  EXPECT_NE(test::read_file(dir_ + "/acts/norm_growth.svg").find("resid_post"), std::string::npos);
  EXPECT_EQ(test::read_file(dir_ + "/acts/blocks.3.hook_resid_post.svg").rfind("<svg", 0), 0u);
  test::parse_xml(test::read_file(dir_ + "/acts/blocks.3.hook_resid_post.svg"));
  test::parse_xml(test::read_file(dir_ + "/acts/norm_growth.svg"));
}

}  // namespace
}  // namespace loupe
