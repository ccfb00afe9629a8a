#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/host_info.h"
#include "common/outcome.h"
#include "server/grpc_status.h"
#include "server/request_validation.h"
#include "server/services.h"

namespace tscale {
grpc::Status WorkerServiceImpl::RegisterWorker(grpc::ServerContext* context, const v1::RegisterWorkerRequest* request,
                                               v1::RegisterWorkerResponse* response) {
  if (Status auth = ctx_.auth->Check(*context, Audience::kWorker); !auth.ok()) return ToGrpcStatus(auth);
  if (Status valid = ValidateRegister(*request); !valid.ok()) return ToGrpcStatus(valid);
  const auto& caps = request->capabilities();
  auto registered = ctx_.store->RegisterWorker(request->worker_id(), caps, NowUnixMs(), request->instance_id());
  if (!registered.ok()) {
    if (registered.status().code() == Status::Code::kAlreadyExists)
      spdlog::warn("registration of worker {} refused: {}", request->worker_id(), registered.status().message());
    return ToGrpcStatus(registered.status());
  }
  spdlog::info("worker {} registered (session {}): {} {} ({} cores)", request->worker_id(), registered->session,
               DeviceKindName(caps.device_kind()), caps.hostname(), caps.cpu_cores());
  if (registered->requeued_attempts > 0) {
    spdlog::warn("worker {} restarted with {} jobs in hand: they were requeued", request->worker_id(),
                 registered->requeued_attempts);
    ctx_.work_signal->Notify();
    ctx_.event_signal->Notify();
  }
  response->set_session(registered->session);
  response->set_heartbeat_interval_s(ctx_.heartbeat_interval_s);
  response->set_lease_duration_s(static_cast<double>(ctx_.store->options().lease_ms) / 1000.0);
  return grpc::Status::OK;
}

grpc::Status WorkerServiceImpl::ClaimJob(grpc::ServerContext* context, const v1::ClaimJobRequest* request,
                                         v1::ClaimJobResponse* response) {
  if (Status auth = ctx_.auth->Check(*context, Audience::kWorker); !auth.ok()) return ToGrpcStatus(auth);
  if (Status valid = ValidateClaim(*request); !valid.ok()) return ToGrpcStatus(valid);
  const auto deadline =
      std::chrono::steady_clock::now() +
      std::chrono::milliseconds(static_cast<int64_t>(std::min(request->wait_s(), ctx_.max_claim_wait_s) * 1000.0));
  // Long poll: try, then sleep until a submit signals new work or the wait runs out. Waking every
  // second bounds how late an expired lease elsewhere is noticed.
  while (true) {
    const uint64_t generation = ctx_.work_signal->generation();
    auto lease = ctx_.store->ClaimJob(request->worker_id(), NowUnixMs());
    if (!lease.ok()) return ToGrpcStatus(lease.status());
    if (lease->has_value()) {
      ctx_.event_signal->Notify();
      response->set_has_job(true);
      *response->mutable_lease() = std::move(**lease);
      spdlog::info("job {} leased to {} (attempt {})", response->lease().job().job_id(), request->worker_id(),
                   response->lease().attempt_id());
      return grpc::Status::OK;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline || context->IsCancelled() || ctx_.work_signal->shutting_down()) break;
    auto wait = std::min(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now),
                         std::chrono::milliseconds(1000));
    ctx_.work_signal->WaitFor(generation, wait);
  }
  response->set_has_job(false);
  return grpc::Status::OK;
}

grpc::Status WorkerServiceImpl::Heartbeat(grpc::ServerContext* context, const v1::HeartbeatRequest* request,
                                          v1::HeartbeatResponse* response) {
  if (Status auth = ctx_.auth->Check(*context, Audience::kWorker); !auth.ok()) return ToGrpcStatus(auth);
  if (Status valid = ValidateHeartbeat(*request); !valid.ok()) return ToGrpcStatus(valid);
  std::vector<int64_t> ids(request->attempt_ids().begin(), request->attempt_ids().end());
  const int64_t now = NowUnixMs();
  auto revoked = ctx_.store->Heartbeat(request->worker_id(), ids, now);
  if (!revoked.ok()) return ToGrpcStatus(revoked.status());
  for (int64_t id : *revoked) response->add_revoked_attempt_ids(id);
  ctx_.event_signal->Notify();
  response->set_lease_expires_unix_ms(now + ctx_.store->options().lease_ms);
  return grpc::Status::OK;
}

grpc::Status WorkerServiceImpl::ReportMetrics(grpc::ServerContext* context, grpc::ServerReader<v1::MetricEvent>* reader,
                                              v1::ReportMetricsResponse* response) {
  if (Status auth = ctx_.auth->Check(*context, Audience::kWorker); !auth.ok()) return ToGrpcStatus(auth);
  auto worker_id = context->client_metadata().find("tscale-worker-id");
  if (worker_id == context->client_metadata().end())
    return ToGrpcStatus(Status::InvalidArgument("tscale-worker-id metadata: required on ReportMetrics"));
  const std::string id(worker_id->second.data(), worker_id->second.size());
  if (Status valid = ValidateWorkerId(id); !valid.ok()) return ToGrpcStatus(valid);
  v1::MetricEvent metric;
  int accepted = 0;
  while (reader->Read(&metric)) {
    if (Status valid = ValidateMetric(metric); !valid.ok()) return ToGrpcStatus(valid);
    // The fencing token is checked on every event: a revoked attempt's metrics are refused. Past the
    // per-attempt cap (StoreOptions::max_metric_events_per_attempt) the stream ends RESOURCE_EXHAUSTED; progress
    // is best effort, so the worker just stops streaming and the job runs on.
    Status recorded = ctx_.store->RecordMetric(id, metric, NowUnixMs());
    if (!recorded.ok()) return ToGrpcStatus(recorded);
    ++accepted;
    ctx_.event_signal->Notify();
  }
  response->set_accepted(accepted);
  return grpc::Status::OK;
}

grpc::Status WorkerServiceImpl::CompleteJob(grpc::ServerContext* context, const v1::CompleteJobRequest* request,
                                            v1::CompleteJobResponse* response) {
  if (Status auth = ctx_.auth->Check(*context, Audience::kWorker); !auth.ok()) return ToGrpcStatus(auth);
  if (Status valid = ValidateComplete(*request); !valid.ok()) return ToGrpcStatus(valid);
  const v1::Outcome outcome = request->result().outcome();

  auto completion =
      ctx_.store->CompleteJob(request->worker_id(), request->attempt_id(), request->result(), NowUnixMs());
  if (!completion.ok()) {
    spdlog::warn("completion of attempt {} refused: {}", request->attempt_id(), completion.status().ToString());
    return ToGrpcStatus(completion.status());
  }
  if (!completion->duplicate) ctx_.event_signal->Notify();
  // A wall search's next probe is new claimable work: wake the long-polling claims now, or the probe waits
  // for their next periodic retry (up to a second per probe).
  if (completion->queued_probe) ctx_.work_signal->Notify();
  if (!completion->duplicate)
    spdlog::info("job {} finished: {} (attempt {})", completion->stored.job_id(), OutcomeName(outcome),
                 request->attempt_id());
  response->set_duplicate(completion->duplicate);
  *response->mutable_stored() = std::move(completion->stored);
  return grpc::Status::OK;
}

grpc::Status WorkerServiceImpl::ReleaseLease(grpc::ServerContext* context, const v1::ReleaseLeaseRequest* request,
                                             v1::ReleaseLeaseResponse*) {
  if (Status auth = ctx_.auth->Check(*context, Audience::kWorker); !auth.ok()) return ToGrpcStatus(auth);
  if (Status valid = ValidateRelease(*request); !valid.ok()) return ToGrpcStatus(valid);
  Status released =
      ctx_.store->ReleaseAttempt(request->worker_id(), request->attempt_id(), request->reason(), NowUnixMs());
  if (!released.ok()) return ToGrpcStatus(released);
  spdlog::info("attempt {} released by {}: {}", request->attempt_id(), request->worker_id(), request->reason());
  ctx_.work_signal->Notify();
  ctx_.event_signal->Notify();
  return grpc::Status::OK;
}

}  // namespace tscale
