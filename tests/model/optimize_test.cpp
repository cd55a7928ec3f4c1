// loupe quantize, prune and monitor: the files they write load and say what they did, the
// quantiser is the one `model new` uses (bytes equal), the importance matrix lowers the error
// it weighs, pruning reaches the asked sparsity, and monitor's KL is diff's mean KLD.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "core/error.h"
#include "formats/gguf.h"
#include "model/arch/family.h"
#include "model/synth.h"
#include "model/weights.h"
#include "tensor/quant_rows.h"
#include "test_support.h"

namespace loupe {
namespace {

namespace fs = std::filesystem;

std::string stories_gguf() {
  return test::shared("models/stories260K-gguf/stories260K-f32.gguf");
}

// Text the stories model knows: the reference generations.
std::string write_data(const std::string& dir) {
  std::ofstream out(dir + "/data.txt");
  for (const char* f : {"runc_greedy_bos_n256.txt", "runc_t1_p095_s42_n200.txt", "runc_t1_p09_s133742_n256.txt"})
    out << test::read_file(test::shared(std::string("reference/stories260K/") + f)) << "\n";
  return dir + "/data.txt";
}

nlohmann::json run_json(const std::string& args) {
  const auto r = test::run_loupe(args);
  EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.err;
  return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json::object();
}

// The importance-weighted quantisers lower the error they weigh: over many rows with uneven
// importance, sum imp (w - q(w))^2 is smaller than round-to-nearest's.
TEST(OptimizeQuant, ImportanceLowersTheWeightedError) {
  std::mt19937 rng(4);
  std::normal_distribution<float> normal;
  std::uniform_real_distribution<float> uni(0.0f, 1.0f);
  const int64_t n = 1024;
  for (DType t : {DType::Q4_0, DType::Q4_K, DType::Q5_K}) {
    ASSERT_TRUE(uses_importance(t));
    std::vector<float> imp(static_cast<size_t>(n));
    for (float& v : imp) v = std::pow(uni(rng), 4.0f) * 10.0f;  // a few columns matter most
    double plain = 0, weighted = 0;
    std::vector<uint8_t> q(row_bytes(t, n));
    std::vector<float> back(static_cast<size_t>(n)), x(static_cast<size_t>(n));
    for (int r = 0; r < 64; ++r) {
      for (float& v : x) v = normal(rng);
      for (int mode = 0; mode < 2; ++mode) {
        quantize_row_weighted(t, x.data(), q.data(), n, mode == 0 ? nullptr : imp.data());
        dequantize_row(t, q.data(), back.data(), n);
        double e = 0;
        for (int64_t j = 0; j < n; ++j) {
          const double d = x[static_cast<size_t>(j)] - back[static_cast<size_t>(j)];
          e += imp[static_cast<size_t>(j)] * d * d;
        }
        (mode == 0 ? plain : weighted) += e;
      }
    }
    EXPECT_LT(weighted, 0.97 * plain) << dtype_name(t);
  }
  EXPECT_FALSE(uses_importance(DType::Q8_0));
}

class Optimize : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(stories_gguf())) GTEST_SKIP();
    dir_ = test::temp_dir("optimize");
    data_ = write_data(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::string dir_, data_;
};

TEST_F(Optimize, QuantizeWritesWhatModelNewWrites) {
  // The same weights written by `model new`-style synthesis as f32 and as q8_0: quantize of the
  // f32 file gives the q8_0 file's tensors byte for byte.
  SynthSpec spec;
  spec.arch = Arch::Qwen3;
  spec.d_model = 64;
  spec.n_layers = 2;
  spec.d_mlp = 96;
  spec.vocab_path = stories_gguf();
  const SynthModel m = make_synth_model(spec);
  write_synth_gguf(m, spec, dir_ + "/f32.gguf", nullptr);
  spec.type = DType::Q8_0;
  write_synth_gguf(m, spec, dir_ + "/q8.gguf", nullptr);
  const auto j = run_json("quantize " + dir_ + "/f32.gguf " + dir_ + "/out.gguf --type q8_0 --json");
  ASSERT_FALSE(j["tensors"].empty());
  const GgufFile a = GgufFile::open(dir_ + "/q8.gguf"), b = GgufFile::open(dir_ + "/out.gguf");
  ASSERT_EQ(a.tensors().size(), b.tensors().size());
  for (const auto& t : a.tensors()) {
    const GgufTensorInfo* u = b.find_tensor(t.name);
    ASSERT_NE(u, nullptr) << t.name;
    EXPECT_EQ(u->type, t.type) << t.name;
    ASSERT_EQ(u->nbytes, t.nbytes) << t.name;
    EXPECT_EQ(std::memcmp(u->data, t.data, t.nbytes), 0) << t.name;
  }
  EXPECT_EQ(b.get_uint("general.file_type"), 7U);
  EXPECT_EQ(b.get_string("general.architecture"), "qwen3");
}

TEST_F(Optimize, QuantizedModelsRunCloseToTheOriginal) {
  for (const char* type : {"q8_0", "q4_k", "q6_k", "iq4_xs"}) {
    const std::string out = dir_ + "/" + type + ".gguf";
    const auto j = run_json("quantize " + stories_gguf() + " " + out + " --type " + type + " --json");
    for (const auto& t : j["tensors"]) {
      if (!t.contains("note")) {
        EXPECT_EQ(t["to"], type) << t["name"];
      }
    }
    const auto d = run_json("diff " + stories_gguf() + " " + out + " --data " + data_ + " --no-layers --json");
    EXPECT_LT(d["kld"]["mean"].get<double>(), std::string(type) == "q8_0" ? 1e-3 : 0.1) << type;
    EXPECT_GT(d["same_top_p"].get<double>(), 0.7) << type;
  }
  // The importance matrix lowers the error q4_0 makes on the data it came from.
  run_json("quantize " + stories_gguf() + " " + dir_ + "/rtn.gguf --type q4_0 --json");
  const auto imp =
      run_json("quantize " + stories_gguf() + " " + dir_ + "/imp.gguf --type q4_0 --data " + data_ + " --json");
  EXPECT_EQ(imp["tensors"][1]["note"], "importance-weighted scales");
  const double rtn = run_json("diff " + stories_gguf() + " " + dir_ + "/rtn.gguf --data " + data_ +
                              " --no-layers --json")["kld"]["mean"]
                         .get<double>();
  const double weighted = run_json("diff " + stories_gguf() + " " + dir_ + "/imp.gguf --data " + data_ +
                                   " --no-layers --json")["kld"]["mean"]
                              .get<double>();
  EXPECT_LT(weighted, rtn);
  // The importance matrix as llama-imatrix writes it: saved, read back, the same file.
  run_json("quantize " + stories_gguf() + " " + dir_ + "/a.gguf --type q4_0 --data " + data_ + " --imatrix-out " +
           dir_ + "/im.gguf --json");
  const GgufFile im = GgufFile::open(dir_ + "/im.gguf");
  EXPECT_EQ(im.get_string("general.type"), "imatrix");
  ASSERT_NE(im.find_tensor("blk.0.attn_q.weight.in_sum2"), nullptr);
  ASSERT_NE(im.find_tensor("blk.0.attn_q.weight.counts"), nullptr);
  run_json("quantize " + stories_gguf() + " " + dir_ + "/b.gguf --type q4_0 --imatrix " + dir_ + "/im.gguf --json");
  EXPECT_EQ(test::read_file(dir_ + "/a.gguf"), test::read_file(dir_ + "/b.gguf"));
  const auto bad =
      test::run_loupe("quantize " + stories_gguf() + " " + dir_ + "/c.gguf --type q4_0 --imatrix " + stories_gguf());
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("not an imatrix"), std::string::npos) << bad.err;
  EXPECT_FALSE(fs::exists(dir_ + "/c.gguf"));
}

TEST_F(Optimize, PruneReachesTheSparsity) {
  for (const char* method : {"magnitude", "wanda"}) {
    const std::string out = dir_ + "/" + method + ".gguf";
    const auto j = run_json("prune " + stories_gguf() + " " + out + " --sparsity 0.3 --method " + method + " --data " +
                            data_ + " --json");
    ASSERT_FALSE(j["tensors"].empty());
    for (const auto& t : j["tensors"]) EXPECT_NEAR(t["sparsity"].get<double>(), 0.3, 0.005) << method << t["name"];
    // The file says the same as the report: zeros counted from the weights loupe loads.
    const GgufFile g = GgufFile::open(out);
    const GgufTensorInfo* q = g.find_tensor("blk.1.attn_q.weight");
    ASSERT_NE(q, nullptr);
    const auto* v = reinterpret_cast<const float*>(q->data);
    int64_t zeros = 0;
    const int64_t n = q->ne[0] * q->ne[1];
    for (int64_t i = 0; i < n; ++i) zeros += v[i] == 0.0f;
    EXPECT_NEAR(static_cast<double>(zeros) / static_cast<double>(n), 0.3, 0.005);
    if (std::string(method) == "wanda")  // per output row
      for (int64_t r = 0; r < q->ne[1]; ++r) {
        int64_t z = 0;
        for (int64_t c = 0; c < q->ne[0]; ++c) z += v[r * q->ne[0] + c] == 0.0f;
        EXPECT_EQ(z, std::llround(0.3 * static_cast<double>(q->ne[0]))) << r;
      }
    EXPECT_NE(g.find_tensor("token_embd.weight"), nullptr);
  }
  // Whole heads: a quarter of each layer's heads, all of their W_O columns.
  const auto h = run_json("prune " + stories_gguf() + " " + dir_ + "/h.gguf --sparsity 0.25 --structured heads --json");
  auto m = load_model(dir_ + "/h.gguf");
  const Weight& wo = m->layers[0].wo;
  std::vector<float> row(static_cast<size_t>(wo.cols));
  std::vector<int> zero_cols(static_cast<size_t>(wo.cols), 0);
  for (int64_t r = 0; r < wo.rows; ++r) {
    wo.row(r, row.data());
    for (int64_t c = 0; c < wo.cols; ++c) zero_cols[static_cast<size_t>(c)] += row[static_cast<size_t>(c)] == 0.0f;
  }
  int dead_heads = 0;
  const int64_t dh = m->config.d_head;
  for (int64_t hd = 0; hd < m->config.n_heads; ++hd) {
    bool all = true;
    for (int64_t c = hd * dh; c < (hd + 1) * dh; ++c) all = all && zero_cols[static_cast<size_t>(c)] == wo.rows;
    dead_heads += all;
  }
  EXPECT_EQ(dead_heads, 2);  // 8 heads
  // Bad requests name what is wrong and write nothing.
  struct Bad {
    std::string args, says;
  };
  for (const Bad& b : std::vector<Bad>{{"--sparsity 1.5", "--sparsity"},
                                       {"--sparsity 0.5 --method random", "--method"},
                                       {"--sparsity 0.5 --method wanda", "--data"},
                                       {"--sparsity 0.5 --structured layers", "--structured"}}) {
    const auto r = test::run_loupe("prune " + stories_gguf() + " " + dir_ + "/bad.gguf " + b.args);
    EXPECT_NE(r.exit_code, 0) << b.args;
    EXPECT_NE(r.err.find(b.says), std::string::npos) << b.args << ": " << r.err;
    EXPECT_FALSE(fs::exists(dir_ + "/bad.gguf")) << b.args;
  }
  const auto r = test::run_loupe("quantize " + stories_gguf() + " " + dir_ + "/bad.gguf --type iq2_xxs");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("iq2_xxs"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ + "/bad.gguf"));
}

TEST_F(Optimize, MonitorKlIsDiffsMeanKld) {
  const std::string q = dir_ + "/q4.gguf", p = dir_ + "/p.gguf";
  run_json("quantize " + stories_gguf() + " " + q + " --type q4_0 --json");
  run_json("prune " + stories_gguf() + " " + p + " --sparsity 0.2 --json");
  const auto m = run_json("monitor " + stories_gguf() + " " + q + " " + p + " --teacher " + stories_gguf() +
                          " --data " + data_ + " --tau 1 --json --svg " + dir_ + "/m.svg");
  ASSERT_EQ(m["checkpoints"].size(), 3U);
  const auto& first = m["checkpoints"][0];
  EXPECT_EQ(first["kl"].get<double>(), 0.0);
  EXPECT_EQ(first["top1_agreement"].get<double>(), 1.0);
  EXPECT_EQ(first["drift"].get<double>(), 0.0);
  for (int i : {1, 2}) {
    const std::string cand = i == 1 ? q : p;
    const auto d = run_json("diff " + stories_gguf() + " " + cand + " --data " + data_ + " --no-layers --json");
    const auto& c = m["checkpoints"][i];
    EXPECT_EQ(c["kl"].get<double>(), d["kld"]["mean"].get<double>()) << cand;
    EXPECT_DOUBLE_EQ(c["kd_loss"].get<double>(), c["kl"].get<double>());  // tau 1
    EXPECT_GT(c["drift"].get<double>(), 0.0);
    EXPECT_EQ(c["n_scored"], d["n_tokens_scored"]);
  }
  // Pruning 20% of the block weights lowers their L1 norm.
  EXPECT_LT(m["checkpoints"][2]["l1"].get<double>(), first["l1"].get<double>());
  EXPECT_NE(test::read_file(dir_ + "/m.svg").find("<svg"), std::string::npos);
  // At tau = 2 the loss is 4 KL of the softened distributions: larger than 0, different from KL.
  const auto t2 = run_json("monitor " + q + " --teacher " + stories_gguf() + " --data " + data_ + " --json");
  EXPECT_EQ(t2["tau"].get<double>(), 2.0);
  EXPECT_GT(t2["checkpoints"][0]["kd_loss"].get<double>(), 0.0);
  EXPECT_NE(t2["checkpoints"][0]["kd_loss"].get<double>(), t2["checkpoints"][0]["kl"].get<double>());
  const auto bad = test::run_loupe("monitor " + q + " --teacher " + stories_gguf() + " --data " + data_ + " --tau 0");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("--tau"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace loupe
