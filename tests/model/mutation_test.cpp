// Mutation tests, a sample for every CI run: hostile variants of the stories260K GGUF and
// llama2.c files (lies in counts, types, offsets and metadata; flipped header bits;
// truncations; see tests/mutations.h) through info, logits and generate. The slow suite runs
// every variant (tests/slow/mutation_campaign_test.cpp).
#include <gtest/gtest.h>

#include <filesystem>

#include "mutations.h"
#include "test_support.h"

namespace loupe {
namespace {

void run_sample(const std::string& original, const std::vector<test::Mutant>& all, size_t n, const std::string& name) {
  const std::string dir = test::temp_dir("mutants");
  const std::string path = dir + "/" + name;
  for (size_t i = 0; i < all.size() && i < n; ++i)
    if (!test::check_mutant(original, all[i], path, dir)) break;
  std::filesystem::remove_all(dir);
}

TEST(Mutants, GgufSample) {
  const std::string original = test::read_file(test::shared("models/stories260K-gguf/stories260K-f32.gguf"));
  const auto all = test::gguf_mutants(original, 20261206);
  ASSERT_GT(all.size(), 1000u);  // the walk found the file's fields
  run_sample(original, all, 120, "stories260K-f32.gguf");
}

TEST(Mutants, Llama2cSample) {
  const std::string original = test::read_file(test::shared("models/stories260K/stories260K.bin"));
  run_sample(original, test::llama2c_mutants(original, 20261206), 30, "stories260K.bin");
}

}  // namespace
}  // namespace loupe
