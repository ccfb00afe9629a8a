// Runs one tscale-runner child, isolated: posix_spawn into its own process group, stdin from /dev/null,
// stdout/stderr into pipes, every other descriptor closed, an explicit (scrubbed) environment.
// The whole group is killed on deadline or revocation, and the child is always reaped.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"

namespace tscale {

// Keeps the last `capacity` bytes appended to it.
class TailBuffer {
 public:
  explicit TailBuffer(size_t capacity) : capacity_(capacity) {}
  void Append(const char* data, size_t size);
  const std::string& str() const { return text_; }
  bool truncated() const { return truncated_; }

 private:
  size_t capacity_;
  std::string text_;
  bool truncated_ = false;
};

struct ChildSpec {
  std::string program;
  std::vector<std::string> args;          // argv[1..]
  std::vector<std::string> env;           // "KEY=value", the child's whole environment
  std::chrono::milliseconds deadline{0};  // 0 = none
  size_t output_tail_bytes = 16 * 1024;
  // Called with each complete line the child writes to stdout (without the newline), on the calling thread.
  std::function<void(const std::string&)> on_stdout_line;
};

enum class KillReason { kNone, kDeadline, kRevoked };

struct ChildExit {
  bool exited = false;  // normal exit; exit_code is valid
  int exit_code = 0;
  int signal = 0;  // terminating signal when !exited
  KillReason killed_by_us = KillReason::kNone;
  struct rusage usage {};
  double wall_s = 0;
  std::string stdout_tail;
  std::string stderr_tail;
};

// Called about every `tick` while the child runs; returning false kills the child's group (revocation).
using TickFn = std::function<bool()>;

// Spawns the child, pumps its output, enforces the deadline and waits for it. Returns an error only
// when the child could not be started.
StatusOr<ChildExit> RunChild(const ChildSpec& spec, std::chrono::milliseconds tick, const TickFn& on_tick);

}  // namespace tscale
