// Throughput and peak memory of the data explorer on a generated corpus of >= 1 GB.
//
// The corpus (/tmp/loupe_explore_bench/corpus.txt, generated once and reused) has one document
// per line: 5..400 words drawn from a Zipf(1.1) vocabulary of 200k synthetic words, with some
// punctuation, numbers and URLs, and 3% exact repeats of earlier documents. Set
// LOUPE_EXPLORE_BENCH_MB to change its size (default 1100 MB).
//
// Reported counters: MB_per_s (input bytes / wall time), peak_rss_MB (getrusage, the whole
// process), documents, words, and the accuracy of the word 4-gram table (exact or not).
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "data/explore.h"

namespace {

std::string corpus_path() {
  const char* mb_env = std::getenv("LOUPE_EXPLORE_BENCH_MB");
  const uint64_t mb = mb_env ? std::strtoull(mb_env, nullptr, 10) : 1100;
  const std::string dir = "/tmp/loupe_explore_bench";
  const std::string path = dir + "/corpus_" + std::to_string(mb) + "MB.txt";
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && std::filesystem::file_size(path, ec) >= mb * 1000000) return path;
  std::filesystem::create_directories(dir, ec);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return "";
  // Vocabulary: syllable words, ranks follow Zipf(1.1) via an inverse CDF table.
  const char* syl[] = {"ka", "lo", "mi", "ne", "tu", "ra",  "shi", "po",
                       "ve", "an", "el", "or", "us", "qui", "zo",  "be"};
  constexpr int kVocab = 200000;
  std::vector<std::string> vocab(kVocab);
  for (int i = 0; i < kVocab; ++i) {
    int v = i;
    std::string w;
    do {
      w += syl[v % 16];
      v /= 16;
    } while (v > 0);
    vocab[static_cast<size_t>(i)] = w;
  }
  std::vector<double> cdf(kVocab);
  double acc = 0;
  for (int i = 0; i < kVocab; ++i) cdf[static_cast<size_t>(i)] = acc += 1.0 / std::pow(i + 1, 1.1);
  for (double& c : cdf) c /= acc;
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<std::string> recent;
  uint64_t written = 0;
  std::string doc;
  while (written < mb * 1000000) {
    if (!recent.empty() && rng() % 100 < 3) {
      doc = recent[rng() % recent.size()];
    } else {
      doc.clear();
      const int n = 5 + static_cast<int>(rng() % 396);
      for (int k = 0; k < n; ++k) {
        if (k) doc += rng() % 12 == 0 ? ", " : " ";
        const size_t r = static_cast<size_t>(std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin());
        doc += vocab[std::min<size_t>(r, kVocab - 1)];
        if (rng() % 500 == 0) doc += " " + std::to_string(rng() % 10000);
        if (rng() % 5000 == 0) doc += " https://example.org/" + std::to_string(rng() % 1000);
      }
      doc += '.';
      if (recent.size() < 1000)
        recent.push_back(doc);
      else
        recent[rng() % recent.size()] = doc;
    }
    doc += '\n';
    std::fwrite(doc.data(), 1, doc.size(), f);
    written += doc.size();
  }
  std::fclose(f);
  return path;
}

void BM_ExploreCorpus(benchmark::State& state) {
  const std::string path = corpus_path();
  if (path.empty()) {
    state.SkipWithError("cannot write the corpus under /tmp");
    return;
  }
  const uint64_t bytes = std::filesystem::file_size(path);
  loupe::data::ExploreOptions o;
  o.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  o.memory_budget = size_t{1} << 30;
  loupe::data::Summary last;
  double seconds = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    last = loupe::data::explore({path}, o);
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    benchmark::DoNotOptimize(last.documents);
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  state.counters["input_MB"] = static_cast<double>(bytes) / 1e6;
  state.counters["MB_per_s"] = static_cast<double>(bytes) / 1e6 / seconds;
  state.counters["peak_rss_MB"] = static_cast<double>(ru.ru_maxrss) / 1024.0;
  state.counters["threads"] = o.threads;
  state.counters["documents"] = static_cast<double>(last.documents);
  state.counters["words"] = static_cast<double>(last.words);
  state.counters["exact_dups"] = static_cast<double>(last.exact_duplicate_documents);
  state.counters["word4_exact"] = last.word_ngrams[3]->exact() ? 1 : 0;
  state.counters["word4_max_error"] = static_cast<double>(last.word_ngrams[3]->max_error());
}
BENCHMARK(BM_ExploreCorpus)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
