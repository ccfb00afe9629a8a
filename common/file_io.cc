#include "common/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace tscale {
namespace {

std::atomic<uint64_t> file_syncs{0}, directory_syncs{0};

std::string SystemError(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Writes all of `data`, retrying short writes and EINTR.
bool WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

StatusOr<std::string> ReadWholeFile(const std::string& path, size_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound(path + ": no such file");
    return Status::Unavailable(SystemError("cannot open", path));
  }
  std::string out;
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const Status error = Status::Unavailable(SystemError("cannot read", path));
      ::close(fd);
      return error;
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_bytes) {
      ::close(fd);
      return Status::ResourceExhausted(path + ": larger than " + std::to_string(max_bytes) + " bytes");
    }
    out.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

SyncCounts SyncCountsSoFar() {
  SyncCounts counts;
  counts.files = file_syncs.load();
  counts.directories = directory_syncs.load();
  return counts;
}

Status SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::Unavailable(SystemError("cannot open directory", dir));
  const bool ok = ::fsync(fd) == 0;
  if (ok) ++directory_syncs;
  const Status error = ok ? Status::Ok() : Status::Unavailable(SystemError("cannot fsync directory", dir));
  ::close(fd);
  return error;
}

Status WriteFileAtomically(const std::string& path, const std::string& contents, unsigned mode) {
  // The pid keeps two processes writing the same path (a restarted worker beside a dying one) from sharing
  // one temporary file, the counter two threads of one process.
  static std::atomic<unsigned> sequence{0};
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(sequence++);
  // O_EXCL: never write through something already at the temporary name (a symlink planted in a shared
  // directory, or the leftover of a crashed process whose pid was reused; that one is removed and replaced).
  const int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
  int fd = ::open(tmp.c_str(), flags, static_cast<mode_t>(mode));
  if (fd < 0 && errno == EEXIST && ::unlink(tmp.c_str()) == 0)
    fd = ::open(tmp.c_str(), flags, static_cast<mode_t>(mode));
  if (fd < 0) return Status::Unavailable(SystemError("cannot create", tmp));
  if (!WriteAll(fd, contents) || ::fsync(fd) != 0) {
    const Status error = Status::Unavailable(SystemError("cannot write", tmp));
    ::close(fd);
    ::unlink(tmp.c_str());
    return error;
  }
  ++file_syncs;
  if (::close(fd) != 0) {
    const Status error = Status::Unavailable(SystemError("cannot close", tmp));
    ::unlink(tmp.c_str());
    return error;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const Status error = Status::Unavailable(SystemError("cannot rename " + tmp + " to", path));
    ::unlink(tmp.c_str());
    return error;
  }
  // The new contents are in place now; only their survival of a power loss is in doubt.
  const Status synced = SyncDirectory(DirectoryOf(path));
  if (!synced.ok()) return Status::DataLoss(path + " was replaced, but not made durable: " + synced.message());
  return Status::Ok();
}

}  // namespace tscale
