#include "common/latency_stats.h"

#include <gtest/gtest.h>

#include <cmath>

namespace tscale {
namespace {

TEST(LatencyStats, EmptySampleIsZero) {
  LatencySummary s = Summarize({});
  EXPECT_EQ(s.count, 0);
  EXPECT_EQ(s.median, 0);
}

TEST(LatencyStats, SingleSample) {
  LatencySummary s = Summarize({7.5});
  EXPECT_EQ(s.count, 1);
  EXPECT_EQ(s.median, 7.5);
  EXPECT_EQ(s.p99, 7.5);
  EXPECT_EQ(s.stddev, 0);
  EXPECT_EQ(s.iqr, 0);
}

// Values hand-computed for {1..10} given out of order.
TEST(LatencyStats, TenSamplesByHand) {
  LatencySummary s = Summarize({10, 1, 9, 2, 8, 3, 7, 4, 6, 5});
  EXPECT_EQ(s.count, 10);
  EXPECT_DOUBLE_EQ(s.mean, 5.5);
  EXPECT_DOUBLE_EQ(s.median, 5.5);  // mean of the two middle values
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 10);
  // sample variance = sum((x-5.5)^2)/9 = 82.5/9
  EXPECT_NEAR(s.stddev, std::sqrt(82.5 / 9), 1e-12);
  EXPECT_NEAR(s.cv, std::sqrt(82.5 / 9) / 5.5, 1e-12);
  // nearest rank: p25 -> rank ceil(2.5)=3 -> 3; p75 -> rank ceil(7.5)=8 -> 8
  EXPECT_DOUBLE_EQ(s.iqr, 5);
  EXPECT_DOUBLE_EQ(s.p90, 9);   // rank 9
  EXPECT_DOUBLE_EQ(s.p95, 10);  // rank ceil(9.5)=10
  EXPECT_DOUBLE_EQ(s.p99, 10);
}

TEST(LatencyStats, OddCountMedianIsMiddle) {
  EXPECT_DOUBLE_EQ(Summarize({3, 100, 1}).median, 3);
}

TEST(LatencyStats, NearestRankOnHundredSamples) {
  std::vector<double> sorted;
  for (int i = 1; i <= 100; ++i) sorted.push_back(i);
  EXPECT_DOUBLE_EQ(NearestRankPercentile(sorted, 0), 1);
  EXPECT_DOUBLE_EQ(NearestRankPercentile(sorted, 50), 50);
  EXPECT_DOUBLE_EQ(NearestRankPercentile(sorted, 99), 99);
  EXPECT_DOUBLE_EQ(NearestRankPercentile(sorted, 99.5), 100);
  EXPECT_DOUBLE_EQ(NearestRankPercentile(sorted, 100), 100);
}

}  // namespace
}  // namespace tscale
