// The device's measured matrix-multiply rate: the peak a job's implied FLOP/s is checked against (verdict.h)
// and its fraction-of-peak is reported against. A probe rather than a datasheet figure, because what matters is
// what this libtorch and BLAS reach on this host with these threads; the datasheet-style ceiling is stored beside
// it (TheoreticalPeakFlops, common/theoretical_peak.h) but gates nothing.
//
// The probe grows square products until the rate stops rising: a small product understates the peak (BLAS
// blocking and thread start-up on a CPU, kernel launch overhead on a GPU), and a model's large projections can
// then outrun it. Each size is the best of a few device-synchronised runs.
//
// Probing costs a second or two, so the result is cached per (device, dtype, threads, libtorch version) in a
// file under the worker's cache directory (TSCALE_CACHE_DIR), which the worker empties when it starts: a host's
// speed changes between days (a shared VM, a thermal limit), so a figure lives for one worker run.
// TSCALE_PEAK_FLOPS overrides it with a configured figure (e.g. an accelerator's published peak).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tscale {

struct GemmProbeOptions {
  int64_t start_n = 256;
  double min_gain = 0.05;  // a size less than this much above the smaller sizes' best is flat; two in a row end it
  int min_runs = 3;        // timed runs per size (after one untimed warm-up); more while they take < min_size_s
  double min_size_s = 0.15;
  double time_budget_s = 1.5;       // a size predicted (from the rate so far) to overrun it is not started
  int64_t memory_budget_bytes = 0;  // for a size's three matrices; 0 = DefaultProbeMemoryBudget
};

struct GemmProbeSize {
  int64_t n = 0;
  double flops = 0;  // best of the size's runs
  int runs = 0;
};

struct GemmProbe {
  double flops = 0;       // the best rate of any size
  int64_t plateau_n = 0;  // the largest size run: where the rate stopped rising, or where a budget stopped it
  // The largest size was flat (rose less than min_gain). False: a budget (time, memory, an allocation failure)
  // stopped the probe while the rate was still rising, so larger products might reach more.
  bool plateau_reached = false;
  std::vector<GemmProbeSize> sizes;
};

// Memory the probe's matrices may take on `device`. CPU: 256 MiB, and at most half the headroom below the
// worker's RSS limit (TSCALE_MEMORY_LIMIT_BYTES), so the probe that follows a job's timed loop never gets it
// killed. CUDA: an eighth of the device's memory, at most 4 GiB; MPS: 1 GiB.
int64_t DefaultProbeMemoryBudget(const torch::Device& device);

// Sizes start_n, 2 start_n, ... of `dtype` on `device`, until the rate stops rising or a budget is reached.
GemmProbe ProbeGemm(torch::ScalarType dtype, const torch::Device& device, const GemmProbeOptions& options = {});

// ProbeGemm's best rate.
double MeasureGemmFlops(torch::ScalarType dtype, const torch::Device& device);

struct GemmPeak {
  double flops = 0;
  int64_t plateau_n = 0;  // 0 = configured (TSCALE_PEAK_FLOPS), not probed
};

// The peak for this job's setting: TSCALE_PEAK_FLOPS if set, else the cached probe, else a fresh probe that
// is then cached. `cache_dir` empty = no cache (measured every time). `refresh` measures again even with a
// cached figure and keeps the larger of the two: a probe taken on a busy moment reads low, and a result is
// only called impossible against the best figure this host has shown.
GemmPeak GemmPeakFlops(torch::ScalarType dtype, const torch::Device& device, int threads, const std::string& cache_dir,
                       bool refresh = false);

// The device's theoretical peak for `dtype` (common/theoretical_peak.h): CPU from /proc/cpuinfo, CUDA from the
// device's SM count, clock and compute capability, MPS from the chip's published figure. 0 = unknown.
double TheoreticalPeakFlops(torch::ScalarType dtype, const torch::Device& device, int threads);

}  // namespace tscale
