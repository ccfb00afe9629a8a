// The command-line conventions every tscale binary shares: exit codes, how a parse error ends the process,
// the flags of programs that talk to a coordinator (--server, --tls-ca, --token-file), --log-level and
// --version. One layer, so a flag means the same thing, is checked the same way and fails with the same exit
// code in tscale-client, tscale-server and tscale-worker (tscale-runner, started only by the worker, parses
// its few arguments itself and exits kExitUsage on a bad one: common/runner_protocol.h).
#pragma once

#include <spdlog/common.h>

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "common/status.h"

namespace tscale::cli {

// Exit codes (README "Exit codes"). Daemons exit kExitOk after a clean shutdown.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;      // the coordinator could not be reached or failed; a runtime failure
inline constexpr int kExitUsage = 2;        // a bad flag or value, a request refused as invalid, bad credentials
inline constexpr int kExitWaitTimeout = 3;  // tscale-client submit --wait: --wait-max-s elapsed
// tscale-client compare --fail-on-regression: a cell got slower beyond the threshold (p < alpha), or a cell that
// worked on the base side fails on the head side.
inline constexpr int kExitRegression = 4;
// tscale-worker: another live daemon holds its --id (a restart would be refused the same way, so systemd's
// RestartPreventExitStatus names it).
inline constexpr int kExitWorkerIdInUse = 3;

// Parses the command line. nullopt: go on. Otherwise the process should exit with the returned code: 0 after
// --help or --version (printed to stdout), kExitUsage for every parse or validation error, printed as one
// line "<program>: <what is wrong>" on stderr (CLI11's own codes, 104-114, never leak out).
std::optional<int> Parse(CLI::App& app, int argc, const char* const* argv);

// --version, printing tscale's version.
void AddVersionFlag(CLI::App& app);

// Where a client or worker finds its coordinator, and with what credentials.
struct ServerFlags {
  std::string address = "127.0.0.1:50051";
  std::string tls_ca;      // PEM roots: TLS on when set
  std::string token_file;  // the bearer token; empty = the token environment variable, else none
};
// --server (env TSCALE_SERVER), --tls-ca (env TSCALE_TLS_CA) and --token-file (env `token_file_env`; the token
// itself may come from env `token_env`, which only the help text mentions: LoadToken reads it).
void AddServerFlags(CLI::App& app, ServerFlags* flags, const std::string& token_file_env, const std::string& token_env);

// Log levels by name, case-insensitively: trace, debug, info, warn (warning), error (err), critical, off.
// INVALID_ARGUMENT naming the valid levels for anything else (spdlog's own from_str turns a typo into "off").
StatusOr<spdlog::level::level_enum> ParseLogLevel(const std::string& name);
// --log-level, checked at parse time: an unknown level is a usage error.
void AddLogLevelFlag(CLI::App& app, std::string* level);
// Sets spdlog's level from a name --log-level has accepted.
void ApplyLogLevel(const std::string& level);

// A check for a duration flag: a finite number of seconds in (0, max_s].
CLI::Validator PositiveSeconds(double max_s);

}  // namespace tscale::cli
