// loupe tensor FILE NAME: the built binary on the quant oracle files (not models: their
// general.architecture is 'quant-oracle') must write each tensor as float32 .npy [32, 1024] with
// the exact values of <type>.f32, bit for bit; the summary (text and JSON) must describe it; a
// model's 1-D tensor keeps its one dimension; a wrong name, a truncated file and a file that is
// not GGUF end with exit 1 and a precise message, never a crash, and leave no output behind.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/npy.h"
#include "test_support.h"

namespace loupe {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const char* const kTypes[] = {"iq2_xxs", "iq2_xs", "iq3_xxs", "iq1_s", "iq4_nl", "iq3_s",
                              "iq2_s",   "iq4_xs", "iq1_m",   "tq1_0", "tq2_0",  "mxfp4"};

std::string quants(const std::string& file) {
  return test::shared("reference/quants/" + file);
}

class TensorCommand : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = test::temp_dir("tensor"); }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_;
};

void expect_same_bits(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0) << what;
}

TEST_F(TensorCommand, WritesEveryQuantTypeExactly) {
  for (const std::string type : kTypes) {
    const std::string out = dir_ + "/" + type + ".npy";
    const auto r = test::run_loupe("tensor " + quants(type + ".gguf") + " weight -o " + out);
    ASSERT_EQ(r.exit_code, 0) << type << ": " << r.err;
    const NpyArray a = read_npy(out);
    EXPECT_EQ(a.shape, (std::vector<int64_t>{32, 1024})) << type;
    expect_same_bits(a.data, test::read_f32(quants(type + ".f32")), type);
    EXPECT_FALSE(fs::exists(out + ".partial")) << type;
  }
}

TEST_F(TensorCommand, ReadsOneTensorOfSeveral) {
  for (const std::string type : {"iq4_xs", "mxfp4", "iq1_m"}) {
    const std::string out = dir_ + "/all.npy";
    const auto r = test::run_loupe("tensor " + quants("all_types.gguf") + " " + type + " -o " + out);
    ASSERT_EQ(r.exit_code, 0) << type << ": " << r.err;
    expect_same_bits(read_npy(out).data, test::read_f32(quants(type + ".f32")), type);
  }
}

TEST_F(TensorCommand, SummaryTextAndJson) {
  const std::vector<float> want = test::read_f32(quants("iq4_nl.f32"));
  double lo = INFINITY, hi = -INFINITY, sum = 0;
  int64_t zeros = 0;
  for (float v : want) {
    lo = std::min(lo, static_cast<double>(v));
    hi = std::max(hi, static_cast<double>(v));
    sum += v;
    zeros += v == 0.0f;
  }
  const auto r = test::run_loupe("tensor " + quants("iq4_nl.gguf") + " weight --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["name"], "weight");
  EXPECT_EQ(j["type"], "iq4_nl");
  EXPECT_EQ(j["ggml_type"], 20);
  EXPECT_EQ(j["shape"], json::array({32, 1024}));
  EXPECT_EQ(j["ne"], json::array({1024, 32}));
  EXPECT_EQ(j["elements"], 32 * 1024);
  EXPECT_EQ(j["bytes"], 32 * 576);
  EXPECT_EQ(j["min"].get<double>(), lo);
  EXPECT_EQ(j["max"].get<double>(), hi);
  EXPECT_NEAR(j["mean"].get<double>(), sum / static_cast<double>(want.size()), 1e-9 * (hi - lo));
  EXPECT_GT(j["std"].get<double>(), 0.0);
  EXPECT_EQ(j["nan"], 0);
  EXPECT_EQ(j["inf"], 0);
  EXPECT_EQ(j["zeros"], zeros);
  EXPECT_GE(zeros, 1024);  // row 3 is all zeros

  const auto t = test::run_loupe("tensor " + quants("iq4_nl.gguf") + " weight");
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.out.find("iq4_nl (ggml type 20)"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("[32, 1024] (GGUF ne [1024, 32])"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("bytes     18432"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("zeros " + std::to_string(zeros)), std::string::npos) << t.out;
}

// A model's tensors: a 1-D norm keeps its one dimension; a matrix is [rows, cols].
TEST_F(TensorCommand, ModelTensors) {
  const std::string model = test::shared("models/stories260K-gguf/stories260K-f32.gguf");
  auto r = test::run_loupe("tensor " + model + " output_norm.weight --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["shape"], json::array({64}));
  r = test::run_loupe("tensor " + model + " token_embd.weight -o " + dir_ + "/e.npy");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_npy(dir_ + "/e.npy").shape, (std::vector<int64_t>{512, 64}));
}

TEST_F(TensorCommand, UnknownNameNamesFileAndTensor) {
  const std::string file = quants("all_types.gguf");
  const std::string out = dir_ + "/x.npy";
  const auto r = test::run_loupe("tensor " + file + " iq4_xz -o " + out);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(file), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("no tensor named 'iq4_xz'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("iq4_xs"), std::string::npos) << r.err;  // the closest names
  EXPECT_FALSE(fs::exists(out));
}

// Truncated copies (header cut, data cut) and a file that is not GGUF: exit 1, one error line
// naming the file, no output.
TEST_F(TensorCommand, BadFilesGivePreciseErrors) {
  const std::string bytes = test::read_file(quants("iq2_s.gguf"));
  struct Case {
    std::string name;
    std::string content;
    std::string message;
  };
  const Case cases[] = {
      {"data_cut.gguf", bytes.substr(0, bytes.size() - 100), "runs past the end of the file"},
      {"header_cut.gguf", bytes.substr(0, 40), "truncated or corrupt file"},
      {"not_gguf.gguf", std::string(64, 'x'), "not a GGUF file"},
      {"empty.gguf", "", "unexpected end of file"},
  };
  for (const Case& c : cases) {
    const std::string path = dir_ + "/" + c.name;
    std::ofstream(path, std::ios::binary) << c.content;
    const std::string out = dir_ + "/out.npy";
    const auto r = test::run_loupe("tensor " + path + " weight -o " + out);
    EXPECT_EQ(r.exit_code, 1) << c.name << ": " << r.err;
    EXPECT_EQ(r.err.rfind("error: " + path, 0), 0u) << c.name << ": " << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.name << ": " << r.err;
    EXPECT_FALSE(fs::exists(out)) << c.name;
  }
}

}  // namespace
}  // namespace loupe
