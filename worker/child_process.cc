#include "worker/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tscale {
namespace {

using Clock = std::chrono::steady_clock;

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

Status MakePipe(Fd* read_end, Fd* write_end) {
  int fds[2];
#ifdef __linux__
  if (pipe2(fds, O_CLOEXEC) != 0) return Status::Internal(std::string("pipe2: ") + std::strerror(errno));
#else
  if (pipe(fds) != 0) return Status::Internal(std::string("pipe: ") + std::strerror(errno));
  fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  fcntl(fds[1], F_SETFD, FD_CLOEXEC);
#endif
  read_end->Reset(fds[0]);
  write_end->Reset(fds[1]);
  return Status::Ok();
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

void TailBuffer::Append(const char* data, size_t size) {
  text_.append(data, size);
  if (text_.size() > capacity_) {
    text_.erase(0, text_.size() - capacity_);
    truncated_ = true;
  }
}

void LineSplitter::Append(const char* data, size_t size, const std::function<void(const std::string&)>& on_line) {
  partial_.append(data, size);
  for (size_t eol; (eol = partial_.find('\n')) != std::string::npos;) {
    on_line(partial_.substr(0, eol));
    partial_.erase(0, eol + 1);
  }
  if (partial_.size() > max_line_) partial_.clear();
}

void KillProcessGroup(pid_t pid) {
  if (pid <= 0) return;
  if (::kill(-pid, SIGKILL) != 0) ::kill(pid, SIGKILL);
}

StatusOr<SpawnedChild> SpawnChild(const ChildSpec& spec) {
  Fd out_read, out_write, err_read, err_write;
  TSCALE_RETURN_IF_ERROR(MakePipe(&out_read, &out_write));
  TSCALE_RETURN_IF_ERROR(MakePipe(&err_read, &err_write));

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_write.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_write.get(), STDERR_FILENO);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  // Descriptors the worker opened without O_CLOEXEC (a library's socket, say) must not leak into the child.
  posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
#endif
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t empty_mask, default_signals;
  sigemptyset(&empty_mask);
  posix_spawnattr_setsigmask(&attr, &empty_mask);
  sigemptyset(&default_signals);
  for (int s : {SIGINT, SIGTERM, SIGPIPE, SIGCHLD, SIGHUP}) sigaddset(&default_signals, s);
  posix_spawnattr_setsigdefault(&attr, &default_signals);

  std::vector<std::string> argv_storage{spec.program};
  argv_storage.insert(argv_storage.end(), spec.args.begin(), spec.args.end());
  std::vector<std::string> env_storage = spec.env;
  auto argv = CStrings(argv_storage);
  auto envp = CStrings(env_storage);

  SpawnedChild child;
  int rc = posix_spawn(&child.pid, spec.program.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Status::Unavailable("cannot spawn " + spec.program + ": " + std::strerror(rc));
  child.stdout_fd = out_read.Release();
  child.stderr_fd = err_read.Release();
  return child;
}

StatusOr<ChildExit> RunChild(const ChildSpec& spec, std::chrono::milliseconds tick, const TickFn& on_tick) {
  const auto started = Clock::now();
  auto spawned = SpawnChild(spec);
  if (!spawned.ok()) return spawned.status();
  const pid_t pid = spawned->pid;
  Fd out_read(spawned->stdout_fd), err_read(spawned->stderr_fd);

  ChildExit result;
  TailBuffer out_tail(spec.output_tail_bytes), err_tail(spec.output_tail_bytes);
  LineSplitter lines(spec.output_tail_bytes);
  const auto deadline = spec.deadline.count() > 0 ? started + spec.deadline : Clock::time_point::max();
  auto next_tick = started + tick;
  bool out_open = true, err_open = true;
  char buffer[8192];

  // Pump both pipes until the child closes them (it exited, or we killed its group), ticking on the way.
  while (out_open || err_open) {
    pollfd fds[2] = {{out_read.get(), POLLIN, 0}, {err_read.get(), POLLIN, 0}};
    if (!out_open) fds[0].fd = -1;
    if (!err_open) fds[1].fd = -1;
    const auto now = Clock::now();
    const auto wake = std::min(deadline, next_tick);
    const int timeout_ms = static_cast<int>(
        std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(wake - now).count()));
    int ready = ::poll(fds, 2, timeout_ms);
    if (ready < 0 && errno != EINTR) break;
    for (int i = 0; i < 2 && ready > 0; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(fds[i].fd, buffer, sizeof(buffer));
      if (n > 0) {
        (i == 0 ? out_tail : err_tail).Append(buffer, static_cast<size_t>(n));
        if (i == 0 && spec.on_stdout_line) lines.Append(buffer, static_cast<size_t>(n), spec.on_stdout_line);
      } else if (n == 0 || errno != EINTR) {
        (i == 0 ? out_open : err_open) = false;
      }
    }
    if (result.killed_by_us != KillReason::kNone) continue;
    if (Clock::now() >= deadline) {
      result.killed_by_us = KillReason::kDeadline;
      KillProcessGroup(pid);
    } else if (Clock::now() >= next_tick) {
      next_tick = Clock::now() + tick;
      if (on_tick && !on_tick()) {
        result.killed_by_us = KillReason::kRevoked;
        KillProcessGroup(pid);
      }
    }
  }

  int status = 0;
  while (::wait4(pid, &status, 0, &result.usage) < 0 && errno == EINTR) {
  }
  // A grandchild may still hold the group alive after the runner exits; nothing of the job may outlive it.
  ::kill(-pid, SIGKILL);
  result.wall_s = std::chrono::duration<double>(Clock::now() - started).count();
  if (WIFEXITED(status)) {
    result.exited = true;
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  result.stdout_tail = out_tail.str();
  result.stderr_tail = err_tail.str();
  return result;
}

}  // namespace tscale
