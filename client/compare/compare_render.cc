#include "client/compare/compare_render.h"

#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "client/report/svg_chart.h"
#include "client/table.h"
#include "common/outcome.h"

namespace tscale::compare {
namespace {

using Align = TextTable::Align;
// Insertion order, so the JSON reads in the order the fields are documented.
using Json = nlohmann::ordered_json;

// A failure message on one table line: line breaks flattened and cut at `limit` bytes (not inside a UTF-8
// character), since a runner's message can be a whole traceback.
std::string OneLine(const std::string& text, size_t limit = 60) {
  std::string out;
  for (char c : text) out += c == '\n' || c == '\r' || c == '\t' ? ' ' : c;
  if (out.size() <= limit) return out;
  size_t cut = limit;
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
  return out.substr(0, cut) + "...";
}

std::string MiB(int64_t bytes) {
  return bytes > 0 ? FormatMiB(bytes) : "-";
}

// The message of the side that fails, for a regression or fix: what a reader needs to see why.
std::string FailureMessage(const CellComparison& c) {
  if (!c.head.works && !c.head.message.empty()) return "head: " + OneLine(c.head.message);
  if (!c.base.works && !c.base.message.empty()) return "base: " + OneLine(c.base.message);
  return "";
}

std::string SpeedDetail(const CellComparison& c) {
  return MillisecondsText(c.speed.base_median_ms) + " -> " + MillisecondsText(c.speed.head_median_ms) + " ms, ratio " +
         RatioText(c.speed) + ", p " + PValueText(c.speed);
}

std::string EnvironmentText(const std::vector<EnvironmentField>& fields) {
  if (fields.empty())
    return "Environment: not recorded on either side (rows without environment columns, e.g. an older CSV)\n";
  size_t differing = 0;
  for (const auto& f : fields) differing += f.differs;
  std::string out;
  if (differing == 0) {
    out = "Environment: the same on both sides\n";
  } else {
    out = "Environment: " + std::to_string(differing) + " of " + std::to_string(fields.size()) +
          " fields differ (marked *)\n";
    TextTable table;
    table.AddColumn("");
    table.AddColumn("field");
    table.AddColumn("base");
    table.AddColumn("head");
    for (const auto& f : fields)
      if (f.differs) table.AddRow({"*", f.name, EnvironmentValues(f.base), EnvironmentValues(f.head)});
    out += table.Render();
  }
  std::string same;
  for (const auto& f : fields)
    if (!f.differs) same += (same.empty() ? "" : "; ") + f.name + " " + EnvironmentValues(f.base);
  if (!same.empty()) out += "same on both sides: " + same + "\n";
  return out;
}

std::string RegressionsText(const std::vector<CellComparison>& cells) {
  TextTable table;
  table.AddColumn("cell");
  table.AddColumn("regression");
  table.AddColumn("detail");
  size_t n = 0;
  // Outcome regressions first: a cell that stopped working matters more than one that got slower.
  for (const auto& c : cells)
    if (c.outcome_change == OutcomeChange::kRegressed) {
      table.AddRow({CellName(c.key), OutcomeChangeText(c), FailureMessage(c)});
      ++n;
    }
  for (const auto& c : cells)
    if (c.outcome_change != OutcomeChange::kRegressed && c.speed.verdict == Verdict::kSlower) {
      table.AddRow({CellName(c.key), "slower", SpeedDetail(c)});
      ++n;
    }
  if (n == 0) return "Regressions: none\n";
  return "Regressions: " + std::to_string(n) + "\n" + table.Render();
}

std::string OutcomeChangesText(const std::vector<CellComparison>& cells) {
  TextTable table;
  table.AddColumn("cell");
  table.AddColumn("change");
  table.AddColumn("outcome");
  table.AddColumn("detail");
  size_t n = 0;
  for (const auto& c : cells)
    if (c.outcome_change != OutcomeChange::kSame && c.outcome_change != OutcomeChange::kRegressed) {
      table.AddRow({CellName(c.key), OutcomeChangeName(c.outcome_change), OutcomeChangeText(c), FailureMessage(c)});
      ++n;
    }
  return n == 0 ? "" : "Other outcome changes: " + std::to_string(n) + "\n" + table.Render();
}

std::string WallsText(const std::vector<WallChange>& walls) {
  if (walls.empty()) return "";
  TextTable table;
  table.AddColumn("series");
  table.AddColumn("base");
  table.AddColumn("head");
  for (const auto& w : walls) table.AddRow({CellName(w.series), WallSideText(w.base), WallSideText(w.head)});
  return "Wall changes: " + std::to_string(walls.size()) + "\n" + table.Render();
}

std::string MemoryText(const Comparison& comparison) {
  TextTable table;
  table.AddColumn("cell");
  table.AddColumn("memory");
  table.AddColumn("base_MiB", Align::kRight);
  table.AddColumn("head_MiB", Align::kRight);
  table.AddColumn("ratio", Align::kRight);
  size_t n = 0;
  for (const auto& c : comparison.cells)
    if (c.memory_changed) {
      const MemoryFigures m = MemoryOf(c);
      table.AddRow({CellName(c.key), m.kind, MiB(m.base_bytes), MiB(m.head_bytes), FormatFixed(c.memory_ratio, 3)});
      ++n;
    }
  if (n == 0) return "";
  return "Peak-memory changes beyond " + PercentText(comparison.options.memory_threshold) + ": " + std::to_string(n) +
         "\n" + table.Render();
}

std::string SpeedText(const std::vector<CellComparison>& cells) {
  if (cells.empty()) return "Matched cells: none\n";
  TextTable table;
  table.AddColumn("cell");
  table.AddColumn("base_ms", Align::kRight);
  table.AddColumn("head_ms", Align::kRight);
  table.AddColumn("ratio [ci]", Align::kRight);
  table.AddColumn("p", Align::kRight);
  table.AddColumn("n base/head", Align::kRight);
  table.AddColumn("verdict");
  for (const auto& c : cells) {
    const Speed& s = c.speed;
    table.AddRow({CellName(c.key), MillisecondsText(s.base_median_ms), MillisecondsText(s.head_median_ms), RatioText(s),
                  PValueText(s), std::to_string(s.base_samples) + "/" + std::to_string(s.head_samples),
                  VerdictName(s.verdict)});
  }
  return "Speed (head / base median latency; above 1 = head slower):\n" + table.Render();
}

// Decode cells: which part of a generation moved, time to first token or time per output token.
std::string DecodeText(const std::vector<CellComparison>& cells) {
  TextTable table;
  table.AddColumn("cell");
  table.AddColumn("ttft base_ms", Align::kRight);
  table.AddColumn("ttft head_ms", Align::kRight);
  table.AddColumn("ttft ratio", Align::kRight);
  table.AddColumn("tpot base_ms", Align::kRight);
  table.AddColumn("tpot head_ms", Align::kRight);
  table.AddColumn("tpot ratio", Align::kRight);
  int n = 0;
  auto ratio = [](double base, double head) { return base > 0 && head > 0 ? FormatFixed(head / base, 3) : "-"; };
  for (const auto& c : cells) {
    if (c.key.workload != v1::WORKLOAD_DECODE || c.base.ok_jobs == 0 || c.head.ok_jobs == 0) continue;
    table.AddRow({CellName(c.key), MillisecondsText(c.base.ttft_ms), MillisecondsText(c.head.ttft_ms),
                  ratio(c.base.ttft_ms, c.head.ttft_ms), MillisecondsText(c.base.tpot_ms),
                  MillisecondsText(c.head.tpot_ms), ratio(c.base.tpot_ms, c.head.tpot_ms)});
    ++n;
  }
  if (n == 0) return "";
  return "Decode: time to first token and per output token (medians of the jobs' medians; no test):\n" + table.Render();
}

std::string OneSideText(const char* side, const std::vector<CellKey>& keys) {
  if (keys.empty()) return "";
  std::string out =
      "On " + std::string(side) + " only: " + std::to_string(keys.size()) + (keys.size() == 1 ? " cell\n" : " cells\n");
  for (const auto& key : keys) out += "  " + CellName(key) + "\n";
  return out;
}

Json KeyJson(const CellKey& key) {
  return Json{
      {"model_id", key.model_id},
      {"workload", WorkloadName(key.workload)},
      {"seq_len", key.seq_len},
      {"batch", key.batch},
      {"variant", key.variant},
      {"checkpointing", key.checkpointing == v1::CHECKPOINTING_UNSPECIFIED ? "" : CheckpointingName(key.checkpointing)},
      {"new_tokens", key.new_tokens}};
}

Json OutcomeJson(v1::Outcome outcome) {
  return outcome == v1::OUTCOME_UNSPECIFIED ? Json(nullptr) : Json(OutcomeName(outcome));
}

Json SideJson(const CellSide& s) {
  return Json{{"jobs", s.jobs},
              {"ok_jobs", s.ok_jobs},
              {"outcome", OutcomeJson(s.outcome)},
              {"works", s.works},
              {"median_ms", s.median_ms},
              {"ttft_ms", s.ttft_ms},
              {"tpot_ms", s.tpot_ms},
              {"samples_ms", s.samples_ms},
              {"peak_rss_bytes", s.peak_rss_bytes},
              {"device_peak_bytes", s.device_peak_bytes},
              {"extend_context", s.extend_context},
              {"context_limit", s.context_limit},
              {"message", s.message}};
}

Json WallSideJson(const WallSide& w) {
  return Json{{"max_working", w.max_working}, {"first_failing", w.first_failing}, {"cause", OutcomeJson(w.cause)}};
}

}  // namespace

const char kCompareCsvHeader[] =
    "model_id,workload,seq_len,batch,variant,checkpointing,new_tokens,base_jobs,head_jobs,base_ok_jobs,head_ok_jobs,"
    "base_median_ms,head_median_ms,ratio,ci_low,ci_high,p_value,p_exact,base_samples,head_samples,verdict,"
    "regression,base_outcome,head_outcome,outcome_change,setting_change,base_peak_rss_bytes,head_peak_rss_bytes,"
    "base_device_peak_bytes,head_device_peak_bytes,memory_ratio,memory_changed";

bool IsRegression(const CellComparison& cell) {
  return cell.speed.verdict == Verdict::kSlower || cell.outcome_change == OutcomeChange::kRegressed;
}

std::string OutcomeText(v1::Outcome outcome) {
  return outcome == v1::OUTCOME_UNSPECIFIED ? "-" : OutcomeName(outcome);
}

std::string OutcomeChangeText(const CellComparison& cell) {
  std::string text = OutcomeText(cell.base.outcome) + " -> " + OutcomeText(cell.head.outcome);
  if (!cell.setting_change.empty()) text += " (" + cell.setting_change + ")";
  return text;
}

std::string WallSideText(const WallSide& wall) {
  std::string text = wall.max_working > 0 ? "works up to " + std::to_string(wall.max_working) : "nothing works";
  if (wall.first_failing > 0)
    text += ", " + OutcomeText(wall.cause) + " at " + std::to_string(wall.first_failing);
  else if (wall.max_working > 0)
    text += ", nothing above fails";
  return text;
}

std::string RatioText(const Speed& speed, const std::string& dash) {
  if (speed.ratio <= 0) return "-";
  std::string text = FormatFixed(speed.ratio, 3);
  if (speed.ci.high > 0) text += " [" + FormatFixed(speed.ci.low, 3) + dash + FormatFixed(speed.ci.high, 3) + "]";
  return text;
}

std::string PValueText(const Speed& speed) {
  if (speed.ratio <= 0 || speed.base_samples == 0 || speed.head_samples == 0) return "-";
  char buffer[32];
  // Four decimals read best down to 0.001; below, the exponent is what matters.
  if (speed.p_value >= 0.001)
    std::snprintf(buffer, sizeof buffer, "%.4f", speed.p_value);
  else
    std::snprintf(buffer, sizeof buffer, "%.1e", speed.p_value);
  return buffer;
}

std::string PercentText(double fraction) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.4g%%", 100 * fraction);
  return buffer;
}

std::string MillisecondsText(double ms) {
  if (ms <= 0) return "-";
  return FormatFixed(ms, ms >= 100 ? 1 : ms >= 1 ? 2 : 3);
}

std::string EnvironmentValues(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& v : values)
    if (!v.empty()) out += (out.empty() ? "" : ", ") + v;
  return out.empty() ? "-" : out;
}

MemoryFigures MemoryOf(const CellComparison& cell) {
  if (cell.base.device_peak_bytes > 0 && cell.head.device_peak_bytes > 0)
    return {"device", cell.base.device_peak_bytes, cell.head.device_peak_bytes};
  return {"rss", cell.base.peak_rss_bytes, cell.head.peak_rss_bytes};
}

VerdictCounts CountVerdicts(const Comparison& comparison) {
  VerdictCounts counts;
  for (const auto& c : comparison.cells) switch (c.speed.verdict) {
      case Verdict::kFaster:
        ++counts.faster;
        break;
      case Verdict::kSlower:
        ++counts.slower;
        break;
      case Verdict::kNoChange:
        ++counts.no_change;
        break;
      case Verdict::kTooFewSamples:
        ++counts.too_few_samples;
        break;
      case Verdict::kNotComparable:
        ++counts.not_comparable;
        break;
    }
  return counts;
}

std::string SummaryLine(const Comparison& comparison) {
  const VerdictCounts v = CountVerdicts(comparison);
  size_t regressions = 0;
  for (const auto& c : comparison.cells) regressions += IsRegression(c);
  const Options& o = comparison.options;
  return std::to_string(comparison.cells.size()) + " matched cells: " + std::to_string(v.faster) + " faster, " +
         std::to_string(v.slower) + " slower, " + std::to_string(v.no_change) + " no change, " +
         std::to_string(v.too_few_samples) + " too few samples, " + std::to_string(v.not_comparable) +
         " not comparable; " + std::to_string(comparison.base_only.size()) + " on base only, " +
         std::to_string(comparison.head_only.size()) + " on head only; " + std::to_string(regressions) +
         (regressions == 1 ? " regression" : " regressions") + ". threshold " + PercentText(o.threshold) + ", alpha " +
         report::DataNumber(o.alpha) + ", confidence " + PercentText(o.confidence) + ", " +
         std::to_string(o.bootstrap_resamples) + " resamples, seed " + std::to_string(o.seed) +
         "; a verdict needs at least " + std::to_string(MinimumSamplesPerSide(o.alpha)) +
         " samples a side at this alpha.";
}

std::string RenderCompareText(const Comparison& comparison) {
  std::string out = EnvironmentText(comparison.environment);
  for (const std::string& section :
       {RegressionsText(comparison.cells), OutcomeChangesText(comparison.cells), WallsText(comparison.walls),
        MemoryText(comparison), SpeedText(comparison.cells), DecodeText(comparison.cells),
        OneSideText("base", comparison.base_only), OneSideText("head", comparison.head_only)})
    if (!section.empty()) out += "\n" + section;
  return out + "\n" + SummaryLine(comparison) + "\n";
}

std::string RenderCompareCsv(const Comparison& comparison) {
  using report::DataNumber;
  std::ostringstream out;
  out << kCompareCsvHeader << "\n";
  auto outcome = [](v1::Outcome o) { return o == v1::OUTCOME_UNSPECIFIED ? std::string() : OutcomeName(o); };
  for (const auto& c : comparison.cells) {
    const CellKey& k = c.key;
    const Speed& s = c.speed;
    out << CsvField(k.model_id) << "," << WorkloadName(k.workload) << "," << k.seq_len << "," << k.batch << ","
        << CsvField(k.variant) << ","
        << (k.checkpointing == v1::CHECKPOINTING_UNSPECIFIED ? "" : CheckpointingName(k.checkpointing)) << ","
        << k.new_tokens << "," << c.base.jobs << "," << c.head.jobs << "," << c.base.ok_jobs << "," << c.head.ok_jobs
        << "," << DataNumber(s.base_median_ms) << "," << DataNumber(s.head_median_ms) << "," << DataNumber(s.ratio)
        << "," << DataNumber(s.ci.low) << "," << DataNumber(s.ci.high) << "," << DataNumber(s.p_value) << ","
        << (s.exact ? 1 : 0) << "," << s.base_samples << "," << s.head_samples << ","
        << CsvField(VerdictName(s.verdict)) << "," << (IsRegression(c) ? 1 : 0) << "," << outcome(c.base.outcome) << ","
        << outcome(c.head.outcome) << "," << CsvField(OutcomeChangeName(c.outcome_change)) << ","
        << CsvField(c.setting_change) << "," << c.base.peak_rss_bytes << "," << c.head.peak_rss_bytes << ","
        << c.base.device_peak_bytes << "," << c.head.device_peak_bytes << "," << DataNumber(c.memory_ratio) << ","
        << (c.memory_changed ? 1 : 0) << "\n";
  }
  return out.str();
}

std::string RenderCompareJson(const Comparison& comparison) {
  const Options& o = comparison.options;
  const VerdictCounts v = CountVerdicts(comparison);
  Json doc;
  doc["options"] = Json{{"threshold", o.threshold},
                        {"alpha", o.alpha},
                        {"memory_threshold", o.memory_threshold},
                        {"confidence", o.confidence},
                        {"bootstrap_resamples", o.bootstrap_resamples},
                        {"seed", o.seed}};
  doc["minimum_samples_per_side"] = MinimumSamplesPerSide(o.alpha);
  doc["has_regression"] = comparison.HasRegression();
  doc["summary"] = Json{{"matched", comparison.cells.size()},
                        {"faster", v.faster},
                        {"slower", v.slower},
                        {"no_change", v.no_change},
                        {"too_few_samples", v.too_few_samples},
                        {"not_comparable", v.not_comparable},
                        {"base_only", comparison.base_only.size()},
                        {"head_only", comparison.head_only.size()},
                        {"walls_changed", comparison.walls.size()}};
  Json environment = Json::array();
  for (const auto& f : comparison.environment)
    environment.push_back(Json{{"name", f.name}, {"base", f.base}, {"head", f.head}, {"differs", f.differs}});
  doc["environment"] = std::move(environment);
  Json cells = Json::array();
  for (const auto& c : comparison.cells) {
    const Speed& s = c.speed;
    cells.push_back(Json{{"key", KeyJson(c.key)},
                         {"name", CellName(c.key)},
                         {"base", SideJson(c.base)},
                         {"head", SideJson(c.head)},
                         {"speed", Json{{"base_samples", s.base_samples},
                                        {"head_samples", s.head_samples},
                                        {"base_median_ms", s.base_median_ms},
                                        {"head_median_ms", s.head_median_ms},
                                        {"ratio", s.ratio},
                                        {"ci_low", s.ci.low},
                                        {"ci_high", s.ci.high},
                                        {"p_value", s.p_value},
                                        {"exact", s.exact},
                                        {"verdict", VerdictName(s.verdict)}}},
                         {"outcome_change", OutcomeChangeName(c.outcome_change)},
                         {"setting_change", c.setting_change},
                         {"memory_ratio", c.memory_ratio},
                         {"memory_changed", c.memory_changed},
                         {"regression", IsRegression(c)}});
  }
  doc["cells"] = std::move(cells);
  auto keys = [](const std::vector<CellKey>& list) {
    Json out = Json::array();
    for (const auto& key : list) out.push_back(KeyJson(key));
    return out;
  };
  doc["base_only"] = keys(comparison.base_only);
  doc["head_only"] = keys(comparison.head_only);
  Json walls = Json::array();
  for (const auto& w : comparison.walls)
    walls.push_back(Json{{"series", KeyJson(w.series)},
                         {"name", CellName(w.series)},
                         {"base", WallSideJson(w.base)},
                         {"head", WallSideJson(w.head)}});
  doc["walls"] = std::move(walls);
  // Text from a hand-edited CSV may not be UTF-8: replace bad bytes rather than throw out of dump().
  return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace tscale::compare
