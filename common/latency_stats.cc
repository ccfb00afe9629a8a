#include "common/latency_stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace tscale {

double NearestRankPercentile(const std::vector<double>& sorted, double percent) {
  const auto n = static_cast<double>(sorted.size());
  auto rank = static_cast<size_t>(std::ceil(percent / 100.0 * n));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

LatencySummary Summarize(std::vector<double> samples) {
  LatencySummary s;
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  const size_t n = samples.size();
  s.count = static_cast<long>(n);
  s.min = samples.front();
  s.max = samples.back();
  s.mean = std::accumulate(samples.begin(), samples.end(), 0.0) / static_cast<double>(n);
  if (n >= 2) {
    double squares = 0;
    for (double x : samples) squares += (x - s.mean) * (x - s.mean);
    s.stddev = std::sqrt(squares / static_cast<double>(n - 1));
  }
  s.cv = s.mean > 0 ? s.stddev / s.mean : 0;
  s.median = n % 2 == 1 ? samples[n / 2] : (samples[n / 2 - 1] + samples[n / 2]) / 2.0;
  s.iqr = NearestRankPercentile(samples, 75) - NearestRankPercentile(samples, 25);
  s.p90 = NearestRankPercentile(samples, 90);
  s.p95 = NearestRankPercentile(samples, 95);
  s.p99 = NearestRankPercentile(samples, 99);
  return s;
}

}  // namespace tscale
