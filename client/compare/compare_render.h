// `tscale-client compare`'s outputs (docs/compare.md): a text summary for the terminal, CSV (one row per matched
// cell) and JSON (everything in the Comparison) for scripts; the HTML page is compare_html.h. Pure functions of a
// Comparison, so every line is unit-tested on hand-made ones.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "client/compare/compare.h"

namespace tscale::compare {

// In this order: the environments (fields that differ first, marked "*", base and head side by side; the rest
// on one "same on both sides" line), the regressions, the other outcome changes, wall changes, peak-memory
// changes, the speed table of every matched cell, the cells on one side only, and a one-line summary with the
// options used. Sections with nothing to say are left out, except the regressions ("Regressions: none").
std::string RenderCompareText(const Comparison& comparison);

// One row per matched cell, a fixed header (kCompareCsvHeader), RFC 4180 quoting. Numbers in their shortest
// round-trip form; an outcome a side has no evidence for is empty.
extern const char kCompareCsvHeader[];
std::string RenderCompareCsv(const Comparison& comparison);

// {"options", "minimum_samples_per_side", "has_regression", "summary", "environment", "cells", "base_only",
// "head_only", "walls"}: every field of the Comparison, with outcomes, verdicts and changes by name; each cell
// also has its "name" and "regression".
std::string RenderCompareJson(const Comparison& comparison);

// The pieces the text and the HTML share, so both say the same thing in the same words.

// Slower beyond the threshold with p < alpha, or worked on base and fails on head: what Comparison::HasRegression
// looks for, per cell.
bool IsRegression(const CellComparison& cell);
// OutcomeName, or "-" for a side with no evidence (OUTCOME_UNSPECIFIED).
std::string OutcomeText(v1::Outcome outcome);
// "exceeds_context -> ok (--extend-context on head only)": the outcomes, and the setting change when there is one.
std::string OutcomeChangeText(const CellComparison& cell);
// "works up to 1024, exceeds_context at 2048"; "nothing works, oom at 128"; "works up to 4096, nothing above fails".
std::string WallSideText(const WallSide& wall);
// "1.120 [1.080-1.170]" (`dash` between the bounds); "1.120" without an interval; "-" without a ratio.
std::string RatioText(const Speed& speed, const std::string& dash = "-");
// "0.0012", "3.1e-06"; "-" when there was nothing to test.
std::string PValueText(const Speed& speed);
// "5%", "2.5%": a fraction as a percentage, four significant digits (0.07 is not 7.000000000000001%).
std::string PercentText(double fraction);
// A median latency for people: "1234.5", "12.34", "0.123"; "-" for none.
std::string MillisecondsText(double ms);
// The distinct values of an environment field: "1, 2"; "-" when a side has none.
std::string EnvironmentValues(const std::vector<std::string>& values);

// The memory figure a cell's memory_ratio compares: the device peak when both sides have one, else the RSS.
struct MemoryFigures {
  const char* kind = "rss";  // "device" or "rss"
  int64_t base_bytes = 0, head_bytes = 0;
};
MemoryFigures MemoryOf(const CellComparison& cell);

struct VerdictCounts {
  int faster = 0, slower = 0, no_change = 0, too_few_samples = 0, not_comparable = 0;
};
VerdictCounts CountVerdicts(const Comparison& comparison);
// "12 matched cells: 1 faster, 2 slower, 8 no change, 1 too few samples, 0 not comparable; 1 on base only, 0 on
// head only; 2 regressions. threshold 5%, alpha 0.05, confidence 95%, 2000 resamples, seed 1; the test needs 4
// samples a side at this alpha."
std::string SummaryLine(const Comparison& comparison);

}  // namespace tscale::compare
