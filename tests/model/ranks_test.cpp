// `mpirun -np N loupe eval | diff | activations | explore`: the work split across ranks gives the
// single process's result, for 1, 2 and 3 ranks: to the byte for eval, diff and explore (JSON and
// tables); for activations every figure but std and kurtosis to the bit, those two within
// rounding. A rank that dies fails the job with no output; an error names its rank. Skipped when
// loupe was built without MPI or mpirun is missing.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "test_support.h"

namespace loupe {
namespace {

bool have_mpirun() {
#ifndef LOUPE_TEST_MPI
  return false;
#else
  return std::system("command -v mpirun >/dev/null 2>&1") == 0;
#endif
}

struct Out {
  int code = 0;
  std::string out, err;
};

Out mpirun(int np, const std::string& args) {
  const std::string dir = test::temp_dir("mpi");
  const std::string cmd = "mpirun --allow-run-as-root --oversubscribe -np " + std::to_string(np) + " " + args + " >" +
                          dir + "/out 2>" + dir + "/err";
  const int status = std::system(cmd.c_str());
  Out o;
  o.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  o.out = test::read_file(dir + "/out");
  o.err = test::read_file(dir + "/err");
  std::filesystem::remove_all(dir);
  return o;
}

struct Ranks : ::testing::Test {
  void SetUp() override {
    if (!have_mpirun()) GTEST_SKIP() << "loupe built without MPI, or no mpirun";
    dir = test::temp_dir("ranks");
    data = dir + "/d.jsonl";
    std::ofstream f(data);
    const char* docs[] = {"Once upon a time, there was a little girl named Lily.",
                          "The cat sat on the mat.",
                          "Tom had a red ball. He liked to throw it high.",
                          "x",
                          "The sun was hot and the sky was blue. Mia went to the park with her mom.",
                          "A bird sang in the tree.",
                          "Ben and Sue played with blocks all day long.",
                          "They were happy. The end."};
    for (const char* d : docs) f << "{\"text\": \"" << d << "\"}\n";
  }
  void TearDown() override {
    if (!dir.empty()) std::filesystem::remove_all(dir);
  }
  std::string dir, data;
};

TEST_F(Ranks, EvalSplitAcrossRanksEqualsOneProcess) {
  const std::string m = test::shared("models/stories260K-gguf/stories260K-q8_0.gguf");
  for (const std::string flags : {" --json", " --colour never"}) {
    const auto one = test::run_loupe("eval " + m + " --data " + data + flags + " -t 1 --surprising 7");
    ASSERT_EQ(one.exit_code, 0) << one.err;
    for (int np : {1, 2, 3}) {
      const Out o =
          mpirun(np, test::loupe_binary() + " eval " + m + " --data " + data + flags + " -t 1 --surprising 7");
      ASSERT_EQ(o.code, 0) << np << " ranks: " << o.err;
      EXPECT_EQ(o.out, one.out) << np << " ranks" << flags;
    }
  }
}

TEST_F(Ranks, DiffSplitAcrossRanksEqualsOneProcess) {
  const std::string f32 = test::shared("models/stories260K-gguf/stories260K-f32.gguf");
  const std::string q8 = test::shared("models/stories260K-gguf/stories260K-q8_0.gguf");
  for (const std::string flags : {" --json --worst 5", "", " --chunk 16 --json", " --numerics-vs llama.cpp --json"}) {
    const std::string args = " diff " + f32 + " " + q8 + " --data " + data + flags + " -t 1";
    const auto one = test::run_loupe(args);
    ASSERT_EQ(one.exit_code, 0) << one.err;
    for (int np : {1, 2, 3}) {
      const Out o = mpirun(np, test::loupe_binary() + args);
      ASSERT_EQ(o.code, 0) << np << " ranks: " << o.err;
      EXPECT_EQ(o.out, one.out) << np << " ranks" << flags;
    }
  }
}

// Every figure of a hook but std and kurtosis is the same bits; those two are merged moments.
void expect_same_activations(const nlohmann::json& a, const nlohmann::json& b, const std::string& path) {
  if (a.is_object()) {
    ASSERT_TRUE(b.is_object()) << path;
    ASSERT_EQ(a.size(), b.size()) << path;
    for (auto it = a.begin(); it != a.end(); ++it) {
      ASSERT_TRUE(b.contains(it.key())) << path << "." << it.key();
      const auto& x = it.value();
      const auto& y = b[it.key()];
      if (it.key() == "std" || it.key() == "kurtosis") {
        EXPECT_NEAR(x.get<double>(), y.get<double>(), 1e-12 * std::max(1.0, std::fabs(x.get<double>())))
            << path << "." << it.key();
        continue;
      }
      expect_same_activations(x, y, path + "." + it.key());
    }
  } else if (a.is_array()) {
    ASSERT_TRUE(b.is_array()) << path;
    ASSERT_EQ(a.size(), b.size()) << path;
    for (size_t i = 0; i < a.size(); ++i) expect_same_activations(a[i], b[i], path + "[" + std::to_string(i) + "]");
  } else {
    EXPECT_EQ(a, b) << path;
  }
}

TEST_F(Ranks, ActivationsSplitAcrossRanksEqualOneProcess) {
  // A dense model and a mixture of experts (the expert load merges too).
  for (const std::string m :
       {test::shared("models/stories260K-gguf/stories260K-q8_0.gguf"), test::shared("reference/archs/qwen3moe.gguf")}) {
    const std::string args = " activations " + m + " --data " + data + " --json -t 1";
    const auto one = test::run_loupe(args);
    ASSERT_EQ(one.exit_code, 0) << one.err;
    const nlohmann::json a = nlohmann::json::parse(one.out);
    ASSERT_GT(a["hooks"].size(), 10u);
    for (int np : {2, 3}) {
      const Out o = mpirun(np, test::loupe_binary() + args);
      ASSERT_EQ(o.code, 0) << np << " ranks: " << o.err;
      SCOPED_TRACE(testing::Message() << m << ", " << np << " ranks");
      expect_same_activations(a, nlohmann::json::parse(o.out), "");
    }
  }
}

TEST_F(Ranks, ExploreSplitAcrossRanksEqualsOneProcess) {
  // Duplicates and near duplicates far apart (so across the ranks' shares), an empty document and
  // a broken JSONL line: the report is the same bytes, duplicate examples with their snippets.
  const std::vector<std::string> words = {"the",  "cat",  "sat", "on",  "a",    "mat", "and", "dog",  "ran", "to",
                                          "park", "with", "big", "red", "ball", "sun", "sky", "blue", "tree"};
  std::mt19937 rng(3);
  std::vector<std::string> docs;
  for (int i = 0; i < 300; ++i) {
    if (i > 160 && rng() % 4 == 0) {     // only in the later shares: their snippets come from a second read
      docs.push_back(docs[rng() % 10]);  // a duplicate of one of the first documents
      continue;
    }
    std::string d;
    for (unsigned k = 0, n = 3 + rng() % 30; k < n; ++k) d += (k ? " " : "") + words[rng() % words.size()];
    if (i > 20 && rng() % 20 == 0) d = docs[rng() % 10] + " zebra";  // a near duplicate
    docs.push_back(d);
  }
  docs[7].clear();
  const std::string corpus = dir + "/corpus.jsonl";
  {
    std::ofstream f(corpus);
    for (size_t i = 0; i < docs.size(); ++i) {
      if (i == 150) f << "{\"text\": broken\n";
      f << nlohmann::json({{"text", docs[i]}}).dump() << "\n";
    }
  }
  const std::string tok = " --tokenizer " + test::shared("models/stories260K/tok512.model");
  for (const std::string& flags : {std::string(" --json"), tok + " --json", tok}) {
    const std::string args = " explore " + corpus + flags + " --threads 1 --no-progress";
    const auto one = test::run_loupe(args);
    ASSERT_EQ(one.exit_code, 0) << one.err;
    ASSERT_NE(one.out.find("exact"), std::string::npos);
    for (int np : {1, 2, 3}) {
      const Out o = mpirun(np, test::loupe_binary() + args);
      ASSERT_EQ(o.code, 0) << np << " ranks: " << o.err;
      EXPECT_EQ(o.out, one.out) << np << " ranks" << flags;
    }
  }
  const nlohmann::json j = nlohmann::json::parse(test::run_loupe(" explore " + corpus + " --json").out);
  EXPECT_GT(j["exact_duplicate_documents"].get<int>(), 10);
  EXPECT_GT(j["near_duplicate_documents"].get<int>(), 0);
  EXPECT_EQ(j["problems"]["count"].get<int>(), 1);
}

TEST_F(Ranks, ARankThatDiesFailsTheJobWithNoResult) {
  const std::string m = test::shared("models/stories260K-gguf/stories260K-q8_0.gguf");
  const Out o = mpirun(3, "sh -c 'if [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then kill -9 $$; fi; exec " +
                              test::loupe_binary() + " eval " + m + " --data " + data + " --json -t 1'");
  EXPECT_NE(o.code, 0);
  EXPECT_EQ(o.out, "");
  const Out bad = mpirun(2, test::loupe_binary() + " eval " + m + " --data " + dir + "/missing.txt -t 1");
  EXPECT_NE(bad.code, 0);
  // Whichever rank fails first names itself (the abort may stop the other before it prints).
  EXPECT_TRUE(bad.err.find("error: rank 0 of 2: ") != std::string::npos ||
              bad.err.find("error: rank 1 of 2: ") != std::string::npos)
      << bad.err;
  EXPECT_NE(bad.err.find("missing.txt"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace loupe
