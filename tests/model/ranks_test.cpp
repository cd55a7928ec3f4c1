// `mpirun -np N loupe eval`: the documents split across ranks give the single process's result
// to the byte (JSON and tables), for 1, 2 and 3 ranks; a rank that dies fails the job with no
// output; an error names its rank. Skipped when loupe was built without MPI or mpirun is missing.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

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
