// generate says why it stopped and how long it took (stderr), and warns about a context past
// the one the model was trained for.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "test_support.h"

namespace loupe {
namespace {

const std::string kModel = "models/stories260K/stories260K.bin";

// The generated count and the reason from "stop: REASON (N tokens generated); ...".
std::pair<std::string, int> stop_of(const test::CommandResult& r) {
  std::smatch m;
  const std::regex line("stop: ([a-zA-Z ]+) \\((\\d+) tokens generated\\); prompt \\d+ tokens in [0-9.]+ s");
  if (!std::regex_search(r.err, m, line)) return {"", -1};
  return {m[1].str(), std::stoi(m[2].str())};
}

TEST(GenerateStop, SaysWhyItStopped) {
  const std::string m = test::shared(kModel);
  auto r = test::run_loupe("generate " + m + " -p Once --temp 0 -n 5");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(stop_of(r), (std::pair<std::string, int>{"n reached", 5})) << r.err;
  // A 40-position context: the prompt's 2 positions and 38 fed tokens fill it; the 39th token is
  // sampled from the last position.
  r = test::run_loupe("generate " + m + " -p Once --temp 0 -n 400 --ctx 40");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(stop_of(r), (std::pair<std::string, int>{"context full", 39})) << r.err;
  // Greedy stories260K ends its story with BOS (llama2.c's convention) before 400 tokens.
  r = test::run_loupe("generate " + m + " -p Once --temp 0 -n 400");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto [reason, n] = stop_of(r);
  EXPECT_EQ(reason, "BOS sampled") << r.err;
  EXPECT_GT(n, 0);
  EXPECT_LT(n, 400);
}

TEST(GenerateStop, WarnsPastTheTrainedContext) {
  const std::string m = test::shared(kModel);
  auto r = test::run_loupe("generate " + m + " -p Once --temp 0 -n 2 --ctx 1000");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: --ctx 1000 is past the 512 positions " + m + " was trained for"), std::string::npos)
      << r.err;
  r = test::run_loupe("generate " + m + " -p Once --temp 0 -n 2 --ctx 512");
  EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace loupe

namespace loupe {
namespace {

TEST(InfoMeta, EveryGgufKeyWithArraysSummarised) {
  const std::string gguf = test::shared("models/stories260K-gguf/stories260K-f32.gguf");
  const auto r = test::run_loupe("info " + gguf + " --meta --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json meta = nlohmann::json::parse(r.out)["metadata"];
  EXPECT_EQ(meta["llama.block_count"], 5);
  EXPECT_EQ(meta["general.architecture"], "llama");
  EXPECT_EQ(meta["tokenizer.ggml.add_bos_token"], true);
  EXPECT_EQ(meta["tokenizer.ggml.tokens"]["length"], 512);
  EXPECT_EQ(meta["tokenizer.ggml.tokens"]["array_of"], "string");
  EXPECT_EQ(meta["tokenizer.ggml.tokens"]["head"][1], "<s>");
  const auto text = test::run_loupe("info " + gguf + " --meta");
  EXPECT_NE(text.out.find("llama.context_length"), std::string::npos);
  // Not a GGUF file: said so.
  const std::string hf = test::shared("models/stories260K-hf");
  const auto bad = test::run_loupe("info " + hf + " --meta");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("metadata keys are GGUF's"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace loupe
