// The rule expressions of `loupe check`: precedence, logic, functions, errors with their column.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "store/rules.h"
#include "store/store.h"
#include "test_support.h"

namespace loupe::store {
namespace {

struct Rules : ::testing::Test {
  void SetUp() override {
    dir = test::temp_dir("rules");
    s = Store::open(dir + "/r.db", true);
    store::Run r;
    r.time = "2026-12-06T00:00:00Z";
    r.command = "bench";
    r.label = "main";
    r.result = nlohmann::ordered_json::array(
        {{{"n_prompt", 512}, {"n_gen", 0}, {"avg_ts", 100.0}}, {{"n_prompt", 0}, {"n_gen", 128}, {"avg_ts", 20.0}}});
    s->add(r);
    r.label = "";
    r.result[1]["avg_ts"] = 19.5;
    s->add(r);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  Verdict verdict(const std::string& e) { return evaluate_rule({"r", e, ""}, *s).verdict; }
  std::string dir;
  std::unique_ptr<Store> s;
};

TEST_F(Rules, ArithmeticAndLogic) {
  EXPECT_EQ(verdict("1 + 2 * 3 == 7"), Verdict::Pass);
  EXPECT_EQ(verdict("(1 + 2) * 3 == 9"), Verdict::Pass);
  EXPECT_EQ(verdict("-2 * -3 == 6 and not 1 > 2"), Verdict::Pass);
  EXPECT_EQ(verdict("1 > 2 or 3 >= 3"), Verdict::Pass);
  EXPECT_EQ(verdict("abs(-1.5) == 1.5 && min(2, 3) == 2 && max(2, 3) == 3"), Verdict::Pass);
  EXPECT_EQ(verdict("1e-3 < 0.01"), Verdict::Pass);
  EXPECT_EQ(verdict("2 / 4 != 0.5"), Verdict::Fail);
}

TEST_F(Rules, FiguresOfTheNewestRunAndItsBaseline) {
  const RuleResult r = evaluate_rule({"tg", "bench.tg >= 0.95 * baseline(\"main\")", ""}, *s);
  EXPECT_EQ(r.verdict, Verdict::Pass) << r.message;
  ASSERT_EQ(r.figures.size(), 2u);
  EXPECT_EQ(r.figures[0].value, 19.5);
  EXPECT_EQ(r.figures[0].run, 2);
  EXPECT_EQ(r.figures[1].value, 20.0);
  EXPECT_EQ(r.figures[1].run, 1);
  EXPECT_EQ(verdict("bench.tg >= 0.99 * baseline(\"main\")"), Verdict::Fail);
  EXPECT_EQ(verdict("bench.pp == 100 and bench.0.avg_ts == 100"), Verdict::Pass);
  const RuleResult none = evaluate_rule({"x", "bench.tg > baseline(\"release\")", ""}, *s);
  EXPECT_EQ(none.verdict, Verdict::Error);
  EXPECT_NE(none.message.find("'release'"), std::string::npos) << none.message;
}

TEST_F(Rules, ErrorsNameTheColumn) {
  for (const char* bad : {"1 <", "bench.", "bench", "(1 < 2", "foo(1) > 0", "1 < 2 )", "baseline(main) > 1", "1 # 2"}) {
    const RuleResult r = evaluate_rule({"r", bad, ""}, *s);
    EXPECT_EQ(r.verdict, Verdict::Error) << bad;
    EXPECT_NE(r.message.find("column"), std::string::npos) << bad << ": " << r.message;
  }
  EXPECT_THROW(parse_expression("1 < < 2"), Error);
  EXPECT_NO_THROW(parse_expression("diff.kld.mean < 0.01"));
  // A word operator does not eat the start of a name.
  EXPECT_EQ(evaluate_rule({"r", "order.x > 1", ""}, *s).message.find("column"), std::string::npos);
}

}  // namespace
}  // namespace loupe::store
