// The report as one self-contained HTML file: the same tables as the text report (docs/report.md), the
// study's versions next to the corrected ones, and SVG charts: the wall (success vs length, stacked by
// cause), throughput and peak memory vs length per category (log-log, with fitted exponents), each model's
// latency vs length with its p10-p90 band, efficiency by category, and for decode rows TTFT, TPOT and KV cache vs
// prompt length per model (with exponents) and decode tokens/s by category; for the rows of a linear-time model and
// its transformer pair, their latency (or TPOT) and peak memory vs length with the crossover marked (crossover.h).
//
// Contract: no scripts and no external references (it opens offline, from a file, in any browser); every
// string that came from a result or a user is HTML-escaped; every plotted value is also in a table.
#pragma once

#include <string>
#include <vector>

#include "client/report/aggregate.h"

namespace tscale::report {

struct HtmlReportOptions {
  std::string title = "tscale report";
  std::string scope;  // what the rows are, e.g. "sweep 3" or "r.csv"
};

std::string RenderHtml(const std::vector<Row>& rows, const HtmlReportOptions& options);

}  // namespace tscale::report
