// The command-line layer every tscale binary shares (common/cli_flags.h), driven with real argument vectors.
#include "common/cli_flags.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <string>
#include <vector>

namespace tscale::cli {
namespace {

// Runs Parse on `args` (program name first) and returns its result; `err` gets what it printed on stderr.
std::optional<int> ParseArgs(CLI::App& app, std::vector<std::string> args, std::string* err = nullptr) {
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  ::testing::internal::CaptureStderr();
  ::testing::internal::CaptureStdout();
  auto code = Parse(app, static_cast<int>(argv.size()), argv.data());
  const std::string printed = ::testing::internal::GetCapturedStderr();
  (void)::testing::internal::GetCapturedStdout();
  if (err) *err = printed;
  return code;
}

TEST(CliFlags, LogLevelsAreReadCaseInsensitivelyAndTyposAreRefused) {
  EXPECT_EQ(*ParseLogLevel("INFO"), spdlog::level::info);
  EXPECT_EQ(*ParseLogLevel("Warn"), spdlog::level::warn);
  EXPECT_EQ(*ParseLogLevel("warning"), spdlog::level::warn);
  EXPECT_EQ(*ParseLogLevel("ERR"), spdlog::level::err);
  EXPECT_EQ(*ParseLogLevel("trace"), spdlog::level::trace);
  EXPECT_EQ(*ParseLogLevel("off"), spdlog::level::off);
  for (const char* bad : {"INFOO", "", "verbose", "3"}) {
    auto parsed = ParseLogLevel(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_NE(parsed.status().message().find("trace, debug, info, warn, error, critical, off"), std::string::npos);
  }
}

TEST(CliFlags, ALogLevelTypoIsAUsageErrorNamingTheValidLevels) {
  CLI::App app{"test"};
  std::string level = "info";
  AddLogLevelFlag(app, &level);
  EXPECT_FALSE(ParseArgs(app, {"tscale-test", "--log-level", "DEBUG"}).has_value());
  EXPECT_EQ(level, "DEBUG");
  ApplyLogLevel(level);
  EXPECT_EQ(spdlog::get_level(), spdlog::level::debug);
  spdlog::set_level(spdlog::level::info);

  CLI::App typo{"test"};
  AddLogLevelFlag(typo, &level);
  std::string err;
  EXPECT_EQ(ParseArgs(typo, {"tscale-test", "--log-level", "INFOO"}, &err), kExitUsage);
  EXPECT_NE(err.find("tscale-test: --log-level: unknown log level \"INFOO\""), std::string::npos) << err;
  EXPECT_NE(err.find("trace, debug, info"), std::string::npos) << err;
}

TEST(CliFlags, EveryParseErrorExitsWithTheUsageCodeOnOneLine) {
  struct Case {
    std::vector<std::string> args;
    std::string names;
  };
  const std::vector<Case> cases = {
      {{"--bogus"}, "--bogus"},                      // CLI11: ExtrasError (109)
      {{"--count", "many"}, "--count"},              // ConversionError (101)
      {{"--timeout-s", "0"}, "--timeout-s"},         // ValidationError (105)
      {{"--timeout-s", "-3"}, "--timeout-s"},        //
      {{"--timeout-s", "nan"}, "--timeout-s"},       //
      {{"--timeout-s", "inf"}, "--timeout-s"},       //
      {{"--timeout-s", "100000"}, "at most 86400"},  //
      {{"--results"}, "--results requires --wait"},  // RequiresError (107)
      {{}, "--needed is required"},                  // RequiredError (106)
  };
  for (const auto& c : cases) {
    CLI::App app{"test"};
    int count = 0;
    double timeout_s = 30;
    bool wait = false, results = false;
    std::string needed;
    app.add_option("--count", count);
    app.add_option("--timeout-s", timeout_s)->check(PositiveSeconds(86400));
    CLI::Option* wait_flag = app.add_flag("--wait", wait);
    app.add_flag("--results", results)->needs(wait_flag);
    app.add_option("--needed", needed)->required();
    std::vector<std::string> args = {"tscale-test"};
    if (c.names != "--needed is required") args.insert(args.end(), {"--needed", "x"});
    args.insert(args.end(), c.args.begin(), c.args.end());
    std::string err;
    EXPECT_EQ(ParseArgs(app, args, &err), kExitUsage) << c.names;
    EXPECT_NE(err.find(c.names), std::string::npos) << err;
    EXPECT_EQ(err.rfind("tscale-test: ", 0), 0u) << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  }
}

TEST(CliFlags, HelpAndVersionExitZero) {
  for (const char* flag : {"--help", "--version"}) {
    CLI::App app{"test"};
    AddVersionFlag(app);
    EXPECT_EQ(ParseArgs(app, {"tscale-test", flag}), kExitOk) << flag;
  }
}

TEST(CliFlags, PositiveSecondsAcceptsFractions) {
  CLI::App app{"test"};
  double timeout_s = 30;
  app.add_option("--timeout-s", timeout_s)->check(PositiveSeconds(60));
  EXPECT_FALSE(ParseArgs(app, {"tscale-test", "--timeout-s", "0.25"}).has_value());
  EXPECT_EQ(timeout_s, 0.25);
}

// The client's arrangement: connection flags on the parent, reachable after the subcommand too.
TEST(CliFlags, ServerFlagsWorkAfterASubcommandWithFallthrough) {
  CLI::App app{"test"};
  app.fallthrough();
  ServerFlags flags;
  AddServerFlags(app, &flags, "TSCALE_TEST_TOKEN_FILE", "TSCALE_TEST_TOKEN");
  int64_t sweep = 0;
  CLI::App* status = app.add_subcommand("status");
  status->add_option("--sweep", sweep);
  EXPECT_FALSE(ParseArgs(app, {"tscale-test", "status", "--sweep", "3", "--server", "h:1"}).has_value());
  EXPECT_EQ(flags.address, "h:1");
  EXPECT_EQ(sweep, 3);
  EXPECT_TRUE(*status);
}

}  // namespace
}  // namespace tscale::cli
