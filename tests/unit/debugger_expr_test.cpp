// The debugger's parsers (words, numbers, slices, tensor expressions, conditions) and its
// statistics, each against values worked out by hand here.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "debugger/expr.h"
#include "debugger/print.h"
#include "debugger/stats.h"

namespace loupe::dbg {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(DebuggerWords, BracketsAndQuotesKeepWordsTogether) {
  EXPECT_EQ(split_words("p  pattern3[2, -1, :]"), (std::vector<std::string>{"p", "pattern3[2, -1, :]"}));
  EXPECT_EQ(split_words("run \"Once upon\" a"), (std::vector<std::string>{"run", "Once upon", "a"}));
  EXPECT_EQ(split_words("say \"a \\\"b\\\"\""), (std::vector<std::string>{"say", "a \"b\""}));
  EXPECT_TRUE(split_words("   ").empty());
  EXPECT_EQ(error_of([] { split_words("run \"open"); }), "unclosed quote at character 4");
  EXPECT_EQ(error_of([] { split_words("p z1[0, "); }), "unclosed '[' in 'z1[0, '");
}

TEST(DebuggerNumbers, ParseOrSayWhy) {
  EXPECT_EQ(parse_number("1.5e2", "x"), 150.0);
  EXPECT_EQ(parse_number("-0.25", "x"), -0.25);
  EXPECT_EQ(parse_int("+42", "x"), 42);
  EXPECT_EQ(parse_int("-7", "x"), -7);
  EXPECT_EQ(error_of([] { parse_number("1.5x", "edit scale"); }), "edit scale: '1.5x' is not a number");
  EXPECT_EQ(error_of([] { parse_number("", "edit scale"); }), "edit scale: expected a number");
  EXPECT_EQ(error_of([] { parse_int("3.5", "step"); }), "step: '3.5' is not an integer");
  EXPECT_EQ(error_of([] { parse_int("99999999999999999999", "step"); }),
            "step: '99999999999999999999' is out of range");
}

TEST(DebuggerSlice, ParsesNumpyForms) {
  Slice s = parse_slice("[2, -1, :]");
  ASSERT_EQ(s.items.size(), 3u);
  EXPECT_TRUE(s.items[0].is_index);
  EXPECT_EQ(s.items[0].index, 2);
  EXPECT_EQ(s.items[1].index, -1);
  EXPECT_FALSE(s.items[2].is_index);
  EXPECT_FALSE(s.items[2].start.has_value());
  s = parse_slice("[ 1:5:2 , -3: , :4 ]");
  EXPECT_EQ(*s.items[0].start, 1);
  EXPECT_EQ(*s.items[0].stop, 5);
  EXPECT_EQ(s.items[0].step, 2);
  EXPECT_EQ(*s.items[1].start, -3);
  EXPECT_FALSE(s.items[1].stop.has_value());
  EXPECT_EQ(*s.items[2].stop, 4);
  EXPECT_EQ(slice_to_string(s), "[1:5:2, -3:, :4]");
  EXPECT_TRUE(parse_slice("[]").empty());
}

TEST(DebuggerSlice, BadSlicesNameTheProblem) {
  EXPECT_EQ(error_of([] { parse_slice("[1, x]"); }), "bad slice [1, x]: 'x' at character 3 is not an integer");
  EXPECT_EQ(error_of([] { parse_slice("[1,,2]"); }), "bad slice [1,,2]: empty entry at character 3");
  EXPECT_EQ(error_of([] { parse_slice("[::0]"); }), "bad slice [::0]: step 0 at character 3");
  EXPECT_EQ(error_of([] { parse_slice("[::-1]"); }), "bad slice [::-1]: negative steps are not supported");
  EXPECT_EQ(error_of([] { parse_slice("[1:2:3:4]"); }), "bad slice [1:2:3:4]: too many ':' at character 1");
  EXPECT_EQ(error_of([] { parse_slice("1, 2"); }), "bad slice 1, 2: expected [...]");
  EXPECT_EQ(error_of([] { parse_tensor_expr("z1[0]x"); }), "bad slice in 'z1[0]x': text after the closing ']'");
}

TEST(DebuggerSlice, SelectFollowsNumpy) {
  const std::vector<int64_t> shape = {3, 4, 5};
  Selection s = select(parse_slice("[2, -1, :]"), shape, "t");
  EXPECT_EQ(s.shape, (std::vector<int64_t>{5}));
  std::vector<int64_t> want;
  for (int64_t k = 0; k < 5; ++k) want.push_back(2 * 20 + 3 * 5 + k);
  EXPECT_EQ(s.offsets(shape), want);
  // Ranges clamp and step; missing trailing entries take the whole dimension.
  s = select(parse_slice("[-2:, 1:100:2]"), shape, "t");
  EXPECT_EQ(s.shape, (std::vector<int64_t>{2, 2, 5}));
  want.clear();
  for (int64_t i : {1, 2})
    for (int64_t j : {1, 3})
      for (int64_t k = 0; k < 5; ++k) want.push_back(i * 20 + j * 5 + k);
  EXPECT_EQ(s.offsets(shape), want);
  // All single indices: a scalar.
  s = select(parse_slice("[0, 0, 4]"), shape, "t");
  EXPECT_TRUE(s.shape.empty());
  EXPECT_EQ(s.offsets(shape), (std::vector<int64_t>{4}));
  // Empty ranges select nothing.
  EXPECT_EQ(select(parse_slice("[2:1]"), shape, "t").numel(), 0);
  EXPECT_EQ(error_of([&] { select(parse_slice("[3]"), shape, "pattern1[3]"); }),
            "pattern1[3]: index 3 is out of range for dimension 0 of size 3");
  EXPECT_EQ(error_of([&] { select(parse_slice("[0, -5]"), shape, "t"); }),
            "t: index -5 is out of range for dimension 1 of size 4");
  EXPECT_EQ(error_of([&] { select(parse_slice("[0, 0, 0, 0]"), shape, "t"); }),
            "t: slice has 4 entries for a tensor of rank 3");
}

TEST(DebuggerExpr, HookAndSlice) {
  TensorExpr e = parse_tensor_expr("blocks.3.attn.hook_pattern[2, -1, :]");
  EXPECT_EQ(e.hook, "blocks.3.attn.hook_pattern");
  EXPECT_EQ(slice_to_string(e.slice), "[2, -1, :]");
  e = parse_tensor_expr("[0]");
  EXPECT_TRUE(e.hook.empty());
  e = parse_tensor_expr("resid_post");
  EXPECT_TRUE(e.slice.empty());
}

TEST(DebuggerCondition, Parses) {
  Condition c = parse_condition("nan");
  EXPECT_EQ(c.metric, Metric::Nan);
  c = parse_condition("absmax>100");
  EXPECT_EQ(c.metric, Metric::AbsMax);
  EXPECT_EQ(c.op, Compare::Gt);
  EXPECT_EQ(c.value, 100);
  c = parse_condition("attn_entropy <= 0.5");
  EXPECT_EQ(c.metric, Metric::AttnEntropy);
  EXPECT_EQ(c.op, Compare::Le);
  c = parse_condition("top1 != 42");
  EXPECT_EQ(c.metric, Metric::Top1);
  EXPECT_EQ(c.op, Compare::Ne);
  EXPECT_EQ(c.value, 42);
  EXPECT_TRUE(compare(1, Compare::Lt, 2));
  EXPECT_FALSE(compare(2, Compare::Lt, 2));
  EXPECT_TRUE(compare(2, Compare::Ge, 2));
}

TEST(DebuggerCondition, BadConditionsNameTheProblem) {
  EXPECT_EQ(error_of([] { parse_condition("loss > 1"); }),
            "condition 'loss > 1': unknown metric 'loss' (nan, inf, absmax, rms, mean, std, min, max, attn_entropy, "
            "top1)");
  EXPECT_EQ(error_of([] { parse_condition("nan > 1"); }), "condition 'nan > 1': 'nan' takes no comparison");
  EXPECT_EQ(error_of([] { parse_condition("rms ~ 1"); }),
            "condition 'rms ~ 1': expected one of < <= > >= == != after 'rms'");
  EXPECT_EQ(error_of([] { parse_condition("rms > abc"); }), "condition 'rms > abc': 'abc' is not a number");
  EXPECT_EQ(error_of([] { parse_condition("top1 > 3"); }), "condition 'top1 > 3': top1 compares with == or != only");
  EXPECT_EQ(error_of([] { parse_condition(""); }), "condition is empty (try 'nan', 'inf' or 'absmax > 100')");
}

TEST(DebuggerStats, AgreeWithDirectSums) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> v = {1, -4, 2, nan, 3, inf, 0.5f, -inf};
  const TensorStats s = compute_stats(v, 4);
  EXPECT_EQ(s.numel, 8);
  EXPECT_EQ(s.n_nan, 1);
  EXPECT_EQ(s.n_inf, 2);
  EXPECT_EQ(s.n_finite, 5);
  const double finite[] = {1, -4, 2, 3, 0.5};
  double sum = 0, sq = 0;
  for (double x : finite) sum += x, sq += x * x;
  const double mean = sum / 5;
  double var = 0;
  for (double x : finite) var += (x - mean) * (x - mean);
  EXPECT_DOUBLE_EQ(s.mean, mean);
  EXPECT_DOUBLE_EQ(s.rms, std::sqrt(sq / 5));
  EXPECT_DOUBLE_EQ(s.std, std::sqrt(var / 5));
  EXPECT_EQ(s.min, -4);
  EXPECT_EQ(s.max, 3);
  EXPECT_EQ(s.absmax, 4);
  EXPECT_EQ(s.absmax_at, 1);
  // Bins of width 1.75 over [-4, 3]: -4 | 0.5, 1 | 2 | 3 (the maximum falls in the last bin).
  EXPECT_EQ(s.histo, (std::vector<int64_t>{1, 0, 2, 2}));
  const auto lines = histogram_lines(s, 10);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_NE(lines[2].find("##########"), std::string::npos);
  // No finite values: NaN statistics, counts still right.
  const TensorStats e = compute_stats({nan, inf}, 4);
  EXPECT_TRUE(std::isnan(e.mean));
  EXPECT_EQ(e.n_nan + e.n_inf, 2);
}

TEST(DebuggerStats, EntropyTopKSoftmax) {
  // Rows: uniform over 4 (entropy ln 4) and one-hot (entropy 0).
  const std::vector<float> p = {0.25f, 0.25f, 0.25f, 0.25f, 0, 1, 0, 0};
  EXPECT_NEAR(mean_row_entropy(p, 4), std::log(4.0) / 2, 1e-12);
  const auto top = top_k({3, 9, -1, 9, 5}, 3);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].first, 1);  // ties: lower index first
  EXPECT_EQ(top[1].first, 3);
  EXPECT_EQ(top[2].first, 4);
  const auto sm = softmax({0, std::log(3.0f)});
  EXPECT_NEAR(sm[0], 0.25, 1e-7);
  EXPECT_NEAR(sm[1], 0.75, 1e-7);
  EXPECT_EQ(unflatten(23, {2, 3, 4}), (std::vector<int64_t>{1, 2, 3}));
}

TEST(DebuggerPrint, NumpyLikeText) {
  EXPECT_EQ(format_tensor({1, 2.5f, -3}, {3}), "[1, 2.5, -3]");
  EXPECT_EQ(format_tensor({1, 2, 3, 4}, {2, 2}), "[[1, 2],\n [3, 4]]");
  EXPECT_EQ(format_tensor({7}, {}), "7");
  std::vector<float> many(300);
  for (size_t i = 0; i < many.size(); ++i) many[i] = static_cast<float>(i);
  EXPECT_EQ(format_tensor(many, {300}), "[0, 1, 2, ..., 297, 298, 299]");
  EXPECT_EQ(format_number(std::numeric_limits<double>::quiet_NaN()), "nan");
  EXPECT_EQ(format_number(-std::numeric_limits<double>::infinity()), "-inf");
  EXPECT_EQ(format_number(0.000123456), "0.0001235");
}

}  // namespace
}  // namespace loupe::dbg
