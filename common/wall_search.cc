#include "common/wall_search.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "common/outcome.h"

namespace tscale::wall {
namespace {

enum class Verdict { kWorks, kFails, kStops };

Verdict VerdictOf(v1::Outcome outcome) {
  if (OutcomeWorks(outcome)) return Verdict::kWorks;
  if (OutcomeSaysNothing(outcome)) return Verdict::kStops;
  return Verdict::kFails;
}

struct Bracket {
  int lo = 0, hi = 0;  // last working length below the first failure; first failure (0 = none)
  v1::Outcome cause = v1::OUTCOME_UNSPECIFIED;
  int64_t peak_lo = 0;
  bool waiting = false;
  std::string stopped;
};

Bracket BracketOf(const std::vector<Probe>& probes) {
  Bracket b;
  for (const auto& p : probes) {
    if (!p.finished) {
      b.waiting = true;
      continue;
    }
    const Verdict v = VerdictOf(p.outcome);
    if (v == Verdict::kStops) {
      b.stopped = p.outcome == v1::OUTCOME_CANCELLED ? "cancelled" : "lost";
    } else if (v == Verdict::kFails && (b.hi == 0 || p.seq_len < b.hi)) {
      b.hi = p.seq_len;
      b.cause = p.outcome;
    }
  }
  // A working length above the first failure (a flaky timeout, say) does not move the bracket.
  for (const auto& p : probes)
    if (p.finished && VerdictOf(p.outcome) == Verdict::kWorks && (b.hi == 0 || p.seq_len < b.hi) && p.seq_len >= b.lo) {
      b.lo = p.seq_len;
      b.peak_lo = std::max(b.peak_lo, p.peak_rss_bytes);
    }
  return b;
}

bool Converged(const Bracket& b, const Settings& s) {
  return b.hi == 0 ? b.lo >= s.max : b.hi - b.lo <= s.resolution;
}

}  // namespace

Step NextProbe(const std::vector<Probe>& probes, const Settings& s) {
  if (probes.empty()) return {StepKind::kProbe, std::min(s.start, s.max)};
  const Bracket b = BracketOf(probes);
  if (b.waiting) return {StepKind::kWait, 0};
  if (!b.stopped.empty() || Converged(b, s)) return {StepKind::kDone, 0};
  if (b.hi == 0) return {StepKind::kProbe, static_cast<int>(std::min<int64_t>(s.max, 2LL * b.lo))};
  // Bisect on the resolution's grid; Converged() guarantees lo + resolution < hi.
  int mid = (b.lo + b.hi) / 2 / s.resolution * s.resolution;
  if (mid <= b.lo) mid = b.lo + s.resolution;
  return {StepKind::kProbe, mid};
}

Answer Summarize(const std::vector<Probe>& probes, const Settings& s) {
  const Bracket b = BracketOf(probes);
  Answer a;
  a.probes = static_cast<int>(probes.size());
  a.max_working_length = b.lo;
  a.first_failing_length = b.hi;
  a.cause = b.cause;
  a.peak_at_max_working = b.peak_lo;
  a.converged = !probes.empty() && !b.waiting && Converged(b, s);
  if (!a.converged) a.stopped = b.stopped;
  return a;
}

std::optional<int> PredictWall(const std::vector<std::pair<int, int64_t>>& ok_peaks, int64_t memory_bytes) {
  std::set<int> lengths;
  for (const auto& [len, peak] : ok_peaks)
    if (len > 0 && peak > 0) lengths.insert(len);
  if (lengths.size() < 2 || memory_bytes <= 0) return std::nullopt;
  // Least squares on x = L / 1000 and y in MiB keeps the normal equations well conditioned.
  const int terms = lengths.size() >= 3 ? 3 : 2;
  double m[3][4] = {};
  for (const auto& [len, peak] : ok_peaks) {
    if (len <= 0 || peak <= 0) continue;
    const double x = len / 1000.0, y = static_cast<double>(peak) / (1 << 20);
    const double powers[3] = {1, x, x * x};
    for (int r = 0; r < terms; ++r) {
      for (int c = 0; c < terms; ++c) m[r][c] += powers[r] * powers[c];
      m[r][3] += powers[r] * y;
    }
  }
  for (int col = 0; col < terms; ++col) {  // Gaussian elimination with partial pivoting
    int pivot = col;
    for (int r = col + 1; r < terms; ++r)
      if (std::fabs(m[r][col]) > std::fabs(m[pivot][col])) pivot = r;
    std::swap(m[col], m[pivot]);
    if (std::fabs(m[col][col]) < 1e-12) return std::nullopt;
    for (int r = 0; r < terms; ++r) {
      if (r == col) continue;
      const double f = m[r][col] / m[col][col];
      for (int c = col; c < 4; ++c) m[r][c] -= f * m[col][c];
    }
  }
  double coef[3] = {0, 0, 0};
  for (int r = 0; r < terms; ++r) coef[r] = m[r][3] / m[r][r];
  const double target = static_cast<double>(memory_bytes) / (1 << 20);
  auto reaches = [&](int64_t len) {
    const double x = len / 1000.0;
    return coef[0] + coef[1] * x + coef[2] * x * x >= target;
  };
  // The first length at or above the shortest measured one where the curve reaches the memory: it may lie
  // below lengths that worked (then the prediction is pessimistic, and the report shows by how much).
  int64_t lo = *lengths.begin(), hi = lo;
  if (reaches(lo)) return static_cast<int>(lo);
  while (!reaches(hi)) {
    lo = hi;
    hi *= 2;
    if (hi > (1 << 24)) return std::nullopt;
  }
  while (hi - lo > 1) {
    const int64_t mid = (lo + hi) / 2;
    (reaches(mid) ? hi : lo) = mid;
  }
  return static_cast<int>(hi);
}

}  // namespace tscale::wall
