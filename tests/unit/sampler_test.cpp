#include "model/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "core/error.h"

namespace loupe {
namespace {

TEST(Sampler, GreedyPicksTheFirstMaximum) {
  Sampler s(SamplerConfig{SamplerKind::Default, 0.0f, 1.0f, 0, 1}, 5);
  float logits[5] = {0.1f, 3.0f, -1.0f, 3.0f, 2.0f};
  EXPECT_EQ(s.sample(logits), 1);
}

// run.c's generator from seed 42: the first draws computed by hand from its xorshift formula.
TEST(Sampler, Llama2cRngSequence) {
  uint64_t state = 42;
  auto next = [&] {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return static_cast<uint32_t>((state * 0x2545F4914F6CDD1Dull) >> 32);
  };
  // With temperature 1 and top-p 1 over two equal logits, the token is 0 when coin < 0.5.
  Sampler s(SamplerConfig{SamplerKind::Llama2c, 1.0f, 1.0f, 0, 42}, 2);
  for (int i = 0; i < 50; ++i) {
    float coin = static_cast<float>(next() >> 8) / 16777216.0f;
    float logits[2] = {0.0f, 0.0f};
    EXPECT_EQ(s.sample(logits), coin < 0.5f ? 0 : 1) << "draw " << i;
  }
}

TEST(Sampler, TopKRestrictsCandidates) {
  Sampler s(SamplerConfig{SamplerKind::Default, 1.0f, 1.0f, 2, 7}, 4);
  std::map<int, int> seen;
  for (int i = 0; i < 500; ++i) {
    float logits[4] = {1.0f, 5.0f, 4.9f, 0.5f};
    ++seen[s.sample(logits)];
  }
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_GT(seen[1], 0);
  EXPECT_GT(seen[2], 0);
}

TEST(Sampler, TopPKeepsTheNucleus) {
  Sampler s(SamplerConfig{SamplerKind::Default, 1.0f, 0.5f, 0, 3}, 3);
  for (int i = 0; i < 200; ++i) {
    float logits[3] = {std::log(0.6f), std::log(0.3f), std::log(0.1f)};
    EXPECT_EQ(s.sample(logits), 0);
  }
}

TEST(Sampler, FrequenciesFollowTheDistribution) {
  Sampler s(SamplerConfig{SamplerKind::Default, 1.0f, 1.0f, 0, 11}, 2);
  int ones = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    float logits[2] = {0.0f, std::log(3.0f)};  // p(1) = 0.75
    ones += s.sample(logits);
  }
  EXPECT_NEAR(static_cast<double>(ones) / n, 0.75, 0.015);
}

TEST(Sampler, SameSeedSameTokens) {
  auto draw = [](uint64_t seed) {
    Sampler s(SamplerConfig{SamplerKind::Default, 0.8f, 0.95f, 40, seed}, 8);
    std::vector<int> out;
    for (int i = 0; i < 30; ++i) {
      float logits[8] = {1, 2, 3, 4, 4, 3, 2, 1};
      out.push_back(s.sample(logits));
    }
    return out;
  };
  EXPECT_EQ(draw(5), draw(5));
  EXPECT_NE(draw(5), draw(6));
}

TEST(Sampler, RejectsBadSettings) {
  EXPECT_THROW(Sampler(SamplerConfig{SamplerKind::Default, -1.0f, 1.0f, 0, 1}, 4), Error);
  EXPECT_THROW(Sampler(SamplerConfig{SamplerKind::Default, 1.0f, 1.5f, 0, 1}, 4), Error);
  EXPECT_THROW(Sampler(SamplerConfig{SamplerKind::Default, 1.0f, 1.0f, -2, 1}, 4), Error);
}

}  // namespace
}  // namespace loupe
