// One pass, many observers: `loupe analyze` gives the lens, attention and activations of the
// separate commands to the bit from one forward pass; the tensor cache holds what a capture
// sees within its estimate; subscriptions end when their handles go; op listeners stack.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "analysis/pass.h"
#include "engine/driver.h"
#include "model/weights.h"
#include "test_support.h"
#include "tokenizer/tokenizer.h"

namespace loupe {
namespace {

const std::string kF32 = "models/stories260K-gguf/stories260K-f32.gguf";
const std::string kPrompt = "Once upon a time, there was a little girl named Lily. She";

nlohmann::json run_json(const std::string& args) {
  auto r = test::run_loupe(args + " --json -t 2");
  EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.err;
  return nlohmann::json::parse(r.out);
}

// A command's interpreters share one pool of threads (RunOptions::pool): diff's two models run
// on it, and what they compute is what interpreters with pools of their own compute.
TEST(OnePass, InterpretersShareOnePoolOfThreads) {
  auto m = load_model(test::shared(kF32));
  const std::vector<int32_t> tokens = m->tokenizer->encode(kPrompt, true);
  RunOptions shared;
  shared.n_threads = 2;
  shared.pool = std::make_shared<ThreadPool>(2);
  Interpreter a(*m, shared), b(*m, shared);
  EXPECT_EQ(&a.pool(), &b.pool());
  EXPECT_EQ(a.n_threads(), 2);
  RunOptions own;
  own.n_threads = 2;
  Interpreter c(*m, own);
  EXPECT_NE(&a.pool(), &c.pool());
  const int64_t V = m->config.d_vocab;
  auto last_logits = [&](Interpreter& in) {
    std::vector<float> out;
    forward(in, tokens, false,
            [&](const float* l, int64_t rows, int64_t) { out.assign(l + (rows - 1) * V, l + rows * V); });
    return out;
  };
  const std::vector<float> want = last_logits(c);
  EXPECT_EQ(last_logits(a), want);
  EXPECT_EQ(last_logits(b), want);
  // decode() continues a run by one token, as a pass of that one token does.
  const float* next = decode(a, 42);
  std::vector<float> one(next, next + V);
  const int32_t token[1] = {42};
  c.begin(token, false);
  c.finish();
  EXPECT_EQ(one, std::vector<float>(c.logits(), c.logits() + V));
}

TEST(OnePass, AnalyzeGivesTheSeparateCommandsNumbersToTheBit) {
  const std::string m = test::shared(kF32);
  const std::string p = " -p '" + std::string(kPrompt) + "'";
  const nlohmann::json all = run_json("analyze " + m + p + " --target ' Lily'");
  EXPECT_EQ(all["lens"], run_json("lens " + m + p + " --target ' Lily'"));
  EXPECT_EQ(all["attention"], run_json("attention " + m + p));
  // activations over a data file holding the prompt as its one document: the same tokens.
  const std::string dir = test::temp_dir("one-pass");
  std::ofstream(dir + "/prompt.txt") << kPrompt << "\n";
  EXPECT_EQ(all["activations"], run_json("activations " + m + " --data " + dir + "/prompt.txt"));
  EXPECT_FALSE(all.contains("cache"));
  // The NaN watch: every hook checked, nothing bad (the attention mask's -inf is not counted).
  EXPECT_EQ(all["nan"]["hooks_checked"], 104);
  EXPECT_TRUE(all["nan"]["bad"].empty());
  EXPECT_TRUE(all["nan"]["first"].is_null());
  // Attribution as a pass analysis: the same parts, heads and occlusion as loupe attribute.
  const nlohmann::json attributed = run_json("analyze " + m + p + " --attribute ' Lily'");
  EXPECT_EQ(attributed["attribution"], run_json("attribute " + m + p + " --target ' Lily'"));
  EXPECT_FALSE(attributed.contains("lens"));
  // Chosen analyses only.
  const nlohmann::json lens_only = run_json("analyze " + m + p + " --lens");
  EXPECT_TRUE(lens_only.contains("lens"));
  EXPECT_FALSE(lens_only.contains("attention"));
  EXPECT_FALSE(lens_only.contains("activations"));
  EXPECT_FALSE(lens_only.contains("nan"));
  std::filesystem::remove_all(dir);
}

// Counts every op run.
class OpCounter : public OpListener {
 public:
  OpCounter(std::vector<std::string>& log, std::string name) : log_(log), name_(std::move(name)) {}
  void before_op(int op) override {
    if (op == 0) log_.push_back(name_ + " before");
    ++ops;
  }
  void after_op(int op) override {
    if (op == 0) log_.push_back(name_ + " after");
  }
  int ops = 0;

 private:
  std::vector<std::string>& log_;
  std::string name_;
};

class HookCounter : public Observer {
 public:
  void on_hook(const HookEvent&) override { ++calls; }
  int calls = 0;
};

TEST(OnePass, SubscriptionsEndWithTheirHandlesAndListenersStack) {
  auto model = load_model(test::shared(kF32));
  const std::vector<int32_t> tokens = model->tokenizer->encode(kPrompt, true);
  Interpreter interp(*model, RunOptions{1, 0, 64});
  const int hook = *interp.hooks().find("blocks.0.hook_resid_post");
  HookCounter a, b;
  std::vector<std::string> log;
  OpCounter first(log, "first"), second(log, "second");
  {
    Subscription sa = interp.subscribe(hook, &a);
    Subscription sb = interp.subscribe(hook, &b);
    Subscription l1 = interp.listen(&first);
    Subscription l2 = interp.listen(&second);
    forward(interp, tokens, false, nullptr);
    EXPECT_EQ(a.calls, 1);
    EXPECT_EQ(b.calls, 1);
    sb.reset();  // one ends early
    interp.rewind(0);
    forward(interp, tokens, false, nullptr);
    EXPECT_EQ(a.calls, 2);
    EXPECT_EQ(b.calls, 1);
    Subscription moved = std::move(sa);  // a moved handle keeps the subscription
    EXPECT_FALSE(sa.active());
    EXPECT_TRUE(moved.active());
  }
  EXPECT_FALSE(interp.observed(hook));
  EXPECT_EQ(first.ops, second.ops);
  EXPECT_GT(first.ops, 0);
  // before_op in the order added, after_op in reverse.
  ASSERT_GE(log.size(), 4u);
  EXPECT_EQ(std::vector<std::string>(log.begin(), log.begin() + 4),
            (std::vector<std::string>{"first before", "second before", "second after", "first after"}));
  interp.rewind(0);
  forward(interp, tokens, false, nullptr);  // nobody listens any more
  EXPECT_EQ(a.calls, 2);
  EXPECT_EQ(first.ops, second.ops);
}

TEST(OnePass, TensorCacheHoldsWhatTheHooksSawWithinItsEstimate) {
  auto model = load_model(test::shared(kF32));
  const std::vector<int32_t> tokens = model->tokenizer->encode(kPrompt, true);
  const auto n = static_cast<int64_t>(tokens.size());
  Interpreter interp(*model, RunOptions{1, 0, n});
  std::vector<int> ids = interp.hooks().resolve("blocks.*.hook_resid_post");
  for (int id : interp.hooks().resolve("blocks.1.attn.hook_pattern")) ids.push_back(id);
  for (int id : interp.hooks().resolve("unembed.hook_logits")) ids.push_back(id);
  const int64_t estimate = analysis::TensorCache::estimate_bytes(interp, ids, n);
  analysis::TensorCache cache(ids);
  // A capture written here, in the same pass.
  class Capture : public Observer {
   public:
    void on_hook(const HookEvent& e) override {
      data[e.point->name].assign(e.data, e.data + e.shape.numel());
      shapes[e.point->name] = e.shape.vec();
    }
    std::map<std::string, std::vector<float>> data;
    std::map<std::string, std::vector<int64_t>> shapes;
  } capture;
  std::vector<Subscription> subs;
  for (int id : ids) subs.push_back(interp.subscribe(id, &capture));
  const nlohmann::ordered_json summary = analysis::run_one_pass(interp, tokens, {&cache})["cache"];
  EXPECT_EQ(cache.entries().size(), ids.size());
  EXPECT_EQ(cache.bytes(), estimate);  // exact for one pass from position 0
  EXPECT_EQ(summary["bytes"].get<int64_t>(), estimate);
  for (const auto& e : cache.entries()) {
    EXPECT_EQ(e.data, capture.data.at(e.name)) << e.name;
    EXPECT_EQ(e.shape, capture.shapes.at(e.name)) << e.name;
  }
  ASSERT_NE(cache.find("blocks.1.attn.hook_pattern"), nullptr);
  EXPECT_EQ(cache.find("blocks.1.attn.hook_pattern")->shape, (std::vector<int64_t>{model->config.n_heads, n, n}));
  EXPECT_EQ(cache.find("nope"), nullptr);
}

TEST(OnePass, TensorCacheGathersTheRowsOfSeveralBatches) {
  auto model = load_model(test::shared(kF32));
  const std::vector<int32_t> tokens = model->tokenizer->encode(kPrompt, true);
  const auto n = static_cast<int64_t>(tokens.size());
  std::vector<float> whole;
  {
    Interpreter interp(*model, RunOptions{1, 0, n});
    analysis::TensorCache cache(interp.hooks().resolve("blocks.2.hook_resid_mid"));
    cache.attach(interp);
    forward(interp, tokens, false, nullptr);
    whole = cache.entries().at(0).data;
  }
  Interpreter interp(*model, RunOptions{1, 0, 5});  // batches of 5
  analysis::TensorCache cache(interp.hooks().resolve("blocks.2.hook_resid_mid"));
  cache.attach(interp);
  forward(interp, tokens, false, nullptr);
  ASSERT_EQ(cache.entries().size(), 1u);
  EXPECT_EQ(cache.entries()[0].shape, (std::vector<int64_t>{n, model->config.d_model}));
  EXPECT_EQ(cache.entries()[0].data, whole);
}

}  // namespace
}  // namespace loupe

namespace loupe {
namespace {

TEST(OnePass, TargetTextFindsTheVocabularyTokenFirst) {
  // " Lily" encodes as two tokens on its own (SentencePiece's dummy prefix adds a space), but
  // the vocabulary holds the piece; --target takes it.
  auto model = load_model(test::shared(kF32));
  const nlohmann::json j = run_json("lens " + test::shared(kF32) + " -p 'Once upon a time' --target ' Lily'");
  const int32_t id = j["target"].get<int32_t>();
  EXPECT_EQ(model->tokenizer->token_bytes(id), " Lily");
  EXPECT_EQ(model->tokenizer->encode(" Lily", false).size(), 2u);
}

TEST(OnePass, InfoListsHookShapes) {
  const test::CommandResult r = test::run_loupe("info " + test::shared(kF32) + " --hooks --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  std::map<std::string, nlohmann::json> shapes;
  for (const auto& h : j["hooks"]) shapes[h["name"].get<std::string>()] = h["shape"];
  EXPECT_EQ(shapes.at("blocks.0.hook_resid_pre"), nlohmann::json::parse(R"(["pos", 64])"));
  EXPECT_EQ(shapes.at("blocks.1.attn.hook_pattern"), nlohmann::json::parse(R"([8, "pos", "pos"])"));
  EXPECT_EQ(shapes.at("blocks.1.attn.hook_k"), nlohmann::json::parse(R"(["pos", 4, 8])"));
  EXPECT_EQ(shapes.at("unembed.hook_logits"), nlohmann::json::parse(R"(["pos", 512])"));
}

}  // namespace
}  // namespace loupe
