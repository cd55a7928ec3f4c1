// The analysis building blocks against direct computations: streamed moments, percentiles,
// llama-perplexity's mean/error rule, top-K, the degenerate-text detectors, the data reader.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>

#include "analysis/activations.h"
#include "analysis/attention.h"
#include "analysis/data.h"
#include "analysis/eval.h"
#include "analysis/stats.h"
#include "core/error.h"
#include "test_support.h"

namespace loupe::analysis {
namespace {

TEST(AnalysisMoments, MatchTwoPassComputation) {
  std::mt19937 rng(7);
  std::lognormal_distribution<double> dist(0.0, 1.0);
  std::vector<double> x(5000);
  for (auto& v : x) v = dist(rng) - 1.5;
  Moments m;
  for (double v : x) m.add(v);
  double mean = 0;
  for (double v : x) mean += v;
  mean /= static_cast<double>(x.size());
  double m2 = 0, m4 = 0;
  for (double v : x) {
    m2 += (v - mean) * (v - mean);
    m4 += std::pow(v - mean, 4);
  }
  const double n = static_cast<double>(x.size());
  EXPECT_NEAR(m.mean(), mean, 1e-12);
  EXPECT_NEAR(m.variance(), m2 / n, 1e-10);
  EXPECT_NEAR(m.kurtosis(), n * m4 / (m2 * m2), 1e-8);
  EXPECT_EQ(m.min(), *std::min_element(x.begin(), x.end()));
  EXPECT_EQ(m.max(), *std::max_element(x.begin(), x.end()));

  // Merging two halves gives the same moments.
  Moments a, b;
  for (size_t i = 0; i < x.size(); ++i) (i < 1234 ? a : b).add(x[i]);
  a.merge(b);
  EXPECT_EQ(a.count(), m.count());
  EXPECT_NEAR(a.mean(), m.mean(), 1e-12);
  EXPECT_NEAR(a.variance(), m.variance(), 1e-10);
  EXPECT_NEAR(a.kurtosis(), m.kurtosis(), 1e-8);
}

TEST(AnalysisMoments, NormalKurtosisIsThreeAndNonFiniteIsCounted) {
  std::mt19937 rng(3);
  std::normal_distribution<double> dist(2.0, 0.5);
  Moments m;
  for (int i = 0; i < 200000; ++i) m.add(dist(rng));
  EXPECT_NEAR(m.kurtosis(), 3.0, 0.05);
  m.add(NAN);
  m.add(INFINITY);
  m.add(-INFINITY);
  EXPECT_EQ(m.n_nan(), 1);
  EXPECT_EQ(m.n_inf(), 2);
  EXPECT_EQ(m.count(), 200000);
}

TEST(AnalysisStats, PercentileInterpolatesBetweenRanks) {
  const std::vector<float> v = {1, 2, 4, 8, 16};
  EXPECT_DOUBLE_EQ(percentile(v, 0.0), 1);
  EXPECT_DOUBLE_EQ(percentile(v, 1.0), 16);
  EXPECT_DOUBLE_EQ(percentile(v, 0.5), 4);
  EXPECT_DOUBLE_EQ(percentile(v, 0.625), 4 + 0.5 * 4);  // 0.625 * 4 = 2.5
  EXPECT_DOUBLE_EQ(percentile(v, 0.999), 8 + (0.999 * 4 - 3) * 8);
}

TEST(AnalysisStats, MeanAndErrorFollowLlamaPerplexity) {
  std::vector<double> x;
  for (int i = 0; i < 50; ++i) x.push_back(std::sin(i) + 2);
  double s = 0, s2 = 0;
  for (double v : x) {
    s += v;
    s2 += v * v;
  }
  const MeanError m = mean_and_error(s, s2, 50);
  double mean = s / 50, var = 0;
  for (double v : x) var += (v - mean) * (v - mean);
  EXPECT_NEAR(m.mean, mean, 1e-12);
  EXPECT_NEAR(m.error, std::sqrt(var / 50 / 49), 1e-12);
  EXPECT_EQ(mean_and_error(s, s2, 10).error, 0.0);  // llama.cpp reports no error for <= 10 values
  EXPECT_EQ(mean_and_error(0, 0, 0).mean, 0.0);
}

TEST(AnalysisStats, LogSoftmaxKlAndEntropy) {
  const float logits[] = {1.0f, 2.0f, 3.0f};
  double lp[3];
  log_softmax(logits, 3, lp);
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(lp[i], (i + 1) - std::log(z), 1e-12);
  EXPECT_NEAR(kl_divergence(lp, lp, 3), 0.0, 1e-15);
  const double uniform[] = {std::log(1.0 / 3), std::log(1.0 / 3), std::log(1.0 / 3)};
  EXPECT_NEAR(entropy(uniform, 3), std::log(3.0), 1e-12);
  double kl = 0;
  for (int i = 0; i < 3; ++i) kl += std::exp(lp[i]) * (lp[i] - uniform[i]);
  EXPECT_NEAR(kl_divergence(lp, uniform, 3), kl, 1e-12);
  EXPECT_EQ(argmax(logits, 3), 2);
}

TEST(AnalysisStats, TopKKeepsTheLargest) {
  TopK<int> top(3);
  for (int i = 0; i < 10; ++i) top.add((i * 7) % 10, i);
  auto s = top.sorted();
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].first, 9);
  EXPECT_EQ(s[1].first, 8);
  EXPECT_EQ(s[2].first, 7);
  EXPECT_FALSE(top.would_enter(5));
  EXPECT_TRUE(top.would_enter(7.5));
}

TEST(AnalysisDegeneration, RepetitionLoopAtTheEnd) {
  DegenerationOptions o;
  std::vector<int32_t> t = {5, 6, 7, 8};
  for (int r = 0; r < 4; ++r) t.insert(t.end(), {1, 2, 3});
  auto loop = find_repetition_loop(t, o);
  ASSERT_TRUE(loop.has_value());
  EXPECT_EQ(loop->period, 3);
  EXPECT_EQ(loop->start, 4);
  EXPECT_EQ(loop->length, 12);
  EXPECT_DOUBLE_EQ(loop->repeats, 4.0);
  // No loop in distinct tokens, nor a loop too short to count.
  std::vector<int32_t> plain = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  EXPECT_FALSE(find_repetition_loop(plain, o).has_value());
  std::vector<int32_t> short_loop = {9, 1, 2, 1, 2, 1, 2};  // 6 tokens < 8
  EXPECT_FALSE(find_repetition_loop(short_loop, o).has_value());
}

TEST(AnalysisDegeneration, NgramRepetitionRate) {
  // 1 2 3 1 2 3: bigrams 12 23 31 12 23 -> 2 of 5 repeat.
  EXPECT_DOUBLE_EQ(ngram_repetition_rate({1, 2, 3, 1, 2, 3}, 2), 2.0 / 5.0);
  EXPECT_DOUBLE_EQ(ngram_repetition_rate({1, 2, 3}, 4), 0.0);
  EXPECT_DOUBLE_EQ(ngram_repetition_rate({4, 4, 4, 4}, 1), 3.0 / 4.0);
}

TEST(AnalysisDegeneration, EntropyCollapse) {
  DegenerationOptions o;
  o.collapse_window = 4;
  std::vector<double> h = {3, 3, 3, 3, 3, 3, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1};
  auto c = find_entropy_collapse(h, o);
  ASSERT_TRUE(c.has_value());
  // First i with mean(h[i..i+4)) < 0.25 * mean(h[i-4..i)): i = 6 (0.125 < 0.75).
  EXPECT_EQ(c->pos, 6);
  EXPECT_DOUBLE_EQ(c->before, 3.0);
  EXPECT_NEAR(c->after, 0.125, 1e-12);
  std::vector<double> flat(20, 2.0);
  EXPECT_FALSE(find_entropy_collapse(flat, o).has_value());
}

TEST(AnalysisHistogram, CoversEveryValueOnOneGrid) {
  StreamHistogram h(4);
  h.set_range(0, 4);
  for (double v : {0.0, 0.5, 1.0, 3.99, static_cast<double>(NAN)}) h.add(v);
  EXPECT_EQ(h.counts(), (std::vector<int64_t>{2, 1, 0, 1}));
  // 4.0 and 10.0 are past the range: it doubles upward twice ([0, 16), bins of 4).
  for (double v : {4.0, 10.0}) h.add(v);
  EXPECT_EQ(h.lo(), 0);
  EXPECT_EQ(h.hi(), 16);
  EXPECT_EQ(h.counts(), (std::vector<int64_t>{4, 1, 1, 0}));
  // -1.0 fits one bin lower on the same grid: the range moves down to [-4, 12).
  h.add(-1.0);
  EXPECT_EQ(h.lo(), -4);
  EXPECT_EQ(h.hi(), 12);
  EXPECT_EQ(h.counts(), (std::vector<int64_t>{1, 4, 1, 1}));
  EXPECT_EQ(h.total(), 7);
  // -9 does not fit in four bins of 4 ([-12, 12) needs six): bins of 8 from -16.
  h.add(-9.0);
  EXPECT_EQ(h.lo(), -16);
  EXPECT_EQ(h.counts(), (std::vector<int64_t>{1, 1, 5, 1}));
}

TEST(AnalysisHistogram, DependsOnlyOnTheValuesNotTheirOrderOrSplit) {
  // The same values in three orders, and split in parts merged in every grouping: the same
  // range and the same counts, bin for bin.
  std::mt19937 rng(11);
  std::vector<double> xs;
  for (int i = 0; i < 3000; ++i) {
    std::normal_distribution<double> d(i % 7 == 0 ? 40.0 : 0.0, 1.0 + (i % 13));
    xs.push_back(d(rng));
  }
  xs.push_back(0.0);
  xs.push_back(-1e-300);
  StreamHistogram whole(60);
  for (double x : xs) whole.add(x);
  EXPECT_EQ(whole.total(), static_cast<int64_t>(xs.size()));
  int e = 0;
  EXPECT_EQ(std::frexp(whole.width(), &e), 0.5);  // a power of two
  EXPECT_LE(whole.lo(), *std::min_element(xs.begin(), xs.end()));
  EXPECT_GT(whole.hi(), *std::max_element(xs.begin(), xs.end()));
  EXPECT_GT(whole.counts().front(), 0);  // the first bin is the lowest one in use
  for (int order = 0; order < 3; ++order) {
    std::vector<double> ys = xs;
    if (order == 1) std::reverse(ys.begin(), ys.end());
    if (order == 2) std::shuffle(ys.begin(), ys.end(), rng);
    for (size_t parts : {size_t{1}, size_t{2}, size_t{3}, size_t{7}}) {
      SCOPED_TRACE(testing::Message() << "order " << order << ", " << parts << " parts");
      StreamHistogram merged(60);
      for (size_t p = 0; p < parts; ++p) {
        StreamHistogram part(60);
        for (size_t i = ys.size() * p / parts; i < ys.size() * (p + 1) / parts; ++i) part.add(ys[i]);
        ByteWriter w;
        part.pack(w);
        ByteReader r(reinterpret_cast<const uint8_t*>(w.bytes().data()), w.bytes().size(), "test");
        merged.merge(StreamHistogram::unpack(r));
      }
      EXPECT_EQ(merged.lo(), whole.lo());
      EXPECT_EQ(merged.hi(), whole.hi());
      EXPECT_EQ(merged.counts(), whole.counts());
    }
  }
  // One repeated value: a narrow range around it, every count in one bin.
  StreamHistogram one(60);
  for (int i = 0; i < 5; ++i) one.add(1000.0);
  EXPECT_LE(one.lo(), 1000.0);
  EXPECT_GT(one.hi(), 1000.0);
  EXPECT_EQ(one.total(), 5);
}

TEST(ExactSum, DoesNotDependOnTheOrderOfTheAdditions) {
  std::mt19937 rng(5);
  std::vector<double> xs;
  for (int i = 0; i < 20000; ++i) {
    std::uniform_real_distribution<double> u(-1, 1);
    xs.push_back(std::ldexp(u(rng), static_cast<int>(rng() % 120) - 60));
  }
  long double naive = 0;  // the values above only: 1e300 - 1e300 below cancels exactly
  for (double x : xs) naive += x;
  xs.push_back(1e300);
  xs.push_back(-1e300);
  xs.push_back(4.9e-324);
  xs.push_back(-2.2e-308);
  ExactSum whole;
  for (double x : xs) whole.add(x);
  EXPECT_NEAR(whole.value(), static_cast<double>(naive), 1e-12 * std::fabs(static_cast<double>(naive)) + 1e-300);
  for (int round = 0; round < 4; ++round) {
    std::shuffle(xs.begin(), xs.end(), rng);
    ExactSum a, b;
    for (size_t i = 0; i < xs.size(); ++i) (i % 3 == 0 ? a : b).add(xs[i]);
    ByteWriter w;
    b.pack(w);
    ByteReader r(reinterpret_cast<const uint8_t*>(w.bytes().data()), w.bytes().size(), "test");
    a.add(ExactSum::unpack(r));
    EXPECT_EQ(a.value(), whole.value());  // bit for bit
  }
  // Cancellation is exact: 1e20 + 1 - 1e20 is 1.
  ExactSum c;
  for (double x : {1e20, 1.0, -1e20}) c.add(x);
  EXPECT_EQ(c.value(), 1.0);
  ExactSum n;
  for (double x : {-3.5, 1.25}) n.add(x);
  EXPECT_EQ(n.value(), -2.25);
  EXPECT_EQ(ExactSum().value(), 0.0);
}

TEST(AnalysisHistogram, EqualsBinningEverythingAtOnce) {
  // Random values in batches whose ranges grow: the streamed counts equal one binning of all of
  // them into the final range, and no value is left out.
  std::mt19937 rng(7);
  std::vector<double> all;
  StreamHistogram h(60);
  for (int batch = 0; batch < 20; ++batch) {
    std::normal_distribution<float> d(0.5f * static_cast<float>(batch), 1.0f + static_cast<float>(batch * batch));
    std::vector<float> xs(500);
    for (float& x : xs) x = d(rng);
    for (float x : xs) {
      h.add(x);
      all.push_back(x);
    }
  }
  EXPECT_EQ(h.total(), static_cast<int64_t>(all.size()));
  const double lo = *std::min_element(all.begin(), all.end()), hi = *std::max_element(all.begin(), all.end());
  EXPECT_LE(h.lo(), lo);
  EXPECT_GT(h.hi(), hi);
  std::vector<int64_t> direct(60, 0);
  for (double x : all) ++direct[static_cast<size_t>(std::min(59.0, (x - h.lo()) / (h.hi() - h.lo()) * 60))];
  int64_t differ = 0;  // a value on a bin edge may round either way
  for (size_t i = 0; i < 60; ++i) differ += std::abs(direct[i] - h.counts()[i]);
  EXPECT_LE(differ, 2);
}

// The chance baseline is what the scores give on uniform attention over the keys each query sees.
TEST(AttentionChance, EqualsTheScoresOfUniformAttention) {
  for (int64_t window : {int64_t{0}, int64_t{3}}) {
    SCOPED_TRACE(window);
    const auto uniform = [window](int64_t n) {
      std::vector<float> p(static_cast<size_t>(n * n), 0.0f);
      for (int64_t i = 0; i < n; ++i) {
        const int64_t lo = window > 0 ? std::max<int64_t>(0, i - window + 1) : 0;
        for (int64_t j = lo; j <= i; ++j) p[static_cast<size_t>(i * n + j)] = 1.0f / static_cast<float>(i - lo + 1);
      }
      return p;
    };
    const int64_t n = 9, period = 4, n_ind = 1 + 2 * period;
    const HeadScores c = chance_scores(n, window, n_ind, period);
    std::vector<double> ent, sink, prev;
    pattern_scores(uniform(n).data(), 1, n, ent, sink, prev);
    EXPECT_NEAR(c.entropy, ent[0], 1e-6);
    EXPECT_NEAR(c.sink, sink[0], 1e-6);
    EXPECT_NEAR(c.prev_token, prev[0], 1e-6);
    EXPECT_NEAR(c.induction, induction_scores(uniform(n_ind).data(), 1, n_ind, period)[0], 1e-6);
  }
  // By hand, no window, 4 positions: keys 1, 2, 3, 4.
  const HeadScores c = chance_scores(4, 0, 5, 2);
  EXPECT_NEAR(c.sink, (1 + 1 / 2.0 + 1 / 3.0 + 1 / 4.0) / 4, 1e-12);
  EXPECT_NEAR(c.prev_token, (1 / 2.0 + 1 / 3.0 + 1 / 4.0) / 3, 1e-12);
  EXPECT_NEAR(c.induction, (1 / 4.0 + 1 / 5.0) / 2, 1e-12);
}

class DataReaderTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = test::temp_dir("data"); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name, std::ios::binary) << text;
    return dir_ + "/" + name;
  }
  std::string dir_;
};

TEST_F(DataReaderTest, TextAndJsonl) {
  DocumentReader text(write("a.txt", "one\n\n  \ntwo\r\nthree"));
  EXPECT_EQ(text.format(), data::Format::Lines);
  EXPECT_EQ(*text.next(), "one");
  EXPECT_EQ(*text.next(), "two");
  EXPECT_EQ(text.line(), 4);
  EXPECT_EQ(*text.next(), "three");
  EXPECT_FALSE(text.next().has_value());

  DocumentReader json(write("b.data", "\n{\"text\": \"a\\nb\", \"id\": 1}\n{\"text\": \"c\"}\n"));
  EXPECT_EQ(json.format(), data::Format::Jsonl);
  EXPECT_EQ(*json.next(), "a\nb");
  EXPECT_EQ(*json.next(), "c");
  EXPECT_FALSE(json.next().has_value());

  DocumentReader other(write("c.jsonl", "{\"body\": \"x\"}\n"), "body");
  EXPECT_EQ(*other.next(), "x");
}

TEST_F(DataReaderTest, StrictStopsAtABadRecordNamingFileAndLine) {
  auto expect_error = [](DocumentReader& r, const std::string& what) {
    try {
      while (r.next()) {
      }
      ADD_FAILURE() << "no error, expected " << what;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  const auto strict = [](const std::string& path) {
    return std::make_unique<DocumentReader>(path, "text", data::Format::Auto, true);
  };
  expect_error(*strict(write("x.jsonl", "{\"text\": \"ok\"}\n{\"text\": 3}\n")),
               "x.jsonl:2: field 'text' is not a string");
  expect_error(*strict(write("y.jsonl", "[1, 2]\n")), "y.jsonl:1: missing field 'text' (not a JSON object)");
  expect_error(*strict(write("z.txt", "fine\nbad \xff byte\n")), "z.txt:2: invalid UTF-8 at byte 4");
  expect_error(*strict(write("w.csv", "id,text\n1,\"open\n")), "w.csv:2: unterminated quoted field");
  EXPECT_THROW(DocumentReader(dir_ + "/nope.txt"), Error);
}

// Without --strict a bad record is reported (file and line) and skipped; the rest is read.
TEST_F(DataReaderTest, BadRecordsAreReportedAndSkipped) {
  DocumentReader r(write("m.jsonl", "{\"text\": \"one\"}\n{broken\n{\"body\": 1}\n{\"text\": \"two\"}\n"));
  std::vector<std::string> problems;
  r.set_on_problem([&](const std::string& p) { problems.push_back(p); });
  EXPECT_EQ(*r.next(), "one");
  EXPECT_EQ(*r.next(), "two");
  EXPECT_EQ(r.line(), 4);
  EXPECT_FALSE(r.next().has_value());
  EXPECT_EQ(r.skipped(), 2);
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_NE(problems[0].find("m.jsonl:2: invalid JSON"), std::string::npos) << problems[0];
  EXPECT_NE(problems[1].find("m.jsonl:3: missing field 'text'"), std::string::npos) << problems[1];
}

// The explorer's reader: folders, CSV columns, blank-line documents.
TEST_F(DataReaderTest, FoldersCsvAndBlankLineDocuments) {
  const std::string folder = dir_ + "/corpus";
  std::filesystem::create_directories(folder);
  std::ofstream(folder + "/b.txt") << "second\nthird\n";
  std::ofstream(folder + "/a.txt") << "first\n";
  DocumentReader f(folder);
  EXPECT_EQ(*f.next(), "first");
  EXPECT_EQ(*f.next(), "second");
  EXPECT_EQ(f.path(), folder + "/b.txt");
  EXPECT_EQ(*f.next(), "third");
  EXPECT_FALSE(f.next().has_value());
  DocumentReader csv(write("t.csv", "id,body\n1,\"a, b\"\n2,\"multi\nline\"\n"), "body");
  EXPECT_EQ(*csv.next(), "a, b");
  EXPECT_EQ(*csv.next(), "multi\nline");
  DocumentReader blank(write("p.txt", "para one\nstill one\n\n\npara two\n"), "text", data::Format::Blank);
  EXPECT_EQ(*blank.next(), "para one\nstill one");
  EXPECT_EQ(*blank.next(), "para two");
}

}  // namespace
}  // namespace loupe::analysis
