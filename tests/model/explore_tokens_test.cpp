// loupe explore with real tokenizers from ../shared, and the command line end to end.
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "data/explore.h"
#include "data/explore_json.h"
#include "test_support.h"
#include "tokenizer/tokenizer.h"
#include "unit/xml_check.h"

namespace loupe {
namespace {

void write(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

const std::vector<std::string> kDocs = {
    "Once upon a time there was a little cat.",
    "The cat sat on the mat and looked at the moon.",
    "\xE4\xBD\xA0\xE5\xA5\xBD\xEF\xBC\x8C\xE4\xB8\x96\xE7\x95\x8C \xF0\x9F\x98\x80",  // CJK + emoji: byte fallback
    "Once upon a time there was a little cat.",
    "A very long document " + std::string(200, 'x') + " with many tokens in it, far more than ten.",
};

TEST(ExploreTokens, CountsMatchTheTokenizer) {
  const std::string dir = test::temp_dir("explore_tok");
  std::string file;
  for (const auto& d : kDocs) file += d + "\n";
  write(dir + "/c.txt", file);
  const auto tok = load_tokenizer(test::shared("tokenizers/llama2/tokenizer.model"));
  data::ExploreOptions o;
  o.threads = 2;
  o.tokenizer = tok.get();
  o.context_length = 20;
  o.memory_budget = size_t{64} << 20;
  const data::Summary s = data::explore({dir + "/c.txt"}, o);

  uint64_t tokens = 0, fallback = 0, over = 0;
  std::map<int32_t, uint64_t> counts;
  std::vector<uint64_t> lengths;
  for (const auto& d : kDocs) {
    const auto ids = tok->encode(d, false, false);
    tokens += ids.size();
    over += ids.size() > 20 ? 1 : 0;
    lengths.push_back(ids.size());
    for (int32_t id : ids) {
      ++counts[id];
      const std::string t(tok->token_text(id));
      fallback += t.size() == 6 && t.rfind("<0x", 0) == 0 ? 1 : 0;
    }
  }
  EXPECT_EQ(s.tokens, tokens);
  EXPECT_EQ(s.byte_fallback_tokens, fallback);
  EXPECT_GT(fallback, 0u);  // the emoji
  EXPECT_EQ(s.documents_over_context, over);
  for (const auto& [id, c] : counts) EXPECT_EQ(s.token_counts[static_cast<size_t>(id)], c);
  const auto j = data::report_json(s, tok.get(), 5);
  EXPECT_EQ(j["tokens"], tokens);
  EXPECT_DOUBLE_EQ(j["tokenizer"]["fertility"].get<double>(),
                   static_cast<double>(tokens) / static_cast<double>(s.words));
  EXPECT_EQ(j["tokenizer"]["tokens_never_used"], static_cast<uint64_t>(tok->n_vocab()) - counts.size());
  std::sort(lengths.begin(), lengths.end());
  EXPECT_EQ(j["length_percentiles"]["tokens"]["max"], lengths.back());
  EXPECT_EQ(j["length_percentiles"]["tokens"]["p50"], lengths[2]);
  // The most frequent token unigram is listed first with its count.
  uint64_t best = 0;
  for (const auto& [id, c] : counts) best = std::max(best, c);
  EXPECT_EQ(j["top_ngrams"]["tokens"]["1"][0][1], best);
  std::filesystem::remove_all(dir);
}

TEST(ExploreTokens, CommandLineJsonHtmlSummaryMerge) {
  const std::string dir = test::temp_dir("explore_cli");
  std::string a, b;
  for (size_t i = 0; i < kDocs.size(); ++i) (i < 2 ? a : b) += "{\"text\": " + nlohmann::json(kDocs[i]).dump() + "}\n";
  write(dir + "/a.jsonl", a);
  write(dir + "/b.jsonl", b + "{\"body\": 1}\n");
  const std::string tok = test::shared("tokenizers/llama2/tokenizer.model");
  auto r = test::run_loupe("explore " + dir + "/a.jsonl " + dir + "/b.jsonl --tokenizer " + tok + " --json --html " +
                           dir + "/r.html --summary " + dir + "/all.sum --threads 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["documents"], kDocs.size());
  EXPECT_EQ(j["exact_duplicate_documents"], 1);
  EXPECT_GT(j["tokens"].get<uint64_t>(), 0u);
  // Without case folding: "a" occurs 4 times (twice in each copy of the first document), "cat"
  // 3 times, every other word at most twice.
  const auto& top = j["top_ngrams"]["words"]["1"];
  ASSERT_GE(top.size(), 2u);
  EXPECT_EQ(top[0], nlohmann::json::array({"a", 4}));
  EXPECT_EQ(top[1], nlohmann::json::array({"cat", 3}));
  EXPECT_TRUE(j["length_percentiles"]["characters"].contains("p50"));
  EXPECT_EQ(j["problems"]["count"], 1);
  EXPECT_EQ(j["problems"]["list"][0]["line"], 4);
  EXPECT_EQ(j["problems"]["list"][0]["message"], "missing field 'text'");
  const std::string html = test::read_file(dir + "/r.html");
  const auto page = test::parse_xml(html);
  EXPECT_GE(page->all("svg").size(), 8u);
  EXPECT_NE(html.find("word cloud"), std::string::npos);
  EXPECT_NE(html.find("Zipf plot"), std::string::npos);

  // Shards merged give the same figures as one run.
  ASSERT_EQ(
      test::run_loupe("explore " + dir + "/a.jsonl --tokenizer " + tok + " --summary " + dir + "/a.sum").exit_code, 0);
  ASSERT_EQ(
      test::run_loupe("explore " + dir + "/b.jsonl --tokenizer " + tok + " --summary " + dir + "/b.sum").exit_code, 0);
  auto m = test::run_loupe("explore --merge " + dir + "/a.sum " + dir + "/b.sum --tokenizer " + tok + " --json");
  ASSERT_EQ(m.exit_code, 0) << m.err;
  const auto jm = nlohmann::json::parse(m.out);
  for (const char* k :
       {"documents", "characters", "words", "tokens", "exact_duplicate_documents", "top_ngrams", "length_percentiles"})
    EXPECT_EQ(jm[k], j[k]) << k;

  // Bad input: precise messages, exit code 1, no crash.
  auto missing = test::run_loupe("explore " + dir + "/nope.txt");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("nope.txt: no such file or directory"), std::string::npos) << missing.err;
  auto badsum = test::run_loupe("explore --merge " + dir + "/a.jsonl");
  EXPECT_EQ(badsum.exit_code, 1);
  EXPECT_NE(badsum.err.find("a.jsonl: not a"), std::string::npos) << badsum.err;
  auto badfmt = test::run_loupe("explore " + dir + "/a.jsonl --format xml");
  EXPECT_NE(badfmt.exit_code, 0);
  auto stdin_run = test::run_loupe("explore - --json < " + dir + "/a.jsonl");
  ASSERT_EQ(stdin_run.exit_code, 0) << stdin_run.err;
  EXPECT_EQ(nlohmann::json::parse(stdin_run.out)["documents"], 2);  // stdin is read as lines
  std::filesystem::remove_all(dir);
}

// A document far past the memory budget (a 24 MB line against --memory-mb 64) is skipped and
// reported, and the process stays near its budget: before, one 100 MB line peaked at 2.78 GB.
TEST(ExploreBudget, AHugeLineIsSkippedAndTheBudgetHolds) {
  const std::string dir = test::temp_dir("explore-budget");
  const std::string path = dir + "/long.jsonl";
  {
    std::ofstream f(path, std::ios::binary);
    f << "{\"text\": \"a small document\"}\n{\"text\": \"";
    const std::string words = "lorem ipsum dolor sit amet consectetur ";
    for (size_t n = 0; n < (size_t{24} << 20); n += words.size()) f << words;
    f << "\"}\n{\"text\": \"another small one\"}\n";
  }
  const std::string out = dir + "/report.json";
  const std::string cmd =
      test::loupe_binary() + " explore " + path + " --memory-mb 64 --threads 2 --json >" + out + " 2>" + dir + "/err";
  pid_t pid = 0;
  const char* argv[] = {"/bin/sh", "-c", cmd.c_str(), nullptr};
  ASSERT_EQ(posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char* const*>(argv), environ), 0);
  int status = 0;
  struct rusage ru {};
  ASSERT_EQ(wait4(pid, &status, 0, &ru), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << test::read_file(dir + "/err");
  const nlohmann::json r = nlohmann::json::parse(test::read_file(out));
  EXPECT_EQ(r["documents"], 2);
  ASSERT_EQ(r["problems"]["count"], 1);
  const std::string message = r["problems"]["list"][0]["message"];
  EXPECT_NE(message.find("is longer than the 2097152 bytes the memory budget allows one document"), std::string::npos)
      << message;
  EXPECT_EQ(r["problems"]["list"][0]["line"], 2);
  // The shell's exec makes the child loupe itself; ru_maxrss is in KiB. (Under AddressSanitizer
  // the shadow memory and quarantine add hundreds of MB: the budget is the release build's.)
  if (!test::sanitized()) {
    EXPECT_LT(ru.ru_maxrss, 256 * 1024) << "peak RSS " << ru.ru_maxrss / 1024 << " MiB";
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace loupe
