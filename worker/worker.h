// Worker: the daemon loop of tscale-worker. Registers with the coordinator, claims one job at a time,
// runs it in an isolated tscale-runner child, heartbeats while it runs, and reports the typed result.
// Results are retried until the coordinator acknowledges them (or refuses them as stale).
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "tscale/v1/tscale.grpc.pb.h"

namespace tscale {

struct WorkerOptions {
  std::string server_address = "127.0.0.1:50051";
  std::string worker_id;
  std::string runner_path;
  std::string work_dir;     // per-attempt job and result files live under here
  int threads = 0;          // runner threads when the job leaves it to the worker; 0 = all cores
  double claim_wait_s = 2;  // long-poll length; also bounds how long SIGTERM waits while idle
  int max_jobs = 0;         // exit after this many jobs (0 = run until stopped)
  double rpc_timeout_s = 10;
  std::string token;  // bearer token for the worker service
};

class Worker {
 public:
  Worker(WorkerOptions options, v1::WorkerCapabilities capabilities, std::shared_ptr<grpc::Channel> channel);

  // Runs until `stop` becomes true (finishing the job in hand first) or max_jobs are done.
  // Returns the process exit code.
  int Run(const std::atomic<bool>& stop);

  int jobs_done() const { return jobs_done_; }

 private:
  Status Register(const std::atomic<bool>& stop);
  // The attempt's result, or nullopt when the coordinator revoked the lease while it ran.
  std::optional<v1::Result> Execute(const v1::Lease& lease);
  // Delivers a result, retrying with backoff; a stale attempt (ABORTED) is dropped.
  void Deliver(int64_t attempt_id, const v1::Result& result);
  std::vector<std::string> ChildEnvironment(int threads) const;
  // A call context with the worker's token and a deadline `timeout_s` from now.
  std::unique_ptr<grpc::ClientContext> NewContext(double timeout_s) const;

  WorkerOptions options_;
  v1::WorkerCapabilities capabilities_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::WorkerService::Stub> stub_;
  double heartbeat_interval_s_ = 5;
  int64_t session_ = 0;
  int jobs_done_ = 0;
};

}  // namespace tscale
