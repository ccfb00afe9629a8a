#include "runner/job_runner.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <optional>
#include <thread>

#include "common/catalog.h"
#include "common/host_info.h"
#include "common/linear_time.h"
#include "common/model_config.h"
#include "common/outcome.h"
#include "common/runner_protocol.h"
#include "common/version.h"
#include "runner/autocast.h"
#include "runner/bandwidth_probe.h"
#include "runner/device.h"
#include "runner/gemm_probe.h"
#include "runner/model_source.h"
#include "runner/selective_scan.h"
#include "runner/timed_loop.h"
#include "runner/transformer.h"
#include "runner/verdict.h"
#include "runner/workload.h"

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

// Whether this libtorch runs the model's operations in `type` on `device` (libtorch 1.13 has no fp16 matmul on
// CPU, for example). Tried on a tiny tensor before anything is built, so the job ends with a clear `error`.
Status CheckDtypeSupported(torch::ScalarType type, const torch::Device& device) {
  if (type == torch::kFloat32) return Status::Ok();
  try {
    torch::InferenceMode inference;
    auto a = torch::ones({4, 4}, torch::TensorOptions().dtype(type).device(device));
    auto y = torch::matmul(a, a.transpose(0, 1));
    y = torch::layer_norm(y, {4}, torch::ones({4}, a.options()), torch::zeros({4}, a.options()), 1e-5);
    y = torch::softmax(torch::gelu(y), -1) + torch::silu(y) + torch::relu(y);
    (void)torch::embedding(a, torch::zeros({2}, torch::TensorOptions().dtype(torch::kLong).device(device)))
        .sum()
        .item<float>();
    (void)y.sum().item<float>();
  } catch (const std::exception& e) {
    std::string why = e.what();
    why = why.substr(0, why.find('\n'));
    const char* name = type == torch::kHalf ? "fp16" : type == torch::kBFloat16 ? "bf16" : c10::toString(type);
    return Status::InvalidArgument("dtype " + std::string(name) + " is not supported on " + device.str() +
                                   " by libtorch " + TORCH_VERSION + ": " + why);
  }
  return Status::Ok();
}

void FillEnvironment(const v1::JobSpec& job, const torch::Device& device, v1::Environment* env) {
  const HostFacts host = ReadHostFacts();
  const DeviceDescription described = Describe(device);
  env->set_hostname(host.hostname);
  env->set_os(host.os);
  env->set_cpu_model(host.cpu_model);
  env->set_cpu_cores(host.cpu_cores);
  env->set_ram_bytes(host.ram_bytes);
  env->set_device_kind(described.kind);
  env->set_device_name(described.name);
  env->set_device_memory_bytes(described.memory_bytes);
  env->set_torch_version(TORCH_VERSION);
  env->set_blas(ResolvedBlasLibrary());
  env->set_threads(at::get_num_threads());
  env->set_dtype(job.dtype() == v1::DTYPE_UNSPECIFIED ? v1::DTYPE_FP32 : job.dtype());
  env->set_tscale_version(kVersion);
  env->set_build_type(kBuildType);
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

// Linear-time models: the sequence-mixing kernel the job runs, by the rule the layers apply (ChooseScanKernel).
// A checkpointed training step runs its blocks' forward without autograd and records them in the recomputation.
std::string SequenceKernel(const ModelConfig& c, const torch::Device& device, const WorkloadTraits& traits,
                           torch::ScalarType type) {
  if (c.linear_attention())
    return "chunked linear attention (" + std::to_string(kLinearAttentionChunk) + "-position chunks)";
  if (!c.mamba()) return "";
  const char* recorded = ScanKernelName(ChooseScanKernel(device, type, traits.trains));
  if (!traits.checkpoint_layers) return recorded;
  return std::string(ScanKernelName(ChooseScanKernel(device, type, false))) + " in the checkpointed forward, " +
         recorded + " in the recomputation";
}

// The measurement every workload shares; exceptions propagate to RunJob, which types them.
void Measure(const v1::JobSpec& job, const ModelConfig& config, v1::Result* result) {
  const auto& m = job.measurement();
  auto device_or = DeviceFor(job.device_kind());
  if (!device_or.ok()) throw std::runtime_error(device_or.status().message());
  const torch::Device device = *device_or;
  auto scalar_type = ScalarTypeFor(job.dtype());
  if (!scalar_type.ok()) throw std::runtime_error(scalar_type.status().message());
  const WorkloadTraits traits = TraitsOf(job, config);
  // Training keeps fp32 master weights: a bf16 job trains in mixed precision, an fp16 one would need loss scaling.
  if (traits.trains && *scalar_type == torch::kHalf)
    throw std::runtime_error(
        "dtype fp16: training in fp16 needs loss scaling, which tscale does not implement; "
        "train in bf16 (mixed precision) or fp32");
  Status dtype_ok = CheckDtypeSupported(*scalar_type, device);
  if (!dtype_ok.ok()) throw std::runtime_error(dtype_ok.message());
  torch::ScalarType weights_type = *scalar_type;
  if (traits.trains && *scalar_type == torch::kBFloat16) {
    Status autocast = CheckBf16Autocast(device);
    if (!autocast.ok()) throw std::runtime_error(autocast.message());
    weights_type = torch::kFloat;
  }
  // A linear-time model has no softmax attention: the implementation it is asked for is never used.
  if (job.attention() == v1::ATTENTION_IMPL_FUSED && !config.linear_time() && !FusedAttentionAvailable())
    throw std::runtime_error("attention fused: libtorch " TORCH_VERSION
                             " has no scaled_dot_product_attention (needs 2.0 or later)");
  if (m.threads() > 0) at::set_num_threads(m.threads());
  FillEnvironment(job, device, result->mutable_environment());
  result->mutable_environment()->set_sequence_kernel(SequenceKernel(config, device, traits, weights_type));

  ProgressReporter progress;
  progress.Report("loading", 0, 0);
  auto* memory = result->mutable_memory();
  memory->set_baseline_rss_bytes(CurrentRssBytes());
  const int64_t device_baseline = ReadDeviceMemory(device).allocated_bytes;
  torch::manual_seed(m.seed());
  const auto build_start = std::chrono::steady_clock::now();
  BuildOptions build;
  build.device = device;
  build.attention = job.attention() == v1::ATTENTION_IMPL_UNSPECIFIED ? v1::ATTENTION_IMPL_EAGER : job.attention();
  build.lm_head = traits.lm_head;  // generation and training need the LM head, which the base model lacks
  build.checkpoint_layers = traits.checkpoint_layers;
  auto model = LoadMeasuredModel(config, build, weights_type);
  if (!model.ok()) throw std::runtime_error(model.status().message());
  SynchronizeDevice(device);
  result->set_load_time_ms(
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - build_start).count());
  // The base model's count; a decode or train job's head is counted apart (DecodeStats::head_parameter_count,
  // TrainStats::trainable_parameter_count).
  result->set_parameter_count(model->parameter_count -
                              (build.lm_head && model->transformer ? HeadParameterCount(config) : 0));
  if (!model->note.empty()) result->set_message(model->note);
  memory->set_after_load_rss_bytes(CurrentRssBytes());
  const int64_t device_after_load = ReadDeviceMemory(device).allocated_bytes;
  ResetDevicePeak(device);

  std::optional<torch::InferenceMode> inference;
  if (!traits.trains) inference.emplace();
  std::unique_ptr<Workload> workload = MakeWorkload(job, config, &model.value());
  workload->Prepare(device);

  LoopSettings loop;
  loop.warmup_iters = m.warmup_iters();
  loop.warmup_min_s = m.warmup_min_s();
  loop.min_iters = std::max(1, m.min_iters());
  loop.min_time_s = m.min_time_s();
  loop.max_iters = std::max(loop.min_iters, m.max_iters());
  loop.max_time_s = m.max_time_s() > 0 ? m.max_time_s() : 60.0;
  int64_t device_peak = 0;
  LoopSamples samples = RunTimedLoop(
      loop,
      [&] {
        workload->Step();
        SynchronizeDevice(device);  // inside the timed call: the clock stops when the device has finished
      },
      [&](const char* phase, int done, double last_ms) {
        device_peak = std::max(device_peak, ReadDeviceMemory(device).peak_bytes);  // MPS: sampled per forward
        progress.Report(phase, done, last_ms);
      });

  result->set_warmup_iters(samples.warmup_iters);
  for (double ms : samples.samples_ms) result->add_samples_ms(ms);
  FillLatency(samples.samples_ms, result->mutable_latency());
  const double median_s = result->latency().median_ms() / 1000.0;
  result->set_tokens_per_second(median_s > 0 ? workload->TokensPerStep() / median_s : 0);
  const double flops = workload->FlopsPerStep();
  if (flops > 0) {  // none claimed, none can be called impossible
    result->set_flops_per_forward(flops);
    result->set_achieved_flops(median_s > 0 ? flops / median_s : 0);
  }

  memory->set_peak_rss_bytes(PeakRssBytes());
  if (device.is_cpu()) {
    memory->set_model_bytes(memory->after_load_rss_bytes() - memory->baseline_rss_bytes());
    memory->set_activation_bytes(memory->peak_rss_bytes() - memory->after_load_rss_bytes());
  } else {  // on an accelerator, model and activations live in its memory, not in the runner's RSS
    device_peak = std::max({device_peak, ReadDeviceMemory(device).peak_bytes, device_after_load});
    memory->set_device_peak_bytes(device_peak);
    memory->set_model_bytes(device_after_load - device_baseline);
    memory->set_activation_bytes(device_peak > 0 ? device_peak - device_after_load : 0);
  }

  // After the peak memory is read: the probe's matrices must not count as the model's memory.
  const char* cache_env = std::getenv("TSCALE_CACHE_DIR");
  const std::string cache_dir = cache_env ? cache_env : "";
  const int threads = at::get_num_threads();
  // A workload that claims no FLOPs has nothing to compare with a peak.
  GemmPeak peak = flops > 0 ? GemmPeakFlops(*scalar_type, device, threads, cache_dir) : GemmPeak{};
  // More threads than CPUs: the probe's large products thrash (0.6 GFLOP/s at 32 threads on 2 cores) while a
  // model's small operators barely use the threads, so the oversubscribed probe understates what the hardware
  // did. The machine's peak is the better of that and the probe at one thread per CPU.
  const int cpus = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  if (flops > 0 && device.is_cpu() && threads > cpus) {
    at::set_num_threads(cpus);
    const GemmPeak at_cpus = GemmPeakFlops(*scalar_type, device, cpus, cache_dir);
    at::set_num_threads(threads);
    if (at_cpus.flops > peak.flops) peak = at_cpus;
  }
  if (peak.flops > 0 && result->achieved_flops() > peak.flops * kPeakTolerance)  // before calling it impossible
    peak = GemmPeakFlops(*scalar_type, device, threads, cache_dir, /*refresh=*/true);
  const double peak_flops = peak.flops;
  result->set_peak_flops_fraction(peak_flops > 0 ? result->achieved_flops() / peak_flops : 0);
  auto* env = result->mutable_environment();
  env->set_peak_flops(peak_flops);
  env->set_peak_probe_n(peak.plateau_n);
  // A ceiling for reading the measured peak against; the verdict below uses the measured one only.
  env->set_theoretical_peak_flops(TheoreticalPeakFlops(*scalar_type, device, threads));

  VerdictInputs verdict;
  verdict.samples = static_cast<int>(samples.samples_ms.size());
  verdict.min_iters = loop.min_iters;
  verdict.stopped_by_bound = samples.stopped_by_bound;
  verdict.max_time_s = loop.max_time_s;
  verdict.cv = result->latency().cv();
  verdict.max_cv = m.max_cv();
  verdict.achieved_flops = result->achieved_flops();
  verdict.peak_flops = peak_flops;
  workload->FillResult(result);
  if (traits.memory_bound) {  // a decode step is bound by memory, not arithmetic: check it against the bandwidth
    const MemoryBandwidth bandwidth = CachedMemoryBandwidth(device, threads, cache_dir);
    env->set_memory_bandwidth_bytes_per_s(bandwidth.bytes_per_second);
    env->set_memory_probe_bytes(bandwidth.working_set_bytes);
    verdict.step_bytes = result->decode().bytes_per_step();
    verdict.achieved_bytes_per_second = result->decode().achieved_bytes_per_second();
    verdict.bandwidth = bandwidth.bytes_per_second;
    verdict.bandwidth_working_set = static_cast<double>(bandwidth.working_set_bytes);
  }
  std::vector<std::string> reasons = InvalidReasons(verdict);
  for (double loss : result->train().losses()) {
    if (std::isfinite(loss)) continue;
    reasons.push_back("a training step's loss is not finite (the step diverged)");
    break;
  }
  for (const auto& reason : reasons) result->add_invalid_reasons(reason);
  result->set_outcome(reasons.empty() ? v1::OUTCOME_OK : v1::OUTCOME_INVALID);
}

}  // namespace

v1::WorkerCapabilities ProbeDevice() {
  torch::Device device(torch::kCPU);
  if (torch::cuda::is_available()) {
    device = torch::Device(torch::kCUDA, 0);
  } else if (at::hasMPS()) {
    device = torch::Device(torch::kMPS);
  }
  const DeviceDescription described = Describe(device);
  v1::WorkerCapabilities capabilities;
  capabilities.set_device_kind(described.kind);
  capabilities.set_device_name(described.name);
  if (described.memory_bytes > 0) capabilities.set_device_memory_bytes(described.memory_bytes);
  return capabilities;
}

StatusOr<std::string> ParameterNames(const std::string& path) {
  auto config = ReadModelConfigFile(path);
  if (!config.ok()) return config.status();
  try {
    return ParameterNamesText(*config);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(e.what());
  }
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
  const WorkloadTraits traits = TraitsOf(job, *config);
  Status fits = CheckContext(*config, traits.stack_length, job.extend_context());
  // The decoder of an encoder-decoder has its own position table of the same size.
  if (fits.ok() && config->arch == ArchKind::kEncoderDecoder)
    fits = CheckContext(*config, traits.decoder_length, job.extend_context());
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
