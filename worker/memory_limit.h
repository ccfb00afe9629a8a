// Per-job memory limits.
//
// Where the host has a writable cgroup v2 hierarchy with the memory controller (a systemd unit with
// Delegate=yes), each job runs in its own cgroup with memory.max, the kernel enforces it, and memory.events
// tells whether the kernel's OOM killer acted. Elsewhere (cgroup v1 or hybrid hosts such as this one, and
// macOS) the worker's RSS watchdog sums the resident memory of the job's process group and kills the group
// at the limit; the runner also caps its own address space (RLIMIT_AS) so that most over-allocations fail
// inside the allocator and are reported by the runner itself.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "common/status.h"
#include "tscale/v1/tscale.pb.h"

namespace tscale {

class CgroupV2 {
 public:
  // A delegated cgroup v2 directory in which per-job groups can be made, or FAILED_PRECONDITION saying why
  // not (no cgroup2 mount, no memory controller there, not writable, ...). May move this process into a
  // leaf group ("tscale-worker") so that the memory controller can be enabled for its siblings.
  static StatusOr<CgroupV2> Detect();

  const std::string& root() const { return root_; }

  // Creates <root>/tscale-job-<name> with memory.max = limit_bytes (and swap off); returns its path.
  StatusOr<std::string> CreateJobGroup(const std::string& name, int64_t limit_bytes) const;
  static Status AddProcess(const std::string& group, pid_t pid);
  // The oom_kill count of the group's memory.events (0 when unreadable).
  static int64_t OomKills(const std::string& group);
  // Removes an empty job group.
  static void Remove(const std::string& group);

 private:
  explicit CgroupV2(std::string root) : root_(std::move(root)) {}
  std::string root_;
};

// Resident memory of every process in process group `pgid`, in bytes (Linux: /proc/*/stat; macOS: the
// group leader only). 0 when nothing is found.
int64_t ProcessGroupRssBytes(pid_t pgid);

// A job whose measured peak RSS (the kernel's exact high-water mark, read by the runner) went over its limit
// did not fit its memory, even when the sampling watchdog missed the moment: an ok or invalid result becomes
// oom, saying so. Without this, a job just over its limit would pass or fail depending on when the watchdog
// looked, and the wall finder's answer would not repeat. A limit of 0 changes nothing.
void ApplyMemoryBudget(int64_t limit_bytes, v1::Result* result);

}  // namespace tscale
