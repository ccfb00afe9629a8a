#include "client/report/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

namespace tscale::report {
namespace {

// Plot geometry in SVG user units; the legend sits right of the plot so it never covers data.
constexpr double kWidth = 880, kHeight = 400;
constexpr double kLeft = 72, kRight = 280, kTop = 34, kBottom = 56;
constexpr double kPlotW = kWidth - kLeft - kRight, kPlotH = kHeight - kTop - kBottom;

// Colour-blind-safe categorical palette (Okabe-Ito, then a few extra tones).
const char* const kPalette[] = {"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00",
                                "#56B4E9", "#F0E442", "#000000", "#8C564B", "#7F7F7F"};

std::string Fmt(double v, int decimals = 1) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// A human tick label: 1500 -> "1.5k", 2e6 -> "2M", 0.25 -> "0.25".
std::string TickLabel(double v) {
  const double a = std::fabs(v);
  char buf[32];
  if (a >= 1e6)
    std::snprintf(buf, sizeof buf, "%gM", v / 1e6);
  else if (a >= 1e4)
    std::snprintf(buf, sizeof buf, "%gk", v / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::vector<double> LinearTicks(double lo, double hi) {
  std::vector<double> ticks;
  const double raw = (hi - lo) / 5, mag = std::pow(10, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * mag) {
      step = m * mag;
      break;
    }
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push_back(v);
  return ticks;
}

// One axis: maps data values to [0, 1] on a linear or log10 scale, and proposes ticks.
class Scale {
 public:
  Scale(double lo, double hi, bool log) : log_(log) {
    lo_ = T(lo);
    hi_ = T(hi);
    if (hi_ - lo_ < 1e-12) {  // a single value: give it some room
      lo_ -= log_ ? 0.5 : std::max(1.0, std::fabs(lo_) * 0.5);
      hi_ += log_ ? 0.5 : std::max(1.0, std::fabs(hi_) * 0.5);
    }
  }
  // Widens the range by `fraction` of its span on each side, so points never sit on the frame.
  Scale& Pad(double fraction, bool keep_zero) {
    const double span = hi_ - lo_;
    if (!(keep_zero && !log_ && lo_ == 0)) lo_ -= span * fraction;
    hi_ += span * fraction;
    return *this;
  }
  double Unit(double v) const { return (T(v) - lo_) / (hi_ - lo_); }

  // Log axes: decades, or 1-2-5 or every digit per decade, whichever first gives at least three ticks; a
  // range narrower than that (peak memory often spans less than 2x) gets round linear steps, placed on the
  // log scale. Linear axes: about five round steps.
  std::vector<double> Ticks() const {
    if (log_) {
      const int first = static_cast<int>(std::floor(lo_)), last = static_cast<int>(std::ceil(hi_));
      for (const std::vector<double>& multipliers : {std::vector<double>{1}, {1, 2, 5}, {1, 2, 3, 4, 5, 6, 7, 8, 9}}) {
        std::vector<double> ticks;
        for (int e = first; e <= last; ++e)
          for (double m : multipliers) {
            const double v = m * std::pow(10, e);
            if (T(v) >= lo_ - 1e-9 && T(v) <= hi_ + 1e-9) ticks.push_back(v);
          }
        if (ticks.size() >= 3) return ticks;
      }
      return LinearTicks(std::pow(10, lo_), std::pow(10, hi_));
    }
    return LinearTicks(lo_, hi_);
  }

 private:
  double T(double v) const { return log_ ? std::log10(v) : v; }
  bool log_;
  double lo_ = 0, hi_ = 1;
};

double X(const Scale& s, double v) {
  return kLeft + s.Unit(v) * kPlotW;
}
double Y(const Scale& s, double v) {
  return kTop + (1 - s.Unit(v)) * kPlotH;
}

// The chart's height: the plot's, or more when the legend (one 18-unit row per entry) needs it.
double HeightFor(size_t legend_entries) {
  return std::max(kHeight, kTop + 8 + 18.0 * static_cast<double>(legend_entries) + 4);
}

std::string Open(const Axes& axes, double height = kHeight) {
  std::string out = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " + Fmt(kWidth, 0) + " " + Fmt(height, 0) +
                    "\" width=\"" + Fmt(kWidth, 0) + "\" height=\"" + Fmt(height, 0) +
                    "\" role=\"img\" font-family=\"sans-serif\" font-size=\"12\">\n";
  out += "<title>" + EscapeHtml(axes.title) + "</title>\n";
  out += "<text x=\"" + Fmt(kLeft, 0) + "\" y=\"20\" font-size=\"14\" font-weight=\"bold\">" + EscapeHtml(axes.title) +
         "</text>\n";
  out += "<rect x=\"" + Fmt(kLeft, 0) + "\" y=\"" + Fmt(kTop, 0) + "\" width=\"" + Fmt(kPlotW, 0) + "\" height=\"" +
         Fmt(kPlotH, 0) + "\" fill=\"none\" stroke=\"#888\"/>\n";
  out += "<text x=\"" + Fmt(kLeft + kPlotW / 2, 0) + "\" y=\"" + Fmt(kHeight - 12, 0) + "\" text-anchor=\"middle\">" +
         EscapeHtml(axes.x_label) + (axes.log_x ? " (log)" : "") + "</text>\n";
  out += "<text transform=\"translate(16," + Fmt(kTop + kPlotH / 2, 0) + ") rotate(-90)\" text-anchor=\"middle\">" +
         EscapeHtml(axes.y_label) + (axes.log_y ? " (log)" : "") + "</text>\n";
  return out;
}

std::string YTicks(const Scale& y) {
  std::string out;
  for (double v : y.Ticks()) {
    const std::string py = Fmt(Y(y, v));
    out += "<line x1=\"" + Fmt(kLeft, 0) + "\" x2=\"" + Fmt(kLeft + kPlotW, 0) + "\" y1=\"" + py + "\" y2=\"" + py +
           "\" stroke=\"#ddd\"/><text x=\"" + Fmt(kLeft - 6, 0) + "\" y=\"" + py +
           "\" text-anchor=\"end\" dominant-baseline=\"middle\">" + EscapeHtml(TickLabel(v)) + "</text>\n";
  }
  return out;
}

// A legend label wider than the legend column (estimated at 5.8 units a character at 12 px, as sans-serif renders) is
// set smaller, down to 9 px, and past that squeezed to the column's width, so it never runs off the chart: a long model
// id with its configuration and exponent stays whole and readable.
std::string LegendTextFit(const std::string& name) {
  constexpr double kAvailable = kRight - 28 - 6;
  size_t characters = 0;
  for (unsigned char c : name) characters += (c & 0xC0) != 0x80;  // UTF-8 code points
  const double estimated = 5.8 * static_cast<double>(characters);
  if (estimated <= kAvailable) return "";
  const double size = std::max(9.0, 12 * kAvailable / estimated);
  std::string out = " font-size=\"" + Fmt(size) + "\"";
  if (estimated * size / 12 > kAvailable)
    out += " textLength=\"" + Fmt(kAvailable, 0) + "\" lengthAdjust=\"spacingAndGlyphs\"";
  return out;
}

// One point's mark centred on (cx, cy); `attributes` (each with its leading space) and `content` follow the
// geometry. A circle is written as it always was, so charts without shapes read back unchanged.
std::string PointMark(PointShape shape, double cx, double cy, const std::string& color, const std::string& attributes,
                      const std::string& content) {
  const std::string px = Fmt(cx), py = Fmt(cy);
  if (shape == PointShape::kCircle || shape == PointShape::kRing) {
    const std::string paint = shape == PointShape::kCircle
                                  ? "fill=\"" + color + "\""
                                  : "fill=\"#fff\" stroke=\"" + color + "\" stroke-width=\"1.5\"";
    return "<circle cx=\"" + px + "\" cy=\"" + py + "\" r=\"3.5\" " + paint + attributes + ">" + content + "</circle>";
  }
  std::string d;
  switch (shape) {
    case PointShape::kTriangleUp:
      d = "M" + Fmt(cx) + "," + Fmt(cy - 5) + " L" + Fmt(cx + 4.5) + "," + Fmt(cy + 3.5) + " L" + Fmt(cx - 4.5) + "," +
          Fmt(cy + 3.5) + " Z";
      break;
    case PointShape::kTriangleDown:
      d = "M" + Fmt(cx) + "," + Fmt(cy + 5) + " L" + Fmt(cx + 4.5) + "," + Fmt(cy - 3.5) + " L" + Fmt(cx - 4.5) + "," +
          Fmt(cy - 3.5) + " Z";
      break;
    default:  // kSquare
      d = "M" + Fmt(cx - 3.5) + "," + Fmt(cy - 3.5) + " h7 v7 h-7 Z";
  }
  return "<path d=\"" + d + "\" fill=\"" + color + "\"" + attributes + ">" + content + "</path>";
}

// A legend row: a colour swatch, for a dashed line a stroke sample so the dash tells repeated colours apart, and
// for a series of bare points its point's shape.
std::string LegendEntry(int index, const std::string& name, const std::string& color, const std::string& dash = "",
                        const PointShape* shape = nullptr) {
  const double y = kTop + 8 + index * 18;
  std::string swatch;
  if (shape != nullptr)
    swatch = PointMark(*shape, kLeft + kPlotW + 17, y, EscapeHtml(color), "", "");
  else if (dash.empty())
    swatch = "<rect x=\"" + Fmt(kLeft + kPlotW + 12, 0) + "\" y=\"" + Fmt(y - 5) +
             "\" width=\"10\" height=\"10\" fill=\"" + EscapeHtml(color) + "\"/>";
  else
    swatch = "<line x1=\"" + Fmt(kLeft + kPlotW + 8, 0) + "\" x2=\"" + Fmt(kLeft + kPlotW + 24, 0) + "\" y1=\"" +
             Fmt(y) + "\" y2=\"" + Fmt(y) + "\" stroke=\"" + EscapeHtml(color) +
             "\" stroke-width=\"2\" stroke-dasharray=\"" + dash + "\"/>";
  return swatch + "<text x=\"" + Fmt(kLeft + kPlotW + 28, 0) + "\" y=\"" + Fmt(y) + "\" dominant-baseline=\"middle\"" +
         LegendTextFit(name) + ">" + EscapeHtml(name) + "</text>\n";
}

// Dash patterns for the second, third ... round of the palette.
const char* const kDashes[] = {"", "6 3", "2 3", "9 3 2 3"};

// A band as one closed path: along the high edge in x order, back along the low edge. A single point becomes a
// narrow bar, so a series measured at one length still shows its spread.
template <typename Usable>
std::string BandPath(std::vector<BandPoint> band, Usable usable, const Scale& x, const Scale& y,
                     const std::string& name, const std::string& color) {
  band.erase(std::remove_if(band.begin(), band.end(), [&](const BandPoint& b) { return !usable(b); }), band.end());
  if (band.empty()) return "";
  std::sort(band.begin(), band.end(), [](const BandPoint& a, const BandPoint& b) { return a.x < b.x; });
  std::string d, values;
  const double half = band.size() == 1 ? 3 : 0;
  for (size_t k = 0; k < band.size(); ++k) {
    d += (k ? " L" : "M") + Fmt(X(x, band[k].x) - half) + "," + Fmt(Y(y, band[k].high));
    values += (k ? " " : "") + DataNumber(band[k].x) + "," + DataNumber(band[k].low) + "," + DataNumber(band[k].high);
  }
  if (half > 0)
    d += " L" + Fmt(X(x, band[0].x) + half) + "," + Fmt(Y(y, band[0].high)) + " L" + Fmt(X(x, band[0].x) + half) + "," +
         Fmt(Y(y, band[0].low));
  for (size_t k = band.size(); k-- > 0;) d += " L" + Fmt(X(x, band[k].x) - half) + "," + Fmt(Y(y, band[k].low));
  return "<path d=\"" + d + " Z\" fill=\"" + color + "\" fill-opacity=\"0.18\" stroke=\"none\" data-band=\"" + name +
         "\" data-points=\"" + values + "\"><title>" + name + ": band " + EscapeHtml(values) + "</title></path>\n";
}

// Vertical bars with caps, one <path> each, in the series' colour.
template <typename Usable>
std::string ErrorBars(const std::vector<BandPoint>& bars, Usable usable, const Scale& x, const Scale& y,
                      const std::string& name, const std::string& color) {
  std::string out;
  for (const auto& b : bars) {
    if (!usable(b)) continue;
    const double px = X(x, b.x), top = Y(y, b.high), bottom = Y(y, b.low);
    const std::string values = DataNumber(b.low) + "–" + DataNumber(b.high);
    out += "<path d=\"M" + Fmt(px) + "," + Fmt(top) + " V" + Fmt(bottom) + " M" + Fmt(px - 4) + "," + Fmt(top) + " H" +
           Fmt(px + 4) + " M" + Fmt(px - 4) + "," + Fmt(bottom) + " H" + Fmt(px + 4) + "\" stroke=\"" + color +
           "\" stroke-width=\"1.5\" fill=\"none\" data-error-bar=\"" + name + "\" data-x=\"" + DataNumber(b.x) +
           "\" data-low=\"" + DataNumber(b.low) + "\" data-high=\"" + DataNumber(b.high) + "\"><title>" + name + ": " +
           DataNumber(b.x) + ", " + EscapeHtml(values) + "</title></path>\n";
  }
  return out;
}

constexpr const char* kReferenceColor = "#555";
const char* ReferenceDash(const Reference& r) {
  return r.dashed ? "5 3" : "none";  // "none": solid, and still drawn as a line sample in the legend
}

// Horizontal reference lines, under the series. Their labels go in the legend (ReferenceLegend), not on the
// plot, where they would cover the points near them.
std::string ReferenceLines(const std::vector<Reference>& references, const Scale& y, bool log_y) {
  std::string out;
  for (const auto& r : references) {
    if (!std::isfinite(r.y) || (log_y && r.y <= 0)) continue;
    const std::string label = EscapeHtml(r.label), at = Fmt(Y(y, r.y));
    out += "<line x1=\"" + Fmt(kLeft, 0) + "\" x2=\"" + Fmt(kLeft + kPlotW, 0) + "\" y1=\"" + at + "\" y2=\"" + at +
           "\" stroke=\"" + kReferenceColor + "\" stroke-width=\"1\"" +
           (r.dashed ? " stroke-dasharray=\"" + std::string(ReferenceDash(r)) + "\"" : "") + " data-reference=\"" +
           label + "\" data-y=\"" + DataNumber(r.y) + "\"><title>" + label + "</title></line>\n";
  }
  return out;
}

}  // namespace

std::string EscapeHtml(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string DataNumber(double value) {
  char buf[64];
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, value);
    if (std::strtod(buf, nullptr) == value) break;
  }
  return buf;
}

std::string LineChart(const std::vector<Series>& series, const Axes& axes, const std::vector<Marker>& markers,
                      const std::vector<Reference>& references) {
  auto usable = [&](double x, double y) {
    return std::isfinite(x) && std::isfinite(y) && (!axes.log_x || x > 0) && (!axes.log_y || y > 0);
  };
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  std::set<double> xs;
  auto usable_band = [&](const BandPoint& b) { return usable(b.x, b.low) && usable(b.x, b.high) && b.low <= b.high; };
  for (const auto& s : series) {
    for (const auto& [x, y] : s.points) {
      if (!usable(x, y)) continue;
      x_lo = std::min(x_lo, x);
      x_hi = std::max(x_hi, x);
      y_lo = std::min(y_lo, y);
      y_hi = std::max(y_hi, y);
      xs.insert(x);
    }
    for (const auto* spreads : {&s.band, &s.error_bars})  // they widen the ranges; x ticks stay at the points'
      for (const auto& b : *spreads)
        if (usable_band(b)) {
          x_lo = std::min(x_lo, b.x);
          x_hi = std::max(x_hi, b.x);
          y_lo = std::min(y_lo, b.low);
          y_hi = std::max(y_hi, b.high);
        }
  }
  // Markers widen x only once there is data: a marker alone says nothing about a y range.
  if (!xs.empty())
    for (const auto& m : markers)
      if (std::isfinite(m.x) && (!axes.log_x || m.x > 0)) {
        x_lo = std::min(x_lo, m.x);
        x_hi = std::max(x_hi, m.x);
      }
  if (!xs.empty())
    for (const auto& r : references)
      if (std::isfinite(r.y) && (!axes.log_y || r.y > 0)) {
        y_lo = std::min(y_lo, r.y);
        y_hi = std::max(y_hi, r.y);
      }
  std::string out = Open(axes, HeightFor(series.size() + references.size()));
  if (xs.empty()) {
    out += "<text x=\"" + Fmt(kLeft + kPlotW / 2, 0) + "\" y=\"" + Fmt(kTop + kPlotH / 2, 0) +
           "\" text-anchor=\"middle\" fill=\"#888\">no data</text>\n</svg>\n";
    return out;
  }
  if (!axes.log_y) y_lo = std::min(0.0, y_lo);  // linear quantities read best from zero
  Scale x(x_lo, x_hi, axes.log_x), y(y_lo, y_hi, axes.log_y);
  x.Pad(0.04, false);
  y.Pad(0.06, /*keep_zero=*/true);
  out += YTicks(y);
  out += ReferenceLines(references, y, axes.log_y);
  // Sequence lengths are few and discrete: label exactly the lengths measured when they fit.
  std::vector<double> x_ticks = xs.size() <= 12 ? std::vector<double>(xs.begin(), xs.end()) : x.Ticks();
  for (double v : x_ticks)
    out += "<text x=\"" + Fmt(X(x, v)) + "\" y=\"" + Fmt(kTop + kPlotH + 16, 0) + "\" text-anchor=\"middle\">" +
           EscapeHtml(TickLabel(v)) + "</text>\n";
  constexpr size_t kColors = sizeof kPalette / sizeof kPalette[0];
  for (size_t i = 0; i < series.size(); ++i) {
    const std::string color = series[i].color.empty() ? kPalette[i % kColors] : EscapeHtml(series[i].color);
    const std::string dash = kDashes[(i / kColors) % (sizeof kDashes / sizeof kDashes[0])];
    auto points = series[i].points;
    points.erase(
        std::remove_if(points.begin(), points.end(), [&](const auto& p) { return !usable(p.first, p.second); }),
        points.end());
    std::sort(points.begin(), points.end());
    const std::string name = EscapeHtml(series[i].name);
    out += "<g data-series=\"" + name + "\">\n";
    out += BandPath(series[i].band, usable_band, x, y, name, color);
    out += ErrorBars(series[i].error_bars, usable_band, x, y, name, color);
    if (series[i].join && points.size() > 1) {
      out += "<polyline fill=\"none\" stroke=\"" + color + "\" stroke-width=\"2\"" +
             (dash.empty() ? "" : " stroke-dasharray=\"" + dash + "\"") + " points=\"";
      for (const auto& [px, py] : points) out += Fmt(X(x, px)) + "," + Fmt(Y(y, py)) + " ";
      out += "\"/>\n";
    }
    for (const auto& [px, py] : points)
      out += PointMark(series[i].shape, X(x, px), Y(y, py), color,
                       " data-x=\"" + DataNumber(px) + "\" data-y=\"" + DataNumber(py) + "\"",
                       "<title>" + name + ": " + DataNumber(px) + ", " + EscapeHtml(TickLabel(py)) + "</title>") +
             "\n";
    out += "</g>\n";
    // The legend's entry carries the colour as given (LegendEntry escapes it).
    const std::string legend_color = series[i].color.empty() ? color : series[i].color;
    out += LegendEntry(static_cast<int>(i), series[i].name, legend_color, series[i].join ? dash : "",
                       series[i].join ? nullptr : &series[i].shape);
  }
  int entry = static_cast<int>(series.size());
  for (const auto& r : references)
    if (std::isfinite(r.y) && (!axes.log_y || r.y > 0))
      out += LegendEntry(entry++, r.label, kReferenceColor, ReferenceDash(r));
  // Over the lines, so a crossing is never hidden under one; labels step down so that close markers stay legible.
  int shown = 0;
  for (const auto& m : markers) {
    if (!std::isfinite(m.x) || (axes.log_x && m.x <= 0)) continue;
    const bool of_series = m.series >= 0 && static_cast<size_t>(m.series) < series.size();
    const std::string color = !of_series ? "#555"
                              : series[static_cast<size_t>(m.series)].color.empty()
                                  ? kPalette[static_cast<size_t>(m.series) % kColors]
                                  : EscapeHtml(series[static_cast<size_t>(m.series)].color);
    const std::string px = Fmt(X(x, m.x)), label = EscapeHtml(m.label);
    out += "<line x1=\"" + px + "\" x2=\"" + px + "\" y1=\"" + Fmt(kTop, 0) + "\" y2=\"" + Fmt(kTop + kPlotH, 0) +
           "\" stroke=\"" + color + "\" stroke-width=\"1.5\" stroke-dasharray=\"5 3\" data-marker=\"" + label +
           "\" data-x=\"" + DataNumber(m.x) + "\"><title>" + label + "</title></line>\n";
    // Right of the line, or left of it in the plot's right part, so the label stays inside the plot.
    const bool left = X(x, m.x) > kLeft + 0.6 * kPlotW;
    out += "<text x=\"" + Fmt(X(x, m.x) + (left ? -4 : 4)) + "\" y=\"" + Fmt(kTop + 12 + 13.0 * (shown % 6)) +
           "\" font-size=\"10\" fill=\"" + color + "\"" + (left ? " text-anchor=\"end\"" : "") + ">" + label +
           "</text>\n";
    ++shown;
  }
  out += "</svg>\n";
  return out;
}

std::string StackedBarChart(const std::vector<Layer>& layers, const std::vector<StackedBar>& bars, const Axes& axes) {
  double y_hi = 0;
  for (const auto& bar : bars) {
    double total = 0;
    for (double v : bar.values) total += std::max(0.0, v);
    y_hi = std::max(y_hi, total);
  }
  std::string out = Open(axes, HeightFor(layers.size()));
  if (bars.empty()) {
    out += "<text x=\"" + Fmt(kLeft + kPlotW / 2, 0) + "\" y=\"" + Fmt(kTop + kPlotH / 2, 0) +
           "\" text-anchor=\"middle\" fill=\"#888\">no data</text>\n</svg>\n";
    return out;
  }
  Scale y(0, std::max(1.0, y_hi), false);
  y.Pad(0.04, /*keep_zero=*/true);
  out += YTicks(y);
  const double slot = kPlotW / static_cast<double>(bars.size()), width = std::min(60.0, slot * 0.7);
  for (size_t b = 0; b < bars.size(); ++b) {
    const double cx = kLeft + slot * (static_cast<double>(b) + 0.5);
    const std::string label = EscapeHtml(bars[b].label);
    out += "<text x=\"" + Fmt(cx) + "\" y=\"" + Fmt(kTop + kPlotH + 16, 0) + "\" text-anchor=\"middle\">" + label +
           "</text>\n";
    double base = 0;
    for (size_t l = 0; l < layers.size(); ++l) {
      const double v = l < bars[b].values.size() ? std::max(0.0, bars[b].values[l]) : 0;
      if (v <= 0) continue;
      const double top = Y(y, base + v), bottom = Y(y, base);
      const std::string layer = EscapeHtml(layers[l].name);
      out += "<rect x=\"" + Fmt(cx - width / 2) + "\" y=\"" + Fmt(top) + "\" width=\"" + Fmt(width) + "\" height=\"" +
             Fmt(bottom - top) + "\" fill=\"" + EscapeHtml(layers[l].color) + "\" data-bar=\"" + label +
             "\" data-layer=\"" + layer + "\" data-value=\"" + DataNumber(v) + "\"><title>" + label + " " + layer +
             ": " + DataNumber(v) + "</title></rect>\n";
      base += v;
    }
  }
  for (size_t l = 0; l < layers.size(); ++l) out += LegendEntry(static_cast<int>(l), layers[l].name, layers[l].color);
  out += "</svg>\n";
  return out;
}

}  // namespace tscale::report
