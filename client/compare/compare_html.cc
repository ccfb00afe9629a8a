#include "client/compare/compare_html.h"

#include <algorithm>
#include <map>

#include "client/compare/compare_render.h"
#include "client/report/html_parts.h"
#include "client/report/svg_chart.h"
#include "client/table.h"

namespace tscale::compare {
namespace {

using report::EscapeHtml;
using report::HtmlTable;
using report::Section;

// Verdict rows and points: red for slower, green for faster, the rest quiet. The shapes repeat the meaning for a
// reader who cannot tell the colours apart (a ratio up is a triangle up).
struct VerdictStyle {
  Verdict verdict;
  const char* row_class;
  const char* color;
  report::PointShape shape;
};
const VerdictStyle kVerdictStyles[] = {
    {Verdict::kSlower, "slower", "#D55E00", report::PointShape::kTriangleUp},
    {Verdict::kFaster, "faster", "#009E73", report::PointShape::kTriangleDown},
    {Verdict::kNoChange, "same", "#0072B2", report::PointShape::kCircle},
    {Verdict::kTooFewSamples, "few", "#7F7F7F", report::PointShape::kRing},
    {Verdict::kNotComparable, "na", "#7F7F7F", report::PointShape::kSquare},
};

const VerdictStyle& StyleOf(Verdict verdict) {
  for (const auto& s : kVerdictStyles)
    if (s.verdict == verdict) return s;
  return kVerdictStyles[4];
}

// The row class of a cell in the tables: a regressed outcome is marked like a slowdown.
std::string RowClass(const CellComparison& c) {
  return c.outcome_change == OutcomeChange::kRegressed ? "slower" : StyleOf(c.speed.verdict).row_class;
}

// The page's own rules, after the report's stylesheet (ReportStyle) so that everything else looks the same.
const char kCompareStyle[] = R"(<style>
tr.slower td{background:#fbe3da}tr.faster td{background:#e0f2ea}tr.few td,tr.na td{color:#777}
table.cells td:nth-child(7),table.cells td:last-child,table.regr td:nth-child(2),table.regr td:last-child{text-align:left}
table.left td{text-align:left}
table.cells td,table.regr td,th{white-space:nowrap}table.cells td:first-child,table.cells td:nth-child(7){white-space:normal}
table.regr td:last-child{white-space:normal}table.mem td:nth-child(2){text-align:left}
.differs{font-weight:bold}.none{color:#555}
</style>)";

std::string SpeedDetail(const CellComparison& c) {
  return "p " + PValueText(c.speed) + ", n " + std::to_string(c.speed.base_samples) + "/" +
         std::to_string(c.speed.head_samples);
}

std::string FailureDetail(const CellComparison& c) {
  if (!c.head.works && !c.head.message.empty()) return "head: " + c.head.message;
  if (!c.base.works && !c.base.message.empty()) return "base: " + c.base.message;
  return "";
}

std::string RegressionsSection(const Comparison& comparison) {
  HtmlTable table({"cell", "regression", "base ms", "head ms", "ratio [ci]", "detail"});
  for (const auto& c : comparison.cells)  // outcome regressions first, as in the text
    if (c.outcome_change == OutcomeChange::kRegressed)
      table.Add({CellName(c.key), OutcomeChangeText(c), MillisecondsText(c.speed.base_median_ms),
                 MillisecondsText(c.speed.head_median_ms), RatioText(c.speed, "–"), FailureDetail(c)},
                "slower");
  for (const auto& c : comparison.cells)
    if (c.outcome_change != OutcomeChange::kRegressed && c.speed.verdict == Verdict::kSlower)
      table.Add({CellName(c.key), "slower", MillisecondsText(c.speed.base_median_ms),
                 MillisecondsText(c.speed.head_median_ms), RatioText(c.speed, "–"), SpeedDetail(c)},
                "slower");
  const std::string body =
      table.empty() ? "<p class=\"none\">None: no cell is slower beyond the threshold with p &lt; alpha, and no cell "
                      "that worked on base fails on head.</p>\n"
                    : table.Render("num regr");
  return Section("regressions", "Regressions",
                 "What --fail-on-regression exits 4 for: a cell that worked on base and fails on head, or whose "
                 "median latency is higher on head by more than the threshold with a Mann–Whitney p-value below "
                 "alpha.",
                 body);
}

// One chart per series, the series with a slowdown first; its points split by verdict so that the legend says
// what each colour and shape means.
std::string RatioChartsSection(const Comparison& comparison) {
  std::map<CellKey, std::vector<const CellComparison*>> by_series;
  for (const auto& c : comparison.cells) {
    CellKey series = c.key;
    series.seq_len = 0;
    by_series[series].push_back(&c);
  }
  std::vector<std::pair<bool, std::string>> charts;  // (has a regression, the chart)
  size_t without_ratio = 0;
  const double t = comparison.options.threshold;
  const std::string threshold = PercentText(t);
  const std::vector<report::Reference> references = {{1, "1: no change", false},
                                                     {1 + t, "+" + threshold + " threshold", true},
                                                     {1 - t, "−" + threshold + " threshold", true}};
  for (const auto& [series, cells] : by_series) {
    std::vector<report::Series> lines;
    // A length that stopped working has no ratio to draw: a marker says where and how it failed.
    std::vector<report::Marker> failures;
    for (const CellComparison* c : cells)
      if (c->outcome_change == OutcomeChange::kRegressed)
        failures.push_back({static_cast<double>(c->key.seq_len),
                            std::to_string(c->key.seq_len) + ": " + OutcomeChangeText(*c) + " on head", -1});
    bool regression = !failures.empty();
    for (const auto& style : kVerdictStyles) {
      report::Series s{VerdictName(style.verdict), {}};
      s.color = style.color;
      s.join = false;
      s.shape = style.shape;
      for (const CellComparison* c : cells) {
        if (c->speed.verdict != style.verdict || c->speed.ratio <= 0) continue;
        s.points.emplace_back(c->key.seq_len, c->speed.ratio);
        if (c->speed.ci.high > 0)
          s.error_bars.push_back({static_cast<double>(c->key.seq_len), c->speed.ci.low, c->speed.ci.high});
        regression = regression || IsRegression(*c);
      }
      if (!s.points.empty()) lines.push_back(std::move(s));
    }
    if (lines.empty()) {
      ++without_ratio;
      continue;
    }
    charts.emplace_back(regression, report::LineChart(lines,
                                                      {"head ÷ base: " + CellName(series), "sequence length",
                                                       "head ÷ base median latency", true, true},
                                                      failures, references));
  }
  if (charts.empty() && without_ratio == 0) return "";
  std::stable_sort(charts.begin(), charts.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::string body;
  for (const auto& chart : charts) body += chart.second;
  if (without_ratio > 0)
    body += "<p class=\"how\">" + std::to_string(without_ratio) +
            (without_ratio == 1 ? " series has" : " series have") +
            " no ratio to draw: no length ran ok on both sides (see the outcome changes).</p>\n";
  const Options& o = comparison.options;
  return Section("ratios", "Head ÷ base median latency by length",
                 "Per series, the ratio of head's median latency to base's at each length both ran ok (log–log; "
                 "above 1 = head slower). Bars: the seeded percentile bootstrap " +
                     PercentText(o.confidence) +
                     " interval of the ratio. Solid line: no change; dashed: the threshold either side. Triangles "
                     "up: slower, down: faster (beyond the threshold with p < " +
                     report::DataNumber(o.alpha) +
                     "); circles: no significant change; rings: too few samples for the test to decide. A "
                     "vertical line marks a length that worked on base and fails on head.",
                 body);
}

std::string EnvironmentSection(const std::vector<EnvironmentField>& fields) {
  HtmlTable differs({"field", "base", "head"}), same({"field", "both sides"});
  for (const auto& f : fields) {
    if (f.differs)
      differs.Add({f.name, EnvironmentValues(f.base), EnvironmentValues(f.head)}, "differs");
    else
      same.Add({f.name, EnvironmentValues(f.base)});
  }
  std::string body;
  if (fields.empty())
    body =
        "<p class=\"none\">Not recorded on either side (rows without environment columns, e.g. an older "
        "CSV).</p>\n";
  else if (differs.empty())
    body = "<p class=\"none\">No field differs.</p>\n";
  else
    body = differs.Render("left");
  if (!same.empty()) body += "<p>The same on both sides:</p>\n" + same.Render("left");
  return Section("environment", "Environments",
                 "Over each side's jobs that recorded an environment: the distinct values of each field, those that "
                 "differ first.",
                 body);
}

std::string OutcomesSection(const std::vector<CellComparison>& cells) {
  HtmlTable table({"cell", "change", "outcome", "detail"});
  for (const auto& c : cells)
    if (c.outcome_change != OutcomeChange::kSame)
      table.Add({CellName(c.key), OutcomeChangeName(c.outcome_change), OutcomeChangeText(c), FailureDetail(c)},
                c.outcome_change == OutcomeChange::kRegressed ? "slower"
                : c.outcome_change == OutcomeChange::kFixed   ? "faster"
                                                              : "");
  if (table.empty()) return "";
  return Section("outcomes", "Outcome changes",
                 "Cells whose outcome differs: regressed (worked on base, fails on head), fixed (the reverse), cause "
                 "changed (fails on both, for different reasons), validity changed (ok on one side, invalid on the "
                 "other), unknown (a side has only cancelled or lost jobs). "
                 "In brackets, the context setting that differs between the sides, which usually explains a fix.",
                 table.Render("left"));
}

std::string WallsSection(const std::vector<WallChange>& walls) {
  if (walls.empty()) return "";
  HtmlTable table({"series", "base", "head"});
  for (const auto& w : walls) table.Add({CellName(w.series), WallSideText(w.base), WallSideText(w.head)});
  return Section("walls", "Wall changes",
                 "Per series whose wall differs: the longest length that works on each side, and the first failing "
                 "length above it with its outcome.",
                 table.Render("left"));
}

std::string MemorySection(const Comparison& comparison) {
  HtmlTable table({"cell", "memory", "base MiB", "head MiB", "ratio"});
  for (const auto& c : comparison.cells)
    if (c.memory_changed) {
      const MemoryFigures m = MemoryOf(c);
      table.Add({CellName(c.key), m.kind, m.base_bytes > 0 ? FormatMiB(m.base_bytes) : "-",
                 m.head_bytes > 0 ? FormatMiB(m.head_bytes) : "-", FormatFixed(c.memory_ratio, 3)},
                c.memory_ratio > 1 ? "slower" : "faster");
    }
  if (table.empty()) return "";
  return Section("memory", "Peak-memory changes",
                 "Cells whose peak memory changed by more than " + PercentText(comparison.options.memory_threshold) +
                     ": the device allocator's peak where both sides have one, else the runner's peak RSS.",
                 table.Render("num mem"));
}

std::string CellsSection(const std::vector<CellComparison>& cells) {
  if (cells.empty()) return "";
  HtmlTable table({"cell", "base ms", "head ms", "ratio [ci]", "p", "n base/head", "outcome", "verdict"});
  for (const auto& c : cells) {
    const Speed& s = c.speed;
    const std::string outcome = c.base.outcome == c.head.outcome ? OutcomeText(c.base.outcome) : OutcomeChangeText(c);
    table.Add({CellName(c.key), MillisecondsText(s.base_median_ms), MillisecondsText(s.head_median_ms),
               RatioText(s, "–"), PValueText(s), std::to_string(s.base_samples) + "/" + std::to_string(s.head_samples),
               outcome, VerdictName(s.verdict)},
              RowClass(c));
  }
  return Section("cells", "Every matched cell",
                 "Median latency over each side's pooled raw samples; ratio = head ÷ base with its bootstrap "
                 "interval; p: the two-sided Mann–Whitney U test on the raw samples; n: samples per side.",
                 table.Render("num cells"));
}

std::string OneSideSection(const Comparison& comparison) {
  if (comparison.base_only.empty() && comparison.head_only.empty()) return "";
  HtmlTable table({"side", "cell"});
  for (const auto& key : comparison.base_only) table.Add({"base only", CellName(key)});
  for (const auto& key : comparison.head_only) table.Add({"head only", CellName(key)});
  return Section("one-side", "Cells on one side only",
                 "Not compared: the other side has no job with this model, workload, length, batch and variant.",
                 table.Render("left"));
}

// "threads 1 vs 2; host a vs b": what a reader comparing hosts wants before anything else.
std::string DifferencesLine(const std::vector<EnvironmentField>& fields) {
  std::string line;
  for (const auto& f : fields)
    if (f.differs)
      line +=
          (line.empty() ? "" : "; ") + f.name + " " + EnvironmentValues(f.base) + " vs " + EnvironmentValues(f.head);
  if (fields.empty()) return "The environments were not recorded on either side (e.g. an older CSV).";
  return line.empty() ? "The environments do not differ." : "The environments differ in: " + line + ".";
}

}  // namespace

std::string RenderCompareHtml(const Comparison& comparison, const std::string& title) {
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" +
                    EscapeHtml(title) + "</title>\n" + report::ReportStyle() + "\n" + kCompareStyle +
                    "\n</head>\n<body>\n";
  out += "<h1>" + EscapeHtml(title) + "</h1>\n";
  out += "<p class=\"scope\">" + EscapeHtml(SummaryLine(comparison)) + "</p>\n";
  out += "<p class=\"scope\">" + EscapeHtml(DifferencesLine(comparison.environment)) + "</p>\n";
  out += RegressionsSection(comparison);
  out += RatioChartsSection(comparison);
  out += EnvironmentSection(comparison.environment);
  out += OutcomesSection(comparison.cells);
  out += WallsSection(comparison.walls);
  out += MemorySection(comparison);
  out += CellsSection(comparison.cells);
  out += OneSideSection(comparison);
  out += "</body>\n</html>\n";
  return out;
}

}  // namespace tscale::compare
