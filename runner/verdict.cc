#include "runner/verdict.h"

#include <cstdio>

namespace tscale {
namespace {

std::string Fixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

}  // namespace

std::vector<std::string> InvalidReasons(const VerdictInputs& in) {
  std::vector<std::string> reasons;
  if (in.stopped_by_bound && in.samples < in.min_iters)
    reasons.push_back("only " + std::to_string(in.samples) + " samples before max_time_s=" + Fixed(in.max_time_s, 1) +
                      "; min_iters is " + std::to_string(in.min_iters));
  if (in.max_cv > 0 && in.samples >= 2 && in.cv > in.max_cv)
    reasons.push_back("coefficient of variation " + Fixed(in.cv, 3) + " is above max_cv " + Fixed(in.max_cv, 3));
  if (in.peak_flops > 0 && in.achieved_flops > in.peak_flops * kPeakTolerance)
    reasons.push_back("implied " + Fixed(in.achieved_flops / 1e9, 1) + " GFLOP/s is above the device's measured peak " +
                      Fixed(in.peak_flops / 1e9, 1) + " GFLOP/s: the timing cannot be right");
  if (in.bandwidth > 0 && in.step_bytes >= in.bandwidth_working_set &&
      in.achieved_bytes_per_second > in.bandwidth * kBandwidthTolerance)
    reasons.push_back("a decode step moving " + Fixed(in.step_bytes / 1e6, 1) + " MB implies " +
                      Fixed(in.achieved_bytes_per_second / 1e9, 1) + " GB/s, more than twice the probed memory " +
                      "bandwidth " + Fixed(in.bandwidth / 1e9, 1) + " GB/s: the timing cannot be right");
  return reasons;
}

}  // namespace tscale
