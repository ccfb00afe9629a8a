// Results as CSV: one row per finished job, a fixed header, RFC 4180 quoting. Reading it back gives the same
// rows, so a report can be made offline from an exported file (`tscale-client report --from-csv`).
#pragma once

#include <string>
#include <vector>

#include "client/report/aggregate.h"
#include "common/status.h"

namespace tscale::report {

std::string ToCsv(const std::vector<Row>& rows);
// INVALID_ARGUMENT naming the line and column for anything malformed.
StatusOr<std::vector<Row>> FromCsv(const std::string& text);
// FromCsv of a file (`results --csv` output): the file's read error, or FromCsv's prefixed with the path.
StatusOr<std::vector<Row>> ReadCsvFile(const std::string& path);

}  // namespace tscale::report
