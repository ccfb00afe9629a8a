// The report as plain-text tables (docs/report.md explains every column and formula).
#pragma once

#include <string>
#include <vector>

#include "client/report/aggregate.h"

namespace tscale::report {

std::string RenderText(const std::vector<CellSummary>& cells);

// The cells of the per-model table, in its column order (model, category, params, max_len, class, wall,
// mem_x, lat_exp, mem_exp, tok/s/Mparam): the text and HTML reports show the same figures.
std::vector<std::string> ModelRowCells(const ModelScaling& model);

// The wall finder's answers, one line per search; "" when the rows hold no wall-finder probes.
std::string RenderWalls(const std::vector<WallRow>& walls);

// "oom", "context" ... for a wall's cause; "(none up to max)" when nothing failed.
std::string WallCauseText(const wall::Answer& answer);
// "converged", "searching", "stopped: cancelled".
std::string WallStateText(const wall::Answer& answer);

}  // namespace tscale::report
