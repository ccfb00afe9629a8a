// Facts about this host and this process that results and worker capabilities record.
#pragma once

#include <cstdint>
#include <string>

namespace tscale {

struct HostFacts {
  std::string hostname;
  std::string os;         // "Linux 6.1.0-18-amd64 x86_64"
  std::string cpu_model;  // "AMD EPYC 7B13"
  int cpu_cores = 0;      // logical CPUs available to this process
  int64_t ram_bytes = 0;
};

HostFacts ReadHostFacts();

// Logical CPUs this process may run on: its affinity mask on Linux (which taskset, cpusets and container
// runtimes narrow), else std::thread::hardware_concurrency(). At least 1.
int UsableCpuCores();

// Current and peak resident set size of this process in bytes (Linux: VmRSS / VmHWM; macOS: task info
// and ru_maxrss). 0 when unknown.
int64_t CurrentRssBytes();
int64_t PeakRssBytes();

// ru_maxrss is kilobytes on Linux and bytes on macOS.
int64_t MaxRssToBytes(long ru_maxrss);

// The BLAS library libblas.so.3 resolves to (Linux), or "" when unknown.
std::string ResolvedBlasLibrary();

// Wall-clock time in Unix milliseconds.
int64_t NowUnixMs();

}  // namespace tscale
