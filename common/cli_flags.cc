#include "common/cli_flags.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <iostream>

#include "common/version.h"

namespace tscale::cli {
namespace {

struct LevelName {
  const char* name;
  spdlog::level::level_enum level;
};
// The first name of each level is the one --log-level's help and errors show.
constexpr LevelName kLevels[] = {
    {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug},       {"info", spdlog::level::info},
    {"warn", spdlog::level::warn},   {"warning", spdlog::level::warn},      {"error", spdlog::level::err},
    {"err", spdlog::level::err},     {"critical", spdlog::level::critical}, {"off", spdlog::level::off},
};
constexpr const char* kValidLevels = "trace, debug, info, warn, error, critical, off";

std::string Lower(std::string text) {
  for (char& ch : text) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return text;
}

std::string ProgramName(int argc, const char* const* argv) {
  if (argc < 1 || argv[0] == nullptr) return "tscale";
  std::string path = argv[0];
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::optional<int> Parse(CLI::App& app, int argc, const char* const* argv) {
  try {
    app.parse(argc, argv);
    return std::nullopt;
  } catch (const CLI::ParseError& e) {
    // --help and --version arrive as "errors" whose code is 0; CLI11 prints them.
    if (e.get_exit_code() == 0) return app.exit(e);
    std::string what = e.what();
    std::replace(what.begin(), what.end(), '\n', ' ');
    std::cerr << ProgramName(argc, argv) << ": " << what << " (see --help)\n";
    return kExitUsage;
  }
}

void AddVersionFlag(CLI::App& app) {
  app.set_version_flag("--version", kVersion);
}

void AddServerFlags(CLI::App& app, ServerFlags* flags, const std::string& token_file_env,
                    const std::string& token_env) {
  app.add_option("--server", flags->address, "coordinator address (host:port)")
      ->envname("TSCALE_SERVER")
      ->capture_default_str();
  app.add_option("--tls-ca", flags->tls_ca, "PEM roots to verify the coordinator's TLS certificate (enables TLS)")
      ->envname("TSCALE_TLS_CA")
      ->check(CLI::ExistingFile);
  app.add_option("--token-file", flags->token_file, "file holding the bearer token (or env " + token_env + ")")
      ->envname(token_file_env)
      ->check(CLI::ExistingFile);
}

StatusOr<spdlog::level::level_enum> ParseLogLevel(const std::string& name) {
  const std::string lower = Lower(name);
  for (const auto& entry : kLevels)
    if (lower == entry.name) return entry.level;
  return Status::InvalidArgument("unknown log level \"" + name + "\" (valid: " + kValidLevels + ")");
}

void AddLogLevelFlag(CLI::App& app, std::string* level) {
  app.add_option("--log-level", *level, std::string(kValidLevels) + " (any case)")
      ->capture_default_str()
      ->check(CLI::Validator(
          [](std::string& value) -> std::string {
            auto parsed = ParseLogLevel(value);
            return parsed.ok() ? std::string() : parsed.status().message();
          },
          "LEVEL"));
}

void ApplyLogLevel(const std::string& level) {
  auto parsed = ParseLogLevel(level);
  spdlog::set_level(parsed.ok() ? *parsed : spdlog::level::info);
}

CLI::Validator PositiveSeconds(double max_s) {
  return CLI::Validator(
      [max_s](std::string& value) -> std::string {
        char* end = nullptr;
        const double seconds = std::strtod(value.c_str(), &end);
        const bool parsed = !value.empty() && end == value.c_str() + value.size();
        if (parsed && std::isfinite(seconds) && seconds > 0 && seconds <= max_s) return {};
        char max_text[32];
        std::snprintf(max_text, sizeof max_text, "%g", max_s);
        return "must be a number of seconds above 0 and at most " + std::string(max_text) + ", not \"" + value + "\"";
      },
      "SECONDS > 0");
}

}  // namespace tscale::cli
