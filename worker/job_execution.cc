#include "worker/job_execution.h"

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>

#include "worker/memory_limit.h"

namespace tscale {

namespace asio = boost::asio;

JobExecution::JobExecution(asio::io_context& io, ExecutionOptions options, DoneFn on_done)
    : io_(io),
      options_(std::move(options)),
      on_done_(std::move(on_done)),
      pipes_{asio::posix::stream_descriptor(io), asio::posix::stream_descriptor(io)},
      tails_{TailBuffer(options_.spec.output_tail_bytes), TailBuffer(options_.spec.output_tail_bytes)},
      lines_(options_.spec.output_tail_bytes),
      deadline_timer_(io),
      watchdog_timer_(io) {}

StatusOr<std::shared_ptr<JobExecution>> JobExecution::Start(asio::io_context& io, ExecutionOptions options,
                                                            DoneFn on_done) {
  std::shared_ptr<JobExecution> self(new JobExecution(io, std::move(options), std::move(on_done)));
  self->started_ = std::chrono::steady_clock::now();
  auto spawned = SpawnChild(self->options_.spec);
  if (!spawned.ok()) return spawned.status();
  self->pid_ = spawned->pid;
  self->pipes_[0].assign(spawned->stdout_fd);
  self->pipes_[1].assign(spawned->stderr_fd);
  if (self->options_.cgroup) {
    // The runner is still loading its shared libraries here: it is moved before it allocates tensors.
    // Failing to move it is the host's fault, not the job's: the runner did not run out of memory, so the
    // attempt must not end `oom` (the worker gives it back as an infrastructure failure instead).
    Status moved = CgroupV2::AddProcess(*self->options_.cgroup, self->pid_);
    if (!moved.ok()) self->Kill(KillReason::kSetupFailed, "cannot apply the memory limit: " + moved.message());
  }
  self->ReadPipe(0);
  self->ReadPipe(1);
  if (self->options_.spec.deadline.count() > 0) {
    self->deadline_timer_.expires_after(self->options_.spec.deadline);
    self->deadline_timer_.async_wait([weak = std::weak_ptr<JobExecution>(self)](const boost::system::error_code& ec) {
      auto alive = weak.lock();
      if (!ec && alive) alive->Kill(KillReason::kDeadline, "");
    });
  }
  self->ArmWatchdog();
  return self;
}

void JobExecution::ReadPipe(int index) {
  pipes_[index].async_read_some(
      asio::buffer(buffers_[index]), [self = shared_from_this(), index](const boost::system::error_code& ec, size_t n) {
        if (n > 0) {
          self->tails_[index].Append(self->buffers_[index].data(), n);
          if (index == 0 && self->options_.spec.on_stdout_line)
            self->lines_.Append(self->buffers_[index].data(), n, self->options_.spec.on_stdout_line);
        }
        if (ec) {  // EOF (the child and its group closed the pipe) or the descriptor was closed
          self->pipe_open_[index] = false;
          boost::system::error_code ignored;
          self->pipes_[index].close(ignored);
          self->MaybeFinish();
          return;
        }
        self->ReadPipe(index);
      });
}

void JobExecution::ArmWatchdog() {
  // Each sample reads /proc/<pid>/stat of every process on the host (Linux) to find the group's members.
  // Every 100 ms that is real CPU time on a small host, taken from the measurement beside it; without a
  // limit to enforce the samples only back up the runner's own peak-RSS report, and once a second will do.
  watchdog_timer_.expires_after(Enforcing() ? options_.watchdog_period
                                            : std::max(options_.watchdog_period, options_.sampling_period));
  watchdog_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->exited_) return;
    self->CheckMemory();
    self->ArmWatchdog();
  });
}

void JobExecution::CheckMemory() {
  const int64_t rss = ProcessGroupRssBytes(pid_);
  peak_rss_ = std::max(peak_rss_, rss);
  if (Enforcing() && rss > options_.memory_limit_bytes) {
    Kill(KillReason::kMemoryLimit, "killed by the worker's RSS watchdog: the job's processes held " +
                                       std::to_string(rss >> 20) + " MiB, over the limit of " +
                                       std::to_string(options_.memory_limit_bytes >> 20) + " MiB");
  }
}

void JobExecution::Kill(KillReason reason, const std::string& detail) {
  if (exited_) return;
  if (exit_.killed_by_us == KillReason::kNone) {
    exit_.killed_by_us = reason;
    exit_.kill_detail = detail;
  }
  KillProcessGroup(pid_);
}

void JobExecution::ReapExited() {
  if (exited_) return;
  // Nothing the job started may outlive it; this also closes pipes a grandchild still held. The group is
  // killed before the runner is reaped: the zombie keeps its pid, and with it the group id, reserved, so the
  // SIGKILL cannot reach a process group that reused the id.
  KillProcessGroup(pid_);
  int wait_status = 0;
  struct rusage usage {};
  if (ReapChild(pid_, /*wait=*/false, &wait_status, &usage)) OnExited(wait_status, usage);
}

void JobExecution::OnExited(int wait_status, const struct rusage& usage) {
  exited_ = true;
  exit_.usage = usage;
  if (WIFEXITED(wait_status)) {
    exit_.exited = true;
    exit_.exit_code = WEXITSTATUS(wait_status);
  } else if (WIFSIGNALED(wait_status)) {
    exit_.signal = WTERMSIG(wait_status);
  }
  if (options_.cgroup) exit_.kernel_oom_kill = CgroupV2::OomKills(*options_.cgroup) > 0;
  deadline_timer_.cancel();
  watchdog_timer_.cancel();
  MaybeFinish();
}

void JobExecution::MaybeFinish() {
  if (finished_ || !exited_ || pipe_open_[0] || pipe_open_[1]) return;
  finished_ = true;
  exit_.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  exit_.stdout_tail = tails_[0].str();
  exit_.stderr_tail = tails_[1].str();
  if (options_.cgroup) CgroupV2::Remove(*options_.cgroup);
  // Deferred so that the caller may drop its last reference to this object inside on_done.
  asio::post(io_, [self = shared_from_this()] { self->on_done_(std::move(self->exit_)); });
}

}  // namespace tscale
