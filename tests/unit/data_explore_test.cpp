// explore(): counts, n-gram tops, duplicates, percentiles on small corpora against answers
// computed here independently; malformed input; summary files and exact merging.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "core/error.h"
#include "data/explore.h"
#include "data/explore_json.h"
#include "test_support.h"

namespace loupe {
namespace {

void write(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// ASCII-only reference: words are runs of [A-Za-z0-9_] (the corpora below have no apostrophes).
std::vector<std::string> ascii_words(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
      cur += c;
    } else if (!cur.empty()) {
      out.push_back(cur);
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

uint64_t nearest_rank(std::vector<uint64_t> v, double p) {
  std::sort(v.begin(), v.end());
  const size_t rank = static_cast<size_t>(std::ceil(p / 100 * static_cast<double>(v.size()) - 1e-9));
  return v[std::max<size_t>(rank, 1) - 1];
}

// A random ASCII corpus with repeated documents.
std::vector<std::string> make_corpus(int n, uint32_t seed) {
  const std::vector<std::string> vocab = {"the", "cat",  "sat",   "on", "a",  "mat",         "dog", "ran",
                                          "far", "away", "Zebra", "x1", "42", "under_score", "sun"};
  std::mt19937 rng(seed);
  std::vector<std::string> docs;
  for (int i = 0; i < n; ++i) {
    if (i > 5 && rng() % 7 == 0) {
      docs.push_back(docs[rng() % docs.size()]);  // an exact repeat
      continue;
    }
    std::string d;
    const int len = 1 + static_cast<int>(rng() % 25);
    for (int k = 0; k < len; ++k) {
      if (k) d += (rng() % 5 == 0) ? ", " : " ";
      d += vocab[std::min<size_t>(rng() % vocab.size(), rng() % vocab.size())];
    }
    docs.push_back(d);
  }
  return docs;
}

data::ExploreOptions options(int threads) {
  data::ExploreOptions o;
  o.threads = threads;
  o.memory_budget = size_t{64} << 20;
  return o;
}

TEST(DataExplore, WordsSplitRule) {
  EXPECT_EQ(data::split_words("Don't stop-me now, caf\xC3\xA9 x_1 'quoted'"),
            (std::vector<std::string>{"Don't", "stop", "me", "now", "caf\xC3\xA9", "x_1", "quoted"}));
  EXPECT_EQ(data::split_words("\xE4\xB8\xAD\xE6\x96\x87 42"),
            (std::vector<std::string>{"\xE4\xB8\xAD\xE6\x96\x87", "42"}));
  EXPECT_TRUE(data::is_stop_word("the"));
  EXPECT_FALSE(data::is_stop_word("zebra"));
}

TEST(DataExplore, CountsTopsDuplicatesPercentilesAgainstIndependentAnswers) {
  const std::string dir = test::temp_dir("data_ex");
  const auto docs = make_corpus(800, 11);
  std::string file;
  for (const auto& d : docs) file += d + "\n";
  write(dir + "/c.txt", file);

  // Independent answers.
  uint64_t chars = 0, words = 0, exact_dups = 0;
  std::vector<uint64_t> char_lengths, word_lengths;
  std::map<std::string, uint64_t> ngrams[4];
  std::map<std::string, uint64_t> char_bigrams;
  std::set<std::string> seen;
  for (const auto& d : docs) {
    chars += d.size();  // ASCII
    const auto w = ascii_words(d);
    words += w.size();
    char_lengths.push_back(d.size());
    word_lengths.push_back(w.size());
    for (size_t n = 1; n <= 4; ++n)
      for (size_t i = 0; i + n <= w.size(); ++i) {
        std::string g = w[i];
        for (size_t k = 1; k < n; ++k) g += " " + w[i + k];
        ++ngrams[n - 1][g];
      }
    for (size_t i = 0; i + 2 <= d.size(); ++i) ++char_bigrams[d.substr(i, 2)];
    if (!seen.insert(d).second) ++exact_dups;
  }

  for (int threads : {1, 3}) {
    const data::Summary s = data::explore({dir + "/c.txt"}, options(threads));
    EXPECT_EQ(s.documents, docs.size());
    EXPECT_EQ(s.characters, chars);
    EXPECT_EQ(s.bytes, chars);
    EXPECT_EQ(s.words, words);
    EXPECT_EQ(s.lines, docs.size());
    EXPECT_EQ(s.exact_duplicate_documents, exact_dups);
    const auto j = data::report_json(s, nullptr, 10);
    EXPECT_EQ(j["documents"], docs.size());
    EXPECT_EQ(j["exact_duplicate_documents"], exact_dups);
    for (double p : {1.0, 5.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0}) {
      const std::string key = "p" + std::to_string(static_cast<int>(p));
      EXPECT_EQ(j["length_percentiles"]["characters"][key], nearest_rank(char_lengths, p)) << key;
      EXPECT_EQ(j["length_percentiles"]["words"][key], nearest_rank(word_lengths, p)) << key;
    }
    EXPECT_EQ(j["length_percentiles"]["characters"]["max"],
              *std::max_element(char_lengths.begin(), char_lengths.end()));
    for (int n = 1; n <= 4; ++n) {
      std::vector<std::pair<uint64_t, std::string>> sorted;
      for (const auto& [g, c] : ngrams[n - 1]) sorted.emplace_back(c, g);
      std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
        return a.first != b.first ? a.first > b.first : a.second < b.second;
      });
      const auto& list = j["top_ngrams"]["words"][std::to_string(n)];
      ASSERT_EQ(list.size(), std::min<size_t>(10, sorted.size()));
      for (size_t i = 0; i < list.size(); ++i) {
        EXPECT_EQ(list[i][0], sorted[i].second) << n << " " << i;
        EXPECT_EQ(list[i][1], sorted[i].first) << n << " " << i;
      }
      EXPECT_TRUE(j["ngram_accuracy"]["words"][std::to_string(n)]["exact"].get<bool>());
    }
    const auto& cb = j["top_ngrams"]["characters"]["2"];
    for (const auto& e : cb) EXPECT_EQ(e[1], char_bigrams.at(e[0].get<std::string>()));
    EXPECT_EQ(j["vocabulary"]["size"], ngrams[0].size());
    // Zipf slope is negative, Heaps beta in (0, 1].
    EXPECT_LT(j["vocabulary"]["zipf_slope"].get<double>(), 0);
  }
  std::filesystem::remove_all(dir);
}

TEST(DataExplore, VocabularyGrowthMatchesASequentialCount) {
  const std::string dir = test::temp_dir("data_heaps");
  const auto docs = make_corpus(300, 5);
  std::string file;
  std::vector<std::string> all;
  for (const auto& d : docs) {
    file += d + "\n";
    for (auto& w : ascii_words(d)) all.push_back(w);
  }
  write(dir + "/c.txt", file);
  const data::Summary s = data::explore({dir + "/c.txt"}, options(2));
  const auto growth = data::vocabulary_growth(s);
  ASSERT_GE(growth.size(), 5u);
  EXPECT_EQ(growth.back().first, all.size());
  for (const auto& [w, v] : growth) {
    std::set<std::string> vocab(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(w));
    EXPECT_EQ(v, vocab.size()) << w;
  }
  // A known power law is recovered by the fit.
  std::vector<std::pair<double, double>> pts;
  for (double x = 10; x < 1e6; x *= 3) pts.emplace_back(x, 2.5 * std::pow(x, 0.6));
  const data::PowerFit f = data::fit_power_law(pts);
  EXPECT_NEAR(f.beta, 0.6, 1e-9);
  EXPECT_NEAR(f.k, 2.5, 1e-9);
  std::filesystem::remove_all(dir);
}

TEST(DataExplore, NearDuplicatesFoundExactOnesCountedOnce) {
  const std::string dir = test::temp_dir("data_near");
  std::string base;
  for (int i = 0; i < 60; ++i) base += "w" + std::to_string(i) + " ";
  std::string near = base;
  near.replace(near.find("w30 "), 4, "changed ");  // one word of 60 differs
  std::string other;
  for (int i = 0; i < 60; ++i) other += "v" + std::to_string(i * 7) + " ";
  write(dir + "/c.txt", base + "\n" + other + "\n" + near + "\n" + base + "\n");
  const data::Summary s = data::explore({dir + "/c.txt"}, options(1));
  EXPECT_EQ(s.exact_duplicate_documents, 1u);
  EXPECT_EQ(s.exact_duplicate_groups, 1u);
  EXPECT_EQ(s.near_duplicate_documents, 1u);
  ASSERT_EQ(s.near_examples.size(), 1u);
  EXPECT_EQ(data::location_line(s.near_examples[0].location), 3);
  EXPECT_EQ(data::location_line(s.near_examples[0].other), 1);
  ASSERT_EQ(s.exact_examples.size(), 1u);
  EXPECT_EQ(data::location_line(s.exact_examples[0].location), 4);
  std::filesystem::remove_all(dir);
}

TEST(DataExplore, MalformedInputReportedWithLineNumbersRestProcessed) {
  const std::string dir = test::temp_dir("data_bad");
  write(dir + "/d.jsonl",
        "{\"text\": \"good one\"}\n"
        "{\"text\": \"broken\n"
        "{\"body\": \"no text field\"}\n"
        "{\"text\": \"bad \xFF byte\"}\n"
        "\n"
        "{\"text\": \"good two\"}\n");
  write(dir + "/e.txt", "plain \xC3\x28 invalid\nfine\n");
  data::ExploreOptions o = options(2);
  const data::Summary s = data::explore({dir + "/d.jsonl", dir + "/e.txt"}, o);
  EXPECT_EQ(s.documents, 5u);  // good one, bad byte, good two, two plain lines
  EXPECT_EQ(s.problem_count, 3u);
  ASSERT_EQ(s.problems.size(), 3u);
  EXPECT_EQ(s.problems[0].line, 2);
  EXPECT_EQ(s.problems[0].message.rfind("invalid JSON", 0), 0u);
  EXPECT_EQ(s.problems[1].line, 3);
  EXPECT_EQ(s.problems[1].message, "missing field 'text'");
  EXPECT_EQ(s.problems[2].line, 5);  // an empty line is not JSON
  EXPECT_EQ(s.invalid_utf8_documents, 2u);
  EXPECT_EQ(s.invalid_utf8_bytes, 2u);
  ASSERT_EQ(s.invalid_utf8_examples.size(), 2u);
  EXPECT_EQ(data::location_line(s.invalid_utf8_examples[0].location), 4);
  EXPECT_EQ(data::location_source(s.invalid_utf8_examples[1].location), 1u);
  EXPECT_EQ(s.invalid_utf8_examples[1].value, 6u);  // byte offset of \xC3 in "plain \xC3("
  // The replacement character is counted as one character.
  EXPECT_EQ(s.characters, std::string("good onebad X bytegood twoplain X( invalidfine").size());
  std::filesystem::remove_all(dir);
}

TEST(DataExplore, ScriptsControlsUrlsEmailsNumbers) {
  const std::string dir = test::temp_dir("data_scripts");
  write(dir + "/s.txt",
        "abc \xD0\xB4\xD0\xB0 \xE4\xB8\xAD\n"  // Latin 3, Cyrillic 2, Han 1, spaces 2
        "see https://example.com/x and mail a.b@c.org 123\n"
        "tab\there bell\x07 www.x.org\n");
  const data::Summary s = data::explore({dir + "/s.txt"}, options(1));
  const auto count = [&](data::Script sc) { return s.script_characters[static_cast<size_t>(sc)]; };
  EXPECT_EQ(count(data::Script::Cyrillic), 2u);
  EXPECT_EQ(count(data::Script::Han), 1u);
  EXPECT_EQ(s.control_characters, 1u);  // the bell; tab is not counted
  EXPECT_EQ(s.urls, 2u);
  EXPECT_EQ(s.documents_with_urls, 2u);
  EXPECT_EQ(s.emails, 1u);
  EXPECT_EQ(s.number_words, 1u);
  uint64_t total = 0;
  for (uint64_t c : s.script_characters) total += c;
  EXPECT_EQ(total, s.characters);
  std::filesystem::remove_all(dir);
}

TEST(DataExplore, SummaryFilesMergeExactly) {
  const std::string dir = test::temp_dir("data_merge");
  const auto docs = make_corpus(600, 21);
  std::string a, b;
  for (size_t i = 0; i < docs.size(); ++i) (i < 250 ? a : b) += docs[i] + "\n";
  write(dir + "/all.txt", a + b);
  write(dir + "/a.txt", a);
  write(dir + "/b.txt", b);
  data::ExploreOptions o = options(2);
  o.keep_records = true;
  const data::Summary whole = data::explore({dir + "/all.txt"}, o);
  data::save_summary(data::explore({dir + "/a.txt"}, o), dir + "/a.json");
  data::save_summary(data::explore({dir + "/b.txt"}, o), dir + "/b.json");
  data::Summary merged = data::load_summary(dir + "/a.json", o.memory_budget);
  merge_summary(merged, data::load_summary(dir + "/b.json", o.memory_budget), whole.dedup_cap);
  auto jw = data::report_json(whole, nullptr, 15);
  auto jm = data::report_json(merged, nullptr, 15);
  for (const char* k :
       {"documents", "characters", "words", "lines", "exact_duplicate_documents", "near_duplicate_documents",
        "length_percentiles", "length_histograms", "top_ngrams", "vocabulary", "scripts", "patterns"})
    EXPECT_EQ(jw[k], jm[k]) << k;
  EXPECT_GT(whole.exact_duplicate_documents, 0u);

  // Bad summary files are errors naming the file.
  write(dir + "/bad.json", "{\"loupe_explore_summary\": 1, \"sources\": 5}");
  try {
    data::load_summary(dir + "/bad.json", o.memory_budget);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.json: summary field 'sources'"), std::string::npos) << e.what();
  }
  write(dir + "/notjson.json", "hello");
  EXPECT_THROW(data::load_summary(dir + "/notjson.json", o.memory_budget), Error);
  std::filesystem::remove_all(dir);
}

TEST(DataExplore, TinyBudgetSketchesStateTheirError) {
  const std::string dir = test::temp_dir("data_sketch");
  std::string file;
  std::mt19937 rng(3);
  for (int i = 0; i < 3000; ++i) {
    std::string d = "common words here";
    for (int k = 0; k < 8; ++k) d += " r" + std::to_string(rng() % 100000);
    file += d + "\n";
  }
  write(dir + "/c.txt", file);
  data::ExploreOptions o = options(2);
  o.memory_budget = size_t{2} << 20;
  const data::Summary s = data::explore({dir + "/c.txt"}, o);
  const auto j = data::report_json(s, nullptr, 5);
  EXPECT_FALSE(j["ngram_accuracy"]["words"]["4"]["exact"].get<bool>());
  const auto& top3 = j["top_ngrams"]["words"]["3"];
  EXPECT_EQ(top3[0][0], "common words here");
  const uint64_t err = j["ngram_accuracy"]["words"]["3"]["max_error"];
  EXPECT_GE(top3[0][1].get<uint64_t>(), 3000u);
  EXPECT_LE(top3[0][1].get<uint64_t>(), 3000u + err);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace loupe
