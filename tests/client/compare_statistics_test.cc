// The statistics under `compare`, each against an independent formulation or a measured rate: the exact
// Mann–Whitney distribution against enumerating every arrangement, the normal approximation against the exact
// one, the test's false-positive rate and power on seeded draws of known distributions, and the bootstrap
// interval's coverage of a known ratio.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "client/compare/statistics.h"

namespace tscale::compare {
namespace {

std::vector<double> LogNormal(std::mt19937_64& rng, int n, double median, double sigma) {
  std::normal_distribution<double> normal(0, sigma);
  std::vector<double> out;
  for (int i = 0; i < n; ++i) out.push_back(median * std::exp(normal(rng)));
  return out;
}

// P(U <= u) by listing every way to choose which n1 of the n1 + n2 ranks belong to the first sample.
double EnumeratedLowerTail(int n1, int n2, double u) {
  const int n = n1 + n2;
  int64_t at_or_below = 0, total = 0;
  for (int mask = 0; mask < (1 << n); ++mask) {
    if (__builtin_popcount(static_cast<unsigned>(mask)) != n1) continue;
    int rank_sum = 0;
    for (int r = 0; r < n; ++r)
      if (mask & (1 << r)) rank_sum += r + 1;
    ++total;
    if (rank_sum - n1 * (n1 + 1) / 2 <= u) ++at_or_below;
  }
  return static_cast<double>(at_or_below) / static_cast<double>(total);
}

TEST(CompareStatistics, MedianOfOddAndEvenCounts) {
  EXPECT_DOUBLE_EQ(Median({3, 1, 2}), 2);
  EXPECT_DOUBLE_EQ(Median({4, 1, 3, 2}), 2.5);
  EXPECT_DOUBLE_EQ(Median({}), 0);
}

TEST(CompareStatistics, ExactPValueEqualsEnumeratingEveryArrangement) {
  std::mt19937_64 rng(7);
  for (int n1 : {1, 3, 4, 6}) {
    for (int n2 : {2, 5, 7}) {
      const auto a = LogNormal(rng, n1, 1.0, 0.3), b = LogNormal(rng, n2, 1.1, 0.3);
      const MannWhitney test = MannWhitneyU(a, b);
      ASSERT_TRUE(test.exact);
      const double pairs = static_cast<double>(n1) * n2;
      const double expected = std::min(1.0, 2 * EnumeratedLowerTail(n1, n2, std::min(test.u, pairs - test.u)));
      EXPECT_NEAR(test.p_value, expected, 1e-12) << n1 << " vs " << n2 << ", U " << test.u;
    }
  }
}

TEST(CompareStatistics, UCountsThePairsWhereTheFirstSampleIsLarger) {
  const MannWhitney test = MannWhitneyU({1, 5, 9}, {2, 3, 4, 10});
  // 1 beats none; 5 beats 2, 3, 4; 9 beats 2, 3, 4: U = 6.
  EXPECT_DOUBLE_EQ(test.u, 6);
  EXPECT_DOUBLE_EQ(MannWhitneyU({1, 2}, {2, 3}).u, 0.5);  // a tie counts one half
}

TEST(CompareStatistics, NormalApproximationAgreesWithTheExactDistributionAtModerateCounts) {
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 20; ++trial) {
    auto a = LogNormal(rng, 60, 1.0, 0.1), b = LogNormal(rng, 60, 1.02, 0.1);
    const MannWhitney exact = MannWhitneyU(a, b);
    ASSERT_TRUE(exact.exact);
    a.push_back(a.front());  // one tie: the normal approximation with its corrections
    b.push_back(a.front());
    const MannWhitney approximate = MannWhitneyU(a, b);
    ASSERT_FALSE(approximate.exact);
    EXPECT_NEAR(approximate.p_value, exact.p_value, 0.05) << "trial " << trial;
  }
}

TEST(CompareStatistics, AllValuesEqualIsNoEvidence) {
  EXPECT_DOUBLE_EQ(MannWhitneyU({2, 2, 2, 2, 2}, {2, 2, 2, 2, 2}).p_value, 1);
  EXPECT_DOUBLE_EQ(MannWhitneyU({}, {1, 2}).p_value, 1);
}

TEST(CompareStatistics, SmallestAttainablePValueAndTheSamplesAnAlphaNeeds) {
  EXPECT_DOUBLE_EQ(SmallestAttainablePValue(4, 4), 2.0 / 70);
  EXPECT_DOUBLE_EQ(SmallestAttainablePValue(3, 3), 2.0 / 20);
  EXPECT_NEAR(SmallestAttainablePValue(1, 39), 2.0 / 40, 1e-15);
  EXPECT_DOUBLE_EQ(SmallestAttainablePValue(1, 1), 1);
  EXPECT_EQ(MinimumSamplesPerSide(0.05), 4);
  EXPECT_EQ(MinimumSamplesPerSide(0.01), 5);
  // The exact test reaches its smallest p-value when the samples do not overlap at all.
  EXPECT_NEAR(MannWhitneyU({1, 2, 3, 4}, {5, 6, 7, 8}).p_value, SmallestAttainablePValue(4, 4), 1e-15);
}

TEST(CompareStatistics, ATenPercentSlowdownWithTwentySamplesASideIsDetected) {
  // Latency noise of about 5 % (lognormal sigma 0.05), as a quiet CPU shows it.
  std::mt19937_64 rng(2026);
  int detected = 0;
  const int draws = 500;
  for (int d = 0; d < draws; ++d) {
    const auto base = LogNormal(rng, 20, 10.0, 0.05), head = LogNormal(rng, 20, 11.0, 0.05);
    if (MannWhitneyU(head, base).p_value < 0.05 && Median(head) / Median(base) > 1.05) ++detected;
  }
  const double power = static_cast<double>(detected) / draws;
  std::printf("power for a 10%% slowdown, 20 samples a side, 5%% noise: %.3f\n", power);
  EXPECT_GE(power, 0.95);
}

TEST(CompareStatistics, IdenticalDistributionsAreFlaggedAtAboutAlpha) {
  std::mt19937_64 rng(99);
  const int draws = 4000;
  int significant = 0;
  for (int d = 0; d < draws; ++d) {
    const auto base = LogNormal(rng, 20, 10.0, 0.05), head = LogNormal(rng, 20, 10.0, 0.05);
    if (MannWhitneyU(head, base).p_value < 0.05) ++significant;
  }
  const double rate = static_cast<double>(significant) / draws;
  std::printf("false-positive rate at alpha 0.05 over %d seeded draws: %.4f\n", draws, rate);
  // 4000 draws put the binomial standard error of the rate at 0.0034: 0.065 is over four of them above 0.05.
  EXPECT_LE(rate, 0.065);
  EXPECT_GE(rate, 0.03);  // and it is a test: it does reject at about its level
}

TEST(CompareStatistics, BootstrapIntervalsCoverTheTrueRatioAtAboutTheirNominalRate) {
  std::mt19937_64 rng(5);
  const int draws = 400;
  int covered = 0;
  for (int d = 0; d < draws; ++d) {
    const auto base = LogNormal(rng, 20, 10.0, 0.05), head = LogNormal(rng, 20, 11.0, 0.05);
    const Interval ci = BootstrapMedianRatio(base, head, 0.95, 1000, static_cast<uint64_t>(d));
    ASSERT_LT(ci.low, ci.high);
    if (ci.low <= 1.1 && 1.1 <= ci.high) ++covered;
  }
  const double coverage = static_cast<double>(covered) / draws;
  std::printf("coverage of nominal-95%% intervals over %d draws: %.3f\n", draws, coverage);
  EXPECT_GE(coverage, 0.91);
  EXPECT_LE(coverage, 0.99);
}

TEST(CompareStatistics, TheBootstrapIsReproducibleFromItsSeed) {
  std::mt19937_64 rng(3);
  const auto base = LogNormal(rng, 15, 10.0, 0.1), head = LogNormal(rng, 15, 10.0, 0.1);
  const Interval a = BootstrapMedianRatio(base, head, 0.95, 500, 42),
                 b = BootstrapMedianRatio(base, head, 0.95, 500, 42);
  const Interval c = BootstrapMedianRatio(base, head, 0.95, 500, 43);
  EXPECT_EQ(a.low, b.low);
  EXPECT_EQ(a.high, b.high);
  EXPECT_TRUE(a.low != c.low || a.high != c.high);
  const Interval wider = BootstrapMedianRatio(base, head, 0.99, 500, 42);
  EXPECT_LE(wider.low, a.low);
  EXPECT_GE(wider.high, a.high);
}

}  // namespace
}  // namespace tscale::compare
