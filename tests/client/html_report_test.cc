// The HTML report: well-formed, self-contained, escaped, and carrying exactly the values it plots.
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>
#include <vector>

#include "client/html_well_formed.h"
#include "client/report/aggregate.h"
#include "client/report/render_html.h"
#include "client/report/svg_chart.h"

namespace tscale::report {
namespace {

Row Job(int64_t id, const std::string& model, const std::string& category, int len, v1::Outcome outcome,
        double tokens_per_s = 0, int64_t peak_mib = 0) {
  Row r;
  r.job_id = id;
  r.model_id = model;
  r.category = category;
  r.seq_len = len;
  r.outcome = outcome;
  r.median_ms = tokens_per_s > 0 ? 1000.0 * len / tokens_per_s : 0;
  r.tokens_per_s = tokens_per_s;
  r.peak_rss_bytes = peak_mib << 20;
  r.parameters = 100'000'000;
  r.load_ms = 250;
  return r;
}

std::vector<Row> Fixture() {
  return {
      Job(1, "enc-a", "Encoders", 128, v1::OUTCOME_OK, 1500, 600),
      Job(2, "enc-a", "Encoders", 512, v1::OUTCOME_OK, 1200, 650),
      Job(3, "enc-a", "Encoders", 1024, v1::OUTCOME_EXCEEDS_CONTEXT),
      Job(4, "enc-b", "Encoders", 128, v1::OUTCOME_OK, 2500, 400),
      Job(5, "enc-b", "Encoders", 512, v1::OUTCOME_OK, 1800, 420),
      Job(6, "enc-b", "Encoders", 1024, v1::OUTCOME_OOM),
      Job(7, "dec-a", "Decoders", 128, v1::OUTCOME_OK, 1000, 700),
      Job(8, "dec-a", "Decoders", 512, v1::OUTCOME_OK, 900, 760),
      Job(9, "dec-a", "Decoders", 1024, v1::OUTCOME_OK, 600, 900),
  };
}

TEST(HtmlReport, IsWellFormedAndSelfContained) {
  const std::string html = RenderHtml(Fixture(), {"tscale report", "sweep 7"});
  EXPECT_EQ(WellFormedError(html), "");
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"));  // only the SVG namespace
  EXPECT_EQ(html.find("https://"), std::string::npos);
  for (const char* section :
       {"id=\"wall\"", "id=\"throughput\"", "id=\"memory\"", "id=\"efficiency\"", "id=\"models\"", "id=\"study\""})
    EXPECT_NE(html.find(section), std::string::npos) << section;
  EXPECT_NE(html.find("sweep 7: 9 finished jobs, 3 distinct models, 3 lengths"), std::string::npos);
}

TEST(HtmlReport, TheWallChartCarriesDistinctModelsByCause) {
  const std::string html = RenderHtml(Fixture(), {});
  // At 1024: enc-a hit its context limit, enc-b ran out of memory, dec-a worked.
  EXPECT_NE(html.find("data-bar=\"1024\" data-layer=\"ok\" data-value=\"1\""), std::string::npos);
  EXPECT_NE(html.find("data-bar=\"1024\" data-layer=\"context\" data-value=\"1\""), std::string::npos);
  EXPECT_NE(html.find("data-bar=\"1024\" data-layer=\"memory\" data-value=\"1\""), std::string::npos);
  EXPECT_NE(html.find("data-bar=\"128\" data-layer=\"ok\" data-value=\"3\""), std::string::npos);
  EXPECT_EQ(html.find("data-bar=\"128\" data-layer=\"memory\""), std::string::npos);  // zero-height: not drawn
}

TEST(HtmlReport, ThroughputAndMemoryChartsPlotTheCategoryMedians) {
  const std::string html = RenderHtml(Fixture(), {});
  // Every plotted point of the throughput chart, read back by its attributes.
  const size_t start = html.find("<section id=\"throughput\">"), stop = html.find("</section>", start);
  ASSERT_NE(start, std::string::npos);
  const std::string section = html.substr(start, stop - start);
  std::set<std::pair<std::string, std::string>> plotted;
  const std::regex point("data-x=\"([^\"]+)\" data-y=\"([^\"]+)\"");
  for (std::sregex_iterator it(section.begin(), section.end(), point), end; it != end; ++it)
    plotted.insert({(*it)[1], (*it)[2]});
  const std::set<std::pair<std::string, std::string>> expected = {
      {"128", DataNumber(2000)},  // Encoders: median of 1500 and 2500
      {"512", DataNumber(1500)},  // median of 1200 and 1800
      {"128", DataNumber(1000)}, {"512", DataNumber(900)}, {"1024", DataNumber(600)},  // Decoders
  };
  EXPECT_EQ(plotted, expected);
  // The legend names each category with its fitted log-log slope: Decoders' is computed here by hand.
  auto fit = FitPowerLaw({{128, 1000}, {512, 900}, {1024, 600}});
  ASSERT_TRUE(fit.has_value());
  char slope[32];
  std::snprintf(slope, sizeof slope, "Decoders (slope %.2f)", fit->exponent);
  EXPECT_NE(section.find(slope), std::string::npos);

  const size_t mem = html.find("<section id=\"memory\">");
  const std::string memory = html.substr(mem, html.find("</section>", mem) - mem);
  EXPECT_NE(memory.find("data-x=\"128\" data-y=\"" + DataNumber(500) + "\""), std::string::npos);  // (600+400)/2
  EXPECT_NE(memory.find("data-x=\"1024\" data-y=\"" + DataNumber(900) + "\""), std::string::npos);
}

TEST(HtmlReport, ShowsTheStudysMethodNextToTheCorrectedOne) {
  auto rows = Fixture();
  rows.push_back(Job(10, "enc-a", "Encoders", 128, v1::OUTCOME_OK, 1500, 600));  // a duplicated row
  const std::string html = RenderHtml(rows, {});
  const size_t start = html.find("<section id=\"study\">");
  const std::string study = html.substr(start, html.find("</section>", start) - start);
  // Length 1024: the study's way, 3 rows with 2 "OOM" (67% failure); tscale's, one per cause.
  EXPECT_NE(study.find("<td>1024</td><td>3</td><td>33.3%</td><td>2</td><td>3</td><td>33.3%</td><td>1</td><td>1</td>"),
            std::string::npos)
      << study;
  // Length 128: the duplicate inflates the study's row count (4), not tscale's model count (3).
  EXPECT_NE(study.find("<td>128</td><td>4</td><td>100.0%</td><td>0</td><td>3</td>"), std::string::npos);
}

TEST(HtmlReport, EscapesEverythingThatCameFromOutside) {
  auto rows = Fixture();
  for (auto& r : rows)
    if (r.model_id == "dec-a") {
      r.model_id = "<script>alert('x')</script>";
      r.category = "Cat \"quoted\" & <b>";
    }
  const std::string html = RenderHtml(rows, {"<title>", "a & b"});
  EXPECT_EQ(WellFormedError(html), "");
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("Cat &quot;quoted&quot; &amp; &lt;b&gt;"), std::string::npos);
  EXPECT_EQ(html.find("<b>"), std::string::npos);
}

TEST(HtmlReport, EmptyAndSinglePointChartsStayWellFormed) {
  EXPECT_EQ(WellFormedError(LineChart({}, {"t", "x", "y", true, true})), "");
  EXPECT_NE(LineChart({}, {"t", "x", "y", true, true}).find("no data"), std::string::npos);
  const std::string one = LineChart({{"s", {{128, 5}}}}, {"t", "x", "y", true, true});
  EXPECT_EQ(WellFormedError(one), "");
  EXPECT_NE(one.find("data-x=\"128\" data-y=\"5\""), std::string::npos);
  // Points a log axis cannot show are left out rather than drawn at -infinity.
  const std::string zero = LineChart({{"s", {{128, 0}, {256, 4}}}}, {"t", "x", "y", true, true});
  EXPECT_EQ(zero.find("data-y=\"0\""), std::string::npos);
  EXPECT_NE(zero.find("data-x=\"256\" data-y=\"4\""), std::string::npos);
  EXPECT_EQ(WellFormedError(StackedBarChart({{"a", "#000"}}, {}, {"t", "x", "y"})), "");
}

TEST(HtmlReport, DataNumbersRoundTrip) {
  for (double v : {0.1, 1509.25, 1.0 / 3, 1e-5, 123456789.0}) EXPECT_EQ(std::stod(DataNumber(v)), v);
  EXPECT_EQ(DataNumber(2000), "2000");
}

}  // namespace
}  // namespace tscale::report
