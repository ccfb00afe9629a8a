#include "common/theoretical_peak.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "common/host_info.h"

namespace tscale {
namespace {

bool IsFp32(v1::DType dtype) {
  return dtype == v1::DTYPE_UNSPECIFIED || dtype == v1::DTYPE_FP32;
}

std::string Trim(std::string s) {
  const char* ws = " \t\r\n";
  s.erase(0, s.find_first_not_of(ws));
  s.erase(s.find_last_not_of(ws) + 1);
  return s;
}

std::string ReadFile(const char* path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

int CpuFp32FlopsPerCycle(const std::string& flags_line) {
  std::set<std::string> flags;
  std::istringstream words(flags_line);
  for (std::string word; words >> word;) flags.insert(word);
  const auto has = [&](const char* flag) { return flags.count(flag) > 0; };
  if (has("avx512f")) return 2 * 16 * 2;
  if (has("avx2") && has("fma")) return 2 * 8 * 2;
  if (has("avx")) return 8 + 8;
  if (has("sse2")) return 4 + 4;
  return 0;
}

CpuTopology ParseCpuinfo(const std::string& cpuinfo_text) {
  CpuTopology cpu;
  std::istringstream lines(cpuinfo_text);
  std::set<std::pair<std::string, std::string>> cores;  // (physical id, core id)
  std::string physical_id;
  int processors = 0;
  for (std::string line; std::getline(lines, line);) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = Trim(line.substr(0, colon)), value = Trim(line.substr(colon + 1));
    if (key == "processor") {
      ++processors;
      physical_id.clear();
    } else if (key == "physical id") {
      physical_id = value;
    } else if (key == "core id") {
      cores.emplace(physical_id, value);
    } else if (key == "flags" && cpu.flags.empty()) {
      cpu.flags = value;
    } else if (key == "cpu MHz") {
      cpu.max_mhz = std::max(cpu.max_mhz, std::atof(value.c_str()));
    }
  }
  cpu.physical_cores = !cores.empty() ? static_cast<int>(cores.size()) : processors;
  return cpu;
}

double CpuPeakFlops(const CpuTopology& cpu, double max_khz, int threads, int usable_cpus, v1::DType dtype) {
  if (!IsFp32(dtype)) return 0;
  int cores = cpu.physical_cores;
  if (usable_cpus > 0) cores = std::min(cores, usable_cpus);
  if (threads > 0) cores = std::min(cores, threads);
  const double hz = max_khz > 0 ? max_khz * 1e3 : cpu.max_mhz * 1e6;
  if (cores <= 0 || hz <= 0) return 0;
  return cores * static_cast<double>(CpuFp32FlopsPerCycle(cpu.flags)) * hz;
}

double ReadCpuPeakFlops(int threads, v1::DType dtype) {
#ifdef __linux__
  const CpuTopology cpu = ParseCpuinfo(ReadFile("/proc/cpuinfo"));
  const double max_khz = std::atof(ReadFile("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").c_str());
  return CpuPeakFlops(cpu, max_khz, threads, UsableCpuCores(), dtype);
#else
  (void)threads;
  (void)dtype;
  return 0;
#endif
}

double CudaPeakFlops(int sm_count, int clock_khz, int major, int minor, v1::DType dtype) {
  if (sm_count <= 0 || clock_khz <= 0) return 0;
  const int cc = 10 * major + minor;
  int per_sm = 0;  // FLOP per cycle per SM
  if (IsFp32(dtype)) {
    int lanes = 0;
    if (major == 5 || cc == 61 || cc == 62 || cc == 86 || cc == 87 || cc == 89 || cc == 90 || cc == 100 || cc == 120)
      lanes = 128;
    else if (cc == 60 || cc == 70 || cc == 72 || cc == 75 || cc == 80)
      lanes = 64;
    per_sm = 2 * lanes;
  } else if (dtype == v1::DTYPE_FP16 || dtype == v1::DTYPE_BF16) {
    const bool fp16 = dtype == v1::DTYPE_FP16;
    if (fp16 && (cc == 70 || cc == 72 || cc == 75))
      per_sm = 1024;
    else if (cc == 80)
      per_sm = 2048;
    else if (cc == 86 || cc == 89)
      per_sm = 1024;
    else if (cc == 90)
      per_sm = 4096;
  }
  return static_cast<double>(sm_count) * clock_khz * 1e3 * per_sm;
}

double AppleGpuPeakFlops(const std::string& chip, int gpu_cores, v1::DType dtype) {
  if (!IsFp32(dtype) && dtype != v1::DTYPE_FP16) return 0;
  struct Gpu {
    const char* chip;
    double tflops;  // Apple's published fp32 figure for the largest configuration
    int cores;      // that configuration's GPU cores
  };
  // Matched whole: the brand string names the variant ("Apple M1 Pro"), and a later chip must not match "Apple M1".
  static const Gpu kGpus[] = {
      {"Apple M1 Ultra", 21.0, 64}, {"Apple M1 Max", 10.4, 32}, {"Apple M1 Pro", 5.2, 16}, {"Apple M1", 2.6, 8},
      {"Apple M2 Ultra", 27.2, 76}, {"Apple M2 Max", 13.6, 38}, {"Apple M2 Pro", 6.8, 19}, {"Apple M2", 3.6, 10},
  };
  const std::string name = Trim(chip);
  for (const Gpu& gpu : kGpus) {
    if (name == gpu.chip) {
      const int cores = gpu_cores > 0 ? std::min(gpu_cores, gpu.cores) : gpu.cores;
      return gpu.tflops * 1e12 * cores / gpu.cores;
    }
  }
  return 0;
}

}  // namespace tscale
