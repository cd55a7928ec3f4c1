#include "core/suggest.h"

#include <gtest/gtest.h>

namespace loupe {
namespace {

TEST(Suggest, EditDistanceCountsTranspositionsAsOne) {
  EXPECT_EQ(edit_distance("", ""), 0u);
  EXPECT_EQ(edit_distance("abc", ""), 3u);
  EXPECT_EQ(edit_distance("generate", "generat"), 1u);
  EXPECT_EQ(edit_distance("--temp", "--tmep"), 1u);  // swapped neighbours
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("ca", "abc"), 3u);  // optimal string alignment, not full Damerau
}

TEST(Suggest, NearestKeepsOnlyTheClosest) {
  const std::vector<std::string> commands = {"generate", "logits", "lens", "eval", "explore", "attention", "attribute"};
  EXPECT_EQ(nearest("generat", commands), std::vector<std::string>{"generate"});
  EXPECT_EQ(nearest("len", commands), std::vector<std::string>{"lens"});
  EXPECT_EQ(nearest("attn", commands), std::vector<std::string>{});               // too far from both
  EXPECT_EQ(nearest("attent", commands), std::vector<std::string>{"attention"});  // a prefix
  EXPECT_EQ(nearest("xyzzy", commands), std::vector<std::string>{});
  EXPECT_EQ(nearest("eval", commands), std::vector<std::string>{});  // itself is no suggestion
  const std::vector<std::string> hooks = {"blocks.0.hook_resid_pre", "blocks.1.hook_resid_pre",
                                          "blocks.10.hook_resid_pre"};
  EXPECT_EQ(nearest("blocks.0.hook_resid_pree", hooks), std::vector<std::string>{"blocks.0.hook_resid_pre"});
}

TEST(Suggest, DidYouMeanPhrase) {
  EXPECT_EQ(did_you_mean("tmep", {"temp", "top-k"}), " (did you mean 'temp'?)");
  EXPECT_EQ(did_you_mean("ab", {"ac", "ad", "xy"}), " (did you mean 'ac' or 'ad'?)");
  EXPECT_EQ(did_you_mean("zzz", {"temp"}), "");
}

}  // namespace
}  // namespace loupe
