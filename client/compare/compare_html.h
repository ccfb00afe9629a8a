// `tscale-client compare`'s HTML page (docs/compare.md): one self-contained file in the report's style
// (client/report/html_parts.h). The regressions first, as a table; then per series (model, workload, variant,
// batch, checkpointing, new tokens) a chart of head ÷ base median latency against sequence length (log–log), the
// bootstrap interval as a bar at each length, a solid line at 1 and dashed ones at 1 ± the threshold, each point
// coloured and shaped by its verdict; then the environments side by side, the outcome, wall and memory changes,
// every matched cell, and the cells on one side only.
//
// Contract, as the report's: no scripts and no external references; every string from a result or a user is
// HTML-escaped; every plotted value is also in a table, and each chart's points and bars carry their values as
// data-* attributes (client/report/svg_chart.h).
#pragma once

#include <string>

#include "client/compare/compare.h"

namespace tscale::compare {

std::string RenderCompareHtml(const Comparison& comparison, const std::string& title);

}  // namespace tscale::compare
