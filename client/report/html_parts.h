// The pieces every section of the HTML report is made of (render_html.cc, train_report.cc): an escaping table,
// a section with its explanation, spreads and exponents as the legends and cells write them, the outcome
// colours, and a line per category through a per-length figure.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/report/aggregate.h"
#include "client/report/svg_chart.h"
#include "client/table.h"

namespace tscale::report {

// A table whose cells are escaped as they are added; numeric columns are right-aligned by the stylesheet.
class HtmlTable {
 public:
  explicit HtmlTable(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  // `row_class`: the <tr>'s class, for the stylesheet to mark a row (compare's verdicts); "" for none.
  void Add(const std::vector<std::string>& cells, const std::string& row_class = "") {
    rows_.push_back(cells);
    row_classes_.push_back(row_class);
  }
  bool empty() const { return rows_.empty(); }
  std::string Render(const std::string& css_class = "") const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
  std::vector<std::string> row_classes_;
};

// The report's <style> element, shared by every HTML page tscale writes (the report, `compare`) so they look alike.
const char* ReportStyle();

// <section id=...><h2>heading</h2><p class="how">explanation</p>body</section>; heading and explanation escaped.
std::string Section(const std::string& id, const std::string& heading, const std::string& explanation,
                    const std::string& body);

// "12.0 [10.0–14.0]" (median [q1–q3]); "" for an empty spread.
std::string HtmlSpreadText(const Spread& s, int decimals);
// "12.5%".
std::string Percent(double fraction);
// A legend's exponent, short since the legend column is narrow: " (n^1.30)", or " (no fit: 2 lengths)".
std::string LegendFit(const std::optional<PowerFit>& fit, size_t lengths);
// The colour of an outcome column, in every chart stacked by cause.
const char* CauseColor(Cause cause);

// Category series for a per-length quantity (entries with .category and .seq_len), labelled with the slope of
// its log-log fit.
template <typename Entry, typename Value>
std::vector<Series> CategorySeries(const std::vector<Entry>& entries, Value value) {
  std::map<std::string, std::vector<std::pair<double, double>>> points;
  for (const auto& e : entries) points[e.category].emplace_back(e.seq_len, value(e));
  std::vector<Series> series;
  for (auto& [category, pts] : points) {
    auto fit = FitPowerLaw(pts);
    series.push_back({category + (fit ? " (slope " + FormatFixed(fit->exponent, 2) + ")" : ""), std::move(pts)});
  }
  return series;
}

}  // namespace tscale::report
