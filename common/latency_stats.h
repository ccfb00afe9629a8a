// Summary statistics of a latency sample, as SPEC section 2 defines them.
//
// Definitions (documented in docs/measurement.md):
//   stddev  sample standard deviation (divisor n - 1); 0 when n < 2
//   cv      stddev / mean
//   median  middle value, or the mean of the two middle values when n is even
//   pXX     nearest-rank: the value at 1-based rank ceil(XX/100 * n) of the sorted sample
//   iqr     p75 - p25, both nearest-rank
#pragma once

#include <vector>

namespace tscale {

struct LatencySummary {
  long count = 0;
  double mean = 0, stddev = 0, cv = 0, min = 0, max = 0, median = 0, iqr = 0, p90 = 0, p95 = 0, p99 = 0;
};

// An empty sample gives a zero summary with count 0.
LatencySummary Summarize(std::vector<double> samples);

// Nearest-rank percentile of an ascending sample; `percent` in [0, 100]. Requires a non-empty sample.
double NearestRankPercentile(const std::vector<double>& sorted, double percent);

}  // namespace tscale
