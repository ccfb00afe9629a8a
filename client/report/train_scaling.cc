#include "client/report/train_scaling.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "common/latency_stats.h"
#include "common/outcome.h"

namespace tscale::report {
namespace {

// The median of the positive values (a figure a job did not report is 0 and says nothing); 0 when none.
double PositiveMedian(std::vector<double> values) {
  values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return !(v > 0); }), values.end());
  return values.empty() ? 0 : Summarize(std::move(values)).median;
}

int64_t PeakOf(const Row& row) {
  return row.device_peak_bytes > 0 ? row.device_peak_bytes : row.peak_rss_bytes;
}

double Ratio(double numerator, double denominator) {
  return numerator > 0 && denominator > 0 ? numerator / denominator : 0;
}

TrainPoint PointOf(int seq_len, const std::vector<const Row*>& jobs) {
  TrainPoint p;
  p.seq_len = seq_len;
  std::vector<double> steps, rates, mfus, flops, titan, shares;
  const Row* highest = nullptr;
  for (const Row* r : jobs) {
    ++p.ok_jobs;
    steps.push_back(r->median_ms);
    rates.push_back(r->tokens_per_s);
    mfus.push_back(r->peak_flops_fraction);
    flops.push_back(r->flops);
    titan.push_back(r->train.torchtitan_flops);
    shares.push_back(r->train.attention_flops_share);
    if (highest == nullptr || PeakOf(*r) > PeakOf(*highest)) highest = r;
  }
  p.step_ms = PositiveMedian(steps);
  p.tokens_per_s = PositiveMedian(rates);
  p.mfu = PositiveMedian(mfus);
  p.step_flops = PositiveMedian(flops);
  p.torchtitan_flops = PositiveMedian(titan);
  p.attention_flops_share = PositiveMedian(shares);
  if (highest != nullptr) {
    p.peak_bytes = PeakOf(*highest);
    p.parameter_bytes = highest->train.parameter_bytes;
    p.gradient_bytes = highest->train.gradient_bytes;
    p.optimizer_state_bytes = highest->train.optimizer_state_bytes;
    p.activation_bytes = highest->train.activation_bytes;
    p.analytic_activation_bytes = highest->train.analytic_activation_bytes;
    p.measured_state_bytes = highest->train.measured_state_bytes;
  }
  return p;
}

}  // namespace

double TrainPoint::ActivationRatio() const {
  return Ratio(static_cast<double>(activation_bytes), analytic_activation_bytes);
}
double TrainPoint::FlopsRatio() const {
  return Ratio(torchtitan_flops, step_flops);
}
double TrainPoint::StateRatio() const {
  return Ratio(static_cast<double>(measured_state_bytes),
               static_cast<double>(parameter_bytes + gradient_bytes + optimizer_state_bytes));
}

std::vector<TrainSeries> TrainScaling(const std::vector<Row>& rows) {
  using Key = std::tuple<std::string, std::string, int, v1::Checkpointing>;  // model, variant, batch, setting
  std::map<Key, std::map<int, std::vector<const Row*>>> grouped;
  for (const auto& row : rows)
    if (row.workload == v1::WORKLOAD_TRAIN && row.outcome == v1::OUTCOME_OK)
      grouped[{row.model_id, row.variant, row.batch, row.checkpointing}][row.seq_len].push_back(&row);
  std::vector<TrainSeries> out;
  for (const auto& [key, by_length] : grouped) {
    TrainSeries s;
    std::tie(s.model_id, s.variant, s.batch, s.checkpointing) = key;
    std::vector<std::pair<double, double>> steps, activations;
    for (const auto& [length, jobs] : by_length) {
      for (const Row* r : jobs) {
        s.category = r->category;
        s.mixed_precision = s.mixed_precision || r->train.mixed_precision;
      }
      TrainPoint p = PointOf(length, jobs);
      steps.emplace_back(length, p.step_ms);
      activations.emplace_back(length, static_cast<double>(p.activation_bytes));
      s.points.push_back(p);
    }
    s.step_fit = FitPowerLaw(steps);
    s.activation_fit = FitPowerLaw(activations);
    out.push_back(std::move(s));
  }
  return out;
}

std::string TrainConfigText(const TrainSeries& s) {
  return s.variant + (s.mixed_precision ? " (mixed precision)" : "") + ", batch " + std::to_string(s.batch) + ", " +
         (s.checkpointing == v1::CHECKPOINTING_LAYERS ? "checkpointing" : "no checkpointing");
}

std::vector<std::string> TrainLabels(const std::vector<TrainSeries>& series) {
  std::map<std::string, std::set<std::string>> variants, batches, settings;  // per model, the values seen
  for (const auto& s : series) {
    variants[s.model_id].insert(s.variant);
    batches[s.model_id].insert(std::to_string(s.batch));
    settings[s.model_id].insert(CheckpointingName(s.checkpointing));
  }
  std::vector<std::string> out;
  for (const auto& s : series) {
    std::vector<std::string> parts;
    if (variants[s.model_id].size() > 1) parts.push_back(s.variant);
    if (batches[s.model_id].size() > 1) parts.push_back("batch " + std::to_string(s.batch));
    if (settings[s.model_id].size() > 1)
      parts.push_back(s.checkpointing == v1::CHECKPOINTING_LAYERS ? "checkpointing" : "no checkpointing");
    std::string label = s.model_id;
    for (size_t i = 0; i < parts.size(); ++i) label += (i == 0 ? " [" : ", ") + parts[i];
    out.push_back(parts.empty() ? label : label + "]");
  }
  return out;
}

std::vector<CheckpointingSaving> CheckpointingSavings(const std::vector<TrainSeries>& series) {
  using Key = std::tuple<std::string, std::string, int>;  // model, variant, batch
  std::map<Key, const TrainSeries*> none, layers;
  for (const auto& s : series)
    (s.checkpointing == v1::CHECKPOINTING_LAYERS ? layers : none)[{s.model_id, s.variant, s.batch}] = &s;
  std::vector<CheckpointingSaving> out;
  for (const auto& [key, kept] : none) {
    auto recomputed = layers.find(key);
    if (recomputed == layers.end()) continue;
    std::map<int, const TrainPoint*> with;
    for (const auto& p : recomputed->second->points) with[p.seq_len] = &p;
    for (const auto& p : kept->points) {
      auto other = with.find(p.seq_len);
      if (other == with.end()) continue;
      CheckpointingSaving c;
      std::tie(c.model_id, c.variant, c.batch) = key;
      c.seq_len = p.seq_len;
      c.peak_none = p.peak_bytes;
      c.peak_layers = other->second->peak_bytes;
      c.activation_none = p.activation_bytes;
      c.activation_layers = other->second->activation_bytes;
      c.step_ms_none = p.step_ms;
      c.step_ms_layers = other->second->step_ms;
      out.push_back(c);
    }
  }
  return out;
}

std::vector<TrainCategoryRate> TrainRatesByCategory(const std::vector<Row>& rows) {
  struct Figures {
    std::vector<double> rates, mfus, flops_ratios;
  };
  using Key = std::tuple<std::string, v1::Checkpointing, int>;  // category, setting, length
  std::map<Key, std::map<std::string, Figures>> grouped;        // -> model -> its ok jobs' figures
  for (const auto& r : rows) {
    if (r.workload != v1::WORKLOAD_TRAIN || r.outcome != v1::OUTCOME_OK) continue;
    Figures& f = grouped[{r.category, r.checkpointing, r.seq_len}][r.model_id];
    f.rates.push_back(r.tokens_per_s);
    f.mfus.push_back(r.peak_flops_fraction);
    f.flops_ratios.push_back(Ratio(r.train.torchtitan_flops, r.flops));
  }
  std::vector<TrainCategoryRate> out;
  for (const auto& [key, models] : grouped) {
    TrainCategoryRate e;
    std::tie(e.category, e.checkpointing, e.seq_len) = key;
    std::vector<double> rates, mfus, ratios;
    auto add = [](const std::vector<double>& values, std::vector<double>* into) {
      if (const double m = PositiveMedian(values); m > 0) into->push_back(m);
    };
    for (const auto& [model, f] : models) {
      add(f.rates, &rates);
      add(f.mfus, &mfus);
      add(f.flops_ratios, &ratios);
    }
    e.tokens_per_s = SpreadOf(rates);
    e.mfu = SpreadOf(mfus);
    e.flops_ratio = SpreadOf(ratios);
    out.push_back(std::move(e));
  }
  return out;
}

WorkloadWalls WallsByWorkload(const std::vector<Row>& rows) {
  // The columns: a workload, and for train the setting; each column's rows make their own cells, so the wall
  // is the per-model table's (ScalingByModel), computed once for every workload.
  struct Column {
    v1::Workload workload;
    v1::Checkpointing checkpointing;
  };
  const Column kColumns[] = {{v1::WORKLOAD_FORWARD, v1::CHECKPOINTING_UNSPECIFIED},
                             {v1::WORKLOAD_DECODE, v1::CHECKPOINTING_UNSPECIFIED},
                             {v1::WORKLOAD_TRAIN, v1::CHECKPOINTING_NONE},
                             {v1::WORKLOAD_TRAIN, v1::CHECKPOINTING_LAYERS}};
  WorkloadWalls out;
  std::map<std::string, WorkloadWalls::Model> models;
  for (const Column& column : kColumns) {
    std::vector<Row> selected;
    for (const auto& r : rows) {
      const bool layers = r.checkpointing == v1::CHECKPOINTING_LAYERS;
      if (r.workload == column.workload &&
          (column.workload != v1::WORKLOAD_TRAIN || layers == (column.checkpointing == v1::CHECKPOINTING_LAYERS)))
        selected.push_back(r);
    }
    const auto scaling = ScalingByModel(Cells(selected, column.workload));
    if (scaling.empty()) continue;
    const size_t index = out.columns.size();
    out.columns.push_back(WorkloadLabel(column.workload, column.checkpointing));
    for (const auto& s : scaling) {
      auto& m = models[s.model_id];
      m.model_id = s.model_id;
      m.category = s.category;
      m.walls.resize(index + 1);
      m.walls[index] = s;
    }
  }
  for (auto& [id, m] : models) {
    m.walls.resize(out.columns.size());
    out.models.push_back(std::move(m));
  }
  return out;
}

}  // namespace tscale::report
