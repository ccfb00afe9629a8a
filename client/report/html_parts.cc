#include "client/report/html_parts.h"

namespace tscale::report {

std::string HtmlTable::Render(const std::string& css_class) const {
  std::string out = "<table" + (css_class.empty() ? "" : " class=\"" + css_class + "\"") + ">\n<thead><tr>";
  for (const auto& h : headers_) out += "<th>" + EscapeHtml(h) + "</th>";
  out += "</tr></thead>\n<tbody>\n";
  for (size_t r = 0; r < rows_.size(); ++r) {
    const auto& row = rows_[r];
    out += row_classes_[r].empty() ? "<tr>" : "<tr class=\"" + EscapeHtml(row_classes_[r]) + "\">";
    for (const auto& cell : row) out += "<td>" + EscapeHtml(cell) + "</td>";
    out += "</tr>\n";
  }
  return out + "</tbody>\n</table>\n";
}

namespace {
const char kStyle[] = R"(<style>
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{margin-bottom:0}.scope{color:#666;margin-top:.2em}
section{margin:2.5em 0}.how{color:#555;max-width:60em}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
th,td{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f4f4f4}table.num td{text-align:right}table.models td:first-child,table.num td:first-child{text-align:left}
table.models td:nth-child(2),table.models td:nth-child(5),table.models td:nth-child(6){text-align:left}
table.cfg td:nth-child(-n+4),table.cat td:nth-child(-n+2){text-align:left}
svg{max-width:100%;height:auto;display:block}
</style>)";
}  // namespace

const char* ReportStyle() {
  return kStyle;
}

std::string Section(const std::string& id, const std::string& heading, const std::string& explanation,
                    const std::string& body) {
  return "<section id=\"" + id + "\">\n<h2>" + EscapeHtml(heading) + "</h2>\n<p class=\"how\">" +
         EscapeHtml(explanation) + "</p>\n" + body + "</section>\n";
}

std::string HtmlSpreadText(const Spread& s, int decimals) {
  if (s.n == 0) return "";
  return FormatFixed(s.median, decimals) + " [" + FormatFixed(s.q1, decimals) + "–" + FormatFixed(s.q3, decimals) + "]";
}

std::string Percent(double fraction) {
  return FormatFixed(100.0 * fraction, 1) + "%";
}

std::string LegendFit(const std::optional<PowerFit>& fit, size_t lengths) {
  return fit ? " (n^" + FormatFixed(fit->exponent, 2) + ")"
             : " (no fit: " + std::to_string(lengths) + (lengths == 1 ? " length)" : " lengths)");
}

const char* CauseColor(Cause cause) {
  switch (cause) {
    case Cause::kOk:
      return "#009E73";
    case Cause::kContext:
      return "#56B4E9";
    case Cause::kMemory:
      return "#D55E00";
    case Cause::kTimeout:
      return "#E69F00";
    case Cause::kCrash:
      return "#CC79A7";
    case Cause::kError:
      return "#8C564B";
    case Cause::kInvalid:
      return "#7F7F7F";
    case Cause::kOther:
      return "#BBBBBB";
  }
  return "#000000";
}

}  // namespace tscale::report
