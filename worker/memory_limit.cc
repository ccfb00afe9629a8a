#include "worker/memory_limit.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/file_io.h"

#ifdef __APPLE__
#include <libproc.h>
#endif

namespace tscale {
namespace {

namespace fs = std::filesystem;

// Kernel files (cgroupfs, /proc): empty when unreadable, which every caller treats as "not there".
std::string ReadAll(const fs::path& path) {
  auto text = ReadWholeFile(path.string(), size_t{1} << 20);
  return text.ok() ? std::move(text).value() : std::string();
}

// Not WriteFileAtomically: a cgroup control file is an interface written in place, never replaced.
bool WriteAll(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.flush();
  return static_cast<bool>(out);
}

// The mount point of the cgroup2 filesystem, from /proc/self/mountinfo.
std::optional<std::string> Cgroup2Mount() {
  std::istringstream in(ReadAll("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(in, line)) {
    const size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream after(line.substr(dash + 3));
    std::string fstype;
    after >> fstype;
    if (fstype != "cgroup2") continue;
    std::istringstream fields(line);
    std::string id, parent, devices, root, mount_point;
    fields >> id >> parent >> devices >> root >> mount_point;
    return mount_point;
  }
  return std::nullopt;
}

}  // namespace

StatusOr<CgroupV2> CgroupV2::Detect() {
#ifndef __linux__
  return Status::FailedPrecondition("cgroups are Linux-only");
#else
  auto mount = Cgroup2Mount();
  if (!mount) return Status::FailedPrecondition("no cgroup2 filesystem is mounted");
  std::string own;  // this process's cgroup v2 path, from the "0::" line
  {
    std::istringstream in(ReadAll("/proc/self/cgroup"));
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("0::", 0) == 0) own = line.substr(3);
  }
  if (own.empty()) return Status::FailedPrecondition("this process is in no cgroup v2 group");
  const fs::path dir = fs::path(*mount) / own.substr(own.find_first_not_of('/') == std::string::npos ? own.size() : 1);
  const std::string controllers = ReadAll(dir / "cgroup.controllers");
  if (controllers.find("memory") == std::string::npos)
    return Status::FailedPrecondition("the cgroup2 hierarchy at " + dir.string() +
                                      " has no memory controller (on a hybrid host it is bound to cgroup v1)");
  if (access(dir.c_str(), W_OK) != 0)
    return Status::FailedPrecondition(dir.string() + " is not writable (run the worker with Delegate=yes)");
  // The "no internal processes" rule: a group that hands the memory controller to its children may not hold
  // processes itself. Move the worker into a leaf first.
  const std::string subtree = ReadAll(dir / "cgroup.subtree_control");
  if (subtree.find("memory") == std::string::npos) {
    std::error_code ec;
    fs::create_directories(dir / "tscale-worker", ec);
    if (ec || !WriteAll(dir / "tscale-worker" / "cgroup.procs", std::to_string(getpid())))
      return Status::FailedPrecondition("cannot move the worker into " + (dir / "tscale-worker").string());
    if (!WriteAll(dir / "cgroup.subtree_control", "+memory"))
      return Status::FailedPrecondition("cannot enable the memory controller in " + dir.string());
  }
  return CgroupV2(dir.string());
#endif
}

StatusOr<std::string> CgroupV2::CreateJobGroup(const std::string& name, int64_t limit_bytes) const {
  const fs::path group = fs::path(root_) / ("tscale-job-" + name);
  std::error_code ec;
  fs::create_directory(group, ec);
  if (ec) return Status::Unavailable("cannot create cgroup " + group.string() + ": " + ec.message());
  if (!WriteAll(group / "memory.max", std::to_string(limit_bytes)))
    return Status::Unavailable("cannot set memory.max in " + group.string());
  WriteAll(group / "memory.swap.max", "0");  // a job that swaps is measuring the disk, not the model
  return group.string();
}

Status CgroupV2::AddProcess(const std::string& group, pid_t pid) {
  if (!WriteAll(fs::path(group) / "cgroup.procs", std::to_string(pid)))
    return Status::Unavailable("cannot move pid " + std::to_string(pid) + " into " + group);
  return Status::Ok();
}

int64_t CgroupV2::OomKills(const std::string& group) {
  std::istringstream events(ReadAll(fs::path(group) / "memory.events"));
  std::string key;
  int64_t value = 0;
  while (events >> key >> value)
    if (key == "oom_kill") return value;
  return 0;
}

void CgroupV2::Remove(const std::string& group) {
  std::error_code ec;
  fs::remove(group, ec);  // rmdir: succeeds once the group is empty
}

int64_t ProcessGroupRssBytes(pid_t pgid) {
#ifdef __linux__
  static const int64_t page = sysconf(_SC_PAGESIZE);
  int64_t total = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    // /proc/PID/stat: "pid (comm) state ppid pgrp ... rss" where comm may hold spaces: parse after ')'.
    const std::string stat = ReadAll(entry.path() / "stat");
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(stat.substr(close + 2));
    std::string state;
    long long ppid = 0, pgrp = 0;
    fields >> state >> ppid >> pgrp;
    if (pgrp != pgid) continue;
    std::string skip;
    for (int i = 0; i < 18; ++i) fields >> skip;  // fields 6..23; rss is field 24
    long long rss_pages = 0;
    if (fields >> rss_pages) total += rss_pages * page;
  }
  return total;
#elif defined(__APPLE__)
  proc_taskinfo info{};
  if (proc_pidinfo(pgid, PROC_PIDTASKINFO, 0, &info, sizeof(info)) == sizeof(info))
    return static_cast<int64_t>(info.pti_resident_size);
  return 0;
#else
  (void)pgid;
  return 0;
#endif
}

void ApplyMemoryBudget(int64_t limit_bytes, v1::Result* result) {
  const int64_t peak = result->memory().peak_rss_bytes();
  if (limit_bytes <= 0 || peak <= limit_bytes) return;
  if (result->outcome() != v1::OUTCOME_OK && result->outcome() != v1::OUTCOME_INVALID) return;
  result->set_outcome(v1::OUTCOME_OOM);
  result->clear_invalid_reasons();
  result->set_message("peak RSS " + std::to_string(peak >> 20) + " MiB went over the memory limit of " +
                      std::to_string(limit_bytes >> 20) + " MiB (the runner's exact high-water mark)");
}

}  // namespace tscale
