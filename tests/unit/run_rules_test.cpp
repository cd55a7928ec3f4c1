// The run rules every command shares (engine/run.h): one context rule, one way to cut a prompt
// into passes, one stop rule.
#include <gtest/gtest.h>

#include "core/error.h"
#include "engine/run.h"

namespace loupe {
namespace {

ModelConfig config(Arch arch, int64_t n_ctx) {
  ModelConfig c;
  c.arch = arch;
  c.n_ctx = n_ctx;
  c.bos_id = 1;
  c.eos_id = 2;
  return c;
}

TEST(RunRules, OneContextRule) {
  EXPECT_EQ(effective_context(config(Arch::Llama, 512), 0), 512);      // the trained context
  EXPECT_EQ(effective_context(config(Arch::Llama, 131072), 0), 4096);  // capped by default
  EXPECT_EQ(effective_context(config(Arch::Llama, 512), 2048), 2048);  // asked for: extrapolation
  EXPECT_EQ(effective_context(config(Arch::Gpt2, 1024), 1024), 1024);
  EXPECT_THROW(effective_context(config(Arch::Gpt2, 1024), 1025), Error);  // no embedding past it
  EXPECT_THROW(effective_context(config(Arch::Llama, 512), (int64_t{1} << 20) + 1), Error);
}

TEST(RunRules, PassesCoverThePromptInOrder) {
  const auto r = pass_ranges(10, 4);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].first, 0);
  EXPECT_EQ(r[0].count, 4);
  EXPECT_EQ(r[2].first, 8);
  EXPECT_EQ(r[2].count, 2);
  EXPECT_TRUE(pass_ranges(0, 4).empty());
  EXPECT_EQ(pass_ranges(3, 512).size(), 1u);
}

TEST(RunRules, GenerationStopsAtEosAndLlamaBos) {
  EXPECT_EQ(stops_generation(config(Arch::Llama, 512), 2), StopReason::Eos);
  EXPECT_EQ(stops_generation(config(Arch::Llama, 512), 1), StopReason::Bos);
  EXPECT_FALSE(stops_generation(config(Arch::Qwen2, 512), 1).has_value());  // BOS stops llamas only
  EXPECT_FALSE(stops_generation(config(Arch::Llama, 512), 7).has_value());
  EXPECT_EQ(stop_reason_text(StopReason::ContextFull), "context full");
}

}  // namespace
}  // namespace loupe
