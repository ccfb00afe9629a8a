#include "runner/timed_loop.h"

#include <chrono>

namespace tscale {

LoopSamples RunTimedLoop(const LoopSettings& s, const std::function<void()>& step, const LoopProgressFn& progress) {
  using Clock = std::chrono::steady_clock;
  LoopSamples out;

  const auto warmup_start = Clock::now();
  while (out.warmup_iters < s.warmup_iters ||
         std::chrono::duration<double>(Clock::now() - warmup_start).count() < s.warmup_min_s) {
    const auto before = Clock::now();
    step();
    ++out.warmup_iters;
    if (progress)
      progress("warmup", out.warmup_iters, std::chrono::duration<double, std::milli>(Clock::now() - before).count());
    if (std::chrono::duration<double>(Clock::now() - warmup_start).count() >= s.max_time_s) break;
  }

  const auto start = Clock::now();
  while (true) {
    const auto before = Clock::now();
    step();
    const auto after = Clock::now();
    out.samples_ms.push_back(std::chrono::duration<double, std::milli>(after - before).count());
    out.timed_s = std::chrono::duration<double>(after - start).count();
    const int n = static_cast<int>(out.samples_ms.size());
    if (progress) progress("measuring", n, out.samples_ms.back());
    const bool minima_met = n >= s.min_iters && out.timed_s >= s.min_time_s;
    if (minima_met) break;
    if (n >= s.max_iters || out.timed_s >= s.max_time_s) {
      out.stopped_by_bound = true;
      break;
    }
  }
  return out;
}

}  // namespace tscale
