// loupe diff on stories260K F32 vs Q8_0 GGUF: every llama-perplexity statistic against a
// reference computed here, independently, from the two models' logits (engine forward passes,
// plain double arithmetic written out below), in both data modes; per-hook figures against a
// direct capture; error messages for bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/driver.h"
#include "model/weights.h"
#include "test_support.h"
#include "tokenizer/tokenizer.h"
#include "unit/xml_check.h"

namespace loupe {
namespace {

const std::string kF32 = "models/stories260K-gguf/stories260K-f32.gguf";
const std::string kQ8 = "models/stories260K-gguf/stories260K-q8_0.gguf";

// Documents: the lines of the reference stories (about 20 lines, 700 tokens).
std::vector<std::string> story_lines() {
  std::vector<std::string> docs;
  for (const char* f : {"runc_greedy_bos_n256.txt", "runc_t1_p095_s42_n200.txt", "runc_t1_p09_s133742_n256.txt",
                        "runc_t1_p1_s42_n200.txt", "runc_t1_p095_s42_n200_there_was_a_big.txt"}) {
    std::istringstream in(test::read_file(test::shared(std::string("reference/stories260K/") + f)));
    std::string line;
    while (std::getline(in, line))
      if (line.find_first_not_of(" \t\r") != std::string::npos) docs.push_back(line);
  }
  return docs;
}

std::string write_data(const std::string& dir, const std::vector<std::string>& docs) {
  const std::string path = dir + "/data.txt";
  std::ofstream out(path);
  for (const auto& d : docs) out << d << "\n";
  return path;
}

std::vector<float> logits_of(const Model& m, const std::vector<int32_t>& tokens, bool q8_activations = false) {
  RunOptions o{2, 0, 256};
  o.numerics = q8_activations ? Numerics::Q8 : Numerics::Exact;
  Interpreter interp(m, o);
  const int64_t V = m.config.d_vocab;
  std::vector<float> out(tokens.size() * static_cast<size_t>(V));
  forward(interp, tokens, true,
          [&](const float* l, int64_t rows, int64_t first) { std::copy_n(l, rows * V, out.data() + first * V); });
  return out;
}

// Independent statistics: probabilities first, then logs, all in double.
struct Reference {
  std::vector<double> kld, dp, nll_q, nll_b;
  int64_t same_top = 0;

  void add(const float* base, const float* q, int64_t V, int32_t tok) {
    std::vector<double> pb(static_cast<size_t>(V)), pq(static_cast<size_t>(V));
    auto probs = [V](const float* l, std::vector<double>& p) {
      const double mx = *std::max_element(l, l + V);
      double z = 0;
      for (int64_t i = 0; i < V; ++i) z += (p[static_cast<size_t>(i)] = std::exp(l[i] - mx));
      for (auto& v : p) v /= z;
    };
    probs(base, pb);
    probs(q, pq);
    double k = 0;
    for (int64_t i = 0; i < V; ++i)
      if (pb[static_cast<size_t>(i)] > 0)
        k += pb[static_cast<size_t>(i)] * std::log(pb[static_cast<size_t>(i)] / pq[static_cast<size_t>(i)]);
    kld.push_back(k);
    dp.push_back(pq[static_cast<size_t>(tok)] - pb[static_cast<size_t>(tok)]);
    nll_q.push_back(-std::log(pq[static_cast<size_t>(tok)]));
    nll_b.push_back(-std::log(pb[static_cast<size_t>(tok)]));
    if (std::max_element(base, base + V) - base == std::max_element(q, q + V) - q) ++same_top;
  }
};

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

// Standard error of the mean with the sample variance over n - 1 in the n - 1 divisor llama.cpp uses:
// sqrt((E[x^2] - E[x]^2) / (n - 1)).
double std_error(const std::vector<double>& v) {
  const double m = mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size()) / static_cast<double>(v.size() - 1));
}

double pct(std::vector<double> v, double fraction) {
  std::sort(v.begin(), v.end());
  const double pos = fraction * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

void expect_rel(double got, double want, double rel, const std::string& what) {
  EXPECT_NEAR(got, want, rel * std::max(1.0, std::fabs(want))) << what;
}

void check_against(const nlohmann::json& j, const Reference& r) {
  const auto n = static_cast<double>(r.kld.size());
  ASSERT_EQ(j["n_tokens_scored"].get<int64_t>(), static_cast<int64_t>(r.kld.size()));
  expect_rel(j["ppl"]["candidate"], std::exp(mean(r.nll_q)), 1e-9, "ppl.candidate");
  expect_rel(j["ppl"]["reference"], std::exp(mean(r.nll_b)), 1e-9, "ppl.reference");
  expect_rel(j["ppl"]["candidate_error"], std::exp(mean(r.nll_q)) * std_error(r.nll_q), 1e-7, "ppl.candidate_error");
  expect_rel(j["ppl"]["ratio"], std::exp(mean(r.nll_q) - mean(r.nll_b)), 1e-9, "ppl.ratio");
  // Pearson correlation of the per-token ln-PPL terms.
  const double mq = mean(r.nll_q), mb = mean(r.nll_b);
  double sqq = 0, sbb = 0, sqb = 0;
  for (size_t i = 0; i < r.nll_q.size(); ++i) {
    sqq += (r.nll_q[i] - mq) * (r.nll_q[i] - mq);
    sbb += (r.nll_b[i] - mb) * (r.nll_b[i] - mb);
    sqb += (r.nll_q[i] - mq) * (r.nll_b[i] - mb);
  }
  expect_rel(j["ppl"]["ln_correlation"], sqb / std::sqrt(sqq * sbb), 1e-7, "ppl.ln_correlation");
  // ln ratio error: the standard error of the per-token differences.
  std::vector<double> diff(r.nll_q.size());
  for (size_t i = 0; i < diff.size(); ++i) diff[i] = r.nll_q[i] - r.nll_b[i];
  expect_rel(j["ppl"]["ln_ratio_error"], std_error(diff), 1e-6, "ppl.ln_ratio_error");

  expect_rel(j["kld"]["mean"], mean(r.kld), 1e-7, "kld.mean");
  expect_rel(j["kld"]["error"], std_error(r.kld), 1e-5, "kld.error");
  expect_rel(j["kld"]["max"], *std::max_element(r.kld.begin(), r.kld.end()), 1e-5, "kld.max");
  expect_rel(j["kld"]["min"], *std::min_element(r.kld.begin(), r.kld.end()), 1e-5, "kld.min");
  for (double p : {99.9, 99.0, 95.0, 90.0, 50.0, 10.0, 5.0, 1.0, 0.1}) {
    char key[16];
    std::snprintf(key, sizeof key, "%.1f", p);
    expect_rel(j["kld"]["percentiles"][key], pct(r.kld, p / 100), 1e-5, std::string("kld percentile ") + key);
  }
  expect_rel(j["delta_p"]["mean"], mean(r.dp), 1e-7, "delta_p.mean");
  double ms = 0;
  for (double d : r.dp) ms += d * d;
  expect_rel(j["delta_p"]["rms"], std::sqrt(ms / n), 1e-7, "delta_p.rms");
  for (double p : {99.9, 75.0, 50.0, 25.0, 0.1}) {
    char key[16];
    std::snprintf(key, sizeof key, "%.1f", p);
    expect_rel(j["delta_p"]["percentiles"][key], pct(r.dp, p / 100), 1e-5, std::string("delta_p percentile ") + key);
  }
  expect_rel(j["same_top_p"], static_cast<double>(r.same_top) / n, 1e-12, "same_top_p");
}

class DiffTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = test::temp_dir("diff");
    docs_ = story_lines();
    data_ = write_data(dir_, docs_);
    f32_ = load_model(test::shared(kF32));
    q8_ = load_model(test::shared(kQ8));
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(dir_);
    f32_.reset();
    q8_.reset();
  }
  static nlohmann::json diff_json(const std::string& args) {
    auto r = test::run_loupe("diff " + args + " --json -t 2");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out);
  }
  static inline std::string dir_, data_;
  static inline std::vector<std::string> docs_;
  static inline std::unique_ptr<Model> f32_, q8_;
};

TEST_F(DiffTest, PerDocumentStatisticsMatchIndependentComputation) {
  nlohmann::json j = diff_json(test::shared(kF32) + " " + test::shared(kQ8) + " --data " + data_);
  Reference ref;
  const int64_t V = f32_->config.d_vocab;
  for (const auto& d : docs_) {
    std::vector<int32_t> toks = f32_->tokenizer->encode(d, true);
    ASSERT_LE(toks.size(), 512u);
    auto lb = logits_of(*f32_, toks);
    auto lq = logits_of(*q8_, toks);
    for (size_t i = 0; i + 1 < toks.size(); ++i) ref.add(lb.data() + i * V, lq.data() + i * V, V, toks[i + 1]);
  }
  ASSERT_GT(ref.kld.size(), 500u);
  EXPECT_EQ(j["n_docs"].get<int64_t>(), static_cast<int64_t>(docs_.size()));
  check_against(j, ref);
  // Q8_0 is close but not equal to F32.
  EXPECT_GT(j["kld"]["mean"].get<double>(), 0.0);
  EXPECT_LT(j["kld"]["mean"].get<double>(), 0.05);
}

// --candidate-q8-act: the Q8_0 model against itself, the candidate with llama.cpp's activation
// quantisation (and the VNNI panels the CLI gives it where the CPU has them), every statistic
// against the two runs' logits computed here the same way.
TEST_F(DiffTest, CandidateWithQ8ActivationsAgainstItsExactSelf) {
  nlohmann::json j =
      diff_json(test::shared(kQ8) + " " + test::shared(kQ8) + " --candidate-q8-act --data " + data_ + " --max-docs 6");
  auto q8_panels = load_model(test::shared(kQ8));
  q8_panels->pack_panels();
  Reference ref;
  const int64_t V = q8_->config.d_vocab;
  for (const auto& d : std::vector<std::string>(docs_.begin(), docs_.begin() + 6)) {
    std::vector<int32_t> toks = q8_->tokenizer->encode(d, true);
    auto lb = logits_of(*q8_, toks);
    auto lq = logits_of(*q8_panels, toks, true);
    for (size_t i = 0; i + 1 < toks.size(); ++i) ref.add(lb.data() + i * V, lq.data() + i * V, V, toks[i + 1]);
  }
  check_against(j, ref);
  EXPECT_NE(j["candidate"].get<std::string>().find("(q8 numerics)"), std::string::npos) << j["candidate"];
  EXPECT_NE(j["reference"].get<std::string>().find("(exact numerics)"), std::string::npos) << j["reference"];
  EXPECT_GT(j["kld"]["mean"].get<double>(), 0.0);
  EXPECT_LT(j["kld"]["mean"].get<double>(), 0.05);
  // The embedding is not a product: identical; the first attention products already differ.
  bool embed_seen = false, differs = false;
  for (const auto& l : j["layers"]) {
    if (l["hook"] == "hook_embed") {
      embed_seen = true;
      EXPECT_EQ(l["nmse"].get<double>(), 0.0);
    }
    if (l["nmse"].get<double>() > 0) differs = true;
  }
  EXPECT_TRUE(embed_seen);
  EXPECT_TRUE(differs);
}

TEST_F(DiffTest, ChunkModeFollowsLlamaPerplexity) {
  nlohmann::json j = diff_json(test::shared(kF32) + " " + test::shared(kQ8) + " --data " + data_ + " --chunk 128");
  // The whole file joined by '\n' and tokenised once with BOS; chunks of 128 with BOS first;
  // positions 64..126 predict 65..127.
  std::string all;
  for (size_t i = 0; i < docs_.size(); ++i) all += (i ? "\n" : "") + docs_[i];
  std::vector<int32_t> toks = f32_->tokenizer->encode(all, true);
  const int64_t V = f32_->config.d_vocab;
  Reference ref;
  const size_t n_chunks = toks.size() / 128;
  ASSERT_GE(n_chunks, 4u);
  for (size_t c = 0; c < n_chunks; ++c) {
    std::vector<int32_t> chunk(toks.begin() + c * 128, toks.begin() + (c + 1) * 128);
    chunk[0] = f32_->config.bos_id;
    auto lb = logits_of(*f32_, chunk);
    auto lq = logits_of(*q8_, chunk);
    for (size_t i = 64; i < 127; ++i) ref.add(lb.data() + i * V, lq.data() + i * V, V, chunk[i + 1]);
  }
  EXPECT_EQ(j["n_sequences"].get<size_t>(), n_chunks);
  check_against(j, ref);
}

// One hook's NMSE / cosine / max difference against a capture of both models' tensors.
class Capture : public Observer {
 public:
  void on_hook(const HookEvent& e) override { data.insert(data.end(), e.data, e.data + e.shape.numel()); }
  std::vector<float> data;
};

TEST_F(DiffTest, PerHookFiguresMatchCapture) {
  const std::string hook = "blocks.2.hook_resid_post";
  nlohmann::json j = diff_json(test::shared(kF32) + " " + test::shared(kQ8) + " --data " + data_ + " --max-docs 5");
  Capture cb, cq;
  for (const auto& d : std::vector<std::string>(docs_.begin(), docs_.begin() + 5)) {
    std::vector<int32_t> toks = f32_->tokenizer->encode(d, true);
    for (auto [m, cap] : {std::pair{f32_.get(), &cb}, std::pair{q8_.get(), &cq}}) {
      Interpreter interp(*m, RunOptions{2, 0, 256});
      interp.observe(*interp.hooks().find(hook), cap);
      forward(interp, toks, true, nullptr);
    }
  }
  ASSERT_EQ(cb.data.size(), cq.data.size());
  double num = 0, den = 0, mx = 0, cos_sum = 0;
  const size_t d_model = 64;
  for (size_t i = 0; i < cb.data.size(); ++i) {
    const double diff = static_cast<double>(cq.data[i]) - cb.data[i];
    num += diff * diff;
    den += static_cast<double>(cb.data[i]) * cb.data[i];
    mx = std::max(mx, std::fabs(diff));
  }
  for (size_t r = 0; r < cb.data.size() / d_model; ++r) {
    double ab = 0, aa = 0, bb = 0;
    for (size_t k = 0; k < d_model; ++k) {
      ab += static_cast<double>(cb.data[r * d_model + k]) * cq.data[r * d_model + k];
      aa += static_cast<double>(cb.data[r * d_model + k]) * cb.data[r * d_model + k];
      bb += static_cast<double>(cq.data[r * d_model + k]) * cq.data[r * d_model + k];
    }
    cos_sum += ab / std::sqrt(aa * bb);
  }
  const nlohmann::json* entry = nullptr;
  for (const auto& l : j["layers"])
    if (l["hook"] == hook) entry = &l;
  ASSERT_NE(entry, nullptr);
  expect_rel((*entry)["nmse"], num / den, 1e-9, "nmse");
  expect_rel((*entry)["max_abs_diff"], mx, 1e-9, "max_abs_diff");
  expect_rel((*entry)["cosine"], cos_sum / static_cast<double>(cb.data.size() / d_model), 1e-9, "cosine");
  EXPECT_GT((*entry)["lens_kl"].get<double>(), 0.0);

  // The lens at the last residual is the model's own read-out: same KL as the logits hook.
  double lens_last = -1, logits_kl = -2;
  for (const auto& l : j["layers"]) {
    if (l["hook"] == "blocks.4.hook_resid_post") lens_last = l["lens_kl"];
    if (l["hook"] == "unembed.hook_logits") logits_kl = l["lens_kl"];
  }
  EXPECT_NEAR(lens_last, logits_kl, 1e-9);
  // Every hook is listed, in program order, with its divergence figures.
  EXPECT_EQ(j["layers"].size(), static_cast<size_t>(Interpreter(*f32_, RunOptions{}).hooks().size()));
  ASSERT_FALSE(j["first_divergence"].is_null());
  EXPECT_GT(j["first_divergence"]["nmse"].get<double>(), 1e-7);
  ASSERT_FALSE(j["worst_tokens"].empty());
  EXPECT_GE(j["worst_tokens"][0]["kld"].get<double>(), j["kld"]["max"].get<double>() - 1e-6);
}

TEST_F(DiffTest, IdenticalModelsShowNoDivergence) {
  nlohmann::json j = diff_json(test::shared(kF32) + " " + test::shared(kF32) + " --data " + data_ + " --max-docs 4");
  EXPECT_EQ(j["kld"]["mean"].get<double>(), 0.0);
  EXPECT_EQ(j["same_top_p"].get<double>(), 1.0);
  EXPECT_EQ(j["delta_p"]["rms"].get<double>(), 0.0);
  EXPECT_TRUE(j["first_divergence"].is_null());
  for (const auto& l : j["layers"]) EXPECT_EQ(l["nmse"].get<double>(), 0.0) << l["hook"];
}

TEST_F(DiffTest, TerminalOutputHasLlamaPerplexitySections) {
  auto r = test::run_loupe("diff " + test::shared(kF32) + " " + test::shared(kQ8) + " --data " + data_ +
                           " --max-docs 3 -t 2 --svg " + dir_ + "/diff.svg");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* s :
       {"Mean PPL(Q)", "Mean    KLD:", "99.9%   KLD:", "RMS Δp", "Same top p:", "first divergence jump"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s;
  const std::string svg = test::read_file(dir_ + "/diff.svg");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("NMSE"), std::string::npos);
  EXPECT_GE(test::parse_xml(svg)->all("text").size(), 4u);  // well-formed, with labels
  // Layers are marked and labelled, the first jump is named, each point names its hook.
  EXPECT_NE(svg.find(">L0</text>"), std::string::npos);
  EXPECT_NE(svg.find(">L4</text>"), std::string::npos);
  EXPECT_NE(svg.find("first jump: "), std::string::npos);
  EXPECT_NE(svg.find("<title>blocks.2.hook_resid_post NMSE: "), std::string::npos);
}

TEST_F(DiffTest, BadInputGivesPreciseErrors) {
  const std::string models = "diff " + test::shared(kF32) + " " + test::shared(kQ8);
  auto r = test::run_loupe(models + " --data " + dir_ + "/missing.txt");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("missing.txt: no such file or directory"), std::string::npos) << r.err;

  // A bad record is reported and skipped; --strict stops at it.
  std::ofstream(dir_ + "/bad.jsonl") << "{\"text\": \"Once upon a time\"}\n{\"body\": \"x\"}\n";
  r = test::run_loupe(models + " --data " + dir_ + "/bad.jsonl");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: " + dir_ + "/bad.jsonl:2: missing field 'text'; skipped"), std::string::npos) << r.err;
  r = test::run_loupe(models + " --data " + dir_ + "/bad.jsonl --strict");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("error: " + dir_ + "/bad.jsonl:2: missing field 'text' (--strict)"), std::string::npos) << r.err;

  std::ofstream(dir_ + "/broken.jsonl") << "{\"text\": \"Once upon\"\n";
  r = test::run_loupe(models + " --data " + dir_ + "/broken.jsonl");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("broken.jsonl:1: invalid JSON"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("no token to score"), std::string::npos) << r.err;

  r = test::run_loupe(models + " --data " + data_ + " --chunk 4096");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--chunk 4096 is longer than the context"), std::string::npos) << r.err;

  r = test::run_loupe("diff " + test::shared(kF32) + " " +
                      test::shared("models/babyllama-tok105/model5000_tok105.bin") + " --data " + data_);
  EXPECT_NE(r.exit_code, 0);

  std::ofstream(dir_ + "/empty.txt") << "\n\n";
  r = test::run_loupe(models + " --data " + dir_ + "/empty.txt");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no token to score"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace loupe
