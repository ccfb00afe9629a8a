#include "runner/gemm_probe.h"

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <new>

#include "common/file_io.h"
#include "common/host_info.h"
#include "common/theoretical_peak.h"
#include "runner/device.h"

#if TSCALE_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace tscale {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// "gemm2": the growing probe, whose file also holds the plateau size. Files of the fixed 1024 probe ("gemm-")
// are never read, so an old worker's lower figure does not outlive an upgrade.
std::string CacheKey(torch::ScalarType dtype, const torch::Device& device, int threads) {
  std::string key = "gemm2-" + device.str() + "-" + std::string(c10::toString(dtype)) + "-" + std::to_string(threads) +
                    "t-torch" + TORCH_VERSION;
  for (char& c : key)
    if (c == ':' || c == '/' || c == ' ') c = '_';
  return key;
}

// The cache file's one line: "v2 <flops> <plateau n>". Anything else reads as no figure.
GemmPeak ParseCached(const std::string& text) {
  GemmPeak peak;
  double flops = 0;
  long long n = 0;
  if (std::sscanf(text.c_str(), "v2 %lf %lld", &flops, &n) == 2 && std::isfinite(flops) && flops > 0 && n > 0) {
    peak.flops = flops;
    peak.plateau_n = n;
  }
  return peak;
}

v1::DType ProtoDType(torch::ScalarType dtype) {
  switch (dtype) {
    case torch::kFloat32:
      return v1::DTYPE_FP32;
    case torch::kBFloat16:
      return v1::DTYPE_BF16;
    case torch::kFloat16:
      return v1::DTYPE_FP16;
    default:
      return v1::DTYPE_UNSPECIFIED;
  }
}

}  // namespace

int64_t DefaultProbeMemoryBudget(const torch::Device& device) {
  if (device.is_cuda()) return std::min<int64_t>(Describe(device).memory_bytes / 8, int64_t{4} << 30);
  if (device.is_mps()) return int64_t{1} << 30;
  int64_t budget = int64_t{256} << 20;
  if (const char* limit = std::getenv("TSCALE_MEMORY_LIMIT_BYTES")) {
    const int64_t bytes = std::atoll(limit);
    if (bytes > 0) budget = std::min(budget, (bytes - CurrentRssBytes()) / 2);
  }
  return budget;
}

GemmProbe ProbeGemm(torch::ScalarType dtype, const torch::Device& device, const GemmProbeOptions& o) {
  torch::InferenceMode guard;
  GemmProbe probe;
  const int64_t budget = o.memory_budget_bytes > 0 ? o.memory_budget_bytes : DefaultProbeMemoryBudget(device);
  const int64_t element = static_cast<int64_t>(c10::elementSize(dtype));
  const auto options = torch::TensorOptions().dtype(dtype).device(device);
  torch::manual_seed(0);
  const auto begin = Clock::now();
  int flat = 0;  // consecutive sizes that did not rise
  for (int64_t n = o.start_n; n > 0; n *= 2) {
    // The first size always runs: without it there is no figure at all, and its three matrices are small.
    if (!probe.sizes.empty() && 3 * n * n * element > budget) break;
    const double flop = 2.0 * n * n * n;
    // Predicted from the rate so far, which the larger size can only beat: a size that would overrun the
    // budget is not started, so the probe never costs much more than it.
    if (probe.flops > 0 && SecondsSince(begin) + (1 + o.min_runs) * flop / probe.flops > o.time_budget_s) break;
    GemmProbeSize size;
    size.n = n;
    try {
      const auto a = torch::randn({n, n}, options), b = torch::randn({n, n}, options);
      auto c = torch::mm(a, b);  // warm-up: BLAS threads and buffers, GPU kernel selection
      SynchronizeDevice(device);
      const auto size_start = Clock::now();
      // The best of several: contention only ever slows a matmul down. Small sizes repeat for a while, so one
      // lucky or unlucky scheduling slice decides nothing.
      while (size.runs < o.min_runs || (SecondsSince(size_start) < o.min_size_s && size.runs < 100)) {
        const auto start = Clock::now();
        torch::mm_out(c, a, b);
        SynchronizeDevice(device);  // the clock stops when the device has finished, not when the launch returned
        const double s = SecondsSince(start);
        ++size.runs;
        if (s > 0) size.flops = std::max(size.flops, flop / s);
      }
    } catch (const std::bad_alloc&) {
      break;  // out of memory at this size: the sizes already run are the figure
    } catch (const c10::Error&) {
      break;
    }
    probe.sizes.push_back(size);
    probe.plateau_n = n;
    const bool rising = size.flops > probe.flops * (1 + o.min_gain);
    probe.flops = std::max(probe.flops, size.flops);
    probe.plateau_reached = !rising;
    // Two flat sizes in a row end it: one alone can be a busy moment on a shared machine (measured here: a
    // 1024 that read 1 % below 512, then a 2048 that read 12 % above it).
    flat = rising ? 0 : flat + 1;
    if (flat == 2) break;
  }
  return probe;
}

double MeasureGemmFlops(torch::ScalarType dtype, const torch::Device& device) {
  return ProbeGemm(dtype, device).flops;
}

GemmPeak GemmPeakFlops(torch::ScalarType dtype, const torch::Device& device, int threads, const std::string& cache_dir,
                       bool refresh) {
  if (const char* configured = std::getenv("TSCALE_PEAK_FLOPS")) {
    const double value = std::atof(configured);
    if (value > 0) return {value, 0};
  }
  const std::filesystem::path path =
      cache_dir.empty() ? std::filesystem::path() : std::filesystem::path(cache_dir) / CacheKey(dtype, device, threads);
  GemmPeak cached;
  if (!path.empty()) {
    if (auto text = ReadWholeFile(path.string(), 4096); text.ok()) cached = ParseCached(*text);
    if (cached.flops > 0 && !refresh) return cached;
  }
  const GemmProbe probe = ProbeGemm(dtype, device);
  const GemmPeak measured = probe.flops > cached.flops ? GemmPeak{probe.flops, probe.plateau_n} : cached;
  if (!path.empty() && measured.flops > 0) {
    // Written aside and renamed, so a concurrent job never reads half a number. A cache that cannot be
    // written costs the next job a probe, nothing more.
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    char text[96];
    std::snprintf(text, sizeof text, "v2 %.6e %" PRId64 "\n", measured.flops, measured.plateau_n);
    (void)WriteFileAtomically(path.string(), text, 0600);
  }
  return measured;
}

double TheoreticalPeakFlops(torch::ScalarType dtype, const torch::Device& device, int threads) {
  const v1::DType proto_dtype = ProtoDType(dtype);
  if (proto_dtype == v1::DTYPE_UNSPECIFIED) return 0;  // a dtype the tables do not cover (fp64, integers)
  if (device.is_cuda()) {
#if TSCALE_WITH_CUDA
    // Attributes rather than cudaGetDeviceProperties: cudaDeviceProp::clockRate is deprecated in CUDA 12 and
    // gone from the struct in CUDA 13, while cudaDevAttrClockRate (kHz, the maximum SM clock) remains.
    const int index = device.has_index() ? device.index() : 0;
    int sms = 0, clock_khz = 0, major = 0, minor = 0;
    if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, index) == cudaSuccess &&
        cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, index) == cudaSuccess &&
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, index) == cudaSuccess &&
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, index) == cudaSuccess)
      return CudaPeakFlops(sms, clock_khz, major, minor, proto_dtype);
#endif
    return 0;
  }
  if (device.is_mps()) return AppleGpuPeakFlops(ReadHostFacts().cpu_model, /*gpu_cores=*/0, proto_dtype);
  return ReadCpuPeakFlops(threads, proto_dtype);
}

}  // namespace tscale
