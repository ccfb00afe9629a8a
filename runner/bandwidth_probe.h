// The device's measured memory bandwidth: what a decode step, which must read every weight and the KV cache
// once per token, is checked against (verdict.h) and reported beside. A STREAM-style triad, a = b + s * c, over
// three arrays as large as the probe's memory budget allows, best of several device-synchronised runs; its rate
// counts the three arrays' bytes once per run (STREAM's convention: write-allocate traffic is not counted).
//
// Where the budget cannot exceed the last-level cache (a VM that reports a huge L3), the figure is that cache's
// bandwidth, higher than DRAM's: the check against it is then looser, never stricter. The check applies only to
// steps that move at least the probe's working set, which cannot have come from any smaller, faster level.
// Cached per (device, threads, libtorch version) like the GEMM probe (gemm_probe.h); TSCALE_MEMORY_BANDWIDTH
// (bytes/s) overrides it with a configured figure.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace tscale {

struct MemoryBandwidth {
  double bytes_per_second = 0;    // 0 = unknown
  int64_t working_set_bytes = 0;  // the three arrays; 0 = configured, not probed
};

// One probe: arrays of `array_bytes` fp32 each (0 = from DefaultProbeMemoryBudget), best of `runs`.
MemoryBandwidth ProbeMemoryBandwidth(const torch::Device& device, int64_t array_bytes = 0, int runs = 5);

// The override, else the cached probe, else a fresh probe that is then cached (`cache_dir` empty: no cache).
MemoryBandwidth CachedMemoryBandwidth(const torch::Device& device, int threads, const std::string& cache_dir);

}  // namespace tscale
