#include "runner/job_runner.h"

#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <new>

#include "common/host_info.h"
#include "common/latency_stats.h"
#include "common/model_config.h"
#include "common/outcome.h"
#include "common/runner_protocol.h"
#include "common/version.h"
#include "runner/timed_loop.h"
#include "runner/transformer.h"

namespace tscale {
namespace {

bool LooksLikeOutOfMemory(const std::string& message) {
  return message.find("out of memory") != std::string::npos ||
         message.find("can't allocate memory") != std::string::npos ||
         message.find("Cannot allocate memory") != std::string::npos;
}

StatusOr<torch::ScalarType> ScalarTypeFor(v1::DType dtype) {
  switch (dtype) {
    case v1::DTYPE_UNSPECIFIED:
    case v1::DTYPE_FP32:
      return torch::kFloat32;
    case v1::DTYPE_BF16:
      return torch::kBFloat16;
    case v1::DTYPE_FP16:
      return torch::kFloat16;
    default:
      return Status::InvalidArgument("dtype: unknown value " + std::to_string(dtype));
  }
}

void FillEnvironment(const v1::JobSpec& job, v1::Environment* env) {
  const HostFacts host = ReadHostFacts();
  env->set_hostname(host.hostname);
  env->set_os(host.os);
  env->set_cpu_model(host.cpu_model);
  env->set_cpu_cores(host.cpu_cores);
  env->set_ram_bytes(host.ram_bytes);
  env->set_device_kind(v1::DEVICE_KIND_CPU);
  env->set_device_name(host.cpu_model);
  env->set_device_memory_bytes(host.ram_bytes);
  env->set_torch_version(TORCH_VERSION);
  env->set_blas(ResolvedBlasLibrary());
  env->set_threads(at::get_num_threads());
  env->set_dtype(job.dtype() == v1::DTYPE_UNSPECIFIED ? v1::DTYPE_FP32 : job.dtype());
  env->set_tscale_version(kVersion);
  env->set_build_type(kBuildType);
}

void FillLatency(const std::vector<double>& samples, v1::LatencyStats* out) {
  const LatencySummary s = Summarize(samples);
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

// Writes a progress line for the worker at most every half second (and always for a new phase).
class ProgressReporter {
 public:
  void Report(const char* phase, int done, double last_ms) {
    const auto now = std::chrono::steady_clock::now();
    if (phase == last_phase_ && now - last_ < std::chrono::milliseconds(500)) return;
    last_phase_ = phase;
    last_ = now;
    std::printf("%s\n", FormatProgressLine(phase, done, last_ms, CurrentRssBytes()).c_str());
    std::fflush(stdout);
  }

 private:
  std::string last_phase_;
  std::chrono::steady_clock::time_point last_{};
};

// The measurement itself; exceptions propagate to RunJob, which types them.
void Measure(const v1::JobSpec& job, const ModelConfig& config, v1::Result* result) {
  const auto& m = job.measurement();
  if (job.device_kind() != v1::DEVICE_KIND_UNSPECIFIED && job.device_kind() != v1::DEVICE_KIND_CPU)
    throw std::runtime_error("device " + DeviceKindName(job.device_kind()) + " is not supported by this runner yet");
  auto scalar_type = ScalarTypeFor(job.dtype());
  if (!scalar_type.ok()) throw std::runtime_error(scalar_type.status().message());
  if (m.threads() > 0) at::set_num_threads(m.threads());
  FillEnvironment(job, result->mutable_environment());

  ProgressReporter progress;
  progress.Report("loading", 0, 0);
  auto* memory = result->mutable_memory();
  memory->set_baseline_rss_bytes(CurrentRssBytes());
  torch::manual_seed(m.seed());
  const auto build_start = std::chrono::steady_clock::now();
  Transformer model(config);
  model->to(*scalar_type);
  model->eval();
  result->set_load_time_ms(
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - build_start).count());
  result->set_parameter_count(model->ParameterCount());
  memory->set_after_load_rss_bytes(CurrentRssBytes());

  torch::InferenceMode inference;
  torch::manual_seed(m.seed() + 1);
  const int batch = job.batch_size() > 0 ? job.batch_size() : 1;
  auto input_ids = torch::randint(config.vocab, {batch, job.seq_len()}, torch::kLong);

  LoopSettings loop;
  loop.warmup_iters = m.warmup_iters();
  loop.warmup_min_s = m.warmup_min_s();
  loop.min_iters = std::max(1, m.min_iters());
  loop.min_time_s = m.min_time_s();
  loop.max_iters = std::max(loop.min_iters, m.max_iters());
  loop.max_time_s = m.max_time_s() > 0 ? m.max_time_s() : 60.0;
  LoopSamples samples = RunTimedLoop(
      loop, [&] { model->forward(input_ids); },
      [&](const char* phase, int done, double last_ms) { progress.Report(phase, done, last_ms); });

  result->set_warmup_iters(samples.warmup_iters);
  for (double ms : samples.samples_ms) result->add_samples_ms(ms);
  FillLatency(samples.samples_ms, result->mutable_latency());
  const double median_s = result->latency().median_ms() / 1000.0;
  const double tokens = static_cast<double>(batch) * job.seq_len();
  result->set_tokens_per_second(median_s > 0 ? tokens / median_s : 0);
  result->set_flops_per_forward(ForwardFlops(config, batch, job.seq_len()));
  result->set_achieved_flops(median_s > 0 ? result->flops_per_forward() / median_s : 0);

  memory->set_peak_rss_bytes(PeakRssBytes());
  memory->set_model_bytes(memory->after_load_rss_bytes() - memory->baseline_rss_bytes());
  memory->set_activation_bytes(memory->peak_rss_bytes() - memory->after_load_rss_bytes());

  if (samples.stopped_by_bound && static_cast<int>(samples.samples_ms.size()) < loop.min_iters) {
    result->set_outcome(v1::OUTCOME_INVALID);
    result->add_invalid_reasons("only " + std::to_string(samples.samples_ms.size()) + " samples before max_time_s=" +
                                std::to_string(loop.max_time_s) + "; min_iters is " + std::to_string(loop.min_iters));
  } else {
    result->set_outcome(v1::OUTCOME_OK);
  }
}

}  // namespace

v1::WorkerCapabilities ProbeDevice() {
  v1::WorkerCapabilities device;
  const HostFacts host = ReadHostFacts();
  if (torch::cuda::is_available()) {
    device.set_device_kind(v1::DEVICE_KIND_CUDA);
    device.set_device_name("cuda:0 (" + std::to_string(torch::cuda::device_count()) + " devices)");
  } else if (at::hasMPS()) {
    device.set_device_kind(v1::DEVICE_KIND_MPS);
    device.set_device_name("mps");
    device.set_device_memory_bytes(host.ram_bytes);  // unified memory
  } else {
    device.set_device_kind(v1::DEVICE_KIND_CPU);
    device.set_device_name(host.cpu_model);
    device.set_device_memory_bytes(host.ram_bytes);
  }
  return device;
}

v1::Result RunJob(const v1::JobSpec& job) {
  v1::Result result;
  result.set_job_id(job.job_id());
  auto config = ParseModelConfig(job.model_config_json());
  if (!config.ok()) {
    result.set_outcome(v1::OUTCOME_ERROR);
    result.set_message("model config: " + config.status().message());
    return result;
  }
  // The context limit is a property of the architecture: decided in microseconds, nothing built.
  Status fits = CheckContext(*config, job.seq_len(), job.extend_context());
  if (!fits.ok()) {
    result.set_outcome(fits.code() == Status::Code::kOutOfRange ? v1::OUTCOME_EXCEEDS_CONTEXT : v1::OUTCOME_ERROR);
    result.set_message(fits.message());
    result.set_parameter_count(AnalyticParameterCount(*config));
    return result;
  }

  try {
    Measure(job, *config, &result);
  } catch (const std::bad_alloc&) {
    result.set_outcome(v1::OUTCOME_OOM);
    result.set_message("allocator failure (std::bad_alloc)");
  } catch (const c10::Error& e) {
    const std::string message = e.what_without_backtrace();
    result.set_outcome(LooksLikeOutOfMemory(message) ? v1::OUTCOME_OOM : v1::OUTCOME_ERROR);
    result.set_message(message);
  } catch (const std::exception& e) {
    result.set_outcome(LooksLikeOutOfMemory(e.what()) ? v1::OUTCOME_OOM : v1::OUTCOME_ERROR);
    result.set_message(e.what());
  }
  if (result.outcome() == v1::OUTCOME_OOM || result.outcome() == v1::OUTCOME_ERROR) result.clear_samples_ms();
  return result;
}

}  // namespace tscale
