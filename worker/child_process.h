// Starting and finishing isolated tscale-runner children.
//
// SpawnChild starts one: posix_spawn into its own process group, stdin from /dev/null, stdout/stderr into
// pipes, every other descriptor closed, an explicit (scrubbed) environment. KillProcessGroup ends the
// child and anything it started. RunChild is the blocking form used by tests and the device probe; the
// daemon drives children asynchronously (job_execution.h) with the same primitives.
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

// Splits a byte stream into lines; a line longer than `max_line` is dropped (it is not a protocol line).
class LineSplitter {
 public:
  explicit LineSplitter(size_t max_line = 4096) : max_line_(max_line) {}
  void Append(const char* data, size_t size, const std::function<void(const std::string&)>& on_line);

 private:
  size_t max_line_;
  std::string partial_;
};

struct ChildSpec {
  std::string program;
  std::vector<std::string> args;          // argv[1..]
  std::vector<std::string> env;           // "KEY=value", the child's whole environment
  std::chrono::milliseconds deadline{0};  // 0 = none
  size_t output_tail_bytes = 16 * 1024;
  // Called with each complete line the child writes to stdout (without the newline).
  std::function<void(const std::string&)> on_stdout_line;
};

struct SpawnedChild {
  pid_t pid = -1;                      // also its process group id
  int stdout_fd = -1, stderr_fd = -1;  // read ends, owned by the caller
};

StatusOr<SpawnedChild> SpawnChild(const ChildSpec& spec);

// SIGKILL to the child's whole process group (falls back to the pid alone). Only for a child that has not
// been reaped yet: until then its pid, and so its process group id, cannot be handed to another process.
void KillProcessGroup(pid_t pid);

// A child of this process that has exited but is not reaped yet, or -1 when there is none. Peeking (waitid
// with WNOWAIT) leaves the zombie in place, so the caller can still kill what is left of its process group
// safely before reaping it with ReapChild.
pid_t PeekExitedChild();
// Reaps child `pid` (blocking when `wait` is true) and returns its wait status and rusage; false when it
// could not be reaped (not exited yet, or not our child).
bool ReapChild(pid_t pid, bool wait, int* wait_status, struct rusage* usage);

#if defined(__linux__)
// Marks every descriptor above stderr close-on-exec, in this process. The fallback for libcs without
// posix_spawn_file_actions_addclosefrom_np (glibc < 2.34): the worker execs nothing but runners, so its own
// descriptors lose nothing by it. See SpawnChild for the window this leaves.
void MarkDescriptorsCloseOnExec();
#endif

// Why the worker, not the child, ended it. kSetupFailed: the worker could not prepare the job's
// containment (e.g. move it into its cgroup); an infrastructure failure, never the job's outcome.
enum class KillReason { kNone, kDeadline, kRevoked, kMemoryLimit, kDrain, kSetupFailed };

struct ChildExit {
  bool exited = false;  // normal exit; exit_code is valid
  int exit_code = 0;
  int signal = 0;  // terminating signal when !exited
  KillReason killed_by_us = KillReason::kNone;
  std::string kill_detail;       // e.g. the RSS that crossed the memory limit
  bool kernel_oom_kill = false;  // the kernel's OOM killer acted inside the job's cgroup
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
