#include "client/report/render_html.h"

#include <map>
#include <set>

#include "client/report/crossover.h"
#include "client/report/decode_scaling.h"
#include "client/report/html_parts.h"
#include "client/report/render_text.h"
#include "client/report/svg_chart.h"
#include "client/report/train_report.h"
#include "client/table.h"
#include "common/outcome.h"

namespace tscale::report {
namespace {

// The columns after "ok": invalid (it ran, so it works, with doubtful figures), then the failures.
const Cause kOutcomeColumns[] = {Cause::kContext, Cause::kMemory,  Cause::kTimeout, Cause::kCrash,
                                 Cause::kError,   Cause::kInvalid, Cause::kOther};

std::string WallSection(const std::vector<CellSummary>& cells) {
  std::vector<Layer> layers = {{"ok", CauseColor(Cause::kOk)}};
  for (Cause c : kOutcomeColumns) layers.push_back({CauseName(c), CauseColor(c)});
  std::vector<StackedBar> bars;
  HtmlTable table(
      {"length", "models", "working", "success", "context", "memory", "timeout", "crash", "error", "invalid", "other"});
  for (const auto& row : SuccessByLength(cells)) {
    StackedBar bar{std::to_string(row.seq_len), {static_cast<double>(row.Count(Cause::kOk))}};
    std::vector<std::string> cells_text = {std::to_string(row.seq_len), std::to_string(row.models),
                                           std::to_string(row.working_models), Percent(row.success_rate())};
    for (Cause c : kOutcomeColumns) {
      const int n = row.Count(c);
      bar.values.push_back(n);
      cells_text.push_back(std::to_string(n));
    }
    bars.push_back(std::move(bar));
    table.Add(cells_text);
  }
  const std::string chart = StackedBarChart(
      layers, bars, {"The wall: distinct models by outcome at each length", "sequence length", "models"});
  return Section("wall", "Success by sequence length, failures by cause",
                 "Distinct models per length; a model fails a length when any of its jobs there failed, and the "
                 "failure is named by its most specific cause (a context limit is never counted as memory).",
                 chart + table.Render("num"));
}

std::string StudyComparisonSection(const std::vector<Row>& rows, const std::vector<CellSummary>& cells) {
  HtmlTable table({"length", "study: rows", "study: success", "study: \"OOM\"", "tscale: models", "tscale: success",
                   "context", "memory", "timeout/crash/error", "other"});
  std::map<int, LengthSuccess> corrected;
  for (auto& s : SuccessByLength(cells)) corrected[s.seq_len] = s;
  for (const auto& study : StudySuccessByLength(rows)) {
    const LengthSuccess& ours = corrected[study.seq_len];
    auto count = [&](std::initializer_list<Cause> causes) {
      int n = 0;
      for (Cause c : causes) n += ours.Count(c);
      return std::to_string(n);
    };
    table.Add({std::to_string(study.seq_len), std::to_string(study.rows), Percent(study.success_rate()),
               std::to_string(study.oom), std::to_string(ours.models), Percent(ours.success_rate()),
               count({Cause::kContext}), count({Cause::kMemory}),
               count({Cause::kTimeout, Cause::kCrash, Cause::kError}), count({Cause::kOther})});
  }
  std::string body = table.Render("num");
  HtmlTable means({"category", "study: rows at 512", "study: mean tokens/s", "tscale: models at 512",
                   "tscale: median [q1–q3] tokens/s"});
  std::map<std::string, Spread> medians;
  for (const auto& t : ThroughputByCategoryLength(cells))
    if (t.seq_len == 512) medians[t.category] = t.tokens_per_s;
  for (const auto& m : StudyMeanThroughputByCategory(rows, 512))
    means.Add({m.category, std::to_string(m.rows), FormatFixed(m.mean_tokens_per_s, 0),
               std::to_string(medians[m.category].n), HtmlSpreadText(medians[m.category], 0)});
  body +=
      "<p>Throughput at 512 tokens, the study's \"Avg Speed@512\" next to tscale's figure:</p>\n" + means.Render("num");
  return Section("study", "The study's method next to tscale's",
                 "Left: the seed study's method applied to these rows (every job counted, repetitions and duplicate "
                 "ids included; every failure called OOM; arithmetic means). Right: distinct models, failures by "
                 "cause, medians with spread.",
                 body);
}

std::string ThroughputSection(const std::vector<CellSummary>& cells) {
  const auto entries = ThroughputByCategoryLength(cells);
  const std::string chart = LineChart(
      CategorySeries(entries, [](const CategoryThroughput& e) { return e.tokens_per_s.median; }),
      {"Throughput vs length (median across each category's ok models)", "sequence length", "tokens/s", true, true});
  HtmlTable table({"category", "length", "models", "tokens/s median [q1–q3]"});
  for (const auto& e : entries)
    table.Add(
        {e.category, std::to_string(e.seq_len), std::to_string(e.tokens_per_s.n), HtmlSpreadText(e.tokens_per_s, 0)});
  return Section("throughput", "Throughput by category and length",
                 "tokens/s = batch × length ÷ median latency, per ok cell; median and nearest-rank quartiles across "
                 "the category's models. The slope is the exponent of a least-squares fit in log-log space.",
                 chart + table.Render("num"));
}

std::string MemorySection(const std::vector<CellSummary>& cells) {
  const auto entries = MemoryByCategoryLength(cells);
  const std::string chart =
      LineChart(CategorySeries(entries, [](const CategoryMemory& e) { return e.peak_rss_mib.median; }),
                {"Peak memory vs length (median across each category's ok models)", "sequence length", "peak RSS (MiB)",
                 true, true});
  HtmlTable table({"category", "length", "models", "peak MiB median [q1–q3]"});
  for (const auto& e : entries)
    table.Add(
        {e.category, std::to_string(e.seq_len), std::to_string(e.peak_rss_mib.n), HtmlSpreadText(e.peak_rss_mib, 0)});
  HtmlTable load({"category", "models", "load ms median [q1–q3]", "peak MiB at shortest ok length"});
  for (const auto& row : LoadAndMemoryByCategory(cells))
    load.Add({row.category, std::to_string(row.models), HtmlSpreadText(row.load_ms, 0),
              HtmlSpreadText(row.peak_rss_mib, 0)});
  return Section("memory", "Peak memory by length, and load time",
                 "Peak RSS of each job's fresh runner process, per length (the study's memory table was empty). "
                 "Load time is building the model from local data only.",
                 chart + table.Render("num") + load.Render("num"));
}

std::string EfficiencySection(const std::vector<ModelScaling>& models) {
  std::vector<StackedBar> bars;
  HtmlTable table({"category", "models", "tokens/s per M params, median [q1–q3]"});
  for (const auto& e : EfficiencyByCategory(models)) {
    bars.push_back({e.category, {e.tokens_per_s_per_mparam.median}});
    table.Add({e.category, std::to_string(e.tokens_per_s_per_mparam.n), HtmlSpreadText(e.tokens_per_s_per_mparam, 1)});
  }
  const std::string chart = StackedBarChart({{"median tokens/s per M params", "#0072B2"}}, bars,
                                            {"Parameter efficiency by category", "category", "tokens/s per M params"});
  return Section("efficiency", "Parameter efficiency by category",
                 "Per model: median over its ok cells of tokens/s ÷ (parameters / 10⁶); per category: median and "
                 "quartiles across its models. Embedding-heavy models look less efficient than their compute suggests.",
                 chart + table.Render("num"));
}

std::string ModelsSection(const std::vector<ModelScaling>& models) {
  HtmlTable table({"model", "category", "params", "max working length", "class", "wall (cause)", "memory ×",
                   "latency exponent", "memory exponent", "tokens/s per M params"});
  std::map<std::string, int> classes;
  for (const auto& s : models) {
    ++classes[s.length_class];
    table.Add(ModelRowCells(s));
  }
  std::string summary = "<p>Max-working-length classes (distinct models): ";
  for (const char* name : {"High", "Medium", "Low", "Failed"})
    summary += std::string(name) + " " + std::to_string(classes[name]) + (std::string(name) == "Failed" ? "" : ", ");
  summary += ".</p>\n";
  return Section("models", "Per model",
                 "max working length = the longest ok length before the first failure; class: High ≥ 1024, Medium "
                 "512–1023, Low 128–511, Failed; exponents are log-log slopes over ok lengths (1 linear, 2 quadratic).",
                 table.Render("num models") + summary);
}

std::string WallsSection(const std::vector<WallRow>& walls) {
  if (walls.empty()) return "";
  std::vector<StackedBar> bars;
  HtmlTable table({"sweep", "model", "workload", "variant", "batch", "repetition", "max working length", "bracket",
                   "cause", "peak MiB at last ok", "memory MiB", "predicted wall", "predicted − measured", "probes",
                   "state"});
  for (const auto& w : walls) {
    const auto& a = w.answer;
    const int bracket = a.first_failing_length > 0 ? a.first_failing_length - a.max_working_length : 0;
    bars.push_back({w.model_id + (walls.size() > 1 && w.repetition > 0 ? " #" + std::to_string(w.repetition) : ""),
                    {static_cast<double>(a.max_working_length), static_cast<double>(bracket)}});
    table.Add({std::to_string(w.sweep_id), w.model_id, WorkloadLabel(w.workload, w.checkpointing), w.variant,
               std::to_string(w.batch), std::to_string(w.repetition), std::to_string(a.max_working_length),
               "[" + std::to_string(a.max_working_length) + ", " +
                   (a.first_failing_length > 0 ? std::to_string(a.first_failing_length) : "–") + "]",
               WallCauseText(a), a.peak_at_max_working > 0 ? FormatFixed(a.peak_at_max_working / 1048576.0, 0) : "",
               w.memory_bytes > 0 ? FormatFixed(w.memory_bytes / 1048576.0, 0) : "",
               w.predicted ? std::to_string(*w.predicted) : "",
               w.predicted ? std::to_string(*w.predicted - a.max_working_length) : "", std::to_string(a.probes),
               WallStateText(a)});
  }
  const std::string chart =
      StackedBarChart({{"works up to", CauseColor(Cause::kOk)}, {"bracket (first failure above)", "#D55E00"}}, bars,
                      {"The wall per model: longest working length and the bracket", "model", "tokens"});
  std::vector<Series> curves;  // the memory curves the predictions come from
  for (const auto& w : walls) {
    Series s{w.model_id + (w.repetition > 0 ? " #" + std::to_string(w.repetition) : ""), {}};
    for (const auto& [len, peak] : w.ok_peaks) s.points.emplace_back(len, peak / 1048576.0);
    curves.push_back(std::move(s));
  }
  const std::string memory = LineChart(curves, {"Peak memory of the ok probes (the curve behind each prediction)",
                                                "sequence length", "peak RSS (MiB)", true, true});
  return Section("walls", "The wall finder",
                 "Per model: probes double from the start length until the first failure, then bisect to the "
                 "resolution. max working length is the last ok length below the first failure; the prediction is "
                 "where a least-squares fit of peak memory against length (quadratic from three lengths) meets the "
                 "memory the probes were allowed (their limit, else the host's RAM).",
                 chart + memory + table.Render("num models"));
}

// Each model's median latency per length with its band (CellSummary::band_*), one chart per category: a legend
// of every model at once would not be readable. The caption says where each band came from, since a listing
// without samples can only give min-p90, and a CSV export nothing.
std::string ModelLatencyCharts(const std::vector<CellSummary>& cells, const std::string& title,
                               const std::string& x_label, const std::string& y_label) {
  std::map<std::string, std::map<std::string, Series>> by_category;  // category -> model -> its line
  int sampled = 0, substituted = 0, bare = 0;
  for (const auto& c : cells) {
    if (c.cause != Cause::kOk || c.median_ms <= 0) continue;
    Series& s = by_category[c.category][c.model_id];
    s.name = c.model_id;
    s.points.emplace_back(c.seq_len, c.median_ms);
    if (c.band_high_ms > 0) s.band.push_back({static_cast<double>(c.seq_len), c.band_low_ms, c.band_high_ms});
    if (c.band_high_ms <= 0)
      ++bare;
    else if (c.band_from_samples)
      ++sampled;
    else
      ++substituted;
  }
  if (by_category.empty()) return "";
  std::string out;
  for (auto& [category, models] : by_category) {
    std::vector<Series> series;
    for (auto& [model, line] : models) series.push_back(std::move(line));
    out += LineChart(series, {title + (category.empty() ? "" : ": " + category), x_label, y_label, true, true});
  }
  std::string caption = "Lines: each model's median latency over its ok jobs at each length (log–log).";
  if (sampled > 0)
    caption += " Band: p10–p90 of the ok jobs' timed samples, pooled (" + std::to_string(sampled) + " cells).";
  if (substituted > 0)
    caption += " " + std::to_string(substituted) +
               " cells had no samples in the listing: their band runs from the jobs' min to their p90 "
               "(LatencyStats, a substitute: there is no p10 without samples).";
  if (bare > 0)
    caption += " " + std::to_string(bare) + " cells have no band: their rows carry no samples or percentiles (a " +
               "CSV export has neither).";
  return out + "<p class=\"how\">" + EscapeHtml(caption) + "</p>\n";
}

std::string LatencySection(const std::vector<CellSummary>& cells) {
  const std::string charts =
      ModelLatencyCharts(cells, "Latency vs length per model (forward)", "sequence length", "median latency (ms)");
  if (charts.empty()) return "";
  return Section("latency", "Latency vs length per model",
                 "One line per model through the median latency of one forward at each length it ran ok, one chart "
                 "per category, with the spread of its samples as a band.",
                 charts);
}

std::string DecodeScalingCharts(const std::vector<DecodeSeries>& series) {
  const auto qualified = QualifiedLabels(series);
  std::vector<Series> ttft, tpot, kv;
  for (size_t i = 0; i < series.size(); ++i) {
    const DecodeSeries& s = series[i];
    const std::string label = DecodeSeriesLabel(s, qualified[i]);
    Series t{label + LegendFit(s.ttft_fit, s.points.size()), {}}, p{label + LegendFit(s.tpot_fit, s.points.size()), {}},
        k{label + LegendFit(s.kv_fit, s.points.size()), {}};
    for (const auto& point : s.points) {
      t.points.emplace_back(point.seq_len, point.ttft_ms);
      p.points.emplace_back(point.seq_len, point.tpot_ms);
      if (point.kv_cache_bytes > 0) k.points.emplace_back(point.seq_len, point.kv_cache_bytes / 1048576.0);
    }
    ttft.push_back(std::move(t));
    tpot.push_back(std::move(p));
    kv.push_back(std::move(k));
  }
  return LineChart(ttft, {"TTFT vs prompt length (decode)", "prompt length", "time to first token (ms)", true, true}) +
         LineChart(tpot,
                   {"TPOT vs prompt length (decode)", "prompt length", "time per output token (ms)", true, true}) +
         LineChart(kv, {"KV cache vs prompt length per model (decode)", "prompt length", "KV cache (MiB)", true, true});
}

// Decode cells in a section of their own: none of their figures enters the forward sections above.
std::string DecodeSection(const std::vector<Row>& rows, const std::vector<CellSummary>& decode_cells) {
  if (decode_cells.empty()) return "";
  const auto series = DecodeScaling(rows);
  const auto qualified = QualifiedLabels(series);
  HtmlTable scaling({"model", "variant", "batch", "new tokens", "lengths", "TTFT exponent", "TPOT exponent",
                     "KV cache exponent", "prefill lengths", "prefill exponent"});
  std::string comparisons = "<ul>\n";
  for (size_t i = 0; i < series.size(); ++i) {
    scaling.Add(DecodeScalingRowCells(series[i]));
    comparisons += "<li>" + EscapeHtml(DecodeComparison(series[i], qualified[i])) + "</li>\n";
  }
  comparisons += "</ul>\n";
  const auto rates = DecodeThroughputByCategoryLength(decode_cells);
  HtmlTable rate_table({"category", "prompt length", "models", "decode tokens/s median [q1–q3]"});
  for (const auto& e : rates)
    rate_table.Add(
        {e.category, std::to_string(e.seq_len), std::to_string(e.tokens_per_s.n), HtmlSpreadText(e.tokens_per_s, 1)});
  const std::string rate_chart =
      LineChart(CategorySeries(rates, [](const CategoryThroughput& e) { return e.tokens_per_s.median; }),
                {"Decode tokens/s vs prompt length by category", "prompt length", "decode tokens/s", true, true});
  HtmlTable table({"model", "category", "prompt length", "new tokens", "jobs", "ok", "outcome", "TTFT ms", "TPOT ms",
                   "decode tokens/s", "KV cache MiB", "peak MiB"});
  for (const auto& cell : decode_cells) table.Add(DecodeRowCells(cell));
  const std::string how =
      "Exponents: the slope k of a least-squares fit of log y on log prompt length (y = c n^k) over the ok "
      "lengths of one model, variant, batch and new-token count; none below " +
      std::to_string(kMinDecodeFitLengths) +
      " lengths. Prefill: the median forward latency of the same model, variant and batch.";
  return Section("decode", "Decode: time to first token and per output token",
                 "Workload decode: each timed generation prefills the prompt with a KV cache (time to first token, "
                 "TTFT), then generates the remaining tokens one by one (time per output token, TPOT). Medians over "
                 "the cell's ok jobs; decode tokens/s = batch ÷ median TPOT; the KV cache as allocated.",
                 DecodeScalingCharts(series) + "<p class=\"how\">" + EscapeHtml(how) + "</p>\n" +
                     scaling.Render("num models") + comparisons + rate_chart + rate_table.Render("num") +
                     ModelLatencyCharts(decode_cells, "Generation latency vs prompt length per model (decode)",
                                        "prompt length", "median generation latency (ms)") +
                     table.Render("num models"));
}

}  // namespace

std::string RenderHtml(const std::vector<Row>& rows, const HtmlReportOptions& options) {
  const auto cells = Cells(rows);  // forward cells: every section but the decode one reads these
  const auto decode_cells = Cells(rows, v1::WORKLOAD_DECODE);
  const auto models = ScalingByModel(cells);
  std::set<int> lengths;
  size_t decode_rows = 0, train_rows = 0;
  for (const auto& row : rows) {
    lengths.insert(row.seq_len);
    decode_rows += row.workload == v1::WORKLOAD_DECODE;
    train_rows += row.workload == v1::WORKLOAD_TRAIN;
  }
  std::string apart;  // the workloads with sections of their own
  if (decode_rows > 0) apart = std::to_string(decode_rows) + " decode";
  if (train_rows > 0) apart += (apart.empty() ? "" : ", ") + std::to_string(train_rows) + " train";
  if (!apart.empty())
    apart = " (" + apart + ", in their own section" + (decode_rows > 0 && train_rows > 0 ? "s)" : ")");

  std::string out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" +
                    EscapeHtml(options.title) + "</title>\n" + ReportStyle() + "\n</head>\n<body>\n";
  out += "<h1>" + EscapeHtml(options.title) + "</h1>\n";
  out += "<p class=\"scope\">" + EscapeHtml(options.scope + (options.scope.empty() ? "" : ": ")) +
         std::to_string(rows.size()) + " finished jobs" + apart + ", " + std::to_string(models.size()) +
         " distinct models, " + std::to_string(lengths.size()) + " lengths. Formulas: docs/report.md.</p>\n";
  out += WallSection(cells);
  out += ThroughputSection(cells);
  out += LatencySection(cells);
  out += MemorySection(cells);
  out += EfficiencySection(models);
  out += ModelsSection(models);
  out += DecodeSection(rows, decode_cells);
  out += TrainHtmlSection(rows);
  out += CrossoverHtmlSection(rows);
  out += WallsSection(Walls(rows));
  out += StudyComparisonSection(rows, cells);
  out += "</body>\n</html>\n";
  return out;
}

}  // namespace tscale::report
