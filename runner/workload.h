// A workload: what one timed step of a job does. job_runner.cc owns everything the workloads share — the
// device, the model's load, the warm-up and timed loop, statistics, memory, the FLOP/s verdict and the
// environment — and asks the job's workload for its inputs, its step, the work in one step and its own result
// fields. So a new workload (decode with a KV cache, a training step) is one new implementation of this
// interface plus its case in MakeWorkload, over the same MeasuredModel.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "common/model_config.h"
#include "runner/model_source.h"
#include "tscale/v1/tscale.pb.h"

namespace tscale {

class Workload {
 public:
  virtual ~Workload() = default;

  // Draws the step's inputs, seeded by the job. Called once, after the model is loaded and before the loop;
  // what it allocates counts as the job's memory, not the model's.
  virtual void Prepare(const torch::Device& device) = 0;
  // One timed step. The caller synchronises the device after it, inside the timed region.
  virtual void Step() = 0;
  // Tokens one step processes: tokens/s = this / median step time.
  virtual double TokensPerStep() const = 0;
  // Analytic FLOPs of one step; 0 when none can be claimed (a TorchScript module is opaque), which also
  // means no FLOP/s verdict.
  virtual double FlopsPerStep() const = 0;
  // The workload's own result fields, after the loop and the memory readings (none for the forward).
  virtual void FillResult(v1::Result* /*result*/) const {}
};

// What the runner must know of a job's workload before its model exists: the positions the context check covers,
// how the model is built, whether autograd runs, and which roofline the verdict checks the step against.
struct WorkloadTraits {
  int stack_length = 0;    // positions the first (or only) stack holds
  int decoder_length = 0;  // an encoder-decoder's decoder positions
  bool lm_head = false;    // build the LM head (generation and training read logits)
  bool trains = false;     // autograd on, modules in train mode (no InferenceMode)
  bool checkpoint_layers = false;
  bool memory_bound = false;  // the verdict checks bytes/s against the memory bandwidth, not FLOP/s
};
WorkloadTraits TraitsOf(const v1::JobSpec& job, const ModelConfig& config);

// The workload the job asks for, over its loaded model. `model` must outlive the workload. Throws
// std::runtime_error for a workload the model cannot run (decode of an encoder, decode or training of a
// TorchScript module).
std::unique_ptr<Workload> MakeWorkload(const v1::JobSpec& job, const ModelConfig& config, MeasuredModel* model);

// The workloads, one file each (workload.cc dispatches on JobSpec::workload).
std::unique_ptr<Workload> MakeForwardWorkload(const v1::JobSpec& job, const ModelConfig& config, MeasuredModel* model);
std::unique_ptr<Workload> MakeDecodeWorkload(const v1::JobSpec& job, const ModelConfig& config, MeasuredModel* model);
std::unique_ptr<Workload> MakeTrainWorkload(const v1::JobSpec& job, const ModelConfig& config, MeasuredModel* model);

// Latency statistics of a sample (common/latency_stats.h) in the result's form.
void FillLatency(const std::vector<double>& samples_ms, v1::LatencyStats* out);

}  // namespace tscale
