#include "client/compare/statistics.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace tscale::compare {
namespace {

// Ranks 1..n of the pooled values, ties sharing the mean of their ranks; *tie_term is sum(t^3 - t) over the
// tie groups (the normal approximation's variance correction); *ties says whether any group has t > 1.
std::vector<double> PooledRanks(const std::vector<double>& pooled, double* tie_term, bool* ties) {
  std::vector<size_t> order(pooled.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t x, size_t y) { return pooled[x] < pooled[y]; });
  std::vector<double> ranks(pooled.size());
  *tie_term = 0;
  *ties = false;
  for (size_t start = 0; start < order.size();) {
    size_t end = start + 1;
    while (end < order.size() && pooled[order[end]] == pooled[order[start]]) ++end;
    const double mean_rank = (static_cast<double>(start + 1) + static_cast<double>(end)) / 2;
    for (size_t k = start; k < end; ++k) ranks[order[k]] = mean_rank;
    const double t = static_cast<double>(end - start);
    if (t > 1) {
      *tie_term += t * t * t - t;
      *ties = true;
    }
    start = end;
  }
  return ranks;
}

// P(U <= u) under the null with n1 and n2 samples and no ties. The counts of arrangements giving each U are the
// coefficients of the Gaussian binomial [n1 + n2 choose n1]_q, built as prod_{i=1..n1} (1 - q^(n2+i)) / (1 - q^i):
// after each factor the polynomial is again a Gaussian binomial, so its coefficients stay non-negative, and a
// low coefficient depends on lower ones only, so the tail that matters is computed from small numbers.
double ExactLowerTail(int n1, int n2, int64_t u) {
  const int64_t top = static_cast<int64_t>(n1) * n2;
  std::vector<double> c(static_cast<size_t>(top) + 1, 0.0);
  c[0] = 1;
  for (int i = 1; i <= n1; ++i) {
    const int64_t up = n2 + i;
    for (int64_t k = top; k >= up; --k) c[k] -= c[k - up];  // times (1 - q^(n2+i))
    for (int64_t k = i; k <= top; ++k) c[k] += c[k - i];    // divided by (1 - q^i)
  }
  double total = 0, tail = 0;
  for (int64_t k = 0; k <= top; ++k) {
    total += c[k];
    if (k <= u) tail += c[k];
  }
  return tail / total;
}

double NormalUpperTail(double z) {
  return 0.5 * std::erfc(z / std::sqrt(2.0));
}

// Quantile q of sorted values, linear interpolation between order statistics (Hyndman & Fan type 7).
double SortedQuantile(const std::vector<double>& sorted, double q) {
  const double position = q * static_cast<double>(sorted.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(position));
  const size_t above = std::min(below + 1, sorted.size() - 1);
  return sorted[below] + (position - static_cast<double>(below)) * (sorted[above] - sorted[below]);
}

// An index in [0, n) from the generator's 64 bits by rejection, so every index is equally likely and the draw
// is the same on every standard library (std::uniform_int_distribution's algorithm is unspecified).
size_t DrawIndex(std::mt19937_64& rng, size_t n) {
  const uint64_t range = static_cast<uint64_t>(n);
  const uint64_t limit = UINT64_MAX - UINT64_MAX % range;
  uint64_t x = rng();
  while (x >= limit) x = rng();
  return static_cast<size_t>(x % range);
}

double ResampledMedian(const std::vector<double>& values, std::mt19937_64& rng, std::vector<double>* scratch) {
  scratch->resize(values.size());
  for (auto& v : *scratch) v = values[DrawIndex(rng, values.size())];
  return Median(*scratch);
}

}  // namespace

double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  const size_t mid = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid), values.end());
  const double upper = values[mid];
  if (values.size() % 2 == 1) return upper;
  const double lower = *std::max_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid));
  return (lower + upper) / 2;
}

MannWhitney MannWhitneyU(const std::vector<double>& a, const std::vector<double>& b) {
  MannWhitney result;
  if (a.empty() || b.empty()) return result;
  const int n1 = static_cast<int>(a.size()), n2 = static_cast<int>(b.size());
  std::vector<double> pooled(a);
  pooled.insert(pooled.end(), b.begin(), b.end());
  double tie_term = 0;
  bool ties = false;
  const std::vector<double> ranks = PooledRanks(pooled, &tie_term, &ties);
  double rank_sum_a = 0;
  for (int i = 0; i < n1; ++i) rank_sum_a += ranks[static_cast<size_t>(i)];
  result.u = rank_sum_a - static_cast<double>(n1) * (n1 + 1) / 2;
  const double pairs = static_cast<double>(n1) * n2;
  if (!ties && pairs <= static_cast<double>(kExactMannWhitneyPairs)) {
    // Two-sided: twice the smaller tail; U is an integer here and its distribution symmetric about n1 n2 / 2.
    const double smaller = std::min(result.u, pairs - result.u);
    // The null distribution is the same for (n1, n2) and (n2, n1); the smaller first is the cheaper build.
    result.p_value = std::min(
        1.0, 2 * ExactLowerTail(std::min(n1, n2), std::max(n1, n2), static_cast<int64_t>(std::llround(smaller))));
    result.exact = true;
    return result;
  }
  const double n = static_cast<double>(n1 + n2);
  const double variance = pairs / 12 * ((n + 1) - tie_term / (n * (n - 1)));
  if (variance <= 0) return result;  // every value equal: nothing tells the samples apart
  const double distance = std::max(0.0, std::fabs(result.u - pairs / 2) - 0.5);  // continuity correction
  result.p_value = std::min(1.0, 2 * NormalUpperTail(distance / std::sqrt(variance)));
  return result;
}

double SmallestAttainablePValue(int n1, int n2) {
  if (n1 <= 0 || n2 <= 0) return 1;
  // 1 / C(n1 + n2, n1) as a running product, which neither overflows nor loses precision for large counts.
  double inverse_choose = 1;
  const int k = std::min(n1, n2), n = n1 + n2;
  for (int i = 1; i <= k; ++i) inverse_choose *= static_cast<double>(i) / static_cast<double>(n - k + i);
  return std::min(1.0, 2 * inverse_choose);
}

int MinimumSamplesPerSide(double alpha) {
  int n = 1;
  while (SmallestAttainablePValue(n, n) >= alpha && n < 1000) ++n;  // p < alpha must be reachable
  return n;
}

Interval BootstrapMedianRatio(const std::vector<double>& base, const std::vector<double>& head, double confidence,
                              int resamples, uint64_t seed) {
  if (base.empty() || head.empty() || resamples <= 0) return {};
  std::mt19937_64 rng(seed);
  std::vector<double> ratios, scratch;
  ratios.reserve(static_cast<size_t>(resamples));
  for (int r = 0; r < resamples; ++r) {
    const double base_median = ResampledMedian(base, rng, &scratch);
    const double head_median = ResampledMedian(head, rng, &scratch);
    if (base_median <= 0) return {};
    ratios.push_back(head_median / base_median);
  }
  std::sort(ratios.begin(), ratios.end());
  const double tail = (1 - confidence) / 2;
  return {SortedQuantile(ratios, tail), SortedQuantile(ratios, 1 - tail)};
}

}  // namespace tscale::compare
