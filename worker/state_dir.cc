#include "worker/state_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace tscale {
namespace {

bool Absolute(const char* value) {
  return value != nullptr && value[0] == '/';
}

// `dir`/`name`, without doubled slashes when dir ends in one (HOME=/home/u/).
std::string Join(std::string dir, const std::string& name) {
  while (!dir.empty() && dir.back() == '/') dir.pop_back();
  return dir + "/" + name;
}

// The worker id as one path component: an id is chosen by the operator and may hold any character.
std::string PathComponent(const std::string& worker_id) {
  std::string out;
  for (char c : worker_id) {
    const bool plain =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    out.push_back(plain ? c : '_');
  }
  if (out.empty() || out.find_first_not_of('.') == std::string::npos) out = "_" + out;  // "", ".", ".."
  return out;
}

std::string OctalMode(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

}  // namespace

StatusOr<std::string> DefaultStateDir(const std::string& worker_id, const EnvLookup& env) {
  std::string base;
  const char* systemd = env("STATE_DIRECTORY");
  const char* xdg = env("XDG_STATE_HOME");
  const char* home = env("HOME");
  if (Absolute(systemd)) {
    base = systemd;
    base = base.substr(0, base.find(':'));  // StateDirectory= may name several; the first is ours
  } else if (Absolute(xdg)) {
    base = Join(xdg, "tscale");
  } else if (Absolute(home)) {
    base = Join(home, ".local/state/tscale");
  } else {
    return Status::FailedPrecondition(
        "no default state directory: none of STATE_DIRECTORY, XDG_STATE_HOME and HOME is set to an absolute "
        "path; pass --state-dir");
  }
  return Join(base, "worker-" + PathComponent(worker_id));
}

Status PrepareStateDir(const std::string& dir) {
  if (dir.empty()) return Status::InvalidArgument("the state directory is empty");
  // Each missing component is made 0700, so a directory created here is private from its first moment.
  for (size_t slash = dir.find('/', 1);; slash = dir.find('/', slash + 1)) {
    const std::string prefix = slash == std::string::npos ? dir : dir.substr(0, slash);
    if (!prefix.empty() && ::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST)
      return Status::Unavailable("cannot create state directory " + prefix + ": " + std::strerror(errno));
    if (slash == std::string::npos) break;
  }
  // lstat: a symlink's target could be re-pointed by whoever owns the link after this check.
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0)
    return Status::Unavailable("cannot inspect state directory " + dir + ": " + std::strerror(errno));
  if (S_ISLNK(st.st_mode))
    return Status::PermissionDenied("state directory " + dir +
                                    " is a symbolic link: its owner could re-point it after this check; pass the "
                                    "directory itself");
  if (!S_ISDIR(st.st_mode)) return Status::PermissionDenied("state directory " + dir + " is not a directory");
  if (st.st_uid != ::geteuid())
    return Status::PermissionDenied("state directory " + dir + " is owned by uid " + std::to_string(st.st_uid) +
                                    ", not by this worker's uid " + std::to_string(::geteuid()) +
                                    ": another user could have planted results or cached figures there; use a "
                                    "directory of your own");
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
    return Status::PermissionDenied("state directory " + dir + " has mode " + OctalMode(st.st_mode) +
                                    ", writable by its group or by anyone: other users could plant results or "
                                    "cached figures there; use a private directory (chmod 700 after checking it)");
  return Status::Ok();
}

StatusOr<int> LockStateDir(const std::string& dir) {
  const std::string path = dir + "/lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Status::Unavailable("cannot open " + path + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    ::close(fd);
    if (error == EWOULDBLOCK)
      return Status::AlreadyExists("state directory " + dir +
                                   " is in use by another tscale-worker on this host (it holds " + path +
                                   "): two daemons with one worker id would share an outbox and revoke each "
                                   "other's jobs; give each its own --id");
    return Status::Unavailable("cannot lock " + path + ": " + std::strerror(error));
  }
  return fd;
}

}  // namespace tscale
