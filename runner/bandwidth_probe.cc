#include "runner/bandwidth_probe.h"

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "common/file_io.h"
#include "runner/device.h"
#include "runner/gemm_probe.h"

namespace tscale {
namespace {

std::string CacheFile(const std::string& dir, const torch::Device& device, int threads) {
  std::string key = "stream1-" + device.str() + "-" + std::to_string(threads) + "t-torch" + TORCH_VERSION;
  for (char& c : key)
    if (c == ':' || c == '/' || c == ' ') c = '_';
  return (std::filesystem::path(dir) / key).string();
}

}  // namespace

namespace {

MemoryBandwidth Triad(const torch::Device& device, int64_t array_bytes, int runs) {
  const int64_t elements = array_bytes / 4;
  const auto options = torch::TensorOptions().dtype(torch::kFloat).device(device);
  auto a = torch::empty({elements}, options), b = torch::ones({elements}, options),
       c = torch::ones({elements}, options);
  torch::add_out(a, b, c, 3.0);  // untimed: touches every page and warms the kernels
  SynchronizeDevice(device);
  double best_s = 0;
  for (int run = 0; run < runs; ++run) {
    const auto start = std::chrono::steady_clock::now();
    torch::add_out(a, b, c, 3.0);
    SynchronizeDevice(device);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (best_s == 0 || s < best_s) best_s = s;
  }
  const int64_t working_set = 3 * elements * 4;
  return {best_s > 0 ? static_cast<double>(working_set) / best_s : 0, working_set};
}

}  // namespace

MemoryBandwidth ProbeMemoryBandwidth(const torch::Device& device, int64_t array_bytes, int runs) {
  if (array_bytes <= 0) array_bytes = std::max<int64_t>(DefaultProbeMemoryBudget(device) / 3, int64_t{1} << 20);
  // It runs after the job's measurement, with the model and its cache still allocated: an allocation that fails
  // halves the arrays, and a probe that cannot run at all reports no bandwidth (no check) rather than failing a
  // job that measured cleanly.
  for (; array_bytes >= (int64_t{1} << 20); array_bytes /= 2) {
    try {
      return Triad(device, array_bytes, runs);
    } catch (const std::bad_alloc&) {
    } catch (const c10::Error&) {
    }
  }
  return {};
}

MemoryBandwidth CachedMemoryBandwidth(const torch::Device& device, int threads, const std::string& cache_dir) {
  if (const char* configured = std::getenv("TSCALE_MEMORY_BANDWIDTH")) {
    const double value = std::atof(configured);
    if (std::isfinite(value) && value > 0) return {value, 0};
  }
  const std::string file = cache_dir.empty() ? "" : CacheFile(cache_dir, device, threads);
  if (!file.empty()) {
    double rate = 0;
    long long bytes = 0;
    const auto text = ReadWholeFile(file, 4096);
    if (text.ok() && std::sscanf(text->c_str(), "v1 %lf %lld", &rate, &bytes) == 2 && std::isfinite(rate) && rate > 0 &&
        bytes > 0)
      return {rate, static_cast<int64_t>(bytes)};
  }
  const MemoryBandwidth probed = ProbeMemoryBandwidth(device);
  if (!file.empty() && probed.bytes_per_second > 0) {
    char line[96];
    std::snprintf(line, sizeof line, "v1 %.17g %" PRId64 "\n", probed.bytes_per_second, probed.working_set_bytes);
    (void)WriteFileAtomically(file, line);  // a cache: failing to keep it only costs a probe next time
  }
  return probed;
}

}  // namespace tscale
