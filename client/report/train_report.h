// The report's training section (docs/report.md, "Training"), as text and as HTML, from the figures of
// train_scaling.h. Both show the same cells; the HTML adds the charts: step time vs length (log-log, the fitted
// exponent in the legend), the attention share of the step's FLOPs vs length, a stacked memory breakdown per
// configuration, and tokens/s and MFU by category.
#pragma once

#include <string>
#include <vector>

#include "client/report/aggregate.h"
#include "client/report/train_scaling.h"

namespace tscale::report {

// The text tables: step scaling, the step and the memory breakdown by length, checkpointing's saving, tokens/s
// and MFU by category, and the walls of every workload side by side. "" without train rows.
std::string RenderTrain(const std::vector<Row>& rows);
// The same as one HTML <section id="train">, with its charts; "" without train rows.
std::string TrainHtmlSection(const std::vector<Row>& rows);

// The cells the two share, in their tables' column order.
// model, variant, batch, ckpt, mixed, lengths, step_exp, act_exp ("-" without a fit).
std::vector<std::string> TrainScalingRowCells(const TrainSeries& series);
// model, variant, batch, ckpt, length, ok, step_ms, attn_share, tok/s, MFU, GFLOP/step, torchtitan/tscale.
std::vector<std::string> TrainStepRowCells(const TrainSeries& series, const TrainPoint& point);
// model, variant, batch, ckpt, length, then MiB: params, grads, optimizer, activations, peak, analytic
// activations; then measured/analytic activations and measured/computed state.
std::vector<std::string> TrainMemoryRowCells(const TrainSeries& series, const TrainPoint& point);
// model, variant, batch, length, peak none/layers/saved, activations none/layers/saved, step layers/none.
std::vector<std::string> CheckpointingRowCells(const CheckpointingSaving& saving);
// model, category, then per column of `walls` its max working length and its wall (cause).
std::vector<std::string> WorkloadWallRowCells(const WorkloadWalls::Model& model);

}  // namespace tscale::report
