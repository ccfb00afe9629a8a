// Finding live processes by command line, to prove that no child of a test outlived what it should.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace tscale::testing {

// Pids of live (non-zombie) processes whose command line contains every one of `needles`.
inline std::vector<pid_t> FindProcesses(const std::vector<std::string>& needles) {
  std::vector<pid_t> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream cmdline(entry.path() / "cmdline");
    std::stringstream text;
    text << cmdline.rdbuf();
    std::string args = text.str();
    for (char& c : args)
      if (c == '\0') c = ' ';
    bool all = !args.empty();
    for (const auto& needle : needles) all = all && args.find(needle) != std::string::npos;
    if (!all) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string pid, comm, state;
    stat >> pid >> comm >> state;
    if (state != "Z") found.push_back(static_cast<pid_t>(std::stol(name)));
  }
  return found;
}

}  // namespace tscale::testing
