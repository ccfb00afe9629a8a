#include "server/request_validation.h"

#include <cmath>
#include <cstdio>

namespace tscale {
namespace {

Status Field(const std::string& name, const std::string& why) {
  return Status::InvalidArgument(name + ": " + why);
}

std::string Number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

}  // namespace

Status ValidateMeasurement(const v1::MeasurementSettings& m, const std::string& prefix) {
  auto count = [&](const char* name, int64_t value, int64_t max) {
    return value < 0 || value > max
               ? Field(prefix + name, std::to_string(value) + " is not in 0.." + std::to_string(max))
               : Status::Ok();
  };
  auto seconds = [&](const char* name, double value, double max) {
    return !(value >= 0 && value <= max)  // NaN too
               ? Field(prefix + name, Number(value) + " is not a number of seconds in 0.." + Number(max))
               : Status::Ok();
  };
  TSCALE_RETURN_IF_ERROR(count("warmup_iters", m.warmup_iters(), kMaxWarmupIters));
  TSCALE_RETURN_IF_ERROR(seconds("warmup_min_s", m.warmup_min_s(), kMaxTimingS));
  TSCALE_RETURN_IF_ERROR(count("min_iters", m.min_iters(), kMaxMeasuredIters));
  TSCALE_RETURN_IF_ERROR(seconds("min_time_s", m.min_time_s(), kMaxTimingS));
  TSCALE_RETURN_IF_ERROR(count("max_iters", m.max_iters(), kMaxMeasuredIters));
  TSCALE_RETURN_IF_ERROR(seconds("max_time_s", m.max_time_s(), kMaxTimingS));
  TSCALE_RETURN_IF_ERROR(count("threads", m.threads(), kMaxThreads));
  // seed: every uint64 is a seed (0 = the default one).
  if (m.memory_limit_bytes() != 0 &&
      (m.memory_limit_bytes() < kMinMemoryLimitBytes || m.memory_limit_bytes() > kMaxMemoryLimitBytes))
    return Field(prefix + "memory_limit_bytes",
                 std::to_string(m.memory_limit_bytes()) + " is neither 0 (the worker's default) nor in 1 MiB..1 PiB");
  TSCALE_RETURN_IF_ERROR(seconds("timeout_s", m.timeout_s(), kMaxTimeoutS));
  if (!(m.max_cv() == kMaxCvOff || (m.max_cv() >= 0 && m.max_cv() <= kMaxMaxCv)))
    return Field(prefix + "max_cv", Number(m.max_cv()) + " is not a threshold in 0.." + Number(kMaxMaxCv) +
                                        " (0 = the coordinator's default) or -1 (no noise check)");
  return Status::Ok();
}

Status ValidateWorkerId(const std::string& id) {
  if (id.empty()) return Field("worker_id", "must not be empty");
  if (id.size() > kMaxWorkerIdLength) return Field("worker_id", "at most 128 characters");
  return Status::Ok();
}

Status ValidateRegister(const v1::RegisterWorkerRequest& request) {
  TSCALE_RETURN_IF_ERROR(ValidateWorkerId(request.worker_id()));
  if (request.instance_id().size() > 128) return Field("instance_id", "at most 128 characters");
  const auto& caps = request.capabilities();
  if (!v1::DeviceKind_IsValid(caps.device_kind()) || caps.device_kind() == v1::DEVICE_KIND_UNSPECIFIED)
    return Field("capabilities.device_kind", "must be cpu, cuda or mps");
  if (caps.slots() < 0 || caps.slots() > 256) return Field("capabilities.slots", "must be in 0..256");
  if (caps.labels_size() > kMaxLabels) return Field("capabilities.labels", "at most 64");
  for (const auto& label : caps.labels())
    if (label.empty() || label.size() > kMaxLabelLength) return Field("capabilities.labels", "1..128 characters each");
  for (const std::string* text :
       {&caps.hostname(), &caps.os(), &caps.cpu_model(), &caps.device_name(), &caps.version()})
    if (text->size() > 1024) return Field("capabilities", "text fields are at most 1024 characters");
  if (caps.ram_bytes() < 0 || caps.device_memory_bytes() < 0 || caps.cpu_cores() < 0)
    return Field("capabilities", "sizes and counts must not be negative");
  return Status::Ok();
}

Status ValidateClaim(const v1::ClaimJobRequest& request) {
  TSCALE_RETURN_IF_ERROR(ValidateWorkerId(request.worker_id()));
  if (!(request.wait_s() >= 0) || !std::isfinite(request.wait_s()))
    return Field("wait_s", "must be a finite number >= 0");
  return Status::Ok();
}

Status ValidateHeartbeat(const v1::HeartbeatRequest& request) {
  TSCALE_RETURN_IF_ERROR(ValidateWorkerId(request.worker_id()));
  if (request.attempt_ids_size() > kMaxHeartbeatAttempts) return Field("attempt_ids", "at most 1024");
  for (int64_t id : request.attempt_ids())
    if (id <= 0) return Field("attempt_ids", "must be positive");
  return Status::Ok();
}

Status ValidateMetric(const v1::MetricEvent& metric) {
  if (metric.attempt_id() <= 0) return Field("attempt_id", "must be positive");
  if (metric.phase().size() > 64) return Field("phase", "at most 64 characters");
  if (metric.iterations_done() < 0 || metric.rss_bytes() < 0) return Field("metric", "counts must not be negative");
  return Status::Ok();
}

Status ValidateComplete(const v1::CompleteJobRequest& request) {
  TSCALE_RETURN_IF_ERROR(ValidateWorkerId(request.worker_id()));
  if (request.attempt_id() <= 0) return Field("attempt_id", "must be positive");
  return ValidateResult(request.result(), "result.");
}

Status ValidateRelease(const v1::ReleaseLeaseRequest& request) {
  TSCALE_RETURN_IF_ERROR(ValidateWorkerId(request.worker_id()));
  if (request.attempt_id() <= 0) return Field("attempt_id", "must be positive");
  if (request.reason().size() > 256) return Field("reason", "at most 256 characters");
  return Status::Ok();
}

Status ValidateGetSweep(const v1::GetSweepRequest& request) {
  if (request.sweep_id() <= 0) return Field("sweep_id", "must be positive");
  return Status::Ok();
}

Status ValidateListSweeps(const v1::ListSweepsRequest& request) {
  if (request.limit() < 0 || request.limit() > 10'000) return Field("limit", "must be in 0..10000");
  return Status::Ok();
}

Status ValidateListResults(const v1::ListResultsRequest& request) {
  if (request.sweep_id() < 0) return Field("sweep_id", "must not be negative");
  if (request.seq_len() < 0) return Field("seq_len", "must not be negative");
  if (request.limit() < 0 || request.limit() > kMaxListResults)
    return Field("limit", "must be in 0..10000 (0 = 1000 per page)");
  if (request.after_job_id() < 0) return Field("after_job_id", "must not be negative");
  if (!v1::Outcome_IsValid(request.outcome())) return Field("outcome", "unknown value");
  if (!v1::Workload_IsValid(request.workload())) return Field("workload", "unknown value");
  if (request.model_id().size() > 256 || request.category().size() > 256)
    return Field("model_id", "filters are at most 256 characters");
  return Status::Ok();
}

Status ValidateWatch(const v1::WatchSweepRequest& request) {
  if (request.sweep_id() <= 0) return Field("sweep_id", "must be positive");
  if (request.after_event_id() < 0) return Field("after_event_id", "must not be negative");
  if (!(request.keepalive_s() >= 0 && request.keepalive_s() <= 3600)) return Field("keepalive_s", "must be in 0..3600");
  return Status::Ok();
}

Status ValidateCancel(const v1::CancelRequest& request) {
  if (request.sweep_id() < 0) return Field("sweep_id", "must not be negative");
  if (request.job_id() < 0) return Field("job_id", "must not be negative");
  if (request.sweep_id() == 0 && request.job_id() == 0) return Field("sweep_id", "name a sweep or a job to cancel");
  return Status::Ok();
}

}  // namespace tscale
