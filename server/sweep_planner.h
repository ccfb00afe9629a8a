// Turns a user's SweepSpec into the jobs to store: validates every field (errors name the field, e.g.
// "spec.seq_lengths[2]: must be in 1..1048576"), resolves model names through the catalog, applies
// measurement defaults, and expands the cross product in a stable order (model, workload, checkpointing,
// length, batch, dtype, attention, repetition). Checkpointing multiplies the train cells only; a train job carries
// its model's loss, resolved by architecture unless the sweep names one.
#pragma once

#include <string>
#include <vector>

#include "common/catalog.h"
#include "common/status.h"
#include "server/store.h"
#include "tscale/v1/tscale.pb.h"

namespace tscale {

struct PlannerLimits {
  int max_jobs = 100'000;
  int max_seq_len = 1 << 20;
  int max_batch = 4096;
  int max_repetitions = 1000;
  int max_axis_values = 1000;  // entries in any one list of the spec
  // Not a limit but the planner's one policy default: the noise threshold (coefficient of variation) of sweeps
  // that set none (a sweep's max_cv 0 means "the default", -1 "no check"). Set server-side (tscale-server
  // --max-cv); 0 here turns the check off for every such sweep (test clusters, whose tiny models time in
  // milliseconds). Jobs carry the resolved value: a positive threshold, or -1 for no check.
  double default_max_cv = 0.25;
};

// The measurement settings a job gets when the sweep leaves them at zero.
v1::MeasurementSettings DefaultMeasurement();

// Cells of the cross product the planner leaves out, and why: an encoder-only model has nothing to decode, a
// model whose architecture the sweep's explicit loss does not fit (masked_lm for a decoder) has no train cells, and
// a linear-time model (ModelConfig::linear_time: no softmax attention) runs only the first attention
// implementation asked for. The submit answer carries them all, so a sweep never silently runs fewer jobs than
// its axes multiply to.
struct SkippedCells {
  int cells = 0;
  std::vector<std::string> reasons;  // one per (model, workload) left out, and one per collapsed linear-time model
};

// `skipped`, when given, receives the cells left out. A sweep where every cell is left out is refused
// (INVALID_ARGUMENT naming spec.workloads): it would have no job, so it could never finish.
StatusOr<std::vector<PlannedJob>> PlanSweep(const v1::SweepSpec& spec, const Catalog& catalog,
                                            const PlannerLimits& limits = {}, SkippedCells* skipped = nullptr);

}  // namespace tscale
