// CPU time spent by the processes of a load test, read from /proc (Linux): how much of the machine each part
// costs per completion, and so the rate the machine could reach with every core busy.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace tscale::bench {

// User plus system CPU seconds of one process (all its threads), or 0 when it cannot be read.
inline double ProcessCpuSeconds(pid_t pid, pid_t* parent = nullptr) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return 0;
  // The command name is in parentheses and may itself hold spaces or parentheses: fields follow the last ')'.
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(line.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int index = 3; fields >> field; ++index) {  // field 3 is the state (proc(5) numbers from 1)
    if (index == 4 && parent) *parent = static_cast<pid_t>(std::atol(field.c_str()));
    if (index == 14) utime = std::atof(field.c_str());
    if (index == 15) {
      stime = std::atof(field.c_str());
      break;
    }
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// CPU seconds of `root` and its direct children: the postmaster and its backends, checkpointer, WAL writer.
// A child that exited between two readings takes its time with it, so readings span a phase in which the set of
// processes holds still (a load test's connections stay open).
inline double ProcessAndChildrenCpuSeconds(pid_t root) {
  double total = ProcessCpuSeconds(root);
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t parent = 0;
    const double seconds = ProcessCpuSeconds(static_cast<pid_t>(std::atol(name.c_str())), &parent);
    if (parent == root) total += seconds;
  }
  return total;
}

}  // namespace tscale::bench
