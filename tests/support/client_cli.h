// Runs the real tscale-client binary against a server, as a user would, for integration tests.
#pragma once

#include <sys/wait.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "support/test_paths.h"
#include "support/test_process.h"

namespace tscale::testing {

struct CliRun {
  int exit_code = -1;  // -1: it did not exit within a minute, or was killed by a signal
  std::string output;  // stdout and stderr
};

// `tscale-client --server ADDRESS ARGS...`, its output kept in `log`.
inline CliRun RunClientCli(const std::string& address, std::vector<std::string> args, const std::string& log) {
  args.insert(args.begin(), {"--server", address});
  TestProcess process(kClientBinary, args, log);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!process.Poll() && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CliRun run;
  if (auto status = process.Poll(); status && WIFEXITED(*status)) run.exit_code = WEXITSTATUS(*status);
  run.output = process.Log();
  return run;
}

}  // namespace tscale::testing
