// Tokenizer load time per family, and throughput in MB/s per tokenizer family, on documents of 64 KiB, 256 KiB and 1
// MiB: linear tokenisation shows as the same MB/s at every size. Texts: English-like prose (words, punctuation,
// newlines, digits, some non-ASCII), one long run without spaces (the worst case for merging), and long whitespace /
// code-like runs. Run: ./build/release/tokenizer_bench (LOUPE_SHARED_DIR names the shared folder when it is not
// ../shared).
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <random>
#include <string>

#include "bench_model.h"
#include "tokenizer/tokenizer.h"

namespace loupe {
namespace {

// family name -> tokenizer file under the shared folder
const std::map<std::string, std::string>& families() {
  static const std::map<std::string, std::string> f = {
      {"llama2c", "/tokenizers/llama2/tokenizer.bin"},
      {"sentencepiece", "/tokenizers/llama2/tokenizer.model"},
      {"gguf-spm", "/tokenizers/llamacpp-vocab/ggml-vocab-llama-spm.gguf"},
      {"gguf-gpt2", "/tokenizers/llamacpp-vocab/ggml-vocab-gpt-2.gguf"},
      {"gguf-wpm", "/tokenizers/llamacpp-vocab/ggml-vocab-bert-bge.gguf"},
      {"hf-llama2", "/tokenizers/hf/llama2/tokenizer.json"},
      {"hf-llama3", "/tokenizers/hf/llama3/tokenizer.json"},
      {"hf-qwen3", "/tokenizers/hf/qwen3/tokenizer.json"},
  };
  return f;
}

const Tokenizer& tokenizer(const std::string& family) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> loaded;
  auto& t = loaded[family];
  if (!t) t = load_tokenizer(bench::shared_dir() + families().at(family));
  return *t;
}

std::string prose(size_t bytes) {
  static const char* const kWords[] = {
      "the",   "model",   "answered",   "wrongly", "after",  "quantisation,", "and",   "we",  "looked",    "at",
      "layer", "12.",     "Once",       "upon",    "a",      "time",          "there", "was", "naïve",     "café",
      "2026",  "tokens:", "loss=0.731", "(see",    "below)", "über",          "—",     "its", "attention", "heads"};
  std::mt19937 rng(7);
  std::string s;
  s.reserve(bytes + 16);
  while (s.size() < bytes) {
    s += kWords[rng() % (sizeof(kWords) / sizeof(kWords[0]))];
    s += rng() % 17 == 0 ? "\n" : " ";
  }
  s.resize(bytes);
  while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80) s.pop_back();  // whole characters
  if (!s.empty() && static_cast<unsigned char>(s.back()) >= 0xC0) s.pop_back();
  return s;
}

std::string no_spaces(size_t bytes) {
  std::string s;
  s.reserve(bytes);
  static const char kCycle[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::mt19937 rng(11);
  while (s.size() < bytes) s += kCycle[rng() % 36];
  return s;
}

std::string code_like(size_t bytes) {
  std::string s;
  while (s.size() < bytes) s += "        if (x[i] != 0) {\n            y += x[i] * 2;\n        }\n\n\n";
  s.resize(bytes);
  return s;
}

void run(benchmark::State& state, const std::string& family, std::string (*make)(size_t)) {
  const Tokenizer& t = tokenizer(family);
  const std::string text = make(static_cast<size_t>(state.range(0)) * 1024);
  size_t n_tokens = 0;
  for (auto _ : state) {
    auto ids = t.encode(text, false, false);
    n_tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(text.size()));
  state.counters["tokens"] = static_cast<double>(n_tokens);
}

// Loading the tokenizer file itself (a 128k-token tokenizer.json with 280k merges: the time every
// command that names the model pays before it starts).
void load(benchmark::State& state, const std::string& family) {
  const std::string path = bench::shared_dir() + families().at(family);
  for (auto _ : state) {
    auto t = load_tokenizer(path);
    benchmark::DoNotOptimize(t.get());
  }
}

void register_all() {
  for (const auto& [family, path] : families())
    benchmark::RegisterBenchmark(("load/" + family).c_str(), [family = family](benchmark::State& st) {
      load(st, family);
    })->Unit(benchmark::kMillisecond);
  for (const auto& [family, path] : families()) {
    for (auto [name, make] :
         {std::pair{"prose", &prose}, std::pair{"no_spaces", &no_spaces}, std::pair{"code", &code_like}}) {
      benchmark::RegisterBenchmark(("tokenize/" + family + "/" + name).c_str(),
                                   [family = family, make = make](benchmark::State& st) { run(st, family, make); })
          ->Arg(64)
          ->Arg(256)
          ->Arg(1024)
          ->Unit(benchmark::kMillisecond)
          ->MinTime(0.2);
    }
  }
}

}  // namespace
}  // namespace loupe

int main(int argc, char** argv) {
  loupe::register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
