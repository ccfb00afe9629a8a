// Small SVG charts for the HTML report: line charts on linear or logarithmic axes, and stacked bars.
//
// Contract: the output is one self-contained <svg> element (no scripts, no external references). Every
// plotted point and bar segment carries its values as data-* attributes and a <title> tooltip, so a reader
// can hover for the number and a test can read back exactly what was drawn. All text is HTML-escaped.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tscale::report {

struct Axes {
  std::string title, x_label, y_label;
  bool log_x = false, log_y = false;  // points with a non-positive coordinate on a log axis are left out
};

// A spread around a line at one x, e.g. p10 and p90 of the samples behind a median.
struct BandPoint {
  double x = 0, low = 0, high = 0;
};
// How a series' points are drawn: circles by default; the others tell categories apart without colour (compare's
// verdicts: a ratio up is a triangle up).
enum class PointShape { kCircle, kTriangleUp, kTriangleDown, kSquare, kRing };
struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;  // drawn in x order, joined by a line
  // Optional: drawn under the line as one translucent <path data-band="name"> (its data-points attribute
  // lists "x,low,high" per point); points a log axis cannot show are left out.
  std::vector<BandPoint> band = {};
  // Optional: a vertical bar from low to high at each x, with caps, e.g. a confidence interval; each is one
  // <path data-error-bar="name" data-x data-low data-high>. Bars widen the y range, as the band does.
  std::vector<BandPoint> error_bars = {};
  std::string color = {};                  // any CSS colour; "" = the palette's colour for the series' position
  bool join = true;                        // false: the points alone (the legend then shows the point's shape)
  PointShape shape = PointShape::kCircle;  // a shape other than a circle is a <path> with the same data-x, data-y
};
// A vertical line across the plot at one x, e.g. the length where two series cross. `series` >= 0 draws it in
// that series' colour, so a chart with several crossings says which line each belongs to; -1 is grey. It is a
// <line data-marker="label" data-x="x"> with the label as its <title> and written at the top of the plot; an x
// outside the series' range widens the axis to show it (a log axis leaves out x <= 0).
struct Marker {
  double x = 0;
  std::string label;
  int series = -1;
};
// A horizontal line across the plot at one y, e.g. a ratio of 1 and the thresholds around it: a <line
// data-reference="label" data-y="y">, solid or dashed, under the series, with the label as its <title> and as a
// legend entry after the series' (on the plot it would cover the points near it). Like a marker, it widens the
// axis to show it once there is data (a log axis leaves out y <= 0).
struct Reference {
  double y = 0;
  std::string label;
  bool dashed = false;
};
// Series beyond the palette's ten colours repeat them with a dash pattern; the legend grows the chart's height
// rather than running off it, so a chart of many models stays readable.
std::string LineChart(const std::vector<Series>& series, const Axes& axes, const std::vector<Marker>& markers = {},
                      const std::vector<Reference>& references = {});

struct Layer {
  std::string name, color;  // color: any CSS color
};
struct StackedBar {
  std::string label;
  std::vector<double> values;  // one per layer, bottom first; missing trailing values count as 0
};
// Bars side by side along x (in the given order), their layers stacked; the y axis is linear from 0.
std::string StackedBarChart(const std::vector<Layer>& layers, const std::vector<StackedBar>& bars, const Axes& axes);

// The escaping used for every piece of text placed in the report: & < > " '.
std::string EscapeHtml(std::string_view text);
// A number as it is written into data-* attributes: shortest round-trip form ("1509.25", "1e-05").
std::string DataNumber(double value);

}  // namespace tscale::report
