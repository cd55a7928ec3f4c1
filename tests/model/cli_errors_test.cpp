// A wrong command line ends as the README promises: one "error: " line, exit status 1, and a
// "did you mean" for a misspelt subcommand, flag or hook. --help and --version exit 0.
#include <gtest/gtest.h>

#include <string>

#include "test_support.h"

namespace loupe {
namespace {

using test::run_loupe;

void expect_cli_error(const std::string& args, const std::string& part) {
  const test::CommandResult r = run_loupe(args);
  EXPECT_EQ(r.exit_code, 1) << "loupe " << args << "\n" << r.err;
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << "loupe " << args << "\n" << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "loupe " << args << ": not one line\n" << r.err;
  EXPECT_NE(r.err.find(part), std::string::npos) << "loupe " << args << ": '" << part << "' not in " << r.err;
}

TEST(CliErrors, MisspeltCommandsAndFlagsGetSuggestions) {
  expect_cli_error("generat m", "unknown command 'generat' (did you mean 'generate'?)");
  expect_cli_error("model nwe", "unknown command 'nwe' (did you mean 'new'?)");
  expect_cli_error("generate m --tmep 0", "unknown option --tmep (did you mean '--temp'?)");
  expect_cli_error("info --jsn m", "(did you mean '--json'?)");
  expect_cli_error("--versoin", "(did you mean '--version'?)");
  expect_cli_error("eval m --qq", "unknown option --qq; see 'loupe eval --help'");
}

TEST(CliErrors, MissingAndExtraArgumentsExitOne) {
  expect_cli_error("", "a subcommand is required");
  expect_cli_error("info", "MODEL is required");
  expect_cli_error("generate m --temp", "--temp");
  expect_cli_error("tokenize a b c", "not expected: c");
}

TEST(CliErrors, HelpAndVersionStillExitZero) {
  EXPECT_EQ(run_loupe("--version").exit_code, 0);
  const test::CommandResult help = run_loupe("generate --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("Usage: loupe generate"), std::string::npos);
}

TEST(CliErrors, HookTypoGetsTheNearestName) {
  const std::string model = test::shared("models/stories260K/stories260K.bin");
  const std::string dir = test::temp_dir("cli-errors");
  expect_cli_error("trace " + model + " -p hi --hook blocks.0.attn.hook_patern -o " + dir + "/t",
                   "did you mean 'blocks.0.attn.hook_pattern'?");
}

}  // namespace
}  // namespace loupe
