// The report's tables, computed from stored results by documented formulas (docs/report.md). Pure functions
// of the rows, so every figure is reproducible from the database and unit-tested on hand-computed fixtures.
//
// Unit of counting: a *cell* is one (model, sequence length) pair of one workload; repetitions, batch sizes,
// dtypes and attention variants of a cell are pooled (filter them first if they should be separate). Models are
// counted once each (distinct canonical ids), which the seed study did not do. Workloads are never pooled: the
// study's tables are forward (prefill) figures, and a decode job's latency times a whole generation (its tokens/s is
// the decode rate), so decode rows have cells of their own (Cells(rows, WORKLOAD_DECODE)) and never enter a forward
// aggregate.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/wall_search.h"
#include "tscale/v1/tscale.pb.h"

namespace tscale::report {

// One finished job, flattened.
struct Row {
  int64_t job_id = 0;
  std::string model_id, category;
  int seq_len = 0, batch = 1;
  v1::Outcome outcome = v1::OUTCOME_UNSPECIFIED;
  std::string message;
  int64_t parameters = 0;
  double load_ms = 0, median_ms = 0, iqr_ms = 0, tokens_per_s = 0;
  int64_t peak_rss_bytes = 0;
  int64_t sweep_id = 0;
  int repetition = 0;
  std::string variant;  // "fp32/eager": the job's dtype and attention implementation
  // Wall-finder probes carry their search's settings; resolution 0 = not a probe.
  int wall_start = 0, wall_max = 0, wall_resolution = 0;
  int64_t memory_limit_bytes = 0;  // the limit the job ran under (0 = none)
  int64_t host_ram_bytes = 0;      // the worker host's memory
  // forward for jobs from before the workload axis. A decode job's median_ms times the whole generation and its
  // tokens_per_s is the decode rate (batch / median TPOT); its own figures follow (Result.decode): TTFT and TPOT
  // medians, batch / median TPOT, the KV cache allocated.
  v1::Workload workload = v1::WORKLOAD_FORWARD;
  int new_tokens = 0;
  double ttft_ms = 0, tpot_ms = 0, decode_tokens_per_s = 0;
  int64_t kv_cache_bytes = 0;
  // The spread of the job's latency (forward: one forward; decode: one generation): the timed samples when the
  // listing carried them (ListResultsRequest.include_samples), else LatencyStats' min and p90. A CSV export has
  // the samples (its samples_ms column; none in a file written before it), not min and p90 (0).
  double min_ms = 0, p90_ms = 0;
  std::vector<double> samples_ms;
  // Every workload's FLOP figures (Result): the analytic FLOPs of one forward (a train job: of its step), the
  // achieved FLOP/s and its fraction of the peak (a train job's MFU); the device allocator's peak (0 on CPU).
  double flops = 0, achieved_flops = 0, peak_flops_fraction = 0;
  int64_t device_peak_bytes = 0;
  // Train jobs: median_ms is the median step and tokens_per_s = batch x seq_len / median step. checkpointing is
  // the job's setting (JobSpec; NONE when a train job has none, UNSPECIFIED on other workloads); the figures
  // are Result.train's (docs/report.md, "Training").
  v1::Checkpointing checkpointing = v1::CHECKPOINTING_UNSPECIFIED;
  struct Train {
    bool mixed_precision = false;
    int64_t parameter_bytes = 0, gradient_bytes = 0, optimizer_state_bytes = 0, activation_bytes = 0;
    int64_t measured_state_bytes = 0;  // CPU: the RSS the three states took, what their sizes are checked against
    double analytic_activation_bytes = 0, torchtitan_flops = 0, attention_flops_share = 0;
  } train;
  // Where and with what the job ran (Result.environment), for `compare`'s environment summary. Empty and 0 in a
  // CSV written before these columns. device: DeviceKindName ("cpu", "cuda", "mps").
  struct Environment {
    std::string hostname, os, cpu_model, device, device_name, torch_version, blas, tscale_version, build_type;
    std::string sequence_kernel;
    int cpu_cores = 0, threads = 0;
  } environment;
  // The job's context settings as submitted (JobSpec): --extend-context, and the model's position limit from the
  // config it ran with (0 = none, e.g. Mamba or relative positions). What `compare` names when a cell that
  // exceeded the context on one side runs on the other.
  bool extend_context = false;
  int context_limit = 0;
};

// Rows of the finished jobs in a listing; unfinished jobs are left out. `models` supplies categories and
// parameter counts where a job has none (exceeds_context jobs report analytic counts only).
std::vector<Row> RowsFrom(const v1::ListResultsResponse& jobs, const v1::ListModelsResponse& models);

// Failure causes, separated (the study lumped them all into "OOM").
enum class Cause { kOk, kContext, kMemory, kTimeout, kCrash, kError, kInvalid, kOther };
const char* CauseName(Cause cause);
Cause CauseOf(v1::Outcome outcome);
// Which cause names a cell whose jobs failed differently: the most specific, architectural one first (context >
// memory > timeout > crash > error > invalid > other > ok).
int CauseSeverity(Cause cause);

struct CellSummary {
  std::string model_id, category;
  v1::Workload workload = v1::WORKLOAD_FORWARD;
  int seq_len = 0;
  // Over the cell's jobs that say something about the model (OutcomeSaysNothing: cancelled and lost are left
  // out): kOk when they are all ok, else the most specific cause; kOther when no job says anything.
  Cause cause = Cause::kOk;
  bool works = true;  // at least one such job, and every one works (OutcomeWorks: ok or invalid)
  int jobs = 0, ok_jobs = 0;
  double median_ms = 0;        // median over the cell's ok jobs' medians
  double tokens_per_s = 0;     // median over ok jobs
  double load_ms = 0;          // median over ok jobs
  int64_t peak_rss_bytes = 0;  // max over ok jobs
  int64_t parameters = 0;
  // Decode cells only, over their ok jobs: medians of the jobs' TTFT, TPOT and decode tokens/s; the largest KV
  // cache and new_tokens.
  double ttft_ms = 0, tpot_ms = 0, decode_tokens_per_s = 0;
  int64_t kv_cache_bytes = 0;
  int new_tokens = 0;
  // The latency band around median_ms, over the ok jobs: p10 and p90 of their pooled samples when every one has
  // samples (band_from_samples); else, when every one has LatencyStats, the lowest min and the highest p90 (a
  // documented substitute: no p10 without samples); else 0 and 0 (no band, e.g. rows read from a CSV).
  double band_low_ms = 0, band_high_ms = 0;
  bool band_from_samples = false;
};
// One summary per (model, length) of the rows of `workload` (the others are left out), sorted by model then
// length. Every aggregate below reads the cells of one workload.
std::vector<CellSummary> Cells(const std::vector<Row>& rows, v1::Workload workload = v1::WORKLOAD_FORWARD);

struct LengthSuccess {
  int seq_len = 0;
  int models = 0;                 // distinct models with a cell at this length
  int working_models = 0;         // cells that work (ok or invalid: common/outcome.h's OutcomeWorks)
  int invalid_models = 0;         // of those, cells with an invalid job (it ran; figures doubtful)
  std::map<Cause, int> failures;  // distinct models failing, by cause (never kInvalid: an invalid cell works)
  double success_rate() const { return models > 0 ? static_cast<double>(working_models) / models : 0; }
  // Distinct models per outcome column: kOk = working and all ok, kInvalid = working with an invalid job.
  int Count(Cause cause) const;
};
std::vector<LengthSuccess> SuccessByLength(const std::vector<CellSummary>& cells);

struct Spread {
  double median = 0, q1 = 0, q3 = 0;  // nearest-rank quartiles
  int n = 0;
};
Spread SpreadOf(std::vector<double> values);

struct CategoryLoadMemory {
  std::string category;
  int models = 0;
  Spread load_ms;       // per model: median load over its ok cells
  Spread peak_rss_mib;  // per model: peak at its shortest ok length
};
std::vector<CategoryLoadMemory> LoadAndMemoryByCategory(const std::vector<CellSummary>& cells);

struct CategoryThroughput {
  std::string category;
  int seq_len = 0;
  Spread tokens_per_s;  // over the category's models ok at this length
};
std::vector<CategoryThroughput> ThroughputByCategoryLength(const std::vector<CellSummary>& cells);

// Decode cells (Cells(rows, WORKLOAD_DECODE)): the spread of decode tokens/s (batch / median TPOT) across each
// category's models ok at a prompt length.
std::vector<CategoryThroughput> DecodeThroughputByCategoryLength(const std::vector<CellSummary>& decode_cells);

struct CategoryMemory {
  std::string category;
  int seq_len = 0;
  Spread peak_rss_mib;  // over the category's models ok at this length
};
// Peak memory per length: what the study's table 3 was meant to show and left empty.
std::vector<CategoryMemory> MemoryByCategoryLength(const std::vector<CellSummary>& cells);

// A least-squares line through (log L, log y); the exponent is its slope (2 = quadratic).
struct PowerFit {
  double exponent = 0, coefficient = 0;
  int points = 0;
};
// Nothing when the points (those with x, y > 0) have fewer than `min_lengths` distinct x: two fix a line, and
// the decode fits ask for three so that one noisy length cannot make the exponent alone.
std::optional<PowerFit> FitPowerLaw(const std::vector<std::pair<double, double>>& points, int min_lengths = 2);

struct ModelScaling {
  std::string model_id, category;
  int64_t parameters = 0;
  int min_ok_len = 0, max_ok_len = 0;
  int64_t peak_at_min = 0, peak_at_max = 0;
  double memory_scaling = 0;  // peak_at_max / peak_at_min
  std::optional<PowerFit> latency_fit, memory_fit;
  double efficiency = 0;  // tokens/s per million parameters, median over the model's ok cells
  // Longest ok length, and the cell right after it that failed (0 when none did), with its cause.
  int max_working_length = 0, first_failing_length = 0;
  Cause failure_cause = Cause::kOk;
  std::string length_class;  // High (>= 1024), Medium (512-1023), Low (128-511), Failed
};
std::vector<ModelScaling> ScalingByModel(const std::vector<CellSummary>& cells);

struct CategoryEfficiency {
  std::string category;
  Spread tokens_per_s_per_mparam;  // over the category's models (each: its median over ok cells)
};
std::vector<CategoryEfficiency> EfficiencyByCategory(const std::vector<ModelScaling>& models);

// The seed study's method, applied to the same rows so the report can show both versions side by side:
// every job is counted (repetitions and duplicate ids included), every failure is "OOM", and figures are
// arithmetic means without spread. Nothing else in tscale computes anything this way. The study timed forwards
// only: decode rows are left out.
struct StudyLengthSuccess {
  int seq_len = 0;
  int rows = 0, ok_rows = 0;
  int oom = 0;  // every failure, whatever its cause
  double success_rate() const { return rows > 0 ? static_cast<double>(ok_rows) / rows : 0; }
};
std::vector<StudyLengthSuccess> StudySuccessByLength(const std::vector<Row>& rows);

struct StudyCategoryMean {
  std::string category;
  int rows = 0;                  // ok jobs at the length, duplicates included
  double mean_tokens_per_s = 0;  // arithmetic mean over those rows
};
// The study's "Avg Speed@L" per category (it used L = 512).
std::vector<StudyCategoryMean> StudyMeanThroughputByCategory(const std::vector<Row>& rows, int seq_len);

std::string LengthClass(int max_working_length);

// One wall-finder search: the probes of one (sweep, model, workload, checkpointing, variant, batch, repetition),
// summarised, with the memory curve's prediction beside the measurement (docs/wall-finder.md). A decode search's
// wall is the longest prompt whose prefill plus new_tokens generated tokens fits.
struct WallRow {
  int64_t sweep_id = 0;
  std::string model_id, category, variant;
  v1::Workload workload = v1::WORKLOAD_FORWARD;
  int batch = 1, repetition = 0;
  wall::Answer answer;
  int64_t memory_bytes = 0;  // what the prediction aims at: the jobs' memory limit, else the host's RAM
  std::optional<int> predicted;
  std::vector<std::pair<int, int64_t>> ok_peaks;  // (length, peak RSS) of the ok probes, by length
  int64_t kv_cache_at_max_working = 0;  // decode: the KV cache of the longest working probe (its share of the peak)
  v1::Checkpointing checkpointing = v1::CHECKPOINTING_UNSPECIFIED;  // train: a search per setting
};
std::vector<WallRow> Walls(const std::vector<Row>& rows);

// "forward", "decode", "train", or "train (checkpointing)" for a train workload with CHECKPOINTING_LAYERS: how
// the report names a workload wherever the two training settings stand apart.
std::string WorkloadLabel(v1::Workload workload, v1::Checkpointing checkpointing);

}  // namespace tscale::report
