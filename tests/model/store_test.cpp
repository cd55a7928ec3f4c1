// The run store and CI gates: commands keep their runs (--store), `loupe runs` lists, shows,
// compares and exports them (CSV, OpenMetrics parsed back here), concurrent writers lose nothing,
// a store of a newer schema or a file that is no store is refused, and `loupe check` exits 0 / 1
// / 2 on passing, failing and unevaluable rules.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "store/rules.h"
#include "store/store.h"
#include "test_support.h"

namespace loupe {
namespace {

const std::string kF32 = "models/stories260K-gguf/stories260K-f32.gguf";
const std::string kQ8 = "models/stories260K-gguf/stories260K-q8_0.gguf";

struct StoreFixture : ::testing::Test {
  void SetUp() override {
    dir = test::temp_dir("store");
    db = dir + "/runs.db";
    data = dir + "/data.txt";
    std::ofstream(data) << "Once upon a time, there was a little girl named Lily.\nThe cat sat on the mat.\n";
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  test::CommandResult loupe(const std::string& args) { return test::run_loupe(args); }
  nlohmann::json json_of(const std::string& args) {
    auto r = loupe(args);
    EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.err;
    return nlohmann::json::parse(r.out);
  }
  std::string rules(const std::string& text) {
    const std::string p = dir + "/rules.toml";
    std::ofstream(p) << text;
    return p;
  }
  std::string dir, db, data;
};

TEST_F(StoreFixture, CommandsKeepTheirRunsAndRunsCompareThem) {
  const std::string f32 = test::shared(kF32), q8 = test::shared(kQ8);
  ASSERT_EQ(loupe("eval " + f32 + " --data " + data + " --store " + db + " -t 2").exit_code, 0);
  ASSERT_EQ(loupe("eval " + q8 + " --data " + data + " --store " + db + " --label main -t 2").exit_code, 0);
  const auto diff = loupe("diff " + f32 + " " + q8 + " --data " + data + " --store " + db + " -t 2 --json");
  ASSERT_EQ(diff.exit_code, 0) << diff.err;
  EXPECT_NE(diff.err.find("kept as run 3"), std::string::npos) << diff.err;

  const nlohmann::json list = json_of("runs list --store " + db + " --json");
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0]["command"], "diff");
  EXPECT_EQ(list[2]["command"], "eval");
  EXPECT_EQ(list[1]["label"], "main");
  EXPECT_EQ(list[0]["models"].size(), 2u);
  EXPECT_EQ(list[0]["model_hashes"][0].get<std::string>().size(), 16u);
  EXPECT_NE(list[0]["model_hashes"][0], list[0]["model_hashes"][1]);
  EXPECT_EQ(list[2]["model_hashes"][0], list[0]["model_hashes"][0]);  // one file, one hash
  EXPECT_EQ(list[2]["args"][0], "eval");

  // The kept result is the command's JSON, and its figures are the store's metrics.
  const nlohmann::json shown = json_of("runs show 3 --store " + db + " --json");
  const nlohmann::json printed = nlohmann::json::parse(diff.out);
  EXPECT_EQ(shown["result"], printed);
  EXPECT_DOUBLE_EQ(shown["metrics"]["kld.mean"].get<double>(), printed["kld"]["mean"].get<double>());
  EXPECT_TRUE(shown["metrics"].contains("layers.0.nmse"));

  const nlohmann::json cmp = json_of("runs compare 1 2 --store " + db + " --json");
  bool saw_ppl = false;
  for (const auto& row : cmp)
    if (row["figure"] == "ppl") {
      saw_ppl = true;
      EXPECT_DOUBLE_EQ(row["difference"].get<double>(), row["b"].get<double>() - row["a"].get<double>());
    }
  EXPECT_TRUE(saw_ppl);
  const auto mixed = loupe("runs compare 1 3 --store " + db);
  EXPECT_EQ(mixed.exit_code, 1);
  EXPECT_NE(mixed.err.find("'eval'"), std::string::npos) << mixed.err;
  const auto text = loupe("runs list --store " + db);
  EXPECT_NE(text.out.find("kld.mean"), std::string::npos) << text.out;
  EXPECT_EQ(loupe("runs show 99 --store " + db).exit_code, 1);

  // OpenMetrics, parsed back: families typed once, every sample's value the store's figure.
  const auto om = loupe("runs export --openmetrics --store " + db);
  ASSERT_EQ(om.exit_code, 0) << om.err;
  std::istringstream in(om.out);
  std::string line, last;
  std::map<std::string, int> typed;
  std::map<std::string, double> ppl_by_run;
  const std::regex sample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\} (\S+) (\d+)$)");
  const std::regex run_label(R"re(run="(\d+)")re");
  int samples = 0;
  while (std::getline(in, line)) {
    last = line;
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream t(line.substr(7));
      std::string name, kind;
      t >> name >> kind;
      EXPECT_EQ(kind, "gauge");
      EXPECT_EQ(++typed[name], 1) << name << " typed twice";
      continue;
    }
    if (line == "# EOF") continue;
    std::smatch m;
    ASSERT_TRUE(std::regex_match(line, m, sample)) << line;
    EXPECT_TRUE(typed.count(m[1].str())) << "sample before its # TYPE: " << line;
    ++samples;
    std::smatch r;
    const std::string labels = m[2].str();
    ASSERT_TRUE(std::regex_search(labels, r, run_label));
    if (m[1].str() == "loupe_eval_ppl") ppl_by_run[r[1].str()] = std::stod(m[3].str());
  }
  EXPECT_EQ(last, "# EOF");
  EXPECT_GT(samples, 20);
  const nlohmann::json run1 = json_of("runs show 1 --store " + db + " --json");
  EXPECT_DOUBLE_EQ(ppl_by_run["1"], run1["metrics"]["ppl"].get<double>());
  EXPECT_EQ(ppl_by_run.size(), 2u);

  const auto csv = loupe("runs export --csv --command eval --store " + db);
  ASSERT_EQ(csv.exit_code, 0);
  EXPECT_EQ(std::count(csv.out.begin(), csv.out.end(), '\n'), 3);  // header + 2 runs
  EXPECT_EQ(csv.out.rfind("id,time,command", 0), 0u);
}

TEST_F(StoreFixture, ConcurrentWritersLoseNothing) {
  // Threads, each with its own connection, and processes, all at once.
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t)
    threads.emplace_back([&, t] {
      auto s = store::Store::open(db, true);
      for (int i = 0; i < 20; ++i) {
        store::Run r;
        r.time = "2026-12-06T00:00:00Z";
        r.command = "eval";
        r.result = {{"ppl", t * 100 + i}};
        s->add(r);
      }
    });
  std::string cmd;
  for (int p = 0; p < 4; ++p)
    cmd += test::loupe_binary() + " explore " + data + " --store " + db + " >/dev/null 2>&1 & ";
  cmd += "wait";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  for (auto& t : threads) t.join();
  auto s = store::Store::open(db, false);
  EXPECT_EQ(s->list("eval", 0).size(), 120u);
  EXPECT_EQ(s->list("explore", 0).size(), 4u);
  std::set<double> seen;
  for (const auto& r : s->list("eval", 0)) seen.insert(s->metrics(r.id).at("ppl"));
  EXPECT_EQ(seen.size(), 120u);
}

TEST_F(StoreFixture, ANewerSchemaOrAForeignFileIsRefused) {
  store::Store::open(db, true);
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(h, "PRAGMA user_version = 7", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(h);
  const auto r = loupe("runs list --store " + db);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("newer loupe (run store schema 7"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(db), std::string::npos);
  // Nothing is written into it either.
  const auto w = loupe("explore " + data + " --store " + db);
  EXPECT_EQ(w.exit_code, 1);

  const std::string text = dir + "/text.db";
  std::ofstream(text) << "this is not a database, it is a text file of some length........................\n";
  const auto t = loupe("runs list --store " + text);
  EXPECT_EQ(t.exit_code, 1);
  EXPECT_NE(t.err.find(text), std::string::npos) << t.err;

  const std::string other = dir + "/other.db";
  ASSERT_EQ(sqlite3_open(other.c_str(), &h), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(h, "CREATE TABLE t(x)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(h);
  const auto o = loupe("explore " + data + " --store " + other);
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(o.err.find("not a loupe run store"), std::string::npos) << o.err;
  EXPECT_EQ(loupe("runs list --store " + dir + "/missing.db").exit_code, 1);
}

TEST_F(StoreFixture, CheckExitsZeroOneOrTwo) {
  const std::string f32 = test::shared(kF32), q8 = test::shared(kQ8);
  ASSERT_EQ(loupe("eval " + f32 + " --data " + data + " --store " + db + " --label main -t 2").exit_code, 0);
  ASSERT_EQ(loupe("diff " + f32 + " " + q8 + " --data " + data + " --store " + db + " -t 2").exit_code, 0);
  const auto pass =
      loupe("check " +
            rules("[[rule]]\nname = \"kld\"\nexpr = \"diff.kld.mean < 0.01\"\n"
                  "[[rule]]\nname = \"ppl\"\nexpr = \"diff.ppl_ratio <= 1.02 and diff.ppl_ratio >= 0.98\"\n"
                  "[[rule]]\nname = \"q8 eval\"\ncommand = \"eval " +
                  q8 + " --data " + data + " -t 2\"\nexpr = \"eval.ppl <= 1.05 * baseline(\\\"main\\\")\"\n") +
            " --store " + db);
  EXPECT_EQ(pass.exit_code, 0) << pass.out << pass.err;
  EXPECT_NE(pass.out.find("3 of 3 rules passed"), std::string::npos) << pass.out;
  EXPECT_NE(pass.out.find("baseline(\"main\") = "), std::string::npos) << pass.out;

  const auto failed =
      loupe("check " + rules("[[rule]]\nname = \"impossible\"\nexpr = \"diff.kld.mean < 0\"\n") + " --store " + db);
  EXPECT_EQ(failed.exit_code, 1) << failed.out << failed.err;
  EXPECT_NE(failed.out.find("FAIL"), std::string::npos);

  const auto typo =
      loupe("check " + rules("[[rule]]\nname = \"typo\"\nexpr = \"diff.kld.maen < 1\"\n") + " --store " + db);
  EXPECT_EQ(typo.exit_code, 2) << typo.out;
  EXPECT_NE(typo.out.find("did you mean 'kld.mean'"), std::string::npos) << typo.out;
  const auto none = loupe("check " + rules("[[rule]]\nname = \"b\"\nexpr = \"bench.tg > 1\"\n") + " --store " + db);
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.out.find("no 'bench' run"), std::string::npos) << none.out;
  const auto syntax =
      loupe("check " + rules("[[rule]]\nname = \"s\"\nexpr = \"diff.kld.mean <\"\n") + " --store " + db);
  EXPECT_EQ(syntax.exit_code, 2);
  EXPECT_NE(syntax.err.find("rule 1 (s)"), std::string::npos) << syntax.err;
  const auto toml = loupe("check " + rules("[[rule]]\nname = \"s\nexpr = 1\n") + " --store " + db);
  EXPECT_EQ(toml.exit_code, 2);
  EXPECT_NE(toml.err.find("rules.toml:2:"), std::string::npos) << toml.err;
  const auto key = loupe("check " + rules("[[rule]]\nname = \"k\"\nexpresion = \"1 < 2\"\n") + " --store " + db);
  EXPECT_EQ(key.exit_code, 2);
  EXPECT_NE(key.err.find("did you mean 'expr'"), std::string::npos) << key.err;
  const auto cmd_fails = loupe(
      "check " + rules("[[rule]]\nname = \"c\"\ncommand = \"eval nope.gguf --data x\"\nexpr = \"eval.ppl > 0\"\n") +
      " --store " + db);
  EXPECT_EQ(cmd_fails.exit_code, 2);
  EXPECT_NE(cmd_fails.out.find("its command exited with 1"), std::string::npos) << cmd_fails.out;
  const nlohmann::json j = json_of("check " + rules("[[rule]]\nname = \"kld\"\nexpr = \"diff.kld.mean < 0.01\"\n") +
                                   " --store " + db + " --json");
  EXPECT_EQ(j["exit"], 0);
  EXPECT_EQ(j["rules"][0]["verdict"], "pass");
  EXPECT_EQ(j["rules"][0]["figures"][0]["name"], "diff.kld.mean");
}

}  // namespace
}  // namespace loupe
