// One attempt's runner child, driven by the worker's event loop (Boost.Asio): both output pipes are read
// asynchronously, a deadline timer and a memory watchdog timer run beside them, and the exit arrives from
// the worker's SIGCHLD handler (ReapExited). When the child has exited and both pipes are at EOF, `on_done`
// is called exactly once, on the event loop, with the ChildExit. Nothing here blocks the loop.
#pragma once

#include <boost/asio.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "worker/child_process.h"

namespace tscale {

struct ExecutionOptions {
  ChildSpec spec;
  int64_t memory_limit_bytes = 0;     // 0 = none
  std::optional<std::string> cgroup;  // a prepared cgroup v2 job group, or none (watchdog only)
  // How often the job's process group is sampled: often while there is a limit for the RSS watchdog to
  // enforce, rarely otherwise, when the samples only feed the peak-RSS fallback (see CheckMemory).
  std::chrono::milliseconds watchdog_period{100};
  std::chrono::milliseconds sampling_period{1000};
};

class JobExecution : public std::enable_shared_from_this<JobExecution> {
 public:
  using DoneFn = std::function<void(ChildExit)>;

  static StatusOr<std::shared_ptr<JobExecution>> Start(boost::asio::io_context& io, ExecutionOptions options,
                                                       DoneFn on_done);

  pid_t pid() const { return pid_; }
  bool reaped() const { return exited_; }
  int64_t peak_group_rss_bytes() const { return peak_rss_; }

  // Kills the child's process group; the first reason given is the one reported. Does nothing once the
  // child has been reaped (its group was killed then, and its pid may belong to someone else by now).
  void Kill(KillReason reason, const std::string& detail);
  // The child has exited (PeekExitedChild returned its pid): kills whatever is left of its process group
  // while the unreaped child still pins the group id, then reaps it and records how it ended.
  void ReapExited();

 private:
  JobExecution(boost::asio::io_context& io, ExecutionOptions options, DoneFn on_done);
  void ReadPipe(int index);
  void ArmWatchdog();
  void CheckMemory();
  void OnExited(int wait_status, const struct rusage& usage);
  void MaybeFinish();
  bool Enforcing() const { return options_.memory_limit_bytes > 0 && !options_.cgroup; }

  boost::asio::io_context& io_;
  ExecutionOptions options_;
  DoneFn on_done_;
  pid_t pid_ = -1;
  std::chrono::steady_clock::time_point started_;
  boost::asio::posix::stream_descriptor pipes_[2];
  bool pipe_open_[2] = {true, true};
  std::array<char, 8192> buffers_[2];
  TailBuffer tails_[2];
  LineSplitter lines_;
  boost::asio::steady_timer deadline_timer_, watchdog_timer_;
  bool exited_ = false, finished_ = false;  // exited_: reaped
  int64_t peak_rss_ = 0;
  ChildExit exit_;
};

}  // namespace tscale
