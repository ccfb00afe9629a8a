// The training step's figures (docs/report.md, "Training"): per training configuration, at each length, the
// median step, the attention share of its FLOPs, the memory breakdown (parameters, gradients, optimizer state,
// activations) with the analytic activation count beside the measured one, tokens/s, MFU and torchtitan's FLOP
// estimate beside tscale's; the saving of activation checkpointing where both settings ran; throughput and MFU
// by category; and each model's walls under every workload side by side. Pure functions of the rows, like
// aggregate.h; train rows never enter a forward or decode figure.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "client/report/aggregate.h"

namespace tscale::report {

struct TrainPoint {
  int seq_len = 0;
  int ok_jobs = 0;
  // Medians over the ok jobs at this length (a figure a job did not report, 0, is left out of its median).
  double step_ms = 0, tokens_per_s = 0;
  double mfu = 0;                    // peak_flops_fraction: achieved FLOP/s over the job's peak
  double step_flops = 0;             // tscale's analytic FLOPs of the step (Result.flops_per_forward)
  double torchtitan_flops = 0;       // torchtitan's estimate of the same step
  double attention_flops_share = 0;  // of the step's analytic FLOPs, QK^T and AV
  // The breakdown of the ok job with the highest peak (its peak is the point's): the peak is the device
  // allocator's when measured, else peak RSS; its activations are that peak minus the three states and the
  // runner's baseline.
  int64_t peak_bytes = 0;
  int64_t parameter_bytes = 0, gradient_bytes = 0, optimizer_state_bytes = 0, activation_bytes = 0;
  double analytic_activation_bytes = 0;
  int64_t measured_state_bytes = 0;  // CPU only; 0 elsewhere
  // measured / analytic activation bytes, torchtitan's / tscale's FLOPs, measured / computed state bytes;
  // 0 when a side is missing.
  double ActivationRatio() const;
  double FlopsRatio() const;
  double StateRatio() const;
};

// One training configuration: a model, variant (dtype/attention), batch and checkpointing setting. Like a
// decode series, never pooled: a checkpointed step is another curve, at another memory.
struct TrainSeries {
  std::string model_id, category, variant;
  int batch = 1;
  v1::Checkpointing checkpointing = v1::CHECKPOINTING_NONE;
  bool mixed_precision = false;            // any ok job ran bf16 autocast over fp32 master weights
  std::vector<TrainPoint> points;          // the lengths with an ok job, ascending
  std::optional<PowerFit> step_fit;        // log step time on log length; two lengths fix it
  std::optional<PowerFit> activation_fit;  // the same for the measured activation bytes
};
// Sorted by model, variant, batch, checkpointing; configurations without an ok job are left out (the walls show
// their failures).
std::vector<TrainSeries> TrainScaling(const std::vector<Row>& rows);

// "fp32/eager, batch 1, no checkpointing": every axis of the configuration.
std::string TrainConfigText(const TrainSeries& series);
// Per series, its legend label: the model, and in brackets only the axes that differ among that model's series
// ("gpt2 [checkpointing]" next to "gpt2 [no checkpointing]"; plain "bert" when it has one series).
std::vector<std::string> TrainLabels(const std::vector<TrainSeries>& series);

// Where a model, variant and batch ran both without checkpointing and with it at a length (both ok).
struct CheckpointingSaving {
  std::string model_id, variant;
  int batch = 1, seq_len = 0;
  int64_t peak_none = 0, peak_layers = 0, activation_none = 0, activation_layers = 0;
  double step_ms_none = 0, step_ms_layers = 0;
  // What checkpointing saves (none - layers; negative if it costs memory) and its time price (layers / none).
  int64_t PeakSaved() const { return peak_none - peak_layers; }
  int64_t ActivationSaved() const { return activation_none - activation_layers; }
  double StepRatio() const { return step_ms_none > 0 ? step_ms_layers / step_ms_none : 0; }
};
std::vector<CheckpointingSaving> CheckpointingSavings(const std::vector<TrainSeries>& series);

// Per (category, checkpointing, length): the spread across the category's models (each one figure: the median
// over its ok train jobs there, variants and batches pooled as a cell pools them) of tokens/s, of MFU and of
// torchtitan's / tscale's step FLOPs (models without the figure are left out of its spread).
struct TrainCategoryRate {
  std::string category;
  v1::Checkpointing checkpointing = v1::CHECKPOINTING_NONE;
  int seq_len = 0;
  Spread tokens_per_s, mfu, flops_ratio;
};
std::vector<TrainCategoryRate> TrainRatesByCategory(const std::vector<Row>& rows);

// Each model's wall under each workload, side by side: ScalingByModel's wall (the longest working length before
// the first failing one, and that failure's cause) over Cells of forward, decode, train without checkpointing,
// and train with CHECKPOINTING_LAYERS as a column of its own. Columns without any cell are left out.
struct WorkloadWalls {
  std::vector<std::string> columns;  // WorkloadLabel of each column present, in that order
  struct Model {
    std::string model_id, category;
    std::vector<std::optional<ModelScaling>> walls;  // one per column; none when the model has no cell there
  };
  std::vector<Model> models;  // by model id
};
WorkloadWalls WallsByWorkload(const std::vector<Row>& rows);

}  // namespace tscale::report
