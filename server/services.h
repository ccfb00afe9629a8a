// The coordinator's two gRPC services. Both are thin adapters: they authorise the caller, validate what
// arrives, call the Store and the sweep planner, and map Status to gRPC codes. They share one
// CoordinatorContext.
#pragma once

#include <chrono>

#include "common/catalog.h"
#include "server/auth.h"
#include "server/change_signal.h"
#include "server/store.h"
#include "server/sweep_planner.h"
#include "tscale/v1/tscale.grpc.pb.h"

namespace tscale {

struct CoordinatorContext {
  Store* store = nullptr;
  const Catalog* catalog = nullptr;
  const Authenticator* auth = nullptr;
  ChangeSignal* work_signal = nullptr;   // new claimable work: submit, requeue
  ChangeSignal* event_signal = nullptr;  // any new event: wakes watch streams
  double heartbeat_interval_s = 5.0;
  double max_claim_wait_s = 10.0;  // cap on a worker's long-poll
  double default_keepalive_s = 10.0;
  PlannerLimits planner;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

class ClientService final : public v1::TscaleService::Service {
 public:
  explicit ClientService(CoordinatorContext context) : ctx_(context) {}

  grpc::Status SubmitSweep(grpc::ServerContext* context, const v1::SubmitSweepRequest* request,
                           v1::SubmitSweepResponse* response) override;
  grpc::Status GetSweep(grpc::ServerContext* context, const v1::GetSweepRequest* request,
                        v1::SweepStatus* response) override;
  grpc::Status ListSweeps(grpc::ServerContext* context, const v1::ListSweepsRequest* request,
                          v1::ListSweepsResponse* response) override;
  grpc::Status ListResults(grpc::ServerContext* context, const v1::ListResultsRequest* request,
                           v1::ListResultsResponse* response) override;
  grpc::Status WatchSweep(grpc::ServerContext* context, const v1::WatchSweepRequest* request,
                          grpc::ServerWriter<v1::SweepEvent>* writer) override;
  grpc::Status Cancel(grpc::ServerContext* context, const v1::CancelRequest* request,
                      v1::CancelResponse* response) override;
  grpc::Status ListWorkers(grpc::ServerContext* context, const v1::ListWorkersRequest* request,
                           v1::ListWorkersResponse* response) override;
  grpc::Status ListModels(grpc::ServerContext* context, const v1::ListModelsRequest* request,
                          v1::ListModelsResponse* response) override;
  grpc::Status GetServerStatus(grpc::ServerContext* context, const v1::ServerStatusRequest* request,
                               v1::ServerStatus* response) override;

 private:
  CoordinatorContext ctx_;
};

class WorkerServiceImpl final : public v1::WorkerService::Service {
 public:
  explicit WorkerServiceImpl(CoordinatorContext context) : ctx_(context) {}

  grpc::Status RegisterWorker(grpc::ServerContext* context, const v1::RegisterWorkerRequest* request,
                              v1::RegisterWorkerResponse* response) override;
  grpc::Status ClaimJob(grpc::ServerContext* context, const v1::ClaimJobRequest* request,
                        v1::ClaimJobResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext* context, const v1::HeartbeatRequest* request,
                         v1::HeartbeatResponse* response) override;
  grpc::Status ReportMetrics(grpc::ServerContext* context, grpc::ServerReader<v1::MetricEvent>* reader,
                             v1::ReportMetricsResponse* response) override;
  grpc::Status CompleteJob(grpc::ServerContext* context, const v1::CompleteJobRequest* request,
                           v1::CompleteJobResponse* response) override;
  grpc::Status ReleaseLease(grpc::ServerContext* context, const v1::ReleaseLeaseRequest* request,
                            v1::ReleaseLeaseResponse* response) override;

 private:
  CoordinatorContext ctx_;
};

}  // namespace tscale
