// The workload a job asks for, and what every workload reports the same way.
#include "runner/workload.h"

#include <stdexcept>
#include <string>

#include "common/latency_stats.h"

namespace tscale {

std::unique_ptr<Workload> MakeWorkload(const v1::JobSpec& job, const ModelConfig& config, MeasuredModel* model) {
  switch (job.workload()) {
    case v1::WORKLOAD_UNSPECIFIED:
    case v1::WORKLOAD_FORWARD:
      return MakeForwardWorkload(job, config, model);
    case v1::WORKLOAD_DECODE:
      return MakeDecodeWorkload(job, config, model);
    case v1::WORKLOAD_TRAIN:
      return MakeTrainWorkload(job, config, model);
    default:
      throw std::runtime_error("workload: unknown value " + std::to_string(static_cast<int>(job.workload())));
  }
}

WorkloadTraits TraitsOf(const v1::JobSpec& job, const ModelConfig& config) {
  WorkloadTraits t;
  t.stack_length = job.seq_len();
  t.decoder_length = job.decoder_length() > 0 ? job.decoder_length() : job.seq_len();
  switch (job.workload()) {
    case v1::WORKLOAD_DECODE:
      // A decoder-only generation caches prompt and new tokens; an encoder-decoder's decoder its start token
      // and the new tokens.
      if (config.arch == ArchKind::kDecoder) t.stack_length = job.seq_len() + job.new_tokens();
      t.decoder_length = 1 + job.new_tokens();
      t.lm_head = true;
      t.memory_bound = true;
      break;
    case v1::WORKLOAD_TRAIN:
      t.lm_head = true;
      t.trains = true;
      t.checkpoint_layers = job.checkpointing() == v1::CHECKPOINTING_LAYERS;
      break;
    default:
      break;
  }
  return t;
}

void FillLatency(const std::vector<double>& samples_ms, v1::LatencyStats* out) {
  const LatencySummary s = Summarize(samples_ms);
  out->set_count(s.count);
  out->set_mean_ms(s.mean);
  out->set_stddev_ms(s.stddev);
  out->set_cv(s.cv);
  out->set_min_ms(s.min);
  out->set_max_ms(s.max);
  out->set_median_ms(s.median);
  out->set_iqr_ms(s.iqr);
  out->set_p90_ms(s.p90);
  out->set_p95_ms(s.p95);
  out->set_p99_ms(s.p99);
}

}  // namespace tscale
