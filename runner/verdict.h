// Whether a measurement can be trusted: SPEC section 1's `invalid` outcome, decided from the numbers alone
// (no libtorch), so every rule is unit-tested.
//
// A result is invalid, with one reason per failed check, when
//   - a maximum (max_time_s or max_iters) cut the timed loop before min_iters samples were taken;
//   - its coefficient of variation is above max_cv (a noisy machine: the median is not a stable figure);
//   - its implied FLOP/s (analytic FLOPs per forward / median latency) is above the device's peak by more
//     than the peak's own measurement noise: physically impossible, so the timing is wrong (the seed study's
//     unsynchronised GPU timings implied 20+ TFLOP/s on a laptop GPU);
//   - a decode step implies more than kBandwidthTolerance times the probed memory bandwidth (bandwidth_probe.h)
//     while moving at least the probe's working set: a step that must read every weight and the KV cache cannot
//     do it faster than memory delivers. Smaller steps may sit in a cache and are not checked.
#pragma once

#include <string>
#include <vector>

namespace tscale {

// The matmul peak is measured by a short probe (gemm_probe.h) on a possibly busy machine, and contention only
// ever lowers it (on this shared 2-core VM the same probe read 38-45 GFLOP/s within minutes). The check is for
// physically impossible timings, which are off by orders of magnitude (unsynchronised GPU clocks), not for a
// model that happened to meet a quieter moment than the probe: an achieved rate up to twice the probe passes,
// and the runner probes again (keeping the better figure) before it calls a result impossible.
inline constexpr double kPeakTolerance = 2.0;
// The same reasoning for the bandwidth probe (a triad on a shared machine reads low, never high).
inline constexpr double kBandwidthTolerance = 2.0;

struct VerdictInputs {
  int samples = 0, min_iters = 0;
  bool stopped_by_bound = false;
  double max_time_s = 0;
  double cv = 0, max_cv = 0;                  // max_cv 0 = no noise check
  double achieved_flops = 0, peak_flops = 0;  // peak 0 = unknown: no check
  // Decode: bytes one step must move, the rate that implies, and the probe's bandwidth and working set (0 = none).
  double step_bytes = 0, achieved_bytes_per_second = 0, bandwidth = 0, bandwidth_working_set = 0;
};

std::vector<std::string> InvalidReasons(const VerdictInputs& in);

}  // namespace tscale
