#include "worker/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#if defined(__linux__)
#include <dirent.h>
#endif

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

pid_t PeekExitedChild() {
  siginfo_t info{};
  while (true) {
    info.si_pid = 0;  // POSIX leaves it unset when WNOHANG finds nothing; Linux and macOS zero it
    if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == 0) return info.si_pid > 0 ? info.si_pid : -1;
    if (errno != EINTR) return -1;  // ECHILD: no children at all
  }
}

bool ReapChild(pid_t pid, bool wait, int* wait_status, struct rusage* usage) {
  while (true) {
    const pid_t reaped = ::wait4(pid, wait_status, wait ? 0 : WNOHANG, usage);
    if (reaped == pid) return true;
    if (reaped < 0 && errno == EINTR) continue;
    return false;
  }
}

#if defined(__linux__)
void MarkDescriptorsCloseOnExec() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return;
  while (struct dirent* entry = ::readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd <= STDERR_FILENO) continue;
    const int flags = ::fcntl(static_cast<int>(fd), F_GETFD);
    if (flags >= 0 && !(flags & FD_CLOEXEC)) ::fcntl(static_cast<int>(fd), F_SETFD, flags | FD_CLOEXEC);
  }
  ::closedir(dir);
}
#endif

StatusOr<SpawnedChild> SpawnChild(const ChildSpec& spec) {
  Fd out_read, out_write, err_read, err_write;
  TSCALE_RETURN_IF_ERROR(MakePipe(&out_read, &out_write));
  TSCALE_RETURN_IF_ERROR(MakePipe(&err_read, &err_write));

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_write.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_write.get(), STDERR_FILENO);
  // Descriptors the worker holds without O_CLOEXEC (a library's socket, one inherited from whoever started
  // the worker) must not leak into the child: it could keep a connection alive, or write where it should not.
  short flags = POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
#if defined(__APPLE__)
  // Only the descriptors named by the file actions above (0, 1 and 2) survive into the child.
  flags |= POSIX_SPAWN_CLOEXEC_DEFAULT;
#elif defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
#elif defined(__linux__)
  // No closefrom in this libc: mark everything close-on-exec in the worker itself. A descriptor another
  // thread opens without O_CLOEXEC between this and the spawn can still leak; gRPC and Asio open theirs
  // with O_CLOEXEC, so that window only matters for a careless library.
  MarkDescriptorsCloseOnExec();
#else
  // Other platforms: only descriptors the worker opened with O_CLOEXEC stay out of the child.
#endif
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, flags);
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

  // A grandchild may still hold the group alive after the runner exits; nothing of the job may outlive it.
  // The group is killed once the runner has exited but before it is reaped: until then its pid, and so the
  // group id, cannot be reused, and the SIGKILL cannot reach an unrelated process group.
  siginfo_t info{};
  bool exited = false;
  while (!(exited = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) == 0) && errno == EINTR) {
  }
  if (exited) KillProcessGroup(pid);  // not if it is gone already (SIGCHLD ignored): its pid is free for reuse
  int status = 0;
  if (!ReapChild(pid, /*wait=*/true, &status, &result.usage))  // status 0 would read as "exited 0"
    return Status::Internal("cannot reap child " + std::to_string(pid) + ": " + std::strerror(errno));
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
