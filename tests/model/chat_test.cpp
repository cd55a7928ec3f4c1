// --chat TEXT end to end: a model file carrying a chat template (GGUF tokenizer.chat_template, an
// HF folder's tokenizer_config.json), rendered for one user turn and tokenized with its special
// tokens, one BOS; and the errors through the binary (exit 1 and the message).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "formats/gguf_writer.h"
#include "model/synth.h"
#include "test_support.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace loupe {
namespace {

namespace fs = std::filesystem;

// A vocabulary GGUF: the tokenizer.* metadata of `from`, with tokenizer.chat_template set to
// `tmpl` (none when empty).
void write_vocab(const std::string& from, const std::string& tmpl, const std::string& path) {
  const GgufFile src = GgufFile::open(from);
  GgufWriter w;
  for (const auto& [key, value] : src.metadata())
    if (key.rfind("tokenizer.", 0) == 0 && key != "tokenizer.chat_template") w.set(key, value);
  if (!tmpl.empty()) w.set_string("tokenizer.chat_template", tmpl);
  w.write(path);
}

// A small random llama over that vocabulary.
std::string write_model(const std::string& vocab, const std::string& path) {
  SynthSpec s;
  s.arch = Arch::Llama;
  s.d_model = 64;
  s.n_layers = 1;
  s.n_heads = 4;
  s.n_kv_heads = 2;
  s.n_ctx = 256;
  s.vocab_path = vocab;
  write_synth_gguf(make_synth_model(s), s, path, nullptr);
  return path;
}

class ChatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::temp_dir("chat");
    stories_ = test::shared("models/stories260K-gguf/stories260K-f32.gguf");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A model over stories260K's 512-piece vocabulary with this template.
  std::string model_with(const std::string& tmpl, const std::string& name) {
    const std::string vocab = dir_ + "/" + name + ".vocab.gguf";
    write_vocab(stories_, tmpl, vocab);
    return write_model(vocab, dir_ + "/" + name + ".gguf");
  }

  // The prompt tokens `loupe trace` ran (index.json).
  std::vector<int32_t> traced_tokens(const std::string& args) {
    const std::string out = dir_ + "/trace";
    fs::remove_all(out);
    const auto r = test::run_loupe("trace " + args + " --hook hook_embed -t 1 -o " + out);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    if (r.exit_code != 0) return {};
    const auto index = nlohmann::json::parse(test::read_file(out + "/index.json"));
    return index["tokens"].get<std::vector<int32_t>>();
  }

  std::string dir_, stories_;
};

constexpr const char* kBosTemplate =
    "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}"
    "{% if add_generation_prompt %}[assistant]{% endif %}";
constexpr const char* kNoBosTemplate =
    "{% for m in messages %}<{{ m.role }}>{{ m.content }}</{{ m.role }}>{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}";

TEST_F(ChatTest, RendersTheTemplateWithOneBos) {
  const std::string model = model_with(kBosTemplate, "bos");
  const auto tok = load_tokenizer(model);
  const std::string text = render_chat(kBosTemplate, {{"user", "Once upon a time"}}, true, "<s>", "</s>");
  EXPECT_EQ(text, "<s>[user] Once upon a time\n[assistant]");
  // The template's "<s>" is the BOS token; the encoder adds no second one.
  const std::vector<int32_t> expected = tok->encode(text, /*add_bos=*/false);
  ASSERT_GE(expected.size(), 3u);
  EXPECT_EQ(expected[0], tok->bos_id());
  EXPECT_NE(expected[1], tok->bos_id());
  EXPECT_EQ(traced_tokens(model + " --chat 'Once upon a time'"), expected);
  EXPECT_EQ(traced_tokens(model + " --chat 'Once upon a time' --bos"), expected);
  // --no-bos drops the template's BOS too.
  EXPECT_EQ(traced_tokens(model + " --chat 'Once upon a time' --no-bos"),
            std::vector<int32_t>(expected.begin() + 1, expected.end()));
}

TEST_F(ChatTest, TemplateWithoutBosGetsTheModelsDefault) {
  const std::string model = model_with(kNoBosTemplate, "nobos");
  const auto tok = load_tokenizer(model);
  const std::string text = render_chat(kNoBosTemplate, {{"user", "Hi"}}, true, "<s>", "</s>");
  EXPECT_EQ(text, "<user>Hi</user><assistant>");
  // A llama: BOS by default, as for -p.
  EXPECT_EQ(traced_tokens(model + " --chat Hi"), tok->encode(text, true));
  EXPECT_EQ(traced_tokens(model + " --chat Hi"), traced_tokens(model + " -p '" + text + "'"));
  EXPECT_EQ(traced_tokens(model + " --chat Hi --no-bos"), tok->encode(text, false));
}

// Phi-3's real template over Phi-3's vocabulary: <|user|>, <|end|> and <|assistant|> are single
// special tokens, and the template's <s> the one BOS.
TEST_F(ChatTest, Phi3TemplateFromTheVocabulary) {
  const std::string vocab = test::shared("tokenizers/llamacpp-vocab/ggml-vocab-phi-3.gguf");
  const std::string model = write_model(vocab, dir_ + "/phi3.gguf");
  const auto tok = load_tokenizer(model);
  const std::string tmpl = GgufFile::open(vocab).get_string("tokenizer.chat_template");
  const std::string text = render_chat(tmpl, {{"user", "What is 2+2?"}}, true, "<s>", "<|endoftext|>");
  EXPECT_EQ(text, "<s><|user|>\nWhat is 2+2?<|end|>\n<|assistant|>\n");
  const std::vector<int32_t> tokens = traced_tokens(model + " --chat 'What is 2+2?'");
  EXPECT_EQ(tokens, tok->encode(text, false));
  ASSERT_FALSE(tokens.empty());
  EXPECT_EQ(tokens[0], tok->bos_id());
  EXPECT_EQ(std::count(tokens.begin(), tokens.end(), tok->bos_id()), 1);
  int specials = 0;
  for (int32_t t : tokens) {
    const std::string_view s = tok->token_text(t);
    if (s == "<|user|>" || s == "<|end|>" || s == "<|assistant|>") ++specials;
  }
  EXPECT_EQ(specials, 3);
}

TEST_F(ChatTest, GenerateRuns) {
  const std::string model = model_with(kBosTemplate, "gen");
  const auto r = test::run_loupe("generate " + model + " --chat 'Once upon a time' -n 4 --temp 0 -t 1");
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(ChatTest, DebuggerRunsTheChatPrompt) {
  const std::string model = model_with(kBosTemplate, "dbg");
  const auto tok = load_tokenizer(model);
  const std::string script = dir_ + "/s.dbg";
  std::ofstream(script) << "run\ninfo tokens\nquit\n";
  const auto r =
      test::run_loupe("debug " + model + " --chat 'Once upon a time' -x " + script + " --json -t 1 </dev/null");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<int32_t> ids;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j["command"] != "info tokens") continue;
    for (const auto& t : j["result"]["tokens"]) ids.push_back(t["id"].get<int32_t>());
  }
  const std::string text = render_chat(kBosTemplate, {{"user", "Once upon a time"}}, true, "<s>", "</s>");
  EXPECT_EQ(ids, tok->encode(text, false));
}

TEST_F(ChatTest, HfFolderTemplate) {
  const std::string hf = dir_ + "/hf";
  fs::create_directories(hf);
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.model"})
    fs::copy_file(test::shared(std::string("models/stories260K-hf/") + f), hf + "/" + f);
  auto r = test::run_loupe("trace " + hf + " --chat Hi --hook hook_embed -o " + dir_ + "/t");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("error: " + hf + ": no chat_template in tokenizer_config.json"), std::string::npos) << r.err;
  nlohmann::json config = {{"chat_template", kNoBosTemplate}};
  std::ofstream(hf + "/tokenizer_config.json") << config.dump();
  const auto tok = load_tokenizer(hf + "/tokenizer.model");
  EXPECT_EQ(traced_tokens(hf + " --chat Hi"), tok->encode("<user>Hi</user><assistant>", true));
}

TEST_F(ChatTest, ErrorsThroughTheBinary) {
  const std::string model = model_with(kBosTemplate, "err");
  auto r = test::run_loupe("generate " + model + " --chat Hi -p Hello -n 1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("error: give either -p PROMPT or --chat TEXT, not both"), std::string::npos) << r.err;
  r = test::run_loupe("logits " + model + " --chat Hi --tokens 1,2 -o " + dir_ + "/l.npy");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("error: give either --tokens or --chat TEXT, not both"), std::string::npos) << r.err;
  r = test::run_loupe("debug " + model + " --chat Hi -p Hello </dev/null");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("error: give either -p PROMPT or --chat TEXT, not both"), std::string::npos) << r.err;

  r = test::run_loupe("generate " + stories_ + " --chat Hi -n 1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("error: " + stories_ + ": no tokenizer.chat_template in the file; use -p"), std::string::npos)
      << r.err;

  const std::string raising =
      model_with("{{ raise_exception('Only user and assistant roles are supported!') }}", "raise");
  r = test::run_loupe("lens " + raising + " --chat Hi");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(
      r.err.find("error: " + raising +
                 ": chat template line 1, column 19: raise_exception: Only user and assistant roles are supported!"),
      std::string::npos)
      << r.err;

  const std::string unsupported = model_with("{{ messages[0].content | wordwrap(10) }}", "wordwrap");
  r = test::run_loupe("attention " + unsupported + " --chat Hi");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(": chat template line 1, column 26: unsupported filter 'wordwrap'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace loupe
