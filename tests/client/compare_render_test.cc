// compare's outputs (client/compare/compare_render.h, compare_html.h) on a hand-made Comparison: what comes first,
// what is marked, that CSV and JSON read back to the same figures, and that the HTML is well formed, escaped and
// draws the intervals it was given.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "client/compare/compare.h"
#include "client/compare/compare_html.h"
#include "client/compare/compare_render.h"
#include "client/html_well_formed.h"
#include "client/report/svg_chart.h"

namespace tscale::compare {
namespace {

using report::ChartTitled;
using report::Count;
using report::SectionOf;
using report::WellFormedError;

CellKey Key(const std::string& model, int len) {
  CellKey key;
  key.model_id = model;
  key.seq_len = len;
  key.variant = "fp32/eager";
  return key;
}

CellSide Side(v1::Outcome outcome, double median_ms, int samples, const std::string& message = "") {
  CellSide side;
  side.jobs = 1;
  side.ok_jobs = outcome == v1::OUTCOME_OK ? 1 : 0;
  side.outcome = outcome;
  side.works = outcome == v1::OUTCOME_OK;
  side.median_ms = side.ok_jobs ? median_ms : 0;
  if (side.ok_jobs)
    for (int i = 0; i < samples; ++i) side.samples_ms.push_back(median_ms + 0.01 * i);
  side.peak_rss_bytes = side.ok_jobs ? int64_t{400} << 20 : 0;
  side.message = message;
  return side;
}

CellComparison Cell(const CellKey& key, CellSide base, CellSide head, Verdict verdict, double ratio, Interval ci = {},
                    double p = 1, OutcomeChange change = OutcomeChange::kSame) {
  CellComparison c;
  c.key = key;
  c.base = std::move(base);
  c.head = std::move(head);
  c.speed.base_samples = static_cast<int>(c.base.samples_ms.size());
  c.speed.head_samples = static_cast<int>(c.head.samples_ms.size());
  c.speed.base_median_ms = c.base.median_ms;
  c.speed.head_median_ms = c.head.median_ms;
  c.speed.ratio = ratio;
  c.speed.ci = ci;
  c.speed.p_value = p;
  c.speed.verdict = verdict;
  c.outcome_change = change;
  return c;
}

// Two hosts that differ in threads and hostname: a slowdown, an ok -> oom, a fix after --extend-context, a
// speed-up, a cell with too few samples (and a model id that needs CSV quoting), walls, and cells on one side.
Comparison Fixture() {
  Comparison c;
  c.environment = {{"threads", {"1"}, {"2"}, true},
                   {"host", {"lab-a"}, {"lab-b"}, true},
                   {"cpu", {"Intel Xeon"}, {"Intel Xeon"}, false},
                   {"libtorch", {"2.6.0"}, {"2.6.0"}, false}};
  const std::string quoted = "acme/gpt \"small\", v2";
  c.cells = {
      Cell(Key(quoted, 128), Side(v1::OUTCOME_OK, 5, 3), Side(v1::OUTCOME_OK, 4.85, 3), Verdict::kTooFewSamples, 0.97,
           {0.9, 1.05}, 0.1),
      Cell(Key("bert", 256), Side(v1::OUTCOME_OK, 20, 20), Side(v1::OUTCOME_OK, 16, 20), Verdict::kFaster, 0.8,
           {0.75, 0.85}, 1e-6),
      Cell(Key("bert", 512), Side(v1::OUTCOME_EXCEEDS_CONTEXT, 0, 0, "sequence length 512 exceeds the context"),
           Side(v1::OUTCOME_OK, 40, 20), Verdict::kNotComparable, 0, {}, 1, OutcomeChange::kFixed),
      Cell(Key("gpt2", 512), Side(v1::OUTCOME_OK, 50, 20), Side(v1::OUTCOME_OK, 50.5, 20), Verdict::kNoChange, 1.01,
           {0.98, 1.04}, 0.6),
      Cell(Key("gpt2", 1024), Side(v1::OUTCOME_OK, 100, 20), Side(v1::OUTCOME_OK, 112, 20), Verdict::kSlower, 1.12,
           {1.08, 1.17}, 0.0004),
      Cell(Key("gpt2", 2048), Side(v1::OUTCOME_OK, 250, 20), Side(v1::OUTCOME_OOM, 0, 0, "CUDA out of memory"),
           Verdict::kNotComparable, 0, {}, 1, OutcomeChange::kRegressed),
  };
  c.cells[0].memory_ratio = 1.25;
  c.cells[0].memory_changed = true;
  c.cells[0].head.peak_rss_bytes = int64_t{500} << 20;
  c.cells[2].head.extend_context = true;
  c.cells[2].setting_change = "--extend-context on head only";
  c.base_only = {Key("<b>x&y</b>", 128)};
  c.head_only = {Key("gpt2", 4096)};
  c.walls = {{Key("bert", 0), {256, 512, v1::OUTCOME_EXCEEDS_CONTEXT}, {512, 0, v1::OUTCOME_UNSPECIFIED}},
             {Key("gpt2", 0), {2048, 0, v1::OUTCOME_UNSPECIFIED}, {1024, 2048, v1::OUTCOME_OOM}}};
  return c;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// RFC 4180, independently of the code under test: quoted fields may hold commas, quotes and line breaks.
std::vector<std::vector<std::string>> ParseCsv(const std::string& text) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> record;
  std::string field;
  bool quoted = false, any = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
      continue;
    }
    any = true;
    if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      record.push_back(field);
      field.clear();
    } else if (c == '\n') {
      record.push_back(field);
      records.push_back(record);
      record.clear();
      field.clear();
      any = false;
    } else {
      field += c;
    }
  }
  EXPECT_FALSE(quoted) << "unterminated quoted field";
  EXPECT_FALSE(any) << "the last record has no line break";
  return records;
}

TEST(CompareText, TheEnvironmentDifferenceComesFirstAndIsMarked) {
  const auto lines = Lines(RenderCompareText(Fixture()));
  ASSERT_GE(lines.size(), 6u);
  EXPECT_EQ(lines[0], "Environment: 2 of 4 fields differ (marked *)");
  // Header, rule, then the differing fields in the given order, marked, base and head side by side.
  EXPECT_EQ(lines[3].substr(0, 2), "* ");
  EXPECT_NE(lines[3].find("threads"), std::string::npos);
  EXPECT_LT(lines[3].find(" 1 "), lines[3].rfind('2'));
  EXPECT_EQ(lines[3].substr(lines[3].find_last_not_of(' ')), "2");
  EXPECT_NE(lines[4].find("host"), std::string::npos);
  EXPECT_NE(lines[4].find("lab-a"), std::string::npos);
  EXPECT_EQ(lines[5], "same on both sides: cpu Intel Xeon; libtorch 2.6.0");
}

TEST(CompareText, RegressionsComeBeforeTheFullTable) {
  const std::string text = RenderCompareText(Fixture());
  const size_t regressions = text.find("Regressions: 2\n");
  ASSERT_NE(regressions, std::string::npos) << text;
  // The slower cell is named before the no-change cell, which only the full table lists.
  EXPECT_LT(text.find("gpt2 forward 1024 b1"), text.find("gpt2 forward 512 b1"));
  EXPECT_LT(regressions, text.find("gpt2 forward 1024 b1"));
  // The outcome regression first, with the head's message; then the slowdown with its figures.
  const size_t oom = text.find("gpt2 forward 2048 b1 fp32/eager  ok -> oom");
  const size_t slower = text.find("slower      100.0 -> 112.0 ms, ratio 1.120 [1.080-1.170], p 4.0e-04");
  ASSERT_NE(oom, std::string::npos) << text;
  ASSERT_NE(slower, std::string::npos) << text;
  EXPECT_LT(oom, slower);
  EXPECT_NE(text.find("head: CUDA out of memory"), std::string::npos);
  EXPECT_LT(text.find("Regressions"), text.find("Speed (head / base"));
}

TEST(CompareText, NamesOutcomeWallAndMemoryChanges) {
  const std::string text = RenderCompareText(Fixture());
  EXPECT_NE(text.find("fixed   exceeds_context -> ok (--extend-context on head only)"), std::string::npos) << text;
  // ok -> oom is a regression and is listed there, not again among the other changes.
  EXPECT_EQ(Count(text, "ok -> oom"), 1u);
  EXPECT_NE(text.find("gpt2 forward b1 fp32/eager  works up to 2048, nothing above fails    works up to 1024, oom at "
                      "2048"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("works up to 256, exceeds_context at 512"), std::string::npos);
  EXPECT_NE(text.find("Peak-memory changes beyond 10%: 1"), std::string::npos);
  EXPECT_NE(text.find("rss        400.0     500.0  1.250"), std::string::npos) << text;
  EXPECT_NE(text.find("On base only: 1 cell\n  <b>x&y</b> forward 128 b1 fp32/eager\n"), std::string::npos);
  EXPECT_NE(text.find("On head only: 1 cell\n  gpt2 forward 4096 b1 fp32/eager\n"), std::string::npos);
}

TEST(CompareText, TheSpeedTableAndTheSummaryLine) {
  const std::string text = RenderCompareText(Fixture());
  EXPECT_NE(text.find("   20.00    16.00  0.800 [0.750-0.850]  1.0e-06        20/20  faster"), std::string::npos)
      << text;
  EXPECT_NE(text.find("3/3  too few samples"), std::string::npos);
  const auto lines = Lines(text);
  // A side without an ok job: its median, the ratio and p are "-", never 0.
  const auto oom = std::find_if(lines.begin(), lines.end(), [](const std::string& line) {
    return line.rfind("gpt2 forward 2048", 0) == 0 && line.find("20/0") != std::string::npos;
  });
  ASSERT_NE(oom, lines.end()) << text;
  EXPECT_EQ(*oom,
            "gpt2 forward 2048 b1 fp32/eager                   250.0        -                    -        -         "
            "20/0  not comparable");
  EXPECT_EQ(lines.back(),
            "6 matched cells: 1 faster, 1 slower, 1 no change, 1 too few samples, 2 not comparable; 1 on base only, "
            "1 on head only; 2 regressions. threshold 5%, alpha 0.05, confidence 95%, 2000 resamples, seed 1; a "
            "verdict needs at least 4 samples a side at this alpha.");
}

TEST(CompareText, AnEmptyComparisonSaysSo) {
  const std::string text = RenderCompareText(Comparison{});
  EXPECT_NE(text.find("Environment: not recorded on either side"), std::string::npos);
  EXPECT_NE(text.find("Regressions: none\n"), std::string::npos);
  EXPECT_NE(text.find("Matched cells: none\n"), std::string::npos);
}

TEST(CompareCsv, RoundTripsThroughAParser) {
  const Comparison comparison = Fixture();
  const std::string csv = RenderCompareCsv(comparison);
  const auto records = ParseCsv(csv);
  ASSERT_EQ(records.size(), comparison.cells.size() + 1);
  const auto& header = records[0];
  ASSERT_EQ(header.size(), 32u);
  for (const auto& record : records) EXPECT_EQ(record.size(), header.size());
  auto column = [&](const std::string& name) {
    for (size_t i = 0; i < header.size(); ++i)
      if (header[i] == name) return i;
    ADD_FAILURE() << "no column " << name;
    return size_t{0};
  };
  // The model id with a comma and quotes is quoted, its quotes doubled, and reads back whole.
  EXPECT_NE(csv.find("\"acme/gpt \"\"small\"\", v2\",forward,128,"), std::string::npos) << csv;
  EXPECT_EQ(records[1][column("model_id")], "acme/gpt \"small\", v2");
  EXPECT_EQ(records[1][column("memory_ratio")], "1.25");
  EXPECT_EQ(records[1][column("memory_changed")], "1");
  EXPECT_EQ(records[1][column("head_peak_rss_bytes")], std::to_string(int64_t{500} << 20));
  const auto& slower = records[5];
  EXPECT_EQ(slower[column("model_id")], "gpt2");
  EXPECT_EQ(slower[column("seq_len")], "1024");
  EXPECT_DOUBLE_EQ(std::stod(slower[column("ratio")]), 1.12);
  EXPECT_DOUBLE_EQ(std::stod(slower[column("ci_low")]), 1.08);
  EXPECT_DOUBLE_EQ(std::stod(slower[column("ci_high")]), 1.17);
  EXPECT_DOUBLE_EQ(std::stod(slower[column("p_value")]), 0.0004);
  EXPECT_EQ(slower[column("verdict")], "slower");
  EXPECT_EQ(slower[column("regression")], "1");
  EXPECT_EQ(slower[column("base_samples")], "20");
  const auto& fixed = records[3];
  EXPECT_EQ(fixed[column("base_outcome")], "exceeds_context");
  EXPECT_EQ(fixed[column("head_outcome")], "ok");
  EXPECT_EQ(fixed[column("outcome_change")], "fixed");
  EXPECT_EQ(fixed[column("setting_change")], "--extend-context on head only");
  EXPECT_EQ(fixed[column("regression")], "0");
  EXPECT_EQ(records[6][column("head_outcome")], "oom");
  EXPECT_EQ(records[6][column("regression")], "1");
}

TEST(CompareJson, ParsesAndHoldsTheNumbers) {
  const Comparison comparison = Fixture();
  const auto doc = nlohmann::json::parse(RenderCompareJson(comparison));
  EXPECT_TRUE(doc["has_regression"].get<bool>());
  EXPECT_DOUBLE_EQ(doc["options"]["threshold"].get<double>(), 0.05);
  EXPECT_EQ(doc["options"]["bootstrap_resamples"].get<int>(), 2000);
  EXPECT_EQ(doc["options"]["seed"].get<uint64_t>(), 1u);
  EXPECT_EQ(doc["summary"]["slower"].get<int>(), 1);
  EXPECT_EQ(doc["summary"]["not_comparable"].get<int>(), 2);
  ASSERT_EQ(doc["environment"].size(), 4u);
  EXPECT_EQ(doc["environment"][0]["name"], "threads");
  EXPECT_EQ(doc["environment"][0]["base"][0], "1");
  EXPECT_EQ(doc["environment"][0]["head"][0], "2");
  EXPECT_TRUE(doc["environment"][0]["differs"].get<bool>());
  ASSERT_EQ(doc["cells"].size(), comparison.cells.size());
  const auto& slower = doc["cells"][4];
  EXPECT_EQ(slower["name"], "gpt2 forward 1024 b1 fp32/eager");
  EXPECT_EQ(slower["key"]["seq_len"], 1024);
  EXPECT_DOUBLE_EQ(slower["speed"]["ratio"].get<double>(), 1.12);
  EXPECT_DOUBLE_EQ(slower["speed"]["ci_low"].get<double>(), 1.08);
  EXPECT_DOUBLE_EQ(slower["speed"]["ci_high"].get<double>(), 1.17);
  EXPECT_DOUBLE_EQ(slower["speed"]["p_value"].get<double>(), 0.0004);
  EXPECT_EQ(slower["speed"]["verdict"], "slower");
  EXPECT_TRUE(slower["regression"].get<bool>());
  EXPECT_EQ(slower["head"]["samples_ms"].size(), 20u);
  EXPECT_DOUBLE_EQ(slower["head"]["samples_ms"][19].get<double>(), 112.19);
  EXPECT_EQ(doc["cells"][5]["head"]["outcome"], "oom");
  EXPECT_EQ(doc["cells"][5]["head"]["message"], "CUDA out of memory");
  EXPECT_EQ(doc["cells"][5]["outcome_change"], "regressed");
  EXPECT_EQ(doc["cells"][2]["setting_change"], "--extend-context on head only");
  EXPECT_TRUE(doc["cells"][2]["base"]["outcome"] == "exceeds_context");
  EXPECT_TRUE(doc["cells"][2]["head"]["extend_context"].get<bool>());
  EXPECT_EQ(doc["base_only"][0]["model_id"], "<b>x&y</b>");
  EXPECT_EQ(doc["head_only"][0]["seq_len"], 4096);
  ASSERT_EQ(doc["walls"].size(), 2u);
  EXPECT_EQ(doc["walls"][1]["name"], "gpt2 forward b1 fp32/eager");
  EXPECT_EQ(doc["walls"][1]["head"]["cause"], "oom");
  EXPECT_TRUE(doc["walls"][1]["base"]["cause"].is_null());
  EXPECT_EQ(doc["walls"][1]["base"]["max_working"], 2048);
}

TEST(CompareHtml, IsWellFormedSelfContainedAndRegressionsFirst) {
  const std::string html = RenderCompareHtml(Fixture(), "base vs head <&>");
  EXPECT_EQ(WellFormedError(html), "");
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_NE(html.find("<h1>base vs head &lt;&amp;&gt;</h1>"), std::string::npos);
  EXPECT_NE(html.find("The environments differ in: threads 1 vs 2; host lab-a vs lab-b."), std::string::npos);
  const size_t regressions = html.find("<section id=\"regressions\">");
  ASSERT_NE(regressions, std::string::npos);
  EXPECT_LT(regressions, html.find("<section id=\"ratios\">"));
  EXPECT_LT(html.find("<section id=\"ratios\">"), html.find("<section id=\"environment\">"));
  EXPECT_LT(html.find("<section id=\"environment\">"), html.find("<section id=\"cells\">"));
  // The slowdown is named before the no-change cell, which appears only in the full table.
  EXPECT_LT(html.find("gpt2 forward 1024 b1"), html.find("gpt2 forward 512 b1"));
  const std::string table = SectionOf(html, "regressions");
  EXPECT_NE(table.find("<tr class=\"slower\"><td>gpt2 forward 2048 b1 fp32/eager</td><td>ok -&gt; oom</td>"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("<td>1.120 [1.080–1.170]</td>"), std::string::npos);
  const std::string environment = SectionOf(html, "environment");
  EXPECT_LT(environment.find("<tr class=\"differs\"><td>threads</td><td>1</td><td>2</td></tr>"),
            environment.find("<td>host</td>"));
  EXPECT_NE(SectionOf(html, "outcomes").find("exceeds_context -&gt; ok (--extend-context on head only)"),
            std::string::npos);
  EXPECT_NE(SectionOf(html, "walls").find("works up to 1024, oom at 2048"), std::string::npos);
  EXPECT_NE(SectionOf(html, "cells").find("<tr class=\"faster\"><td>bert forward 256 b1 fp32/eager</td>"),
            std::string::npos);
}

TEST(CompareHtml, EscapesEveryName) {
  const std::string html = RenderCompareHtml(Fixture(), "t");
  EXPECT_EQ(html.find("<b>x&y</b>"), std::string::npos);
  EXPECT_NE(SectionOf(html, "one-side").find("&lt;b&gt;x&amp;y&lt;/b&gt; forward 128"), std::string::npos);
  EXPECT_NE(html.find("acme/gpt &quot;small&quot;, v2"), std::string::npos);
  EXPECT_EQ(html.find("acme/gpt \"small\""), std::string::npos);
}

TEST(CompareHtml, TheRatioChartDrawsTheIntervalsAndThresholds) {
  const std::string html = RenderCompareHtml(Fixture(), "t");
  const std::string chart = ChartTitled(html, "head ÷ base: gpt2 forward b1 fp32/eager");
  ASSERT_NE(chart, "");
  EXPECT_EQ(WellFormedError(chart), "");
  // Each verdict a series of its own: the slowdown a triangle in its colour, with its interval as a bar.
  EXPECT_NE(chart.find("fill=\"#D55E00\" data-x=\"1024\" data-y=\"1.12\""), std::string::npos) << chart;
  EXPECT_NE(chart.find("data-error-bar=\"slower\" data-x=\"1024\" data-low=\"1.08\" data-high=\"1.17\""),
            std::string::npos);
  EXPECT_NE(chart.find("data-error-bar=\"no change\" data-x=\"512\" data-low=\"0.98\" data-high=\"1.04\""),
            std::string::npos);
  EXPECT_NE(chart.find("<circle cx="), std::string::npos);  // the no-change point
  // ok -> oom has no ratio, so 2048 is not drawn; two points, two bars, no line through them.
  EXPECT_EQ(Count(chart, "data-y=\""), 2u + 3u);  // two points, three reference lines
  EXPECT_EQ(Count(chart, "data-error-bar="), 2u);
  EXPECT_EQ(chart.find("<polyline"), std::string::npos);
  EXPECT_NE(chart.find("data-reference=\"1: no change\" data-y=\"1\""), std::string::npos);
  EXPECT_NE(chart.find("data-y=\"1.05\""), std::string::npos);
  EXPECT_NE(chart.find("data-y=\"0.95\""), std::string::npos);
  // The length that stopped working has no point, but a marker.
  EXPECT_NE(chart.find("data-marker=\"2048: ok -&gt; oom on head\" data-x=\"2048\""), std::string::npos);
  // The series with a slowdown is drawn before the one without.
  EXPECT_LT(html.find("head ÷ base: gpt2"), html.find("head ÷ base: bert"));
  // The cell with too few samples is a ring with its own bar; the fixed cell (no ratio) is not drawn.
  const std::string acme = ChartTitled(html, "head ÷ base: acme/gpt &quot;small&quot;, v2 forward b1 fp32/eager");
  EXPECT_NE(acme.find("fill=\"#fff\" stroke=\"#7F7F7F\" stroke-width=\"1.5\" data-x=\"128\" data-y=\"0.97\""),
            std::string::npos)
      << acme;
  const std::string bert = ChartTitled(html, "head ÷ base: bert forward b1 fp32/eager");
  EXPECT_EQ(Count(bert, "data-error-bar="), 1u);
}

TEST(SvgChart, ErrorBarsAndReferencesKeepTheDataContract) {
  report::Series s{"a<b", {{100, 2}, {200, 3}}};
  s.error_bars = {{100, 1.5, 2.5}, {200, -1, 4}};  // a log axis cannot show the second
  s.join = false;
  s.shape = report::PointShape::kSquare;
  s.color = "#123\"";
  const std::string svg = report::LineChart({s}, {"t", "x", "y", true, true}, {}, {{1, "one", false}, {0, "zero"}});
  EXPECT_EQ(WellFormedError(svg), "");
  EXPECT_EQ(Count(svg, "data-error-bar=\"a&lt;b\""), 1u);
  EXPECT_NE(svg.find("data-x=\"100\" data-low=\"1.5\" data-high=\"2.5\""), std::string::npos);
  EXPECT_EQ(Count(svg, "<path d=\"M"), 1u + 2u + 1u);  // one bar, two squares, the legend's square
  EXPECT_NE(svg.find("fill=\"#123&quot;\""), std::string::npos);
  EXPECT_EQ(Count(svg, "data-reference="), 1u);  // y = 0 has no place on a log axis
  // Without data nothing is drawn, references included.
  const std::string empty = report::LineChart({}, {"t", "x", "y", true, true}, {}, {{1, "one", false}});
  EXPECT_EQ(empty.find("data-reference"), std::string::npos);
}

}  // namespace
}  // namespace tscale::compare
