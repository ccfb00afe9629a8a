// The measurement loop of SPEC section 2, independent of libtorch: warm up, then time individual calls
// until BOTH a minimum count and a minimum time are met, bounded by a maximum count and time.
#pragma once

#include <functional>
#include <vector>

namespace tscale {

struct LoopSettings {
  int warmup_iters = 2;
  double warmup_min_s = 0;
  int min_iters = 5;
  double min_time_s = 1.0;
  int max_iters = 10'000;
  double max_time_s = 60.0;
};

struct LoopSamples {
  int warmup_iters = 0;
  std::vector<double> samples_ms;  // one per timed call, in order
  double timed_s = 0;              // wall time of the timed phase
  bool stopped_by_bound = false;   // a maximum cut the loop before both minima were met
};

// Told after every forward: phase ("warmup" or "measuring"), forwards done in that phase, last duration.
using LoopProgressFn = std::function<void(const char* phase, int done, double last_ms)>;

// `step` must run one forward and return only when its work is complete (device synchronised).
LoopSamples RunTimedLoop(const LoopSettings& settings, const std::function<void()>& step,
                         const LoopProgressFn& progress = nullptr);

}  // namespace tscale
