#include "client/report/crossover.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "client/report/html_parts.h"
#include "client/report/svg_chart.h"
#include "client/table.h"
#include "common/latency_stats.h"
#include "common/outcome.h"

namespace tscale::report {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;

// How a failed transformer length is named when its jobs failed differently: the most specific, architectural
// cause first, as a cell's cause is chosen (aggregate.cc). 0: not a failure that says the transformer cannot run
// the length (invalid ran; cancelled and lost say nothing about the model).
int FailureRank(v1::Outcome outcome) {
  switch (outcome) {
    case v1::OUTCOME_EXCEEDS_CONTEXT:
      return 5;
    case v1::OUTCOME_OOM:
      return 4;
    case v1::OUTCOME_TIMEOUT:
      return 3;
    case v1::OUTCOME_CRASHED:
      return 2;
    case v1::OUTCOME_ERROR:
      return 1;
    default:
      return 0;
  }
}

// The order of the attention implementations in the tables (the enum's), unknown names last.
int AttentionRank(const std::string& name) {
  auto impl = ParseAttention(name);
  return impl ? static_cast<int>(*impl) : 100;
}

// "fp32/eager" -> ("fp32", "eager"); a row without a variant is fp32/eager, the sweep defaults.
std::pair<std::string, std::string> SplitVariant(const std::string& variant) {
  const auto slash = variant.find('/');
  if (slash == std::string::npos) return {variant.empty() ? "fp32" : variant, "eager"};
  return {variant.substr(0, slash), variant.substr(slash + 1)};
}

// What one model's jobs of one configuration say at one length.
struct LengthJobs {
  std::vector<double> times;  // ok jobs: median latency (forward) or median TPOT (decode), ms
  double peak_mib = 0;        // ok jobs: the largest peak
  v1::Outcome failure = v1::OUTCOME_UNSPECIFIED;
};
using Curve = std::map<int, LengthJobs>;
// workload, dtype, batch, attention rank (the map's order is the tables'), attention name.
using CurveKey = std::tuple<v1::Workload, std::string, int, int, std::string>;

std::map<std::string, std::map<CurveKey, Curve>> CurvesByModel(const std::vector<Row>& rows) {
  std::set<std::string> wanted;
  for (const auto& pair : CrossoverPairs()) wanted.insert({pair.linear_model, pair.transformer});
  std::map<std::string, std::map<CurveKey, Curve>> curves;
  for (const auto& r : rows) {
    if (!wanted.count(r.model_id)) continue;
    if (r.workload != v1::WORKLOAD_FORWARD && r.workload != v1::WORKLOAD_DECODE) continue;
    const auto [dtype, attention] = SplitVariant(r.variant);
    LengthJobs& at = curves[r.model_id][{r.workload, dtype, r.batch, AttentionRank(attention), attention}][r.seq_len];
    if (r.outcome == v1::OUTCOME_OK) {
      const double time = r.workload == v1::WORKLOAD_DECODE ? r.tpot_ms : r.median_ms;
      if (time > 0) at.times.push_back(time);
      // A GPU job's RSS is the host's, not where its tensors live: the allocator's peak is the comparable one.
      const int64_t peak = r.device_peak_bytes > 0 ? r.device_peak_bytes : r.peak_rss_bytes;
      at.peak_mib = std::max(at.peak_mib, static_cast<double>(peak) / kMiB);
    } else if (FailureRank(r.outcome) > FailureRank(at.failure)) {
      at.failure = r.outcome;
    }
  }
  return curves;
}

double MedianOf(std::vector<double> values) {
  return values.empty() ? 0 : Summarize(std::move(values)).median;
}

// The two figures of every length either model has, ascending.
void BuildPoints(const Curve& linear, const Curve& transformer, CrossoverSeries* s) {
  std::set<int> lengths;
  for (const auto& [len, jobs] : linear) lengths.insert(len);
  for (const auto& [len, jobs] : transformer) lengths.insert(len);
  for (int len : lengths) {
    CrossoverPoint time{len}, memory{len};
    if (auto it = linear.find(len); it != linear.end()) {
      time.linear = MedianOf(it->second.times);
      if (!it->second.times.empty()) memory.linear = it->second.peak_mib;
    }
    if (auto it = transformer.find(len); it != transformer.end()) {
      time.transformer = MedianOf(it->second.times);
      if (!it->second.times.empty()) memory.transformer = it->second.peak_mib;
      // A length with a figure was measured, whatever else its other jobs did.
      if (time.transformer <= 0) time.transformer_failure = memory.transformer_failure = it->second.failure;
    }
    if (time.linear > 0 && time.transformer > 0) ++s->common_lengths;
    s->time.push_back(time);
    s->memory.push_back(memory);
  }
}

std::string LengthText(double length) {
  return std::to_string(static_cast<int64_t>(std::llround(length)));
}

std::string WorkloadText(v1::Workload workload) {
  return WorkloadName(workload);
}

// The chart marker's label: short, since it is written inside the plot.
std::string MarkerLabel(const std::string& attention, const Crossover& c) {
  switch (c.kind) {
    case CrossoverKind::kInterpolated:
      return attention + ": " + LengthText(c.length);
    case CrossoverKind::kAtOrBelow:
      return attention + ": ≤ " + LengthText(c.length);
    case CrossoverKind::kTransformerFails:
      return attention + ": fails at " + LengthText(c.length);
    default:
      return "";
  }
}

std::string Value(double v, int decimals) {
  return v > 0 ? FormatFixed(v, decimals) : "";
}
std::string Ratio(const CrossoverPoint& p) {
  return p.linear > 0 && p.transformer > 0 ? FormatFixed(p.linear / p.transformer, 3) : "";
}
// The transformer's figure, or what its jobs reported where it has none.
std::string TransformerValue(const CrossoverPoint& p, int decimals) {
  if (p.transformer > 0) return FormatFixed(p.transformer, decimals);
  return p.transformer_failure != v1::OUTCOME_UNSPECIFIED ? OutcomeName(p.transformer_failure) : "";
}

// The cells of the by-length table: pair, workload, variant, batch, length, the two times and their ratio, the two
// peaks and theirs.
std::vector<std::vector<std::string>> PointRows(const CrossoverSeries& s) {
  std::vector<std::vector<std::string>> out;
  for (size_t i = 0; i < s.time.size(); ++i) {
    const CrossoverPoint& t = s.time[i];
    const CrossoverPoint& m = s.memory[i];
    out.push_back({s.linear_model, s.transformer, WorkloadText(s.workload), s.dtype + "/" + s.attention,
                   std::to_string(s.batch), std::to_string(t.seq_len), Value(t.linear, 2), TransformerValue(t, 2),
                   Ratio(t), Value(m.linear, 1), TransformerValue(m, 1), Ratio(m)});
  }
  return out;
}

const std::vector<std::string> kSummaryHeaders = {"linear_model", "transformer",    "workload",
                                                  "variant",      "batch",          "linear_variant",
                                                  "lengths",      "time_crossover", "memory_crossover"};
const std::vector<std::string> kPointHeaders = {"linear_model", "transformer", "workload", "variant",
                                                "batch",        "length",      "lin_ms",   "tr_ms",
                                                "ms_ratio",     "lin_MiB",     "tr_MiB",   "MiB_ratio"};

const char kHow[] =
    "the first length where the linear-time model's figure is strictly below the transformer's (forward: median "
    "latency; decode: median TPOT, at a depth of the prompt length; memory: the largest peak, the device "
    "allocator's where a job has one, else RSS). Between the two measured lengths around the change it is "
    "interpolated linearly in log(linear / transformer) against log(length); \"by L\" when the transformer fails at "
    "L where the linear-time model ran, first.";

}  // namespace

const std::vector<CrossoverPair>& CrossoverPairs() {
  // Each linear-time model against the transformers of about its parameter count that the catalog has; the
  // linear-attention model has GPT-2 small's shape, so GPT-2 small is its pair exactly.
  static const std::vector<CrossoverPair> kPairs = {
      {"state-spaces/mamba-130m", "EleutherAI/gpt-neo-125m"},    {"state-spaces/mamba-130m", "EleutherAI/pythia-160m"},
      {"state-spaces/mamba-370m", "EleutherAI/pythia-410m"},     {"state-spaces/mamba-1.4b", "EleutherAI/pythia-1.4b"},
      {"tscale/linear-attention-gpt2", "openai-community/gpt2"},
  };
  return kPairs;
}

Crossover FindCrossover(const std::vector<CrossoverPoint>& points) {
  Crossover out;
  int previous = 0;  // the last common length, and the log of its ratio
  double previous_log_ratio = 0;
  for (const auto& p : points) {
    if (p.linear <= 0) continue;  // the linear model has nothing to compare here
    if (p.transformer <= 0) {
      if (p.transformer_failure == v1::OUTCOME_UNSPECIFIED) continue;
      out.kind = CrossoverKind::kTransformerFails;
      out.length = p.seq_len;
      out.failure = p.transformer_failure;
      return out;
    }
    const double log_ratio = std::log(p.linear / p.transformer);
    if (log_ratio < 0) {  // strictly below
      if (previous == 0) {
        out.kind = CrossoverKind::kAtOrBelow;
        out.length = p.seq_len;
        return out;
      }
      // previous_log_ratio >= 0 > log_ratio, so the fraction is in [0, 1) and the crossing lies in [previous, p).
      const double fraction = previous_log_ratio / (previous_log_ratio - log_ratio);
      out.kind = CrossoverKind::kInterpolated;
      out.length = std::exp(std::log(previous) + fraction * (std::log(p.seq_len) - std::log(previous)));
      out.from = previous;
      out.to = p.seq_len;
      return out;
    }
    previous = p.seq_len;
    previous_log_ratio = log_ratio;
  }
  if (previous > 0) {
    out.kind = CrossoverKind::kNotReached;
    out.length = previous;
  }
  return out;
}

std::string CrossoverText(const Crossover& c) {
  switch (c.kind) {
    case CrossoverKind::kInterpolated:
      return LengthText(c.length) + " (between " + std::to_string(c.from) + " and " + std::to_string(c.to) + ")";
    case CrossoverKind::kAtOrBelow:
      return "at or below " + LengthText(c.length);
    case CrossoverKind::kNotReached:
      return "not reached up to " + LengthText(c.length);
    case CrossoverKind::kTransformerFails:
      return "by " + LengthText(c.length) + " (transformer fails: " + OutcomeName(c.failure) + ")";
    case CrossoverKind::kNoCommonLength:
      break;
  }
  return "no common length";
}

std::vector<CrossoverSeries> Crossovers(const std::vector<Row>& rows) {
  const auto curves = CurvesByModel(rows);
  std::vector<CrossoverSeries> out;
  for (const auto& pair : CrossoverPairs()) {
    auto linear = curves.find(pair.linear_model);
    auto transformer = curves.find(pair.transformer);
    if (linear == curves.end() || transformer == curves.end()) continue;
    for (const auto& [key, curve] : transformer->second) {
      [[maybe_unused]] const auto& [workload, dtype, batch, rank, attention] = key;
      // The linear model's curve of the same workload, dtype and batch with the lowest-ranked implementation
      // (eager first): the map's order puts it first.
      const Curve* linear_curve = nullptr;
      std::string linear_attention;
      for (const auto& [lkey, lcurve] : linear->second)
        if (std::get<0>(lkey) == workload && std::get<1>(lkey) == dtype && std::get<2>(lkey) == batch) {
          linear_curve = &lcurve;
          linear_attention = std::get<4>(lkey);
          break;
        }
      if (linear_curve == nullptr) continue;
      CrossoverSeries s;
      s.linear_model = pair.linear_model;
      s.transformer = pair.transformer;
      s.workload = workload;
      s.dtype = dtype;
      s.attention = attention;
      s.linear_attention = linear_attention;
      s.batch = batch;
      BuildPoints(*linear_curve, curve, &s);
      s.time_crossover = FindCrossover(s.time);
      s.memory_crossover = FindCrossover(s.memory);
      out.push_back(std::move(s));
    }
  }
  return out;
}

std::string CrossoverMetricName(v1::Workload workload) {
  return workload == v1::WORKLOAD_DECODE ? "TPOT" : "latency";
}

std::vector<std::string> CrossoverRowCells(const CrossoverSeries& s) {
  return {s.linear_model,
          s.transformer,
          WorkloadText(s.workload) + " (" + CrossoverMetricName(s.workload) + ")",
          s.dtype + "/" + s.attention,
          std::to_string(s.batch),
          s.dtype + "/" + s.linear_attention,
          std::to_string(s.common_lengths),
          CrossoverText(s.time_crossover),
          CrossoverText(s.memory_crossover)};
}

std::string RenderCrossover(const std::vector<Row>& rows) {
  const auto series = Crossovers(rows);
  if (series.empty()) return "";
  using A = TextTable::Align;
  auto table = [](const std::vector<std::string>& headers, size_t left) {
    TextTable t;
    for (size_t i = 0; i < headers.size(); ++i) t.AddColumn(headers[i], i < left ? A::kLeft : A::kRight);
    return t;
  };
  TextTable summary = table(kSummaryHeaders, 6), points = table(kPointHeaders, 4);
  for (const auto& s : series) {
    std::vector<std::string> cells = CrossoverRowCells(s);
    summary.AddRow(cells);
    for (const auto& row : PointRows(s)) points.AddRow(row);
  }
  return std::string(
             "Crossover of linear-time models and transformers (lengths = lengths both measured; the "
             "crossover is ") +
         kHow + ")\n" + summary.Render() +
         "\nCrossover by length (ms: forward median latency, decode median TPOT; MiB: peak; ratio = linear / "
         "transformer; a transformer without a figure shows its failure)\n" +
         points.Render() + "\n";
}

std::string CrossoverHtmlSection(const std::vector<Row>& rows) {
  const auto series = Crossovers(rows);
  if (series.empty()) return "";
  HtmlTable summary({"linear-time model", "transformer", "workload", "transformer variant", "batch",
                     "linear-time variant", "common lengths", "time crossover", "memory crossover"});
  HtmlTable points({"linear-time model", "transformer", "workload", "transformer variant", "batch", "length",
                    "linear ms", "transformer ms", "ms ratio", "linear MiB", "transformer MiB", "MiB ratio"});
  for (const auto& s : series) {
    summary.Add(CrossoverRowCells(s));
    for (const auto& row : PointRows(s)) points.Add(row);
  }
  // A chart per pair, workload, dtype and batch: the linear model's line, then one per transformer implementation,
  // each with its crossing marked in its colour.
  std::string charts;
  for (size_t begin = 0; begin < series.size();) {
    const CrossoverSeries& first = series[begin];
    size_t end = begin;
    while (end < series.size() && series[end].linear_model == first.linear_model &&
           series[end].transformer == first.transformer && series[end].workload == first.workload &&
           series[end].dtype == first.dtype && series[end].batch == first.batch)
      ++end;
    const std::string qualifier = (first.dtype == "fp32" ? "" : ", " + first.dtype) +
                                  (first.batch == 1 ? "" : ", batch " + std::to_string(first.batch));
    for (const bool memory : {false, true}) {
      std::vector<Series> lines(1);
      std::vector<Marker> markers;
      lines[0].name = first.linear_model;
      for (const auto& p : memory ? first.memory : first.time)
        if (p.linear > 0) lines[0].points.emplace_back(p.seq_len, p.linear);
      for (size_t i = begin; i < end; ++i) {
        const CrossoverSeries& s = series[i];
        Series line{s.transformer + " " + s.attention, {}};
        for (const auto& p : memory ? s.memory : s.time)
          if (p.transformer > 0) line.points.emplace_back(p.seq_len, p.transformer);
        const Crossover& c = memory ? s.memory_crossover : s.time_crossover;
        const std::string label = MarkerLabel(s.attention, c);
        if (!label.empty()) markers.push_back({c.length, label, static_cast<int>(lines.size())});
        lines.push_back(std::move(line));
      }
      const std::string what = memory ? "peak memory" : CrossoverMetricName(first.workload);
      const std::string y_label = memory                                  ? "peak (MiB)"
                                  : first.workload == v1::WORKLOAD_DECODE ? "median time per output token (ms)"
                                                                          : "median latency (ms)";
      charts += LineChart(lines,
                          {"Crossover: " + first.linear_model + " vs " + first.transformer + ", " +
                               WorkloadText(first.workload) + " " + what + qualifier,
                           first.workload == v1::WORKLOAD_DECODE ? "prompt length (decode depth)" : "sequence length",
                           y_label, true, true},
                          markers);
    }
    begin = end;
  }
  return Section("crossover", "Crossover: linear-time models against transformers",
                 std::string("Each linear-time model (state space, linear attention) against a transformer of about "
                             "its size, per workload and transformer attention implementation. The crossover is ") +
                     kHow + " Dashed vertical lines mark each implementation's crossing.",
                 summary.Render("num cfg") + charts + points.Render("num cfg"));
}

}  // namespace tscale::report
