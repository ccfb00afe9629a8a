#include "common/host_info.h"

#ifdef __linux__
#include <sched.h>
#endif
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#ifdef __APPLE__
#include <mach/mach.h>
#include <sys/sysctl.h>
#endif

namespace tscale {
namespace {

// Value of "Key:   123 kB" from a /proc status-style file, in bytes; 0 when absent.
int64_t ReadProcKilobytes(const char* path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, key.size(), key) == 0 && line.size() > key.size() && line[key.size()] == ':') {
      return std::stoll(line.substr(key.size() + 1)) * 1024;
    }
  }
  return 0;
}

std::string Trim(std::string s) {
  const char* ws = " \t\r\n";
  s.erase(0, s.find_first_not_of(ws));
  s.erase(s.find_last_not_of(ws) + 1);
  return s;
}

}  // namespace

HostFacts ReadHostFacts() {
  HostFacts facts;
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) == 0) facts.hostname = name;
  struct utsname uts {};
  if (uname(&uts) == 0) facts.os = std::string(uts.sysname) + " " + uts.release + " " + uts.machine;
  facts.cpu_cores = UsableCpuCores();
#ifdef __APPLE__
  char brand[256] = {};
  size_t size = sizeof(brand);
  if (sysctlbyname("machdep.cpu.brand_string", brand, &size, nullptr, 0) == 0) facts.cpu_model = brand;
  int64_t mem = 0;
  size = sizeof(mem);
  if (sysctlbyname("hw.memsize", &mem, &size, nullptr, 0) == 0) facts.ram_bytes = mem;
#else
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      facts.cpu_model = Trim(line.substr(line.find(':') + 1));
      break;
    }
  }
  facts.ram_bytes = ReadProcKilobytes("/proc/meminfo", "MemTotal");
#endif
  return facts;
}

int UsableCpuCores() {
#ifdef __linux__
  // hardware_concurrency counts the host's online CPUs; a worker pinned to a few of them (taskset, a
  // cpuset, a container's --cpuset-cpus) that sized its threads by that would oversubscribe its share.
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int count = CPU_COUNT(&set);
    if (count > 0) return count;
  }
#endif
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

int64_t CurrentRssBytes() {
#ifdef __APPLE__
  mach_task_basic_info info{};
  mach_msg_type_number_t count = MACH_TASK_BASIC_INFO_COUNT;
  if (task_info(mach_task_self(), MACH_TASK_BASIC_INFO, reinterpret_cast<task_info_t>(&info), &count) == KERN_SUCCESS)
    return static_cast<int64_t>(info.resident_size);
  return 0;
#else
  return ReadProcKilobytes("/proc/self/status", "VmRSS");
#endif
}

int64_t PeakRssBytes() {
#ifdef __APPLE__
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return MaxRssToBytes(usage.ru_maxrss);
#else
  return ReadProcKilobytes("/proc/self/status", "VmHWM");
#endif
}

int64_t MaxRssToBytes(long ru_maxrss) {
#ifdef __APPLE__
  return ru_maxrss;
#else
  return static_cast<int64_t>(ru_maxrss) * 1024;
#endif
}

std::string ResolvedBlasLibrary() {
#ifdef __linux__
  for (const char* dir : {"/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"}) {
    std::error_code ec;
    auto path = std::filesystem::path(dir) / "libblas.so.3";
    if (std::filesystem::exists(path, ec)) return std::filesystem::canonical(path, ec).string();
  }
#endif
  return "";
}

int64_t NowUnixMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace tscale
