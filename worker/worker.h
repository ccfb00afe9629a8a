// Worker: the daemon loop of tscale-worker, on one Boost.Asio event loop.
//
// The loop owns everything that waits: the runner children (pipes, deadline and memory-watchdog timers,
// SIGCHLD), the heartbeat timer, and the shutdown signals. Calls to the coordinator are blocking gRPC calls,
// so they run on a small thread pool and post their answers back to the loop; the loop never blocks.
//
// Lifecycle: deliver any results left in the outbox by a previous run, register, then keep `slots` jobs
// running: claim (long poll), spawn the runner, heartbeat every attempt, stream its progress, classify its
// exit, store the result in the outbox and deliver it. SIGTERM/SIGINT drain: no new claims; running jobs
// finish, or are killed and their leases released once the drain deadline passes. With --max-jobs or
// --idle-exit-s the worker also stops by itself (a batch scheduler's allocation), once its outbox is delivered.
#pragma once

#include <grpcpp/grpcpp.h>

#include <boost/asio.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "tscale/v1/tscale.grpc.pb.h"
#include "worker/job_execution.h"
#include "worker/memory_limit.h"
#include "worker/outbox.h"

namespace tscale {

struct WorkerOptions {
  std::string server_address = "127.0.0.1:50051";
  std::string worker_id;
  std::string runner_path;
  std::string state_dir;           // outbox and per-attempt files live under here
  int slots = 1;                   // concurrent jobs
  int threads = 0;                 // runner threads when the job leaves it to the worker; 0 = cores / slots
                                   // (a job's or this count is capped at cores / slots)
  int64_t memory_limit_bytes = 0;  // per job, when the job sets none; 0 = none
  double peak_flops = 0;           // the device's configured peak for validity checks; 0 = the runner probes it
  double claim_wait_s = 2;         // long-poll length
  double drain_timeout_s = 1800;   // after SIGTERM, running jobs get this long before they are released
  int max_jobs = 0;                // exit after this many jobs (0 = run until stopped)
  double idle_exit_s = 0;          // exit (code 0) after this long with no job claimed and none running; 0 = never
  double rpc_timeout_s = 10;
  std::string token;  // bearer token for the worker service
};

class Worker {
 public:
  Worker(WorkerOptions options, v1::WorkerCapabilities capabilities, std::shared_ptr<grpc::Channel> channel);
  ~Worker();

  // Runs until drained or max_jobs are done; handles SIGTERM, SIGINT and SIGCHLD itself. Returns the exit code.
  int Run();

 private:
  struct Attempt;

  // Runs `call` on the RPC pool and `done` with its result back on the event loop.
  template <typename Result>
  void Rpc(std::function<Result()> call, std::function<void(Result)> done);
  std::unique_ptr<grpc::ClientContext> NewContext(double timeout_s) const;

  void DeliverOutboxThenRegister();
  void Register();
  void FillSlots();
  void Claim();
  void StartAttempt(const v1::Lease& lease);
  void OnAttemptDone(int64_t attempt_id, ChildExit exit);
  // The worker could not start or contain the runner (spawn failed, no cgroup): an infrastructure failure,
  // not the job's. See the definition for what happens to the lease.
  void AbandonAttempt(int64_t attempt_id, const std::string& why);
  // Delivers the outbox in the background; `then` runs once this round is over (at once when a round is
  // already running, which is then followed by another).
  void DeliverPending(std::function<void()> then = nullptr);
  void Heartbeat();
  void Release(int64_t attempt_id, const std::string& reason);
  void OnSignal(int signal_number);
  void ReapChildren();
  void BeginDrain();
  // (Re)starts the idle countdown when nothing runs; StartAttempt stops it (see idle_exit_s).
  void ArmIdleTimer();
  void MaybeStop();
  void RetryLater(std::function<void()> what);
  int64_t MemoryLimitFor(const v1::JobSpec& job) const;  // the job's own limit, else the worker's default
  std::vector<std::string> ChildEnvironment(int threads, int64_t memory_limit) const;

  WorkerOptions options_;
  v1::WorkerCapabilities capabilities_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::WorkerService::Stub> stub_;
  std::optional<CgroupV2> cgroup_;
  Outbox outbox_;

  boost::asio::io_context io_;
  boost::asio::thread_pool rpc_pool_{3};
  boost::asio::signal_set signals_;
  boost::asio::steady_timer heartbeat_timer_, drain_timer_, setup_backoff_timer_, idle_timer_;
  double heartbeat_interval_s_ = 5;
  double backoff_ms_ = 200;

  std::map<int64_t, std::shared_ptr<Attempt>> running_;  // by attempt id
  int claims_in_flight_ = 0, releases_in_flight_ = 0;
  int started_jobs_ = 0;
  int setup_failures_ = 0;  // in a row; claims pause after each (see AbandonAttempt)
  DeliveryRounds delivery_;
  bool registered_ = false, draining_ = false, stopping_ = false, claims_paused_ = false;
  bool idle_done_ = false;  // idle_exit_s passed with nothing to do: no more claims, stop once the outbox is empty
  bool ever_registered_ = false;    // an idle exit before any registration is a failure (exit 1)
  bool last_claim_failed_ = false;  // so is one while the coordinator cannot be reached
  uint64_t idle_generation_ = 0;    // the idle countdown armed last; an older one's handler is stale
  int exit_code_ = 0;
};

}  // namespace tscale
