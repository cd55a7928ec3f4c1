// loupe eval on stories260K (Q8_0 GGUF: quantised models work too): per-document and overall
// perplexity with its error, surprising tokens and the degenerate-text flags, against a direct
// computation from the model's logits.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/driver.h"
#include "model/weights.h"
#include "test_support.h"
#include "tokenizer/tokenizer.h"
#include "unit/xml_check.h"

namespace loupe {
namespace {

const std::string kQ8 = "models/stories260K-gguf/stories260K-q8_0.gguf";

std::vector<double> nll_of(const Model& m, const std::vector<int32_t>& tokens) {
  Interpreter interp(m, RunOptions{2, 0, 256});
  const int64_t V = m.config.d_vocab;
  std::vector<double> nll;
  forward(interp, tokens, true, [&](const float* l, int64_t rows, int64_t first) {
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t pos = first + i;
      if (pos + 1 >= static_cast<int64_t>(tokens.size())) continue;
      const float* row = l + i * V;
      double z = 0;
      for (int64_t k = 0; k < V; ++k) z += std::exp(static_cast<double>(row[k]));
      nll.push_back(std::log(z) - row[tokens[static_cast<size_t>(pos + 1)]]);
    }
  });
  return nll;
}

struct PplError {
  double ppl, error;
};

PplError ppl_of(const std::vector<double>& nll) {
  const double n = static_cast<double>(nll.size());
  double mean = 0;
  for (double v : nll) mean += v;
  mean /= n;
  double var = 0;
  for (double v : nll) var += (v - mean) * (v - mean);
  const double err = nll.size() > 10 ? std::sqrt(var / n / (n - 1)) : 0.0;
  return {std::exp(mean), std::exp(mean) * err};
}

TEST(AnalysisEval, PerplexityPerDocumentAndOverall) {
  const std::string dir = test::temp_dir("eval");
  const std::vector<std::string> docs = {
      "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.",
      "Tom had a big red ball. He liked to throw it high in the sky and catch it with his hands.",
      "the cat the cat the cat the cat the cat the cat the cat the cat the cat the cat",
      // Trailing white space does not hide the loop.
      "the cat the cat the cat the cat the cat the cat the cat the cat the cat the cat  \n \n",
  };
  {
    std::ofstream out(dir + "/d.jsonl");
    for (const auto& d : docs) out << nlohmann::json{{"text", d}, {"id", 1}}.dump() << "\n";
  }
  auto r = test::run_loupe("eval " + test::shared(kQ8) + " --data " + dir + "/d.jsonl --json -t 2 --svg " + dir +
                           "/loss.svg --docs-out " + dir + "/docs.jsonl");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  auto m = load_model(test::shared(kQ8));
  std::vector<double> all;
  ASSERT_EQ(j["documents"].size(), docs.size());
  for (size_t d = 0; d < docs.size(); ++d) {
    const std::vector<double> nll = nll_of(*m, m->tokenizer->encode(docs[d], true));
    const PplError p = ppl_of(nll);
    const auto& jd = j["documents"][d];
    EXPECT_NEAR(jd["ppl"].get<double>(), p.ppl, 1e-9 * p.ppl) << d;
    EXPECT_NEAR(jd["ppl_error"].get<double>(), p.error, 1e-7 * p.ppl) << d;
    EXPECT_EQ(jd["n_tokens_scored"].get<size_t>(), nll.size());
    all.insert(all.end(), nll.begin(), nll.end());
  }
  const PplError p = ppl_of(all);
  EXPECT_NEAR(j["ppl"].get<double>(), p.ppl, 1e-9 * p.ppl);
  EXPECT_NEAR(j["ppl_error"].get<double>(), p.error, 1e-7 * p.ppl);
  EXPECT_EQ(j["n_tokens_scored"].get<size_t>(), all.size());
  // The most surprising token is the largest loss.
  EXPECT_NEAR(j["surprising"][0]["loss"].get<double>(), *std::max_element(all.begin(), all.end()), 1e-9);
  // Only the "the cat" documents loop, with the period of " the cat" in tokens.
  EXPECT_TRUE(j["documents"][0]["repetition_loop"].is_null());
  EXPECT_TRUE(j["documents"][1]["repetition_loop"].is_null());
  ASSERT_FALSE(j["documents"][2]["repetition_loop"].is_null());
  const size_t period = m->tokenizer->encode("the cat", false).size();  // dummy prefix: "▁the▁cat"
  EXPECT_EQ(j["documents"][2]["repetition_loop"]["period"].get<size_t>(), period);
  EXPECT_GT(j["documents"][2]["ngram_repetition"].get<double>(), 0.5);
  ASSERT_FALSE(j["documents"][3]["repetition_loop"].is_null());
  EXPECT_EQ(j["documents"][3]["repetition_loop"]["period"].get<size_t>(), period);
  EXPECT_EQ(j["degeneration"]["docs_with_repetition_loop"].get<int>(), 2);
  // Streamed per-document lines and a loss histogram.
  EXPECT_EQ(std::count(std::istreambuf_iterator<char>(*std::make_unique<std::ifstream>(dir + "/docs.jsonl")),
                       std::istreambuf_iterator<char>(), '\n'),
            4);
  EXPECT_EQ(test::read_file(dir + "/loss.svg").rfind("<svg", 0), 0u);
  EXPECT_GE(test::parse_xml(test::read_file(dir + "/loss.svg"))->all("text").size(), 2u);
  std::filesystem::remove_all(dir);
}

TEST(AnalysisEval, TerminalViewAndLongDocumentWindows) {
  const std::string dir = test::temp_dir("eval");
  // A document longer than the context (--ctx 32) is cut into windows overlapping by one token:
  // every token after the first is still scored once.
  std::string long_doc;
  for (int i = 0; i < 6; ++i) long_doc += "Once upon a time, there was a little girl named Lily. ";
  std::ofstream(dir + "/d.txt") << long_doc << "\n";
  auto r = test::run_loupe("eval " + test::shared(kQ8) + " --data " + dir + "/d.txt --ctx 32 -t 2 --colour never");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto m = load_model(test::shared(kQ8));
  const size_t n = m->tokenizer->encode(long_doc, true).size();
  ASSERT_GT(n, 64u);
  EXPECT_NE(r.out.find(std::to_string(n - 1) + " tokens scored"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("coloured by loss"), std::string::npos);
  EXPECT_NE(r.out.find("PPL = "), std::string::npos);

  auto bad = test::run_loupe("eval " + test::shared(kQ8) + " --data " + dir + "/d.txt --chunk 2");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("--chunk: 2 is too short"), std::string::npos) << bad.err;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace loupe
