// The statistics `tscale-client compare` rests on (docs/compare.md): the Mann–Whitney U test on two sets of raw
// latency samples, a seeded percentile bootstrap of the ratio of their medians, and the smallest sample counts
// for which the test can reach a significance level at all. Pure functions; no gRPC, no libtorch.
#pragma once

#include <cstdint>
#include <vector>

namespace tscale::compare {

// The median of `values` (the mean of the two middle values for an even count); 0 for none. The same median as
// common/latency_stats.h's Summarize, found by selection rather than a full sort: it runs in the bootstrap's loop.
double Median(std::vector<double> values);

struct MannWhitney {
  double u = 0;        // U of the first sample: pairs (a, b) with a > b, ties counting one half
  double p_value = 1;  // two-sided
  bool exact = false;  // the exact null distribution (no ties, n1 x n2 <= kExactMannWhitneyPairs), else normal
};
// Above this many pairs, or with ties, the p-value is the normal approximation with tie and continuity
// corrections; at or below it without ties, the exact distribution of U.
inline constexpr int64_t kExactMannWhitneyPairs = 10000;
// Two-sided test of "the two samples come from one distribution". Either sample empty: U 0, p 1.
MannWhitney MannWhitneyU(const std::vector<double>& a, const std::vector<double>& b);

// The smallest two-sided p-value the exact test can give with n1 and n2 samples, 2 / C(n1 + n2, n1) (all of
// one sample below all of the other), capped at 1. Below `alpha` a test can say something; at or above it, any
// verdict would be a guess.
double SmallestAttainablePValue(int n1, int n2);
// The least n with SmallestAttainablePValue(n, n) < alpha: 4 at alpha 0.05, 5 at 0.01.
int MinimumSamplesPerSide(double alpha);

struct Interval {
  double low = 0, high = 0;
};
// Percentile bootstrap of median(head) / median(base): `resamples` times, each sample is redrawn with
// replacement to its own size and the ratio of the redrawn medians kept; the interval is the (1 - confidence)/2
// and (1 + confidence)/2 quantiles of those ratios (linear interpolation between order statistics). Draws come
// from a 64-bit Mersenne Twister seeded with `seed` and mapped to indices without std:: distributions, so the
// interval is the same on every platform. Either sample empty or a redrawn base median of 0: {0, 0}.
Interval BootstrapMedianRatio(const std::vector<double>& base, const std::vector<double>& head, double confidence,
                              int resamples, uint64_t seed);

}  // namespace tscale::compare
