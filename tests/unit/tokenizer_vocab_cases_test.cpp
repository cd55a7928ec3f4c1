// llama.cpp's tokenizer test vectors (shared/tokenizers/llamacpp-vocab): every ggml-vocab-*.gguf
// present must reproduce its .out for each .inp case, encoded as llama.cpp's test-tokenizer-0 does
// (no BOS, parse_special off). The Hugging Face tokenizer.json files are checked against the
// vectors of the GGUF vocabularies they correspond to.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "test_support.h"
#include "tokenizer/tokenizer.h"

namespace {

struct VocabCase {
  std::string text;
  std::vector<int32_t> ids;
};

// .inp: cases separated by "\n__ggml_vocab_test__\n" (the file ends with one); .out: one line of
// space-separated ids per case.
std::vector<VocabCase> read_cases(const std::string& base) {
  const std::string inp = loupe::test::read_file(base + ".inp");
  const std::string out = loupe::test::read_file(base + ".out");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  size_t pos = 0;
  while (pos < inp.size()) {
    const size_t next = inp.find(sep, pos);
    if (next == std::string::npos) {
      texts.push_back(inp.substr(pos));
      break;
    }
    texts.push_back(inp.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::vector<VocabCase> cases;
  std::istringstream lines(out);
  std::string line;
  size_t i = 0;
  while (std::getline(lines, line)) {
    VocabCase c;
    c.text = i < texts.size() ? texts[i] : "";
    std::istringstream ids(line);
    int32_t id = 0;
    while (ids >> id) c.ids.push_back(id);
    cases.push_back(std::move(c));
    ++i;
  }
  EXPECT_EQ(texts.size(), cases.size()) << base;
  return cases;
}

std::string ids_string(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += std::to_string(id) + " ";
  return s;
}

// Encodes every case; returns how many match, reporting the first mismatches.
size_t check_cases(const loupe::Tokenizer& tok, const std::vector<VocabCase>& cases, const std::string& name) {
  size_t passed = 0, reported = 0;
  for (const VocabCase& c : cases) {
    const std::vector<int32_t> got = tok.encode(c.text, /*add_bos=*/false, /*parse_special=*/false);
    if (got == c.ids) {
      ++passed;
    } else if (reported++ < 5) {
      ADD_FAILURE() << name << ": text \"" << c.text << "\"\n  expected " << ids_string(c.ids) << "\n  got      "
                    << ids_string(got);
    }
  }
  return passed;
}

std::string vocab_dir() {
  return loupe::test::shared("tokenizers/llamacpp-vocab");
}

class TokenizerVocabCases : public ::testing::TestWithParam<const char*> {};

TEST_P(TokenizerVocabCases, GgufVocabMatchesLlamaCppVectors) {
  const std::string base = vocab_dir() + "/ggml-vocab-" + GetParam() + ".gguf";
  if (!std::filesystem::exists(base) || !std::filesystem::exists(base + ".inp")) GTEST_SKIP() << base << " absent";
  const auto tok = loupe::load_tokenizer(base);
  const auto cases = read_cases(base);
  ASSERT_FALSE(cases.empty());
  EXPECT_EQ(check_cases(*tok, cases, GetParam()), cases.size());
}

INSTANTIATE_TEST_SUITE_P(TokenizerGguf, TokenizerVocabCases,
                         ::testing::Values("llama-spm", "phi-3", "gpt-2", "mpt", "deepseek-llm", "deepseek-coder",
                                           "falcon", "starcoder", "refact", "bert-bge"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           std::string s = info.param;
                           for (char& c : s)
                             if (c == '-') c = '_';
                           return s;
                         });

struct HfCase {
  const char* json;   // under shared/tokenizers/hf
  const char* vocab;  // the llamacpp-vocab vectors it must reproduce
};

class TokenizerHfJsonCases : public ::testing::TestWithParam<HfCase> {};

TEST_P(TokenizerHfJsonCases, MatchesLlamaCppVectors) {
  const std::string json = loupe::test::shared(std::string("tokenizers/hf/") + GetParam().json);
  const std::string base = vocab_dir() + "/ggml-vocab-" + GetParam().vocab + ".gguf";
  if (!std::filesystem::exists(json) || !std::filesystem::exists(base + ".inp")) GTEST_SKIP();
  const auto tok = loupe::load_tokenizer(json);
  EXPECT_EQ(tok->kind(), "bpe");
  const auto cases = read_cases(base);
  EXPECT_EQ(check_cases(*tok, cases, GetParam().json), cases.size());
}

INSTANTIATE_TEST_SUITE_P(TokenizerHf, TokenizerHfJsonCases,
                         ::testing::Values(HfCase{"llama3/tokenizer.json", "llama-bpe"},
                                           HfCase{"qwen3/tokenizer.json", "qwen2"}),
                         [](const ::testing::TestParamInfo<HfCase>& info) {
                           std::string s = info.param.json;
                           return s.substr(0, s.find('/'));
                         });

}  // namespace
