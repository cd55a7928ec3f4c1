// Hostile and broken tokenizer files: each must fail with a precise loupe::Error (these tests
// also run under ASan + UBSan).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "test_support.h"
#include "tokenizer/sentencepiece_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace {

class TokenizerBadInput : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = loupe::test::temp_dir("tokenizer_bad_input"); }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& bytes) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  // Loads path and returns the error message (fails the test when loading succeeds).
  static std::string load_error(const std::string& path) {
    try {
      loupe::load_tokenizer(path);
    } catch (const loupe::Error& e) {
      return e.what();
    }
    ADD_FAILURE() << path << ": loaded without error";
    return "";
  }

  std::string dir_;
};

std::string le32(int32_t v) {
  std::string s(4, '\0');
  std::memcpy(s.data(), &v, 4);
  return s;
}

std::string llama2c_token(float score, const std::string& text) {
  std::string s(4, '\0');
  std::memcpy(s.data(), &score, 4);
  return s + le32(static_cast<int32_t>(text.size())) + text;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST_F(TokenizerBadInput, EmptyFile) {
  const std::string path = write("empty.bin", "");
  const std::string err = load_error(path);
  EXPECT_TRUE(contains(err, path)) << err;
  EXPECT_TRUE(contains(err, "empty file")) << err;
}

TEST_F(TokenizerBadInput, MissingFile) {
  const std::string err = load_error(dir_ + "/no-such-file.bin");
  EXPECT_TRUE(contains(err, "no-such-file.bin")) << err;
}

TEST_F(TokenizerBadInput, Llama2cTruncatedToken) {
  const std::string good = le32(8) + llama2c_token(0, "<unk>") + llama2c_token(0, "<s>");
  // Cut into the second token's text.
  const std::string path = write("truncated.bin", good.substr(0, good.size() - 2));
  const std::string err = load_error(path);
  EXPECT_TRUE(contains(err, "token 1 at offset 17: length 3 runs past the end of the file")) << err;
}

TEST_F(TokenizerBadInput, Llama2cTruncatedHeader) {
  const std::string good = le32(8) + llama2c_token(0, "<unk>") + "\x01\x02\x03";
  const std::string err = load_error(write("header.bin", good));
  EXPECT_TRUE(contains(err, "token 1 at offset 17: truncated header")) << err;
}

TEST_F(TokenizerBadInput, Llama2cAbsurdLength) {
  std::string bytes = le32(8) + llama2c_token(0, "<unk>");
  float score = 0;
  bytes.append(reinterpret_cast<const char*>(&score), 4);
  bytes += le32(9999999) + "abc";
  const std::string err = load_error(write("absurd.bin", bytes));
  EXPECT_TRUE(contains(err, "token 1 at offset 17: length 9999999 runs past the end of the file")) << err;
}

TEST_F(TokenizerBadInput, Llama2cNegativeLength) {
  std::string bytes = le32(8);
  float score = 0;
  bytes.append(reinterpret_cast<const char*>(&score), 4);
  bytes += le32(-5);
  const std::string err = load_error(write("negative.bin", bytes));
  EXPECT_TRUE(contains(err, "token 0 at offset 4: negative length -5")) << err;
}

TEST_F(TokenizerBadInput, Llama2cHeaderOnly) {
  const std::string err = load_error(write("header-only.bin", le32(8)));
  EXPECT_TRUE(contains(err, "no tokens")) << err;
}

TEST_F(TokenizerBadInput, Llama2cByteFallbackBeyondVocab) {
  // A 3-token vocabulary has no byte-fallback tokens: encoding an unknown character is an error.
  const std::string path =
      write("tiny.bin", le32(5) + llama2c_token(0, "<unk>") + llama2c_token(0, "<s>") + llama2c_token(0, "</s>"));
  const auto tok = loupe::load_tokenizer(path);
  EXPECT_EQ(tok->n_vocab(), 3);
  try {
    tok->encode("x", true);
    ADD_FAILURE() << "no error";
  } catch (const loupe::Error& e) {
    EXPECT_TRUE(contains(e.what(), "has no byte-fallback token")) << e.what();
  }
}

TEST_F(TokenizerBadInput, NotATokenizer) {
  const std::string err = load_error(write("random.dat", std::string("\xFF\xFF\xFF\xFF garbage", 12)));
  EXPECT_TRUE(contains(err, "not a recognised tokenizer")) << err;
}

TEST_F(TokenizerBadInput, JsonThatIsNotATokenizer) {
  const std::string err =
      load_error(write("config.json", R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 64})"));
  EXPECT_TRUE(contains(err, "not a hugging face tokenizer.json")) << err;
}

TEST_F(TokenizerBadInput, BrokenJson) {
  const std::string err = load_error(write("broken.json", R"({"model": {"type": "BPE", "vocab": {"a": 0)"));
  EXPECT_TRUE(contains(err, "not valid json")) << err;
}

TEST_F(TokenizerBadInput, JsonWithUnsupportedModel) {
  const std::string err = load_error(write("wp.json", R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}})"));
  EXPECT_TRUE(contains(err, "unsupported tokenizer model type 'WordPiece'")) << err;
}

TEST_F(TokenizerBadInput, JsonWithAbsurdId) {
  const std::string err =
      load_error(write("absurd.json", R"({"model": {"type": "BPE", "vocab": {"a": 2000000000}, "merges": []}})"));
  EXPECT_TRUE(contains(err, "model.vocab 'a': id 2000000000 is out of range")) << err;
}

TEST_F(TokenizerBadInput, JsonWithBadMerge) {
  const std::string err = load_error(
      write("merge.json", R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b", 7]}})"));
  EXPECT_TRUE(contains(err, "model.merges[1] is neither")) << err;
}

// As Hugging Face's BPE builder: a merge whose parts or result are not tokens is refused.
TEST_F(TokenizerBadInput, JsonMergeOutsideTheVocabulary) {
  std::string err = load_error(write(
      "part.json", R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b", "a c"]}})"));
  EXPECT_TRUE(contains(err, "model.merges[1] (\"a\" + \"c\") names \"c\", which is not in model.vocab")) << err;
  err = load_error(write("result.json",
                         R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["b", "a"]]}})"));
  EXPECT_TRUE(contains(err, "model.merges[0] (\"b\" + \"a\") names \"ba\"")) << err;
}

TEST_F(TokenizerBadInput, JsonWithBadRegex) {
  const std::string err = load_error(write("regex.json", R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
      "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated"}})"));
  EXPECT_TRUE(contains(err, "regex does not compile")) << err;
}

TEST_F(TokenizerBadInput, MinimalJsonTokenizerWorks) {
  const std::string path = write("mini.json", R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3},
      "merges": [["a", "b"]]}, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false},
      "added_tokens": [{"id": 4, "content": "<eos>", "special": true}]})");
  const auto tok = loupe::load_tokenizer(path);
  EXPECT_EQ(tok->n_vocab(), 5);
  EXPECT_EQ(tok->encode("ab ab<eos>", false, true), (std::vector<int32_t>{2, 3, 2, 4}));
  EXPECT_EQ(tok->decode(std::vector<int32_t>{2, 3, 2, 4}), "ab ab");
}

// Found by fuzz/tokenizer_model.cpp: a model proto whose fourth piece damaged into bytes that
// the library reads as an empty piece; libsentencepiece throws a foreign exception from its
// trie builder (Darts: "zero-length key") instead of returning a status.
TEST_F(TokenizerBadInput, SentencePieceModelWithAnEmptyPiece) {
  const std::string bytes(
      "\x0a\x0e\x0a\x05\x3c\x75\x6e\x6b\x3e\x15\x00\x00\x00\x00\x18\x02\x0a\x0c\x0a\x03\x3c\x73\x3e\x15\x00"
      "\x00\x00\x00\x18\x03\x2a\x0d\x0a\x04\x3c\x2f\x73\x3e\x15\x00\x00\x00\x00\x18\x03\x0a\x0f\x0a\x06\x00"
      "\x00\x00\x3f\x30\x3e\x15\x00\x0a\x74\x79\x12\x00",
      62);
  try {
    (void)loupe::sentencepiece_tokenizer_from_bytes(bytes, "fuzzed.model");
    ADD_FAILURE() << "loaded";
  } catch (const loupe::Error& e) {
    EXPECT_TRUE(contains(e.what(), "fuzzed.model: not a valid sentencepiece model")) << e.what();
  }
}

TEST_F(TokenizerBadInput, TruncatedSentencePieceModel) {
  const std::string model = loupe::test::shared("models/stories260K/tok512.model");
  if (!std::filesystem::exists(model)) GTEST_SKIP();
  const std::string bytes = loupe::test::read_file(model);
  const std::string err = load_error(write("cut.model", bytes.substr(0, bytes.size() / 2)));
  EXPECT_TRUE(contains(err, "cut.model")) << err;
}

TEST_F(TokenizerBadInput, GgufWithoutTokenizer) {
  const std::string gguf = loupe::test::shared("models/stories260K-gguf/stories260K-f32.gguf");
  if (!std::filesystem::exists(gguf)) GTEST_SKIP();
  // The model GGUF does carry a tokenizer: it loads; a cut copy must fail cleanly.
  const auto tok = loupe::load_tokenizer(gguf);
  EXPECT_EQ(tok->kind(), "spm");
  EXPECT_EQ(tok->n_vocab(), 512);
  const std::string bytes = loupe::test::read_file(gguf);
  const std::string err = load_error(write("cut.gguf", bytes.substr(0, 1000)));
  EXPECT_TRUE(contains(err, "cut.gguf")) << err;
}

TEST_F(TokenizerBadInput, RandomBytesNeverCrash) {
  // Mutations of a real llama2.c tokenizer: every outcome is a tokenizer or an Error.
  const std::string bin = loupe::test::shared("models/stories260K/tok512.bin");
  if (!std::filesystem::exists(bin)) GTEST_SKIP();
  const std::string bytes = loupe::test::read_file(bin);
  uint32_t state = 12345;
  for (int round = 0; round < 50; ++round) {
    std::string mutated = bytes;
    for (int k = 0; k < 8; ++k) {
      state = state * 1664525u + 1013904223u;
      mutated[state % mutated.size()] = static_cast<char>(state >> 24);
    }
    const std::string path = write("mutated.bin", mutated.substr(0, mutated.size() - (state % 7)));
    try {
      const auto tok = loupe::load_tokenizer(path);
      const auto ids = tok->encode("Once upon a time \xE6\x97\xA5", true);
      (void)tok->decode(ids);
    } catch (const loupe::Error&) {
    }
  }
}

}  // namespace
