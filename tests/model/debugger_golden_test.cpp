// Golden transcripts of `loupe debug`: every tests/debug/NAME.dbg runs on stories260K as a
// script, once as text (compared with NAME.out) and once with --json (NAME.json.out).
//
// A script's first lines may say how to run it:
//   # args: -p "Once upon a time"     extra arguments after MODEL
//   # exit: 1                         expected exit status (default 0)
// Numbers compare with a tolerance (integers exactly), so a kernel that changes the last bits
// of a float does not break the transcripts; everything else must match exactly.
// LOUPE_UPDATE_GOLDEN=1 rewrites the expected files instead of comparing.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "test_support.h"

namespace loupe {
namespace {

namespace fs = std::filesystem;

std::string debug_dir() {
  return fs::path(__FILE__).parent_path().parent_path() / "debug";
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  if (from.empty()) return s;
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

std::string directive(const std::string& script, const std::string& key) {
  std::istringstream in(script);
  std::string line;
  const std::string prefix = "# " + key + ":";
  while (std::getline(in, line))
    if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
  return "";
}

bool is_integer(const std::string& t) {
  return t.find_first_of(".eE") == std::string::npos && t.find("nan") == std::string::npos;
}

// Compares two transcripts line by line: text between numbers exactly, numbers within
// 2e-3 relative or 1e-4 absolute (integers exactly). Returns "" or the first difference.
std::string compare(const std::string& want, const std::string& got) {
  static const std::regex number(R"(-?\d+(\.\d+)?([eE][-+]?\d+)?)");
  std::istringstream a(want), b(got);
  std::string la, lb;
  for (int n = 1;; ++n) {
    const bool ha = static_cast<bool>(std::getline(a, la));
    const bool hb = static_cast<bool>(std::getline(b, lb));
    if (!ha && !hb) return "";
    if (ha != hb)
      return "line " + std::to_string(n) + ": expected '" + (ha ? la : "<end>") + "', got '" + (hb ? lb : "<end>") +
             "'";
    const std::string ta = std::regex_replace(la, number, "#"), tb = std::regex_replace(lb, number, "#");
    bool same = ta == tb;
    std::sregex_iterator ia(la.begin(), la.end(), number), ib(lb.begin(), lb.end(), number), end;
    for (; same && ia != end && ib != end; ++ia, ++ib) {
      const std::string sa = ia->str(), sb = ib->str();
      if (is_integer(sa) && is_integer(sb)) {
        same = sa == sb;
      } else {
        const double x = std::stod(sa), y = std::stod(sb);
        same = std::fabs(x - y) <= 1e-4 + 2e-3 * std::fabs(x);
      }
    }
    if (!same) return "line " + std::to_string(n) + ":\n  expected: " + la + "\n  got:      " + lb;
  }
}

class DebugGolden : public testing::TestWithParam<std::string> {};

TEST_P(DebugGolden, MatchesTranscript) {
  const std::string name = GetParam();
  const std::string script_path = debug_dir() + "/" + name + ".dbg";
  const std::string script = test::read_file(script_path);
  const std::string args = directive(script, "args");
  const std::string exit_text = directive(script, "exit");
  const int want_exit = exit_text.empty() ? 0 : std::stoi(exit_text);
  const std::string model = test::shared("models/stories260K/stories260K.bin");
  for (const bool json : {false, true}) {
    const std::string dir = test::temp_dir("golden");
    const std::string cmd = "cd '" + dir + "' && '" + test::loupe_binary() + "' debug '" + model + "' -t 1 " + args +
                            " -x '" + script_path + "'" + (json ? " --json" : "") + " </dev/null >out 2>err";
    const int status = std::system(cmd.c_str());
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::string out = test::read_file(dir + "/out");
    out = replace_all(replace_all(out, test::shared_dir(), "$SHARED"), dir, "$TMP");
    const std::string expected_path = debug_dir() + "/" + name + (json ? ".json.out" : ".out");
    const char* update = std::getenv("LOUPE_UPDATE_GOLDEN");
    if (update != nullptr && std::string(update) == "1") {
      std::ofstream(expected_path) << out;
    } else {
      EXPECT_EQ(code, want_exit) << name << (json ? " --json" : "") << "\n" << test::read_file(dir + "/err");
      ASSERT_TRUE(fs::exists(expected_path)) << expected_path;
      const std::string diff = compare(test::read_file(expected_path), out);
      EXPECT_EQ(diff, "") << name << (json ? " --json" : "");
    }
    fs::remove_all(dir);
  }
}

std::vector<std::string> scripts() {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(debug_dir()))
    if (e.path().extension() == ".dbg") names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

INSTANTIATE_TEST_SUITE_P(Scripts, DebugGolden, testing::ValuesIn(scripts()),
                         [](const testing::TestParamInfo<std::string>& p) { return p.param; });

TEST(DebugGoldenCompare, ToleratesLastDigitsOnly) {
  EXPECT_EQ(compare("mean 0.1234 at [3, 4]\n", "mean 0.1235 at [3, 4]\n"), "");
  EXPECT_NE(compare("mean 0.1234\n", "mean 0.1334\n"), "");
  EXPECT_NE(compare("at [3, 4]\n", "at [3, 5]\n"), "");
  EXPECT_NE(compare("a 1\n", "b 1\n"), "");
  EXPECT_NE(compare("a 1\n", "a 1\nb\n"), "");
}

}  // namespace
}  // namespace loupe
