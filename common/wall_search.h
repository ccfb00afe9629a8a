// The wall finder's search as a pure function of the probes one model has had so far: exponential growth
// from a start length until the first failure, then bisection until the bracket [last ok, first failure]
// is no wider than the resolution.
//
// The coordinator calls NextProbe inside the transaction that stores each result, so every probe is created
// exactly once, and a restarted coordinator continues from the stored rows alone. The client calls
// Summarize on the same rows to report the answer, and PredictWall to set the memory curve's prediction
// next to the measurement.
//
// What counts: OutcomeWorks (common/outcome.h, shared with the report): ok and invalid work. exceeds_context,
// oom, timeout, crashed and error fail, each named as the bracket's cause. cancelled and lost stop the search
// where it is (a user's decision, or infrastructure failing past the retry cap: no evidence about the model).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tscale/v1/tscale.pb.h"

namespace tscale::wall {

struct Probe {
  int seq_len = 0;
  bool finished = false;
  v1::Outcome outcome = v1::OUTCOME_UNSPECIFIED;  // when finished
  int64_t peak_rss_bytes = 0;                     // when ok
};

struct Settings {
  int start = 128;
  int max = 131072;     // growth stops here; a model working at max has no wall below it
  int resolution = 64;  // the bracket's final width, and the grid bisection rounds to
};
inline constexpr int kDefaultResolution = 64;

enum class StepKind { kWait, kProbe, kDone };
struct Step {
  StepKind kind = StepKind::kDone;
  int seq_len = 0;  // with kProbe
};
// kWait while any probe is unfinished (one probe at a time per model: each answer decides the next).
Step NextProbe(const std::vector<Probe>& probes, const Settings& settings);

struct Answer {
  bool converged = false;                       // the bracket is within the resolution, or max worked
  int max_working_length = 0;                   // longest ok length below the first failure; 0 = nothing worked
  int first_failing_length = 0;                 // 0 = nothing failed up to the longest probe
  v1::Outcome cause = v1::OUTCOME_UNSPECIFIED;  // the outcome at first_failing_length
  int64_t peak_at_max_working = 0;
  int probes = 0;
  std::string stopped;  // "cancelled" or "lost" when the search ended before converging
};
Answer Summarize(const std::vector<Probe>& probes, const Settings& settings);

// The length at which a least-squares fit of peak memory against length (quadratic with three or more
// distinct lengths, else linear) reaches `memory_bytes`, searched above the longest ok length. nullopt when
// there are fewer than two distinct ok lengths, or the curve never gets there within 2^24 tokens.
std::optional<int> PredictWall(const std::vector<std::pair<int, int64_t>>& ok_peaks, int64_t memory_bytes);

}  // namespace tscale::wall
