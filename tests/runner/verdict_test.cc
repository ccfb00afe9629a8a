// The invalid verdict's rules, one at a time and together.
#include "runner/verdict.h"

#include <gtest/gtest.h>

namespace tscale {
namespace {

VerdictInputs Good() {
  VerdictInputs in;
  in.samples = 20;
  in.min_iters = 5;
  in.max_time_s = 60;
  in.cv = 0.05;
  in.max_cv = 0.25;
  in.achieved_flops = 80e9;
  in.peak_flops = 100e9;
  return in;
}

TEST(Verdict, AGoodMeasurementHasNoReasons) {
  EXPECT_TRUE(InvalidReasons(Good()).empty());
}

TEST(Verdict, TooFewSamplesOnlyWhenABoundCutTheLoop) {
  VerdictInputs in = Good();
  in.samples = 3;
  EXPECT_TRUE(InvalidReasons(in).empty());  // the minimum was met by time, not cut: fine
  in.stopped_by_bound = true;
  auto reasons = InvalidReasons(in);
  ASSERT_EQ(reasons.size(), 1u);
  EXPECT_EQ(reasons[0], "only 3 samples before max_time_s=60.0; min_iters is 5");
}

TEST(Verdict, NoiseAboveMaxCv) {
  VerdictInputs in = Good();
  in.cv = 0.31;
  auto reasons = InvalidReasons(in);
  ASSERT_EQ(reasons.size(), 1u);
  EXPECT_EQ(reasons[0], "coefficient of variation 0.310 is above max_cv 0.250");
  in.max_cv = 0;  // no noise check asked for
  EXPECT_TRUE(InvalidReasons(in).empty());
  in.max_cv = 0.25;
  in.samples = 1;  // one sample has no spread to judge
  EXPECT_TRUE(InvalidReasons(in).empty());
}

TEST(Verdict, ImpliedFlopsAboveThePeakIsImpossible) {
  VerdictInputs in = Good();
  in.achieved_flops = 190e9;  // within the probe's tolerance (2 x 100): a quieter moment than the probe's
  EXPECT_TRUE(InvalidReasons(in).empty());
  in.achieved_flops = 20e12;  // the seed study's laptop-GPU figures
  auto reasons = InvalidReasons(in);
  ASSERT_EQ(reasons.size(), 1u);
  EXPECT_NE(reasons[0].find("implied 20000.0 GFLOP/s is above the device's measured peak 100.0 GFLOP/s"),
            std::string::npos);
  in.peak_flops = 0;  // unknown peak: no check
  EXPECT_TRUE(InvalidReasons(in).empty());
}

TEST(Verdict, ADecodeStepAboveTwiceTheBandwidthIsImpossibleOnlyWhenItCannotFitACache) {
  VerdictInputs in = Good();
  in.bandwidth = 20e9;
  in.bandwidth_working_set = 256e6;
  in.step_bytes = 500e6;                // GPT-2 small's weights in fp32: past the probe's working set
  in.achieved_bytes_per_second = 35e9;  // within the tolerance
  EXPECT_TRUE(InvalidReasons(in).empty());
  in.achieved_bytes_per_second = 50e9;
  auto reasons = InvalidReasons(in);
  ASSERT_EQ(reasons.size(), 1u);
  EXPECT_EQ(reasons[0],
            "a decode step moving 500.0 MB implies 50.0 GB/s, more than twice the probed memory bandwidth 20.0 GB/s: "
            "the timing cannot be right");
  in.step_bytes = 1e6;  // a tiny model's step can sit in a cache faster than the probe's memory
  EXPECT_TRUE(InvalidReasons(in).empty());
  in.step_bytes = 500e6;
  in.bandwidth = 0;  // not probed: no check
  EXPECT_TRUE(InvalidReasons(in).empty());
}

TEST(Verdict, EveryFailedCheckIsAReason) {
  VerdictInputs in = Good();
  in.samples = 2;
  in.stopped_by_bound = true;
  in.cv = 0.5;
  in.achieved_flops = 1e12;
  EXPECT_EQ(InvalidReasons(in).size(), 3u);
}

}  // namespace
}  // namespace tscale
