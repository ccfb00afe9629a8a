// The report's decode scaling (client/report/decode_scaling.h) and its charts: exponents recovered from exact
// power laws, none below three lengths, TPOT's exponent set beside prefill's in the text, the HTML's TTFT, TPOT,
// KV-cache and per-model latency charts (with their p10-p90 bands), and nothing of it in a decode-free report.
#include <gtest/gtest.h>

#include <cmath>
#include <regex>
#include <string>
#include <vector>

#include "client/html_well_formed.h"
#include "client/report/aggregate.h"
#include "client/report/decode_scaling.h"
#include "client/report/render_html.h"
#include "client/report/render_text.h"
#include "client/report/svg_chart.h"

namespace tscale::report {
namespace {

const std::vector<int> kLengths = {128, 256, 512, 1024};

// A forward job whose median latency is 0.002 n^1.3 ms.
Row Forward(int64_t id, const std::string& model, int len, int batch = 1) {
  Row r;
  r.job_id = id;
  r.model_id = model;
  r.category = "Generative LLM";
  r.seq_len = len;
  r.batch = batch;
  r.outcome = v1::OUTCOME_OK;
  r.variant = "fp32/eager";
  r.workload = v1::WORKLOAD_FORWARD;
  r.median_ms = 0.002 * std::pow(len, 1.3);
  r.tokens_per_s = 1000.0 * batch * len / r.median_ms;
  r.peak_rss_bytes = int64_t{500} << 20;
  r.parameters = 124'000'000;
  return r;
}

// A decode job: TTFT = 0.01 n^1.5 ms, TPOT = 2 n^0.25 ms, the KV cache linear in the cached tokens.
Row Decode(int64_t id, const std::string& model, int len, int batch = 1) {
  Row r = Forward(id, model, len, batch);
  r.workload = v1::WORKLOAD_DECODE;
  r.new_tokens = 8;
  r.ttft_ms = 0.01 * std::pow(len, 1.5);
  r.tpot_ms = 2 * std::pow(len, 0.25);
  r.decode_tokens_per_s = 1000.0 * batch / r.tpot_ms;
  r.kv_cache_bytes = int64_t{36864} * (len + 8) * batch;
  r.median_ms = r.ttft_ms + 7 * r.tpot_ms;
  r.tokens_per_s = 1000.0 * batch * 8 / r.median_ms;
  return r;
}

// gpt2: decode and forward at four lengths; short: decode at two lengths, forward at four; lonely: decode only.
std::vector<Row> Fixture() {
  std::vector<Row> rows;
  int64_t id = 1;
  for (int len : kLengths) {
    rows.push_back(Forward(id++, "gpt2", len));
    rows.push_back(Decode(id++, "gpt2", len));
    rows.push_back(Forward(id++, "short", len));
  }
  rows.push_back(Decode(id++, "short", 128));
  rows.push_back(Decode(id++, "short", 256));
  for (int len : {128, 256, 512}) rows.push_back(Decode(id++, "lonely", len));
  return rows;
}

const DecodeSeries* Find(const std::vector<DecodeSeries>& all, const std::string& model) {
  for (const auto& s : all)
    if (s.model_id == model) return &s;
  return nullptr;
}

TEST(DecodeReport, TheFitRecoversAKnownExponentAndNeedsThreeLengthsForDecode) {
  std::vector<std::pair<double, double>> exact;
  for (int len : kLengths) exact.emplace_back(len, 3 * std::pow(len, 0.5));
  auto fit = FitPowerLaw(exact, kMinDecodeFitLengths);
  ASSERT_TRUE(fit.has_value());
  EXPECT_NEAR(fit->exponent, 0.5, 1e-9);
  EXPECT_NEAR(fit->coefficient, 3, 1e-9);
  EXPECT_EQ(fit->points, 4);
  const std::vector<std::pair<double, double>> two = {exact[0], exact[1], exact[1]};  // 3 points, 2 lengths
  EXPECT_FALSE(FitPowerLaw(two, kMinDecodeFitLengths).has_value());
  EXPECT_TRUE(FitPowerLaw(two).has_value());  // the forward tables' fits still take two
}

TEST(DecodeReport, SeriesCarryDecodeExponentsAndThePrefillExponentOfTheSameModel) {
  const auto all = DecodeScaling(Fixture());
  ASSERT_EQ(all.size(), 3u);
  const DecodeSeries* gpt2 = Find(all, "gpt2");
  ASSERT_NE(gpt2, nullptr);
  ASSERT_EQ(gpt2->points.size(), 4u);
  EXPECT_EQ(gpt2->points[2].seq_len, 512);
  EXPECT_DOUBLE_EQ(gpt2->points[2].tpot_ms, 2 * std::pow(512, 0.25));
  EXPECT_EQ(gpt2->points[2].kv_cache_bytes, int64_t{36864} * 520);
  ASSERT_TRUE(gpt2->ttft_fit && gpt2->tpot_fit && gpt2->kv_fit && gpt2->prefill_fit);
  EXPECT_NEAR(gpt2->ttft_fit->exponent, 1.5, 1e-9);
  EXPECT_NEAR(gpt2->tpot_fit->exponent, 0.25, 1e-9);
  EXPECT_NEAR(gpt2->prefill_fit->exponent, 1.3, 1e-9);
  EXPECT_GT(gpt2->kv_fit->exponent, 0.9);  // (n + 8): nearly linear
  EXPECT_EQ(gpt2->prefill_lengths, 4);

  const DecodeSeries* short_series = Find(all, "short");
  ASSERT_NE(short_series, nullptr);
  EXPECT_FALSE(short_series->tpot_fit || short_series->ttft_fit || short_series->kv_fit);
  EXPECT_TRUE(short_series->prefill_fit.has_value());  // its forward rows have four lengths
  EXPECT_EQ(Find(all, "lonely")->prefill_lengths, 0);

  // Another batch of gpt2 is a series of its own, not pooled into batch 1's medians.
  auto rows = Fixture();
  rows.push_back(Decode(100, "gpt2", 128, /*batch=*/4));
  const auto split = DecodeScaling(rows);
  ASSERT_EQ(split.size(), 4u);
  EXPECT_NEAR(Find(split, "gpt2")->tpot_fit->exponent, 0.25, 1e-9);
  const auto qualified = QualifiedLabels(split);
  EXPECT_EQ(DecodeSeriesLabel(split[1], qualified[1]), "gpt2 [fp32/eager, batch 4, 8 new tokens]");
  EXPECT_EQ(DecodeSeriesLabel(split[2], qualified[2]), "lonely");
}

TEST(DecodeReport, TheTextComparesTpotsExponentWithPrefillsAndSaysWhenThereIsNone) {
  const std::string text = RenderDecodeScaling(Fixture());
  EXPECT_NE(text.find("Decode scaling"), std::string::npos) << text;
  EXPECT_NE(text.find("gpt2: TPOT grows as n^0.25 (4 lengths), prefill as n^1.30 (4 lengths): a decode step grows "
                      "far more slowly than prefill"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("short: TPOT: no exponent (2 lengths; a fit needs 3); prefill grows as n^1.30 (4 lengths)\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("lonely: TPOT grows as n^0.25 (3 lengths); prefill: no forward rows of this model, variant "
                      "and batch"),
            std::string::npos)
      << text;
  // The table: gpt2's exponents; short's are "-".
  EXPECT_TRUE(std::regex_search(text, std::regex("gpt2 +fp32/eager +1 +8 +4 +1\\.50 +0\\.25 +\\d\\.\\d\\d +4 +1\\.30")))
      << text;
  EXPECT_TRUE(std::regex_search(text, std::regex("short +fp32/eager +1 +8 +2 +- +- +- +4 +1\\.30"))) << text;
  // Decode tokens/s by category: at 128 the median over gpt2, short and lonely (all 1000 / (2 * 128^0.25)).
  EXPECT_NE(text.find("Decode tokens/s by category and prompt length"), std::string::npos);
  char rate[64];
  std::snprintf(rate, sizeof rate, "%.1f", 1000 / (2 * std::pow(128, 0.25)));
  EXPECT_TRUE(std::regex_search(text, std::regex("Generative LLM +128 +3 +" + std::string(rate) + " \\["))) << text;

  std::vector<Row> forward_only;
  for (const auto& r : Fixture())
    if (r.workload == v1::WORKLOAD_FORWARD) forward_only.push_back(r);
  EXPECT_EQ(RenderDecodeScaling(forward_only), "");
}

TEST(DecodeReport, TheHtmlHasTtftTpotAndKvChartsWithALinePerModel) {
  const std::string decode = SectionOf(RenderHtml(Fixture(), {}), "decode");
  ASSERT_FALSE(decode.empty());
  for (const char* title :
       {"TTFT vs prompt length (decode)", "TPOT vs prompt length (decode)",
        "KV cache vs prompt length per model (decode)", "Decode tokens/s vs prompt length by category",
        "Generation latency vs prompt length per model (decode): Generative LLM"}) {
    SCOPED_TRACE(title);
    const std::string chart = ChartTitled(decode, title);
    ASSERT_FALSE(chart.empty());
    EXPECT_NE(chart.find("(log)"), std::string::npos);  // log-log
  }
  const std::string tpot = ChartTitled(decode, "TPOT vs prompt length (decode)");
  EXPECT_EQ(Count(tpot, "<g data-series="), 3u);
  EXPECT_EQ(Count(tpot, "<polyline"), 3u);  // one line per model
  EXPECT_NE(tpot.find("data-series=\"gpt2 (n^0.25)\""), std::string::npos) << tpot;
  EXPECT_NE(tpot.find("data-series=\"short (no fit: 2 lengths)\""), std::string::npos);
  EXPECT_NE(tpot.find("data-x=\"512\" data-y=\"" + DataNumber(2 * std::pow(512, 0.25)) + "\""), std::string::npos);
  const std::string kv = ChartTitled(decode, "KV cache vs prompt length per model (decode)");
  EXPECT_NE(kv.find("data-x=\"128\" data-y=\"" + DataNumber(36864.0 * 136 / 1048576) + "\""), std::string::npos);
  // The comparison lines and the exponents table are in the HTML too.
  EXPECT_NE(decode.find("<li>gpt2: TPOT grows as n^0.25 (4 lengths), prefill as n^1.30"), std::string::npos);
  EXPECT_NE(decode.find("<th>prefill exponent</th>"), std::string::npos);
}

TEST(DecodeReport, PerModelLatencyChartsHaveABandFromSamplesOrItsDocumentedSubstitute) {
  auto rows = Fixture();
  for (auto& r : rows) {
    if (r.model_id != "gpt2") continue;
    if (r.workload == v1::WORKLOAD_FORWARD) {
      for (int i = 1; i <= 10; ++i) r.samples_ms.push_back(r.median_ms * (0.9 + 0.02 * i));  // p10 = 0.92 m
    } else {
      r.min_ms = r.median_ms * 0.8;  // a listing without samples: LatencyStats only
      r.p90_ms = r.median_ms * 1.1;
    }
  }
  const std::string html = RenderHtml(rows, {});
  const std::string latency = SectionOf(html, "latency");
  const std::string forward = ChartTitled(latency, "Latency vs length per model (forward): Generative LLM");
  ASSERT_FALSE(forward.empty()) << latency;
  EXPECT_EQ(Count(forward, "<polyline"), 2u);  // gpt2 and short
  EXPECT_EQ(Count(forward, "<path "), 1u);     // gpt2's band; short has no spread to show
  const Row& first = rows[0];                  // gpt2 forward at 128
  const std::string band = "data-band=\"gpt2\" data-points=\"128," + DataNumber(first.samples_ms[0]) + "," +
                           DataNumber(first.samples_ms[8]) + " 256,";
  EXPECT_NE(forward.find(band), std::string::npos) << forward;
  EXPECT_NE(latency.find("Band: p10–p90 of the ok jobs&#39; timed samples, pooled (4 cells)."), std::string::npos);
  EXPECT_NE(latency.find("4 cells have no band"), std::string::npos) << latency;

  const std::string generation =
      ChartTitled(SectionOf(html, "decode"), "Generation latency vs prompt length per model (decode): Generative LLM");
  EXPECT_EQ(Count(generation, "<polyline"), 3u);
  EXPECT_NE(generation.find("data-band=\"gpt2\" data-points=\"128," + DataNumber(Decode(0, "g", 128).median_ms * 0.8)),
            std::string::npos)
      << generation;
  EXPECT_NE(html.find("cells had no samples in the listing: their band runs from the jobs&#39; min to their p90"),
            std::string::npos);
}

TEST(DecodeReport, CellsPoolTheSamplesOfTheirOkJobsForTheBand) {
  std::vector<Row> rows = {Forward(1, "m", 128), Forward(2, "m", 128)};
  rows[0].samples_ms = {1, 2, 3, 4, 5};
  rows[1].samples_ms = {6, 7, 8, 9, 10};
  auto cells = Cells(rows);
  ASSERT_EQ(cells.size(), 1u);
  EXPECT_TRUE(cells[0].band_from_samples);
  EXPECT_DOUBLE_EQ(cells[0].band_low_ms, 1);   // nearest rank ceil(0.1 * 10) = 1
  EXPECT_DOUBLE_EQ(cells[0].band_high_ms, 9);  // rank 9
  rows[1].samples_ms.clear();                  // one job without samples: the substitute for the cell
  rows[0].min_ms = 0.5;
  rows[0].p90_ms = 4.5;
  rows[1].min_ms = 5.5;
  rows[1].p90_ms = 9.5;
  cells = Cells(rows);
  EXPECT_FALSE(cells[0].band_from_samples);
  EXPECT_DOUBLE_EQ(cells[0].band_low_ms, 0.5);
  EXPECT_DOUBLE_EQ(cells[0].band_high_ms, 9.5);
  rows[1].p90_ms = 0;  // nothing to draw for a job read from a CSV
  EXPECT_DOUBLE_EQ(Cells(rows)[0].band_high_ms, 0);
}

TEST(DecodeReport, ADecodeFreeReportHasNoDecodeSectionOrCharts) {
  std::vector<Row> rows;
  for (int len : kLengths) rows.push_back(Forward(len, "gpt2", len));
  const std::string html = RenderHtml(rows, {});
  EXPECT_EQ(html.find("<section id=\"decode\">"), std::string::npos);
  EXPECT_EQ(html.find("TTFT"), std::string::npos);
  EXPECT_EQ(html.find("TPOT"), std::string::npos);
  EXPECT_NE(html.find("<section id=\"latency\">"), std::string::npos);  // the per-model chart is for every workload
  EXPECT_EQ(RenderDecodeScaling(rows), "");
}

TEST(DecodeReport, ManySeriesRepeatColoursWithDashesAndGrowTheChartForTheLegend) {
  std::vector<Series> many;
  for (int i = 0; i < 25; ++i) many.push_back({"s" + std::to_string(i), {{128, 1.0 + i}, {256, 2.0 + i}}});
  const std::string chart = LineChart(many, {"t", "x", "y", true, true});
  EXPECT_EQ(Count(chart, "<polyline"), 25u);
  EXPECT_EQ(Count(chart, "stroke-dasharray=\"6 3\""), 20u);             // series 10-19: their lines and legend samples
  EXPECT_NE(chart.find("viewBox=\"0 0 880 496\""), std::string::npos);  // 34 + 8 + 25 * 18 + 4
  // A single-length band is a narrow bar, not an invisible sliver.
  const std::string one = LineChart({{"s", {{128, 5}}, {{128, 4, 6}}}}, {"t", "x", "y", true, true});
  EXPECT_NE(one.find("data-band=\"s\" data-points=\"128,4,6\""), std::string::npos) << one;
}

}  // namespace
}  // namespace tscale::report
