// The device's measured matrix-multiply rate: the peak a job's implied FLOP/s is checked against (verdict.h)
// and its fraction-of-peak is reported against. A short probe (best of a few square matmuls) rather than a
// datasheet figure, because what matters is what this libtorch and BLAS reach on this host with these threads.
//
// Measuring costs a fraction of a second, so the result is cached per (device, dtype, threads, libtorch
// version) in a file under the worker's cache directory (TSCALE_CACHE_DIR), which the worker empties when it
// starts: a host's speed changes between days (a shared VM, a thermal limit), so a figure lives for one worker
// run. TSCALE_PEAK_FLOPS overrides it with a configured figure (e.g. an accelerator's published peak).
#pragma once

#include <torch/torch.h>

#include <string>

namespace tscale {

// Best FLOP/s over a few n x n matmuls of `dtype` on `device` (synchronised before each clock stop).
double MeasureGemmFlops(torch::ScalarType dtype, const torch::Device& device);

// The peak for this job's setting: TSCALE_PEAK_FLOPS if set, else the cached probe, else a fresh probe that
// is then cached. `cache_dir` empty = no cache (measured every time). `refresh` measures again even with a
// cached figure and keeps the larger of the two: a probe taken on a busy moment reads low, and a result is
// only called impossible against the best figure this host has shown.
double GemmPeakFlops(torch::ScalarType dtype, const torch::Device& device, int threads, const std::string& cache_dir,
                     bool refresh = false);

}  // namespace tscale
