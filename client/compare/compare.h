// `tscale-client compare`: what changed between two sets of results (two sweeps, or two CSV exports, possibly
// from different servers), cell by cell, with statistical confidence (docs/compare.md). Pure functions of the
// rows, like the report (client/report/aggregate.h); rendering is in compare_render.h.
//
// A cell here is finer than the report's: every axis a job has except its repetition and its measurement
// settings (threads, iterations, warm-up, memory limit, --extend-context), which are what a comparison varies;
// the threads and the memory limit are listed with the environment. Repetitions of a cell are pooled: their raw
// samples form one sample per side.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "client/compare/statistics.h"
#include "client/report/aggregate.h"
#include "common/status.h"

namespace tscale::compare {

struct Options {
  double threshold = 0.05;         // a median latency change smaller than this fraction is no change
  double alpha = 0.05;             // significance level of the Mann–Whitney test
  double memory_threshold = 0.10;  // a peak-memory change smaller than this fraction is not listed
  double confidence = 0.95;        // of the bootstrap interval
  int bootstrap_resamples = 2000;
  uint64_t seed = 1;  // of the bootstrap; each cell's stream is derived from it and the cell's key
};

struct CellKey {
  std::string model_id;
  v1::Workload workload = v1::WORKLOAD_FORWARD;
  int seq_len = 0, batch = 1;
  std::string variant;  // "fp32/eager": dtype and attention implementation
  v1::Checkpointing checkpointing = v1::CHECKPOINTING_UNSPECIFIED;
  int new_tokens = 0;  // decode
  auto Tie() const { return std::tie(model_id, workload, variant, batch, checkpointing, new_tokens, seq_len); }
  bool operator<(const CellKey& other) const { return Tie() < other.Tie(); }
  bool operator==(const CellKey& other) const { return Tie() == other.Tie(); }
};
CellKey KeyOf(const report::Row& row);
// "gpt2 forward 1024 b1 fp32/eager" (+ " ckpt=layers", " new=16" where they apply).
std::string CellName(const CellKey& key);

// One side of a cell: its jobs pooled.
struct CellSide {
  int jobs = 0, ok_jobs = 0;
  // The cell's outcome: OK when every job that says something about the model (cancelled and lost say
  // nothing) is ok; else the most specific failure among them (report::Cause order); UNSPECIFIED when no job
  // says anything.
  v1::Outcome outcome = v1::OUTCOME_UNSPECIFIED;
  bool works = false;              // at least one such job and every one works (ok or invalid)
  std::vector<double> samples_ms;  // the ok jobs' raw samples, pooled
  double median_ms = 0;            // of samples_ms; of the ok jobs' medians when none carried samples
  // Decode cells: the medians over ok jobs of their TTFT and TPOT medians (a generation's latency above mixes the
  // two; these say which moved). No interval: one figure per job.
  double ttft_ms = 0, tpot_ms = 0;
  int64_t peak_rss_bytes = 0;     // max over ok jobs
  int64_t device_peak_bytes = 0;  // max over ok jobs (0 on CPU)
  bool extend_context = false;    // any job of the cell ran with --extend-context
  int context_limit = 0;          // the model's position limit the jobs ran with (0 = none or unknown)
  std::string message;            // a failed job's message
};

enum class Verdict {
  kFaster,         // head's median latency lower by more than the threshold, p < alpha
  kSlower,         // higher by more than the threshold, p < alpha
  kNoChange,       // neither: within the threshold, or not significant
  kTooFewSamples,  // SmallestAttainablePValue(n_base, n_head) > alpha: the test cannot decide
  kNotComparable,  // a side has no ok job (see the outcome change)
};
const char* VerdictName(Verdict verdict);  // "faster", "slower", "no change", "too few samples", "not comparable"

struct Speed {
  int base_samples = 0, head_samples = 0;
  double base_median_ms = 0, head_median_ms = 0;
  double ratio = 0;  // head / base median latency: above 1 = head slower
  Interval ci;       // bootstrap interval of the ratio ({0, 0} without samples)
  double p_value = 1;
  bool exact = false;
  Verdict verdict = Verdict::kNotComparable;
};

enum class OutcomeChange {
  kSame,          // the same outcome on both sides
  kRegressed,     // worked on base, fails on head (ok -> oom)
  kFixed,         // failed on base, works on head (exceeds_context -> ok)
  kCauseChanged,  // fails on both, for different causes (oom -> timeout)
  kValidity,      // works on both, ok on one side and invalid on the other: it ran, its figures are doubtful
  kUnknown,       // a side has no job that says anything (cancelled, lost)
};
const char* OutcomeChangeName(OutcomeChange change);

struct CellComparison {
  CellKey key;
  CellSide base, head;
  Speed speed;
  OutcomeChange outcome_change = OutcomeChange::kSame;
  // What changed in the settings that explains an outcome change, e.g. "--extend-context on head" or "context
  // limit 1024 -> 2048"; empty when nothing did.
  std::string setting_change;
  // head / base peak memory (device peak where both sides have one, else RSS); 0 when a side has none.
  double memory_ratio = 0;
  bool memory_changed = false;  // |memory_ratio - 1| > Options::memory_threshold
};

// The wall of one series (model, workload, variant, batch, checkpointing, new_tokens) on one side, over all the
// lengths that side ran: the largest length that works, and the first failing length above it and its outcome.
// A series is listed when the walls differ over the lengths both sides ran (a sweep that simply went further has
// not moved its wall).
struct WallSide {
  int max_working = 0;    // 0 = none works
  int first_failing = 0;  // 0 = nothing above max_working fails
  v1::Outcome cause = v1::OUTCOME_UNSPECIFIED;
};
struct WallChange {
  CellKey series;  // seq_len 0
  WallSide base, head;
};

// One environment field over each side's jobs that recorded an environment (a job refused before it reached
// a runner has none): its distinct values, sorted; empty when a side has none.
struct EnvironmentField {
  std::string name;  // "host", "cpu", "cores", "ram", "device", "libtorch", "blas", "threads", "dtype", ...
  std::vector<std::string> base, head;
  bool differs = false;
};

struct Comparison {
  Options options;
  std::vector<EnvironmentField> environment;  // every field, those that differ first
  std::vector<CellComparison> cells;          // matched cells, by key
  std::vector<CellKey> base_only, head_only;  // cells on one side only
  std::vector<WallChange> walls;              // series whose wall differs between the sides
  // Any cell slower beyond the threshold with p < alpha, or a cell that worked on base and fails on head: what
  // --fail-on-regression exits 4 for.
  bool HasRegression() const;
};

// INVALID_ARGUMENT naming the option: a threshold outside [0, 1), a memory threshold outside [0, 10], alpha or
// confidence outside (0, 1), resamples outside [100, 1000000].
Status ValidateOptions(const Options& options);
Comparison Compare(const std::vector<report::Row>& base, const std::vector<report::Row>& head, const Options& options);

}  // namespace tscale::compare
