#include "runner/gemm_probe.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "common/file_io.h"
#include "runner/device.h"

namespace tscale {
namespace {

std::string CacheKey(torch::ScalarType dtype, const torch::Device& device, int threads) {
  std::string key = "gemm-" + device.str() + "-" + std::string(c10::toString(dtype)) + "-" + std::to_string(threads) +
                    "t-torch" + TORCH_VERSION;
  for (char& c : key)
    if (c == ':' || c == '/' || c == ' ') c = '_';
  return key;
}

}  // namespace

double MeasureGemmFlops(torch::ScalarType dtype, const torch::Device& device) {
  torch::InferenceMode guard;
  double best = 0;
  // 1024 is large enough for BLAS to reach its rate and small enough to cost ~0.2 s at ~50 GFLOP/s.
  constexpr int64_t n = 1024;
  const auto options = torch::TensorOptions().dtype(dtype).device(device);
  torch::manual_seed(0);
  const auto a = torch::randn({n, n}, options), b = torch::randn({n, n}, options);
  (void)torch::mm(a, b);  // warm-up: BLAS threads and buffers
  SynchronizeDevice(device);
  for (int rep = 0; rep < 6; ++rep) {  // the best of several: contention only ever slows a matmul down
    const auto start = std::chrono::steady_clock::now();
    (void)torch::mm(a, b);
    SynchronizeDevice(device);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (s > 0) best = std::max(best, 2.0 * n * n * n / s);
  }
  return best;
}

double GemmPeakFlops(torch::ScalarType dtype, const torch::Device& device, int threads, const std::string& cache_dir,
                     bool refresh) {
  if (const char* configured = std::getenv("TSCALE_PEAK_FLOPS")) {
    const double value = std::atof(configured);
    if (value > 0) return value;
  }
  const std::filesystem::path path =
      cache_dir.empty() ? std::filesystem::path() : std::filesystem::path(cache_dir) / CacheKey(dtype, device, threads);
  double cached = 0;
  if (!path.empty()) {
    if (auto text = ReadWholeFile(path.string(), 4096); text.ok()) {
      char* end = nullptr;
      cached = std::strtod(text->c_str(), &end);
      if (end == text->c_str() || !std::isfinite(cached) || cached < 0) cached = 0;
    }
    if (cached > 0 && !refresh) return cached;
  }
  const double measured = std::max(cached, MeasureGemmFlops(dtype, device));
  if (!path.empty() && measured > 0) {
    // Written aside and renamed, so a concurrent job never reads half a number. A cache that cannot be
    // written costs the next job a probe, nothing more.
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    char text[64];
    std::snprintf(text, sizeof text, "%.6e\n", measured);
    (void)WriteFileAtomically(path.string(), text, 0600);
  }
  return measured;
}

}  // namespace tscale
