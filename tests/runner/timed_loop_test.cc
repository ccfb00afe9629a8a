// The measurement loop's stopping rules, with a step whose duration the test controls.
#include "runner/timed_loop.h"

#include <gtest/gtest.h>

#include <thread>

namespace tscale {
namespace {

void SleepMs(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

TEST(TimedLoop, CountMinimumDominatesForSlowSteps) {
  LoopSettings s;
  s.warmup_iters = 2;
  s.min_iters = 5;
  s.min_time_s = 0.0;
  int calls = 0;
  LoopSamples out = RunTimedLoop(s, [&] { ++calls; });
  EXPECT_EQ(out.warmup_iters, 2);
  EXPECT_EQ(out.samples_ms.size(), 5u);
  EXPECT_EQ(calls, 7);
  EXPECT_FALSE(out.stopped_by_bound);
}

TEST(TimedLoop, TimeMinimumDominatesForFastSteps) {
  LoopSettings s;
  s.warmup_iters = 0;
  s.min_iters = 2;
  s.min_time_s = 0.2;
  LoopSamples out = RunTimedLoop(s, [] { SleepMs(10); });
  EXPECT_GE(out.timed_s, 0.2);
  EXPECT_GT(out.samples_ms.size(), 2u);  // both minima must hold: time forced more than 2 samples
  for (double ms : out.samples_ms) EXPECT_GE(ms, 9.0);
}

TEST(TimedLoop, MaxIterationsBound) {
  LoopSettings s;
  s.warmup_iters = 0;
  s.min_iters = 1;
  s.min_time_s = 100;
  s.max_iters = 4;
  LoopSamples out = RunTimedLoop(s, [] {});
  EXPECT_EQ(out.samples_ms.size(), 4u);
  EXPECT_TRUE(out.stopped_by_bound);
}

TEST(TimedLoop, MaxTimeBound) {
  LoopSettings s;
  s.warmup_iters = 0;
  s.min_iters = 1000;
  s.min_time_s = 0;
  s.max_time_s = 0.1;
  LoopSamples out = RunTimedLoop(s, [] { SleepMs(20); });
  EXPECT_TRUE(out.stopped_by_bound);
  EXPECT_LT(out.samples_ms.size(), 1000u);
  EXPECT_GE(out.timed_s, 0.1);
}

TEST(TimedLoop, WarmupMinimumTime) {
  LoopSettings s;
  s.warmup_iters = 1;
  s.warmup_min_s = 0.1;
  s.min_iters = 1;
  s.min_time_s = 0;
  LoopSamples out = RunTimedLoop(s, [] { SleepMs(10); });
  EXPECT_GE(out.warmup_iters, 9);
}

}  // namespace
}  // namespace tscale
