// SentencePiece-family tokenizers against recorded vectors: llama2.c tok*.bin (run.c's encode),
// SentencePiece tokenizer.model (libsentencepiece), and the GPT-2 vectors on the GGUF vocabulary.
#include <gtest/gtest.h>

#include <sentencepiece_processor.h>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "test_support.h"
#include "tokenizer/hf_tokenizer_json.h"
#include "tokenizer/tokenizer.h"

namespace {

using nlohmann::json;

json read_json(const std::string& path) {
  return json::parse(loupe::test::read_file(path));
}

std::vector<int32_t> ids_of(const json& j) {
  return j.get<std::vector<int32_t>>();
}

std::string tok512_vectors() {
  return loupe::test::shared("reference/stories260K/tok512_vectors.json");
}
std::string llama2_vectors() {
  return loupe::test::shared("tokenizers/llama2/llama2_tokenizer_vectors.json");
}

TEST(TokenizerLlama2c, Tok512MatchesRunCEncode) {
  const std::string bin = loupe::test::shared("models/stories260K/tok512.bin");
  if (!std::filesystem::exists(bin) || !std::filesystem::exists(tok512_vectors())) GTEST_SKIP();
  const auto tok = loupe::load_tokenizer(bin);
  EXPECT_EQ(tok->kind(), "llama2c");
  EXPECT_EQ(tok->n_vocab(), 512);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  EXPECT_TRUE(tok->strips_leading_space());
  const json v = read_json(tok512_vectors());
  ASSERT_EQ(v["cases"].size(), 27u);
  for (const json& c : v["cases"]) {
    const std::string text = c["text"];
    EXPECT_EQ(tok->encode(text, /*add_bos=*/true), ids_of(c["llama2c_ids"])) << "text: \"" << text << "\"";
  }
}

TEST(TokenizerLlama2c, Llama2TokenizerBinMatchesRunCEncode) {
  const std::string bin = loupe::test::shared("tokenizers/llama2/tokenizer.bin");
  if (!std::filesystem::exists(bin) || !std::filesystem::exists(llama2_vectors())) GTEST_SKIP();
  const auto tok = loupe::load_tokenizer(bin);
  EXPECT_EQ(tok->kind(), "llama2c");
  EXPECT_EQ(tok->n_vocab(), 32000);
  const json v = read_json(llama2_vectors());
  for (const json& c : v["cases"]) {
    const std::string text = c["text"];
    EXPECT_EQ(tok->encode(text, true), ids_of(c["llama2c_ids"])) << "text: \"" << text << "\"";
  }
  // llama2.c's own test (llama2c_test.c.txt), test 3.
  EXPECT_EQ(tok->encode("Simply put, the theory of relativity states that ", true),
            (std::vector<int32_t>{1, 3439, 17632, 1925, 29892, 278, 6368, 310, 14215, 537, 5922, 393, 29871}));
}

TEST(TokenizerLlama2c, DecodesLikeRunC) {
  const std::string bin = loupe::test::shared("models/stories260K/tok512.bin");
  if (!std::filesystem::exists(bin)) GTEST_SKIP();
  const auto tok = loupe::load_tokenizer(bin);
  const std::vector<int32_t> ids = tok->encode("Once upon a time, there was a little girl named Lily.", true);
  EXPECT_EQ(tok->decode(ids), "Once upon a time, there was a little girl named Lily.");
  EXPECT_EQ(tok->token_bytes(1), "");  // BOS
  EXPECT_EQ(tok->token_text(403), " Once");
  EXPECT_EQ(tok->token_bytes(13), "\n");  // <0x0A>
  EXPECT_EQ(tok->token_text(13), "<0x0A>");
  // Byte fallback: a character outside the 512-piece vocabulary comes back byte by byte.
  const std::string text = "\xE6\x97\xA5";  // 日
  EXPECT_EQ(tok->decode(tok->encode(text, true)), text);
  EXPECT_THROW(tok->token_bytes(512), loupe::Error);
  EXPECT_THROW(tok->token_text(-1), loupe::Error);
}

TEST(TokenizerLlama2c, BabyLlamaTok105Loads) {
  const std::string bin = loupe::test::shared("models/babyllama-tok105/tok105.bin");
  if (!std::filesystem::exists(bin)) GTEST_SKIP();
  const auto tok = loupe::load_tokenizer(bin);
  EXPECT_EQ(tok->kind(), "llama2c");
  EXPECT_EQ(tok->n_vocab(), 105);
  const std::vector<int32_t> ids = tok->encode("Once upon a time", true);
  EXPECT_EQ(ids.front(), 1);
  EXPECT_EQ(tok->decode(ids), "Once upon a time");
}

TEST(TokenizerSentencePiece, Tok512ModelMatchesSentencePieceIds) {
  const std::string model = loupe::test::shared("models/stories260K/tok512.model");
  if (!std::filesystem::exists(model) || !std::filesystem::exists(tok512_vectors())) GTEST_SKIP();
  const auto tok = loupe::load_tokenizer(model);
  EXPECT_EQ(tok->kind(), "sentencepiece");
  EXPECT_EQ(tok->n_vocab(), 512);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  const json v = read_json(tok512_vectors());
  for (const json& c : v["cases"]) {
    const std::string text = c["text"];
    const std::vector<int32_t> ids = tok->encode(text, false);
    EXPECT_EQ(ids, ids_of(c["spm_ids"])) << "text: \"" << text << "\"";
    std::vector<std::string> pieces;
    for (int32_t id : ids) pieces.emplace_back(tok->token_text(id));
    EXPECT_EQ(pieces, c["spm_pieces"].get<std::vector<std::string>>());
    // What SentencePiece decodes the ids to (its normalizer drops repeated whitespace).
    std::vector<int32_t> with_bos = {tok->bos_id()};
    with_bos.insert(with_bos.end(), ids.begin(), ids.end());
    EXPECT_EQ(tok->decode(with_bos), c["decoded"].get<std::string>()) << "text: \"" << text << "\"";
  }
}

TEST(TokenizerSentencePiece, Llama2ModelMatchesSentencePieceIds) {
  const std::string model = loupe::test::shared("tokenizers/llama2/tokenizer.model");
  if (!std::filesystem::exists(model) || !std::filesystem::exists(llama2_vectors())) GTEST_SKIP();
  const auto tok = loupe::load_tokenizer(model);
  EXPECT_EQ(tok->n_vocab(), 32000);
  const json v = read_json(llama2_vectors());
  for (const json& c : v["cases"]) {
    const std::string text = c["text"];
    EXPECT_EQ(tok->encode(text, false), ids_of(c["spm_ids"])) << "text: \"" << text << "\"";
  }
  // The same cases as re-implemented by llama-tokenizer-js.
  const std::string js = loupe::test::shared("tokenizers/vectors/llama2_llamatokenizerjs_vectors.json");
  if (std::filesystem::exists(js)) {
    const json js_vectors = read_json(js);
    for (const json& c : js_vectors["cases"]) {
      const std::string text = c["text"];
      EXPECT_EQ(tok->encode(text, false), ids_of(c["ids"])) << "text: \"" << text << "\"";
    }
  }
}

TEST(TokenizerSentencePiece, ControlTokensOnlyWithParseSpecial) {
  const std::string model = loupe::test::shared("models/stories260K/tok512.model");
  if (!std::filesystem::exists(model)) GTEST_SKIP();
  const auto tok = loupe::load_tokenizer(model);
  const std::vector<int32_t> parsed = tok->encode("a</s>b", false, true);
  EXPECT_NE(std::find(parsed.begin(), parsed.end(), 2), parsed.end());
  const std::vector<int32_t> plain = tok->encode("a</s>b", false, false);
  EXPECT_EQ(std::find(plain.begin(), plain.end(), 2), plain.end());
}

TEST(TokenizerSentencePiece, LlamaSpmGgufAgreesWithTokenizerModel) {
  // llama.cpp's SPM reimplementation on the GGUF vocabulary and libsentencepiece on
  // tokenizer.model give the same ids for the llama2 vectors.
  const std::string model = loupe::test::shared("tokenizers/llama2/tokenizer.model");
  const std::string gguf = loupe::test::shared("tokenizers/llamacpp-vocab/ggml-vocab-llama-spm.gguf");
  if (!std::filesystem::exists(model) || !std::filesystem::exists(gguf) || !std::filesystem::exists(llama2_vectors()))
    GTEST_SKIP();
  const auto sp = loupe::load_tokenizer(model);
  const auto spm = loupe::load_tokenizer(gguf);
  EXPECT_EQ(spm->kind(), "spm");
  const json v = read_json(llama2_vectors());
  for (const json& c : v["cases"]) {
    const std::string text = c["text"];
    EXPECT_EQ(spm->encode(text, true), sp->encode(text, true)) << "text: \"" << text << "\"";
  }
}

TEST(TokenizerBpe, Gpt2VectorsOnGgufVocab) {
  const std::string gguf = loupe::test::shared("tokenizers/llamacpp-vocab/ggml-vocab-gpt-2.gguf");
  const std::string vectors = loupe::test::shared("tokenizers/vectors/gpt2_r50k_vectors.json");
  if (!std::filesystem::exists(gguf) || !std::filesystem::exists(vectors)) GTEST_SKIP();
  const auto tok = loupe::load_tokenizer(gguf);
  EXPECT_EQ(tok->kind(), "bpe");
  EXPECT_EQ(tok->n_vocab(), 50257);
  const json v = read_json(vectors);
  for (const json& c : v["cases"]) {
    const std::string text = c["text"];
    const std::vector<int32_t> ids = tok->encode(text, false);
    EXPECT_EQ(ids, ids_of(c["ids"])) << "text: \"" << text << "\"";
    EXPECT_EQ(tok->decode(ids), text);
  }
  EXPECT_EQ(tok->token_text(464), "The");
  EXPECT_EQ(tok->token_bytes(220), " ");   // "Ġ"
  EXPECT_EQ(tok->token_bytes(50256), "");  // <|endoftext|> is a control token
  EXPECT_EQ(tok->encode("a<|endoftext|>b", false, true), (std::vector<int32_t>{64, 50256, 65}));
  EXPECT_NE(tok->encode("a<|endoftext|>b", false, false), (std::vector<int32_t>{64, 50256, 65}));
}

}  // namespace

namespace {

TEST(TokenizerBpe, OpenAiGpt2FilesMatchVectors) {
  const std::string encoder = loupe::test::shared("tokenizers/gpt2/encoder.json");
  const std::string vectors = loupe::test::shared("tokenizers/vectors/gpt2_r50k_vectors.json");
  if (!std::filesystem::exists(encoder) || !std::filesystem::exists(vectors)) GTEST_SKIP();
  const auto tok = loupe::load_tokenizer(encoder);
  EXPECT_EQ(tok->kind(), "bpe");
  EXPECT_EQ(tok->n_vocab(), 50257);
  EXPECT_EQ(tok->eos_id(), 50256);
  const json v = read_json(vectors);
  for (const json& c : v["cases"]) {
    const std::string text = c["text"];
    EXPECT_EQ(tok->encode(text, false), ids_of(c["ids"])) << "text: \"" << text << "\"";
  }
}

}  // namespace

namespace {

// A long text with what breaks naive chunking: runs of 1-4 spaces, spaces at the start and the
// end, newlines, tabs, digits, non-ASCII words, words the vocabulary lacks.
std::string long_mixed_text(size_t bytes, unsigned seed) {
  static const char* const kWords[] = {"the",   "Once", "upon", "time,", "naïve", "café",  "1234567", "über",      "—",
                                       "zxqvj", "a",    "I",    "\n",    "\t",    "don't", "日本語",  "emoji🙂", "x"};
  std::string s = "  ";
  uint32_t state = seed;
  const auto next = [&] {
    state = state * 1664525u + 1013904223u;
    return state >> 8;
  };
  while (s.size() < bytes) {
    s += kWords[next() % (sizeof(kWords) / sizeof(kWords[0]))];
    s.append(1 + (next() % 7 == 0 ? next() % 4 : 0), ' ');
  }
  return s + "   ";
}

}  // namespace

TEST(TokenizerSentencePiece, LongTextsGiveTheLibrarysIdsForTheWholeText) {
  // loupe hands libsentencepiece a long text in chunks cut before words (its encoder is
  // superlinear); the ids must be those of one call on the whole text.
  const std::string model = loupe::test::shared("tokenizers/llama2/tokenizer.model");
  if (!std::filesystem::exists(model)) GTEST_SKIP();
  sentencepiece::SentencePieceProcessor reference;
  ASSERT_TRUE(reference.Load(model).ok());
  const auto sp = loupe::load_tokenizer(model);
  for (unsigned seed : {1u, 2u, 3u}) {
    const std::string text = long_mixed_text(20000 + 7000 * seed, seed);
    std::vector<int> whole;
    ASSERT_TRUE(reference.Encode(text, &whole).ok());
    EXPECT_EQ(sp->encode(text, false, false), std::vector<int32_t>(whole.begin(), whole.end())) << "seed " << seed;
  }
}

TEST(TokenizerBpe, SentencePieceStyleBpeMergedWordByWordGivesTheWholeTextsIds) {
  // A tokenizer.json with no pre-tokenizer (Metaspace normaliser only) sees a whole document as
  // one word; loupe merges it word by word. Same ids as merging the whole text at once.
  const std::string path = loupe::test::shared("tokenizers/hf/llama2/tokenizer.json");
  if (!std::filesystem::exists(path)) GTEST_SKIP();
  const std::string json_text = loupe::test::read_file(path);
  const auto split = loupe::hf_tokenizer_from_json(json_text, path);
  const auto whole = loupe::hf_tokenizer_from_json(json_text, path, /*split_words=*/false);
  for (unsigned seed : {1u, 2u, 3u}) {
    const std::string text = long_mixed_text(20000 + 7000 * seed, seed);
    EXPECT_EQ(split->encode(text, true, false), whole->encode(text, true, false)) << "seed " << seed;
  }
}
