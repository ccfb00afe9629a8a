// The coordinator's two gRPC services. Both are thin adapters: they validate what arrives, call the
// Store and the sweep planner, and map Status to gRPC codes. They share one CoordinatorContext.
#pragma once

#include <chrono>

#include "common/catalog.h"
#include "server/store.h"
#include "server/work_signal.h"
#include "tscale/v1/tscale.grpc.pb.h"

namespace tscale {

struct CoordinatorContext {
  Store* store = nullptr;
  const Catalog* catalog = nullptr;
  WorkSignal* work_signal = nullptr;
  double heartbeat_interval_s = 5.0;
  double max_claim_wait_s = 10.0;  // cap on a worker's long-poll
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

class ClientService final : public v1::TscaleService::Service {
 public:
  explicit ClientService(CoordinatorContext context) : ctx_(context) {}

  grpc::Status SubmitSweep(grpc::ServerContext*, const v1::SubmitSweepRequest* request,
                           v1::SubmitSweepResponse* response) override;
  grpc::Status GetSweep(grpc::ServerContext*, const v1::GetSweepRequest* request, v1::SweepStatus* response) override;
  grpc::Status ListSweeps(grpc::ServerContext*, const v1::ListSweepsRequest* request,
                          v1::ListSweepsResponse* response) override;
  grpc::Status ListResults(grpc::ServerContext*, const v1::ListResultsRequest* request,
                           v1::ListResultsResponse* response) override;
  grpc::Status ListWorkers(grpc::ServerContext*, const v1::ListWorkersRequest* request,
                           v1::ListWorkersResponse* response) override;
  grpc::Status ListModels(grpc::ServerContext*, const v1::ListModelsRequest* request,
                          v1::ListModelsResponse* response) override;
  grpc::Status GetServerStatus(grpc::ServerContext*, const v1::ServerStatusRequest* request,
                               v1::ServerStatus* response) override;

 private:
  CoordinatorContext ctx_;
};

class WorkerServiceImpl final : public v1::WorkerService::Service {
 public:
  explicit WorkerServiceImpl(CoordinatorContext context) : ctx_(context) {}

  grpc::Status RegisterWorker(grpc::ServerContext*, const v1::RegisterWorkerRequest* request,
                              v1::RegisterWorkerResponse* response) override;
  grpc::Status ClaimJob(grpc::ServerContext* context, const v1::ClaimJobRequest* request,
                        v1::ClaimJobResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest* request,
                         v1::HeartbeatResponse* response) override;
  grpc::Status CompleteJob(grpc::ServerContext*, const v1::CompleteJobRequest* request,
                           v1::CompleteJobResponse* response) override;

 private:
  CoordinatorContext ctx_;
};

}  // namespace tscale
