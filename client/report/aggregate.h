// The report's tables, computed from stored results by documented formulas (docs/report.md). Pure functions
// of the rows, so every figure is reproducible from the database and unit-tested on hand-computed fixtures.
//
// Unit of counting: a *cell* is one (model, sequence length) pair; repetitions, batch sizes, dtypes and
// attention variants of a cell are pooled (filter them first if they should be separate). Models are counted
// once each (distinct canonical ids), which the seed study did not do.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

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
};

// Rows of the finished jobs in a listing; unfinished jobs are left out. `models` supplies categories and
// parameter counts where a job has none (exceeds_context jobs report analytic counts only).
std::vector<Row> RowsFrom(const v1::ListResultsResponse& jobs, const v1::ListModelsResponse& models);

// Failure causes, separated (the study lumped them all into "OOM").
enum class Cause { kOk, kContext, kMemory, kTimeout, kCrash, kError, kInvalid, kOther };
const char* CauseName(Cause cause);
Cause CauseOf(v1::Outcome outcome);

struct CellSummary {
  std::string model_id, category;
  int seq_len = 0;
  Cause cause = Cause::kOk;  // kOk only when every job of the cell is ok
  int jobs = 0, ok_jobs = 0;
  double median_ms = 0;        // median over the cell's ok jobs' medians
  double tokens_per_s = 0;     // median over ok jobs
  double load_ms = 0;          // median over ok jobs
  int64_t peak_rss_bytes = 0;  // max over ok jobs
  int64_t parameters = 0;
};
// One summary per (model, length), sorted by model then length.
std::vector<CellSummary> Cells(const std::vector<Row>& rows);

struct LengthSuccess {
  int seq_len = 0;
  int models = 0;  // distinct models with a cell at this length
  int ok_models = 0;
  std::map<Cause, int> failures;  // distinct models failing, by cause
  double success_rate() const { return models > 0 ? static_cast<double>(ok_models) / models : 0; }
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

// A least-squares line through (log L, log y); the exponent is its slope (2 = quadratic).
struct PowerFit {
  double exponent = 0, coefficient = 0;
  int points = 0;
};
std::optional<PowerFit> FitPowerLaw(const std::vector<std::pair<double, double>>& points);

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

std::string LengthClass(int max_working_length);

}  // namespace tscale::report
