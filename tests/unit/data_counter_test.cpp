// Exact counting, FrequentItems bounds, n-gram tables under a memory budget, lengths, word cloud.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "data/counter.h"
#include "data/lengths.h"
#include "data/wordcloud.h"

namespace loupe {
namespace {

using data::CountedKey;

// A skewed stream: key i appears about N / (i+1)^1.2 times, shuffled.
std::vector<std::string> zipf_stream(int keys, int n, uint32_t seed) {
  std::vector<std::string> out;
  for (int i = 0; i < keys; ++i) {
    const int c = std::max(1, static_cast<int>(n / std::pow(i + 1, 1.2)));
    for (int k = 0; k < c; ++k) out.push_back("key" + std::to_string(i));
  }
  std::mt19937 rng(seed);
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

TEST(DataCounter, StringCounterIsExact) {
  data::StringCounter c;
  std::map<std::string, uint64_t> truth;
  for (const std::string& k : zipf_stream(3000, 2000, 1)) {
    c.add(data::hash_bytes(k), k, 1);
    ++truth[k];
  }
  EXPECT_EQ(c.size(), truth.size());
  uint64_t total = 0;
  for (const CountedKey& e : c.entries()) {
    EXPECT_EQ(e.count, truth.at(e.key)) << e.key;
    total += e.count;
  }
  EXPECT_EQ(c.total(), total);
  EXPECT_EQ(c.get(data::hash_bytes("key0")), truth["key0"]);
  EXPECT_EQ(c.get(data::hash_bytes("absent")), 0u);
}

TEST(DataCounter, FrequentItemsBoundsHold) {
  const auto stream = zipf_stream(5000, 3000, 2);
  std::map<std::string, uint64_t> truth;
  for (const auto& k : stream) ++truth[k];
  const size_t cap = 200;
  data::FrequentItems ss(cap);
  for (const auto& k : stream) ss.add(data::hash_bytes(k), k, 1);
  EXPECT_EQ(ss.total(), stream.size());
  const double bound = static_cast<double>(stream.size()) / (cap + 1);
  std::map<std::string, CountedKey> kept;
  for (const CountedKey& e : ss.entries()) kept[e.key] = e;
  for (const auto& [key, e] : kept) {
    const uint64_t t = truth.at(key);
    EXPECT_GE(e.count, t) << key;
    EXPECT_LE(e.count - e.error, t) << key;
    EXPECT_LE(static_cast<double>(e.error), bound);
  }
  // Every key more frequent than total/capacity is kept.
  for (const auto& [key, t] : truth)
    if (static_cast<double>(t) > bound) {
      EXPECT_TRUE(kept.count(key)) << key << " " << t;
    }
  // Anything not kept occurs at most min_count times.
  for (const auto& [key, t] : truth)
    if (!kept.count(key)) {
      EXPECT_LE(t, ss.min_count());
    }
}

TEST(DataCounter, FrequentItemsMergeKeepsBounds) {
  const auto a = zipf_stream(3000, 2000, 3), b = zipf_stream(3000, 2000, 4);
  std::map<std::string, uint64_t> truth;
  data::FrequentItems sa(150), sb(150);
  for (const auto& k : a) sa.add(data::hash_bytes(k), k, 1), ++truth[k];
  for (const auto& k : b) sb.add(data::hash_bytes(k), k, 1), ++truth[k];
  sa.merge(sb.entries(), sb.min_count(), sb.total());
  EXPECT_EQ(sa.total(), a.size() + b.size());
  EXPECT_LE(sa.size(), 150u);
  const double bound = static_cast<double>(a.size() + b.size()) / 151;
  std::map<std::string, CountedKey> kept;
  for (const CountedKey& e : sa.entries()) {
    kept[e.key] = e;
    EXPECT_GE(e.count, truth.at(e.key)) << e.key;
    EXPECT_LE(e.count - e.error, truth.at(e.key)) << e.key;
    EXPECT_LE(static_cast<double>(e.error), bound);
  }
  for (const auto& [key, t] : truth)
    if (!kept.count(key)) {
      EXPECT_LE(t, sa.min_count()) << key;
    }
}

TEST(DataCounter, NgramTableExactUnderBudgetSketchBeyond) {
  const auto stream = zipf_stream(20000, 5000, 5);
  std::map<std::string, uint64_t> truth;
  for (const auto& k : stream) ++truth[k];
  data::NgramTable big(size_t{256} << 20), small(64 << 10);
  for (const auto& k : stream) {
    const uint64_t h = data::hash_bytes(k);
    big.add(data::NgramTable::partition_of(h), h, k, 1);
    small.add(data::NgramTable::partition_of(h), h, k, 1);
  }
  EXPECT_TRUE(big.exact());
  EXPECT_EQ(big.distinct(), truth.size());
  EXPECT_EQ(big.max_error(), 0u);
  const auto top = big.top(10);
  std::vector<std::pair<uint64_t, std::string>> sorted;
  for (const auto& [k, v] : truth) sorted.emplace_back(v, k);
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& x, const auto& y) { return x.first != y.first ? x.first > y.first : x.second < y.second; });
  for (size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(top[i].key, sorted[i].second);
    EXPECT_EQ(top[i].count, sorted[i].first);
  }
  EXPECT_FALSE(small.exact());
  EXPECT_EQ(small.total(), stream.size());
  EXPECT_LT(small.memory_bytes(), size_t{256} << 10);
  for (const CountedKey& e : small.top(20)) {
    EXPECT_GE(e.count, truth.at(e.key));
    EXPECT_LE(e.count - e.error, truth.at(e.key));
  }
  // The heaviest keys are still found.
  EXPECT_EQ(small.top(1).at(0).key, sorted[0].second);
}

TEST(DataCounter, MergingASketchIntoAnExactTableKeepsItsCapacity) {
  const auto a = zipf_stream(2000, 1000, 6), b = zipf_stream(20000, 5000, 7);
  std::map<std::string, uint64_t> truth;
  data::NgramTable exact(size_t{256} << 20), sketch(64 << 10);
  for (const auto& k : a) {
    const uint64_t h = data::hash_bytes(k);
    exact.add(data::NgramTable::partition_of(h), h, k, 1);
    ++truth[k];
  }
  for (const auto& k : b) {
    const uint64_t h = data::hash_bytes(k);
    sketch.add(data::NgramTable::partition_of(h), h, k, 1);
    ++truth[k];
  }
  ASSERT_TRUE(exact.exact());
  ASSERT_FALSE(sketch.exact());
  std::vector<std::vector<CountedKey>> by_part(data::NgramTable::kPartitions);
  for (CountedKey& k : sketch.entries())
    by_part[static_cast<size_t>(data::NgramTable::partition_of(data::hash_bytes(k.key)))].push_back(k);
  for (int p = 0; p < data::NgramTable::kPartitions; ++p) {
    const auto state = sketch.partition_state(p);
    exact.merge_partition(p, by_part[static_cast<size_t>(p)], state);
    if (state.sketch) {
      EXPECT_GE(exact.partition_state(p).capacity, state.capacity) << p;
    }
  }
  EXPECT_EQ(exact.total(), a.size() + b.size());
  for (const CountedKey& e : exact.top(50)) {
    EXPECT_GE(e.count, truth.at(e.key)) << e.key;
    EXPECT_LE(e.count - e.error, truth.at(e.key)) << e.key;
  }
}

TEST(DataLengths, PercentilesAreNearestRank) {
  std::vector<uint64_t> v = {5, 1, 9, 3, 3, 7, 100, 0, 42, 8, 8};
  data::LengthDistribution d;
  for (uint64_t x : v) d.add(x);
  std::sort(v.begin(), v.end());
  for (double p : {1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 99.0, 100.0}) {
    const size_t rank = static_cast<size_t>(std::ceil(p / 100 * static_cast<double>(v.size())));
    EXPECT_EQ(d.percentile(p), v[std::max<size_t>(rank, 1) - 1]) << p;
  }
  EXPECT_EQ(d.min(), 0u);
  EXPECT_EQ(d.max(), 100u);
  EXPECT_DOUBLE_EQ(d.mean(), 186.0 / 11);
  std::vector<double> edges, counts;
  d.histogram(10, edges, counts);
  EXPECT_EQ(edges.size(), counts.size() + 1);
  double total = 0;
  for (double c : counts) total += c;
  EXPECT_EQ(total, 11);
  EXPECT_GT(edges.back(), 100);
}

TEST(DataWordCloud, NoOverlapAllInside) {
  std::vector<data::CloudWord> words;
  std::mt19937 rng(7);
  for (int i = 0; i < 150; ++i) {
    std::string w(3 + rng() % 9, 'a');
    for (char& c : w) c = static_cast<char>('a' + rng() % 26);
    words.push_back({w, 1000.0 / (i + 1)});
  }
  words.push_back({"\xE4\xB8\xAD\xE6\x96\x87", 500});  // wide characters
  const data::WordCloud cloud = data::layout_word_cloud(words, 600, 300);
  EXPECT_GT(cloud.words.size(), 60u);
  EXPECT_EQ(cloud.words.size() + cloud.dropped, 120u);
  for (size_t i = 0; i < cloud.words.size(); ++i) {
    const auto& a = cloud.words[i];
    EXPECT_GE(a.x, 0);
    EXPECT_GE(a.y, 0);
    EXPECT_LE(a.x + a.width, 600);
    EXPECT_LE(a.y + a.height, 300);
    EXPECT_NEAR(a.width, report::text_width(a.text, a.font_size), 1e-9);
    for (size_t j = 0; j < i; ++j) {
      const auto& b = cloud.words[j];
      const bool apart = a.x >= b.x + b.width || b.x >= a.x + a.width || a.y >= b.y + b.height || b.y >= a.y + a.height;
      EXPECT_TRUE(apart) << a.text << " overlaps " << b.text;
    }
  }
  // The heaviest word is the biggest.
  for (const auto& w : cloud.words) EXPECT_LE(w.font_size, cloud.words[0].font_size);
  const std::string svg = data::draw_word_cloud(cloud, "cloud").str();
  EXPECT_NE(svg.find("textLength"), std::string::npos);
  EXPECT_TRUE(data::layout_word_cloud({}, 100, 100).words.empty());
}

}  // namespace
}  // namespace loupe
