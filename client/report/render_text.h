// The report as plain-text tables (docs/report.md explains every column and formula).
#pragma once

#include <string>
#include <vector>

#include "client/report/aggregate.h"

namespace tscale::report {

std::string RenderText(const std::vector<CellSummary>& cells);

}  // namespace tscale::report
