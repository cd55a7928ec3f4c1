// The whole mutation campaign (tests/mutations.h): every lie the GGUF walk finds in the
// stories260K F32 and Q8_0 files, 200 header bit flips and 40 truncations each, and every
// llama2.c header lie, through info, logits and generate. Several minutes; the model suite
// runs a sample. LOUPE_MUTANTS=N limits each file to N variants.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "mutations.h"
#include "test_support.h"

namespace loupe {
namespace {

size_t limit() {
  const char* env = std::getenv("LOUPE_MUTANTS");
  return env != nullptr ? static_cast<size_t>(std::strtoull(env, nullptr, 10)) : SIZE_MAX;
}

void run_all(const std::string& rel, unsigned seed, bool gguf) {
  const std::string original = test::read_file(test::shared(rel));
  const std::vector<test::Mutant> all =
      gguf ? test::gguf_mutants(original, seed) : test::llama2c_mutants(original, seed);
  const std::string name = std::filesystem::path(rel).filename().string();
  const std::string dir = test::temp_dir("mutants");
  const std::string path = dir + "/" + name;
  size_t failures = 0;
  for (size_t i = 0; i < all.size() && i < limit(); ++i)
    if (!test::check_mutant(original, all[i], path, dir) && ++failures >= 10) break;
  std::filesystem::remove_all(dir);
}

TEST(MutantCampaign, GgufF32) {
  run_all("models/stories260K-gguf/stories260K-f32.gguf", 1, true);
}

TEST(MutantCampaign, GgufQ8_0) {
  run_all("models/stories260K-gguf/stories260K-q8_0.gguf", 2, true);
}

TEST(MutantCampaign, Llama2c) {
  run_all("models/stories260K/stories260K.bin", 3, false);
}

}  // namespace
}  // namespace loupe
