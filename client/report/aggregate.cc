#include "client/report/aggregate.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <tuple>
#include <unordered_map>

#include "common/latency_stats.h"
#include "common/model_config.h"
#include "common/outcome.h"

namespace tscale::report {
namespace {

double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  return Summarize(std::move(values)).median;
}

}  // namespace

const char* CauseName(Cause cause) {
  switch (cause) {
    case Cause::kOk:
      return "ok";
    case Cause::kContext:
      return "context";
    case Cause::kMemory:
      return "memory";
    case Cause::kTimeout:
      return "timeout";
    case Cause::kCrash:
      return "crash";
    case Cause::kError:
      return "error";
    case Cause::kInvalid:
      return "invalid";
    case Cause::kOther:
      return "other";
  }
  return "?";
}

Cause CauseOf(v1::Outcome outcome) {
  switch (outcome) {
    case v1::OUTCOME_OK:
      return Cause::kOk;
    case v1::OUTCOME_EXCEEDS_CONTEXT:
      return Cause::kContext;
    case v1::OUTCOME_OOM:
      return Cause::kMemory;
    case v1::OUTCOME_TIMEOUT:
      return Cause::kTimeout;
    case v1::OUTCOME_CRASHED:
      return Cause::kCrash;
    case v1::OUTCOME_ERROR:
      return Cause::kError;
    case v1::OUTCOME_INVALID:
      return Cause::kInvalid;
    default:
      return Cause::kOther;  // cancelled, lost
  }
}

int CauseSeverity(Cause cause) {
  switch (cause) {
    case Cause::kContext:
      return 7;
    case Cause::kMemory:
      return 6;
    case Cause::kTimeout:
      return 5;
    case Cause::kCrash:
      return 4;
    case Cause::kError:
      return 3;
    case Cause::kInvalid:
      return 2;
    case Cause::kOther:
      return 1;
    case Cause::kOk:
      return 0;
  }
  return 0;
}

std::vector<Row> RowsFrom(const v1::ListResultsResponse& jobs, const v1::ListModelsResponse& models) {
  std::map<std::string, const v1::ModelInfo*> by_id;
  for (const auto& m : models.models()) by_id[m.id()] = &m;
  // The position limit of the config each job ran with, parsed once per distinct config (a sweep's jobs of one
  // model share theirs); 0 when it does not parse (a job stored before the config's current format, say).
  std::unordered_map<std::string, int> context_limits;
  auto context_limit = [&](const std::string& config_json) {
    auto found = context_limits.find(config_json);
    if (found != context_limits.end()) return found->second;
    auto config = ParseModelConfig(config_json);
    const int limit = config.ok() ? config->max_input_tokens : 0;
    context_limits.emplace(config_json, limit);
    return limit;
  };
  std::vector<Row> rows;
  for (const auto& job : jobs.jobs()) {
    if (job.state() != v1::JOB_STATE_FINISHED) continue;
    const auto& r = job.result();
    Row row;
    row.job_id = job.spec().job_id();
    row.model_id = job.spec().model_id();
    row.seq_len = job.spec().seq_len();
    row.batch = job.spec().batch_size() > 0 ? job.spec().batch_size() : 1;
    row.outcome = r.outcome();
    row.message = r.message();
    row.parameters = r.parameter_count();
    auto model = by_id.find(row.model_id);
    if (model != by_id.end()) {
      row.category = model->second->category();
      if (row.parameters == 0) row.parameters = model->second->parameter_count();
    }
    row.load_ms = r.load_time_ms();
    row.median_ms = r.latency().median_ms();
    row.iqr_ms = r.latency().iqr_ms();
    row.tokens_per_s = r.tokens_per_second();
    row.peak_rss_bytes = r.memory().peak_rss_bytes();
    row.sweep_id = job.spec().sweep_id();
    row.repetition = job.spec().repetition();
    row.variant = DTypeName(job.spec().dtype()) + "/" + AttentionName(job.spec().attention());
    if (job.spec().has_wall()) {
      row.wall_start = job.spec().wall().start_length();
      row.wall_max = job.spec().wall().max_length();
      row.wall_resolution = job.spec().wall().resolution();
    }
    row.memory_limit_bytes = r.memory().limit_bytes();
    row.host_ram_bytes = r.environment().ram_bytes();
    row.workload = job.spec().workload() == v1::WORKLOAD_UNSPECIFIED ? v1::WORKLOAD_FORWARD : job.spec().workload();
    row.new_tokens = job.spec().new_tokens();
    if (r.has_decode()) {
      row.ttft_ms = r.decode().ttft().median_ms();
      row.tpot_ms = r.decode().tpot().median_ms();
      row.decode_tokens_per_s = r.decode().decode_tokens_per_second();
      row.kv_cache_bytes = r.decode().kv_cache_bytes();
    }
    row.min_ms = r.latency().min_ms();
    row.p90_ms = r.latency().p90_ms();
    row.samples_ms.assign(r.samples_ms().begin(), r.samples_ms().end());
    row.flops = r.flops_per_forward();
    row.achieved_flops = r.achieved_flops();
    row.peak_flops_fraction = r.peak_flops_fraction();
    row.device_peak_bytes = r.memory().device_peak_bytes();
    if (row.workload == v1::WORKLOAD_TRAIN) {
      // The spec's setting (an exceeds_context job has no TrainStats), else the result's; none when neither says.
      row.checkpointing = job.spec().checkpointing() != v1::CHECKPOINTING_UNSPECIFIED  ? job.spec().checkpointing()
                          : r.train().checkpointing() != v1::CHECKPOINTING_UNSPECIFIED ? r.train().checkpointing()
                                                                                       : v1::CHECKPOINTING_NONE;
      const v1::TrainStats& t = r.train();
      row.train.mixed_precision = t.mixed_precision();
      row.train.parameter_bytes = t.parameter_bytes();
      row.train.gradient_bytes = t.gradient_bytes();
      row.train.optimizer_state_bytes = t.optimizer_state_bytes();
      row.train.activation_bytes = t.activation_bytes();
      row.train.measured_state_bytes = t.measured_state_bytes();
      row.train.analytic_activation_bytes = t.analytic_activation_bytes();
      row.train.torchtitan_flops = t.torchtitan_flops_per_step();
      row.train.attention_flops_share = t.attention_flops_share();
    }
    const v1::Environment& env = r.environment();
    row.environment.hostname = env.hostname();
    row.environment.os = env.os();
    row.environment.cpu_model = env.cpu_model();
    // Empty, not DeviceKindName's "any", when the result names no device (a job cancelled before it ran).
    if (env.device_kind() != v1::DEVICE_KIND_UNSPECIFIED) row.environment.device = DeviceKindName(env.device_kind());
    row.environment.device_name = env.device_name();
    row.environment.torch_version = env.torch_version();
    row.environment.blas = env.blas();
    row.environment.tscale_version = env.tscale_version();
    row.environment.build_type = env.build_type();
    row.environment.sequence_kernel = env.sequence_kernel();
    row.environment.cpu_cores = std::max(0, env.cpu_cores());  // never negative, so every row writes a CSV
    row.environment.threads = std::max(0, env.threads());      // that reads back
    row.extend_context = job.spec().extend_context();
    row.context_limit = job.spec().model_config_json().empty() ? 0 : context_limit(job.spec().model_config_json());
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<CellSummary> Cells(const std::vector<Row>& rows, v1::Workload workload) {
  std::map<std::pair<std::string, int>, std::vector<const Row*>> grouped;
  for (const auto& row : rows)
    if (row.workload == workload) grouped[{row.model_id, row.seq_len}].push_back(&row);
  std::vector<CellSummary> cells;
  for (const auto& [key, members] : grouped) {
    CellSummary cell;
    cell.model_id = key.first;
    cell.seq_len = key.second;
    cell.workload = workload;
    std::vector<double> medians, throughputs, loads, ttfts, tpots, decode_rates, samples;
    bool every_ok_has_samples = true, every_ok_has_stats = true;
    double lowest_min = INFINITY, highest_p90 = 0;
    int evidence = 0;  // jobs that say something about the model (not cancelled, not lost)
    for (const Row* row : members) {
      cell.category = row->category;
      cell.parameters = std::max(cell.parameters, row->parameters);
      ++cell.jobs;
      if (OutcomeSaysNothing(row->outcome)) continue;
      ++evidence;
      const Cause cause = CauseOf(row->outcome);
      cell.works = cell.works && OutcomeWorks(row->outcome);
      if (cause == Cause::kOk) {
        ++cell.ok_jobs;
        medians.push_back(row->median_ms);
        throughputs.push_back(row->tokens_per_s);
        loads.push_back(row->load_ms);
        cell.peak_rss_bytes = std::max(cell.peak_rss_bytes, row->peak_rss_bytes);
        every_ok_has_samples = every_ok_has_samples && !row->samples_ms.empty();
        samples.insert(samples.end(), row->samples_ms.begin(), row->samples_ms.end());
        every_ok_has_stats = every_ok_has_stats && row->min_ms > 0 && row->p90_ms > 0;
        lowest_min = std::min(lowest_min, row->min_ms);
        highest_p90 = std::max(highest_p90, row->p90_ms);
        if (workload == v1::WORKLOAD_DECODE) {
          ttfts.push_back(row->ttft_ms);
          tpots.push_back(row->tpot_ms);
          decode_rates.push_back(row->decode_tokens_per_s);
          cell.kv_cache_bytes = std::max(cell.kv_cache_bytes, row->kv_cache_bytes);
          cell.new_tokens = std::max(cell.new_tokens, row->new_tokens);
        }
      } else if (CauseSeverity(cause) > CauseSeverity(cell.cause)) {
        cell.cause = cause;
      }
    }
    if (evidence == 0) {  // only cancelled or lost jobs: nothing known about the model at this length
      cell.works = false;
      cell.cause = Cause::kOther;
    }
    cell.median_ms = Median(medians);
    cell.tokens_per_s = Median(throughputs);
    cell.load_ms = Median(loads);
    cell.ttft_ms = Median(ttfts);
    cell.tpot_ms = Median(tpots);
    cell.decode_tokens_per_s = Median(decode_rates);
    if (cell.ok_jobs > 0 && every_ok_has_samples) {
      std::sort(samples.begin(), samples.end());
      cell.band_low_ms = NearestRankPercentile(samples, 10);
      cell.band_high_ms = NearestRankPercentile(samples, 90);
      cell.band_from_samples = true;
    } else if (cell.ok_jobs > 0 && every_ok_has_stats) {
      cell.band_low_ms = lowest_min;
      cell.band_high_ms = highest_p90;
    }
    cells.push_back(std::move(cell));
  }
  return cells;
}

int LengthSuccess::Count(Cause cause) const {
  if (cause == Cause::kOk) return working_models - invalid_models;
  if (cause == Cause::kInvalid) return invalid_models;
  auto it = failures.find(cause);
  return it == failures.end() ? 0 : it->second;
}

std::vector<LengthSuccess> SuccessByLength(const std::vector<CellSummary>& cells) {
  std::map<int, LengthSuccess> by_length;
  for (const auto& cell : cells) {
    auto& entry = by_length[cell.seq_len];
    entry.seq_len = cell.seq_len;
    ++entry.models;
    if (cell.works) {
      ++entry.working_models;
      if (cell.cause == Cause::kInvalid) ++entry.invalid_models;
    } else {
      ++entry.failures[cell.cause];
    }
  }
  std::vector<LengthSuccess> out;
  for (auto& [length, entry] : by_length) out.push_back(std::move(entry));
  return out;
}

Spread SpreadOf(std::vector<double> values) {
  Spread s;
  s.n = static_cast<int>(values.size());
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  s.median = Summarize(values).median;
  s.q1 = NearestRankPercentile(values, 25);
  s.q3 = NearestRankPercentile(values, 75);
  return s;
}

std::vector<CategoryLoadMemory> LoadAndMemoryByCategory(const std::vector<CellSummary>& cells) {
  // Per model: median load over its ok cells; peak at its shortest ok length (the model's own footprint).
  std::map<std::string, std::pair<std::string, std::vector<double>>> loads;  // model -> category, loads
  std::map<std::string, std::pair<int, int64_t>> shortest;                   // model -> length, peak
  for (const auto& cell : cells) {
    if (cell.cause != Cause::kOk) continue;
    loads[cell.model_id].first = cell.category;
    loads[cell.model_id].second.push_back(cell.load_ms);
    auto it = shortest.find(cell.model_id);
    if (it == shortest.end() || cell.seq_len < it->second.first)
      shortest[cell.model_id] = {cell.seq_len, cell.peak_rss_bytes};
  }
  std::map<std::string, std::pair<std::vector<double>, std::vector<double>>> by_category;
  for (const auto& [model, entry] : loads) {
    auto& bucket = by_category[entry.first];
    bucket.first.push_back(Median(entry.second));
    bucket.second.push_back(static_cast<double>(shortest[model].second) / (1024.0 * 1024.0));
  }
  std::vector<CategoryLoadMemory> out;
  for (auto& [category, bucket] : by_category) {
    CategoryLoadMemory row;
    row.category = category;
    row.models = static_cast<int>(bucket.first.size());
    row.load_ms = SpreadOf(bucket.first);
    row.peak_rss_mib = SpreadOf(bucket.second);
    out.push_back(std::move(row));
  }
  return out;
}

namespace {

// The spread across a category's models of one per-cell figure, per length; cells without a figure (value
// returns nothing: not ok, or not measured) are left out.
template <typename Entry, typename Value>
std::vector<Entry> SpreadByCategoryLength(const std::vector<CellSummary>& cells, Value value) {
  std::map<std::pair<std::string, int>, std::vector<double>> grouped;
  for (const auto& cell : cells)
    if (std::optional<double> v = value(cell)) grouped[{cell.category, cell.seq_len}].push_back(*v);
  std::vector<Entry> out;
  for (auto& [key, values] : grouped) out.push_back({key.first, key.second, SpreadOf(values)});
  return out;
}

}  // namespace

std::vector<CategoryThroughput> ThroughputByCategoryLength(const std::vector<CellSummary>& cells) {
  return SpreadByCategoryLength<CategoryThroughput>(cells, [](const CellSummary& cell) -> std::optional<double> {
    if (cell.cause != Cause::kOk) return std::nullopt;
    return cell.tokens_per_s;
  });
}

std::vector<CategoryThroughput> DecodeThroughputByCategoryLength(const std::vector<CellSummary>& decode_cells) {
  return SpreadByCategoryLength<CategoryThroughput>(decode_cells, [](const CellSummary& cell) -> std::optional<double> {
    if (cell.cause != Cause::kOk || cell.decode_tokens_per_s <= 0) return std::nullopt;
    return cell.decode_tokens_per_s;
  });
}

std::vector<CategoryMemory> MemoryByCategoryLength(const std::vector<CellSummary>& cells) {
  return SpreadByCategoryLength<CategoryMemory>(cells, [](const CellSummary& cell) -> std::optional<double> {
    if (cell.cause != Cause::kOk || cell.peak_rss_bytes <= 0) return std::nullopt;
    return static_cast<double>(cell.peak_rss_bytes) / (1024.0 * 1024.0);
  });
}

std::optional<PowerFit> FitPowerLaw(const std::vector<std::pair<double, double>>& points, int min_lengths) {
  std::vector<std::pair<double, double>> logs;
  for (const auto& [x, y] : points)
    if (x > 0 && y > 0) logs.emplace_back(std::log(x), std::log(y));
  std::set<double> distinct_x;
  for (const auto& p : logs) distinct_x.insert(p.first);
  if (distinct_x.size() < static_cast<size_t>(std::max(2, min_lengths))) return std::nullopt;
  const double n = static_cast<double>(logs.size());
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const auto& [x, y] : logs) {
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  PowerFit fit;
  fit.exponent = (n * sxy - sx * sy) / (n * sxx - sx * sx);
  fit.coefficient = std::exp((sy - fit.exponent * sx) / n);
  fit.points = static_cast<int>(logs.size());
  return fit;
}

std::string LengthClass(int max_working_length) {
  if (max_working_length >= 1024) return "High";
  if (max_working_length >= 512) return "Medium";
  if (max_working_length >= 128) return "Low";
  return "Failed";
}

std::vector<ModelScaling> ScalingByModel(const std::vector<CellSummary>& cells) {
  std::map<std::string, std::vector<const CellSummary*>> by_model;  // cells arrive sorted by length
  for (const auto& cell : cells) by_model[cell.model_id].push_back(&cell);
  std::vector<ModelScaling> out;
  for (const auto& [model, model_cells] : by_model) {
    ModelScaling s;
    s.model_id = model;
    std::vector<std::pair<double, double>> latency, memory;
    std::vector<double> efficiencies;
    for (const CellSummary* cell : model_cells) {
      s.category = cell->category;
      s.parameters = std::max(s.parameters, cell->parameters);
      if (!cell->works) {
        // The wall: the first failure after the longest run of working lengths from the start.
        if (s.first_failing_length == 0) {
          s.first_failing_length = cell->seq_len;
          s.failure_cause = cell->cause;
        }
        continue;
      }
      if (s.first_failing_length == 0) s.max_working_length = cell->seq_len;
      if (cell->ok_jobs == 0) continue;  // it ran, but no figure of it can be trusted
      if (s.min_ok_len == 0) {
        s.min_ok_len = cell->seq_len;
        s.peak_at_min = cell->peak_rss_bytes;
      }
      s.max_ok_len = cell->seq_len;
      s.peak_at_max = cell->peak_rss_bytes;
      latency.emplace_back(cell->seq_len, cell->median_ms);
      memory.emplace_back(cell->seq_len, static_cast<double>(cell->peak_rss_bytes));
      if (cell->parameters > 0)
        efficiencies.push_back(cell->tokens_per_s / (static_cast<double>(cell->parameters) / 1e6));
    }
    s.memory_scaling = s.peak_at_min > 0 ? static_cast<double>(s.peak_at_max) / static_cast<double>(s.peak_at_min) : 0;
    s.latency_fit = FitPowerLaw(latency);
    s.memory_fit = FitPowerLaw(memory);
    s.efficiency = Median(efficiencies);
    s.length_class = LengthClass(s.max_working_length);
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<CategoryEfficiency> EfficiencyByCategory(const std::vector<ModelScaling>& models) {
  std::map<std::string, std::vector<double>> grouped;
  for (const auto& m : models)
    if (m.efficiency > 0) grouped[m.category].push_back(m.efficiency);
  std::vector<CategoryEfficiency> out;
  for (auto& [category, values] : grouped) out.push_back({category, SpreadOf(values)});
  return out;
}

std::vector<StudyLengthSuccess> StudySuccessByLength(const std::vector<Row>& rows) {
  std::map<int, StudyLengthSuccess> by_length;
  for (const auto& row : rows) {
    if (row.workload != v1::WORKLOAD_FORWARD) continue;
    auto& entry = by_length[row.seq_len];
    entry.seq_len = row.seq_len;
    ++entry.rows;
    if (row.outcome == v1::OUTCOME_OK)
      ++entry.ok_rows;
    else
      ++entry.oom;
  }
  std::vector<StudyLengthSuccess> out;
  for (auto& [length, entry] : by_length) out.push_back(entry);
  return out;
}

std::vector<StudyCategoryMean> StudyMeanThroughputByCategory(const std::vector<Row>& rows, int seq_len) {
  std::map<std::string, std::pair<int, double>> sums;  // category -> rows, sum of tokens/s
  for (const auto& row : rows) {
    if (row.seq_len != seq_len || row.outcome != v1::OUTCOME_OK || row.workload != v1::WORKLOAD_FORWARD) continue;
    auto& sum = sums[row.category];
    ++sum.first;
    sum.second += row.tokens_per_s;
  }
  std::vector<StudyCategoryMean> out;
  for (const auto& [category, sum] : sums) out.push_back({category, sum.first, sum.second / sum.first});
  return out;
}

std::vector<WallRow> Walls(const std::vector<Row>& rows) {
  // sweep, model, workload, variant, batch, repetition: the coordinator's search key (store_wall_search.cc); a
  // train search per checkpointing setting, as keeping activations or recomputing them are different walls.
  using Key = std::tuple<int64_t, std::string, v1::Workload, v1::Checkpointing, std::string, int, int>;
  std::map<Key, std::vector<const Row*>> searches;
  for (const auto& row : rows)
    if (row.wall_resolution > 0)
      searches[{row.sweep_id, row.model_id, row.workload, row.checkpointing, row.variant, row.batch, row.repetition}]
          .push_back(&row);
  std::vector<WallRow> out;
  for (const auto& [key, probes_rows] : searches) {
    WallRow w;
    std::tie(w.sweep_id, w.model_id, w.workload, w.checkpointing, w.variant, w.batch, w.repetition) = key;
    const Row& first = *probes_rows.front();
    w.category = first.category;
    const wall::Settings settings{first.wall_start, first.wall_max, first.wall_resolution};
    std::vector<wall::Probe> probes;
    for (const Row* r : probes_rows) {
      probes.push_back({r->seq_len, true, r->outcome, r->peak_rss_bytes});
      if (r->outcome == v1::OUTCOME_OK && r->peak_rss_bytes > 0) w.ok_peaks.emplace_back(r->seq_len, r->peak_rss_bytes);
      // The limit the probes ran under is the wall's memory; without one, the host's RAM is.
      w.memory_bytes = std::max(w.memory_bytes, r->memory_limit_bytes > 0 ? r->memory_limit_bytes : 0);
    }
    if (w.memory_bytes == 0)
      for (const Row* r : probes_rows) w.memory_bytes = std::max(w.memory_bytes, r->host_ram_bytes);
    std::sort(w.ok_peaks.begin(), w.ok_peaks.end());
    w.answer = wall::Summarize(probes, settings);
    for (const Row* r : probes_rows)
      if (r->outcome == v1::OUTCOME_OK && r->seq_len == w.answer.max_working_length)
        w.kv_cache_at_max_working = std::max(w.kv_cache_at_max_working, r->kv_cache_bytes);
    w.predicted = wall::PredictWall(w.ok_peaks, w.memory_bytes);
    out.push_back(std::move(w));
  }
  return out;
}

std::string WorkloadLabel(v1::Workload workload, v1::Checkpointing checkpointing) {
  const std::string name = WorkloadName(workload);
  return workload == v1::WORKLOAD_TRAIN && checkpointing == v1::CHECKPOINTING_LAYERS ? name + " (checkpointing)" : name;
}

}  // namespace tscale::report
