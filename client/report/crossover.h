// The report's crossover section (docs/report.md, "Crossover"): for each pair of a linear-time model (Mamba, linear
// attention) and a transformer of about its size, the sequence length at which the linear-time model's figure drops
// strictly below the transformer's, per workload (forward: median latency; decode: median TPOT, whose depth is the
// prompt length), per attention implementation of the transformer, and separately for peak memory. Pure functions
// of the rows, like aggregate.h; FindCrossover is the arithmetic alone, so tests can check it on hand-made points.
#pragma once

#include <string>
#include <vector>

#include "client/report/aggregate.h"

namespace tscale::report {

// A linear-time model and the transformer it is compared with, by catalog id (as results name models).
struct CrossoverPair {
  std::string linear_model, transformer;
};
// The pairs, in the report's order. `submit --preset crossover` runs every model named here.
const std::vector<CrossoverPair>& CrossoverPairs();

// One length of a comparison: the two models' figures (0 = no ok job there) and, where the transformer has no
// figure, the failure its jobs reported (OUTCOME_UNSPECIFIED when none failed, or it has a figure).
struct CrossoverPoint {
  int seq_len = 0;
  double linear = 0, transformer = 0;
  v1::Outcome transformer_failure = v1::OUTCOME_UNSPECIFIED;
};

enum class CrossoverKind {
  kNoCommonLength,    // neither a length both measured nor a transformer failure where the linear model ran
  kInterpolated,      // the ratio crosses 1 between two lengths both measured: `length` is interpolated
  kAtOrBelow,         // already below at the smallest common length (`length`)
  kNotReached,        // never below, up to the largest common length (`length`)
  kTransformerFails,  // the transformer failed at `length`, where the linear model ran, before any crossing
};
struct Crossover {
  CrossoverKind kind = CrossoverKind::kNoCommonLength;
  double length = 0;
  int from = 0, to = 0;                           // kInterpolated: the two measured lengths around the crossing
  v1::Outcome failure = v1::OUTCOME_UNSPECIFIED;  // kTransformerFails: what the transformer's jobs reported
};
// The first crossing over `points` (ascending lengths). Where ratio r = linear / transformer is >= 1 at a common
// length a and < 1 at the next common length b, the crossing is where the line through (ln a, ln r_a) and
// (ln b, ln r_b) meets 0: ln L = ln a + ln(b / a) * ln r_a / (ln r_a - ln r_b). Lengths where the linear model has
// no figure are passed over; one where the transformer failed and the linear model ran ends the search.
Crossover FindCrossover(const std::vector<CrossoverPoint>& points);
// "1448 (between 1024 and 2048)", "at or below 256", "not reached up to 16384", "by 8192 (transformer fails: oom)",
// "no common length".
std::string CrossoverText(const Crossover& crossover);

// One comparison: a pair, a workload, the transformer's dtype, attention implementation and batch, and the linear
// model's rows of the same workload, dtype and batch (of its eager implementation when it has some: it has no
// softmax attention, so the implementation changes nothing; else of the first it has).
struct CrossoverSeries {
  std::string linear_model, transformer;
  v1::Workload workload = v1::WORKLOAD_FORWARD;
  std::string dtype, attention, linear_attention;  // "fp32"; the transformer's "eager"; the linear model's
  int batch = 1;
  // Per length: time = the median over ok jobs of their median latency (forward) or median TPOT (decode), in ms;
  // memory = the largest peak over ok jobs (the device allocator's where a job has one, else its RSS), in MiB.
  std::vector<CrossoverPoint> time, memory;
  Crossover time_crossover, memory_crossover;
  int common_lengths = 0;  // lengths where both models have a time figure
};
// Every comparison the rows allow (both models have rows of the workload, dtype and batch), in CrossoverPairs()
// order, then forward before decode, then dtype, batch, and eager, memory_efficient, fused. Train rows are not
// compared (a step's figures are in the training section).
std::vector<CrossoverSeries> Crossovers(const std::vector<Row>& rows);

// "time" column label of a workload: "latency" (forward) or "TPOT" (decode).
std::string CrossoverMetricName(v1::Workload workload);
// The summary table's cells: linear model, transformer, workload, variant (dtype/attention), batch, the linear
// model's variant, common lengths, time crossover, memory crossover.
std::vector<std::string> CrossoverRowCells(const CrossoverSeries& series);

// The text tables: one line per comparison, then every length's figures and ratios. "" without a comparison.
std::string RenderCrossover(const std::vector<Row>& rows);
// The same as <section id="crossover">, with a log-log chart of time and one of peak memory per pair, workload,
// dtype and batch (a line per model and transformer implementation, each crossing marked); "" without one.
std::string CrossoverHtmlSection(const std::vector<Row>& rows);

}  // namespace tscale::report
