// Several coordinators on one PostgreSQL database, end to end: each test starts a throwaway PostgreSQL server
// (tests/support/postgres_server.h) and two real tscale-server processes, A and B, on the same database. What
// one coordinator commits, the other must act on: a long-polling claim on B is woken by a submit on A (LISTEN/
// NOTIFY, server/postgres_connection.h), a lease taken through B is heartbeated through A and completed through
// B again, a watch stream on A follows writes made through B, a cancel on A stops a runner whose worker talks
// only to B, and a coordinator SIGKILLed under real workers loses and duplicates no result. Skipped when the
// PostgreSQL server binaries are not installed.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/sql.h"
#include "support/coordinator_calls.h"
#include "support/postgres_server.h"
#include "support/processes.h"
#include "support/server_process.h"
#include "support/sweep_specs.h"
#include "support/temp_dir.h"
#include "support/test_paths.h"
#include "support/test_process.h"
#include "tscale/v1/tscale.grpc.pb.h"

namespace tscale {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::TestProcess;

double Ms(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

// One coordinator: the process and its stubs.
struct Coordinator {
  std::unique_ptr<testing::ServerProcess> process;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::TscaleService::Stub> client;
  std::unique_ptr<v1::WorkerService::Stub> worker;
  std::string address() const { return process->address(); }
};

class MultiCoordinator : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::PostgresAvailable()) GTEST_SKIP() << testing::PostgresUnavailableMessage();
    auto pg = testing::PostgresServer::Start();
    ASSERT_TRUE(pg.ok()) << pg.status().ToString();
    pg_ = std::move(pg).value();
    // One after the other: the first creates the schema, the second finds it.
    a_ = StartCoordinator("a");
    ASSERT_TRUE(a_.process->started()) << Logs();
    b_ = StartCoordinator("b");
    ASSERT_TRUE(b_.process->started()) << Logs();
  }

  // A coordinator on the shared database, in a directory of its own (ServerProcess writes dir/port).
  Coordinator StartCoordinator(const std::string& name) {
    const std::string dir = dir_.File("coordinator-" + name);
    std::filesystem::create_directories(dir);
    Coordinator c;
    c.process = std::make_unique<testing::ServerProcess>(
        dir, pg_->uri(), std::vector<std::string>{"--heartbeat-s", "0.5", "--lease-s", "3"}, 0, "server.log");
    if (!c.process->started()) return c;
    c.channel = grpc::CreateChannel(c.address(), grpc::InsecureChannelCredentials());
    c.client = v1::TscaleService::NewStub(c.channel);
    c.worker = v1::WorkerService::NewStub(c.channel);
    return c;
  }

  // A real tscale-worker whose --server is `target` (one address, or a gRPC target list).
  std::unique_ptr<TestProcess> StartWorker(const std::string& id, const std::string& target) {
    std::vector<std::string> args = {"--server",       target, "--runner",    testing::kRunnerBinary,
                                     "--id",           id,     "--state-dir", StateDir(id),
                                     "--claim-wait-s", "0.5",  "--threads",   "1",
                                     "--device",       "cpu"};
    auto worker = std::make_unique<TestProcess>(testing::kWorkerBinary, args, dir_.File("worker-" + id + ".log"));
    EXPECT_TRUE(worker->started());
    return worker;
  }
  std::string StateDir(const std::string& id) const { return dir_.File("state-" + id); }
  std::string WorkerLog(const std::string& id) const {
    return TestProcess::ReadFile(dir_.File("worker-" + id + ".log"));
  }

  static v1::SweepSpec TinySpec(int jobs = 1) {
    v1::SweepSpec spec;
    spec.add_models("tiny-bert");
    spec.add_seq_lengths(16);
    spec.set_repetitions(jobs);
    return spec;
  }
  static v1::RegisterWorkerResponse Register(Coordinator& c, const std::string& worker_id) {
    v1::RegisterWorkerRequest reg;
    reg.set_worker_id(worker_id);
    reg.mutable_capabilities()->set_device_kind(v1::DEVICE_KIND_CPU);
    v1::RegisterWorkerResponse registered;
    grpc::Status status = c.worker->RegisterWorker(testing::CallContext().get(), reg, &registered);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return registered;
  }
  static v1::ClaimJobResponse Claim(Coordinator& c, const std::string& worker_id, double wait_s) {
    v1::ClaimJobRequest claim;
    claim.set_worker_id(worker_id);
    claim.set_wait_s(wait_s);
    v1::ClaimJobResponse claimed;
    grpc::Status status = c.worker->ClaimJob(testing::CallContext().get(), claim, &claimed);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return claimed;
  }
  static grpc::Status Heartbeat(Coordinator& c, const std::string& worker_id, const std::vector<int64_t>& attempts,
                                v1::HeartbeatResponse* response) {
    v1::HeartbeatRequest hb;
    hb.set_worker_id(worker_id);
    for (int64_t id : attempts) hb.add_attempt_ids(id);
    return c.worker->Heartbeat(testing::CallContext().get(), hb, response);
  }
  static grpc::Status Complete(Coordinator& c, const std::string& worker_id, int64_t attempt_id,
                               v1::CompleteJobResponse* response) {
    v1::CompleteJobRequest complete;
    complete.set_worker_id(worker_id);
    complete.set_attempt_id(attempt_id);
    complete.mutable_result()->set_outcome(v1::OUTCOME_OK);
    complete.mutable_result()->set_message("simulated by the test");
    return c.worker->CompleteJob(testing::CallContext().get(), complete, response);
  }

  static v1::ListResultsResponse Jobs(Coordinator& c, int64_t sweep) {
    v1::ListResultsRequest request;
    request.set_sweep_id(sweep);
    v1::ListResultsResponse response;
    grpc::Status status = c.client->ListResults(testing::CallContext().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }
  static int Count(const v1::ListResultsResponse& jobs, v1::JobState state) {
    int n = 0;
    for (const auto& job : jobs.jobs()) n += job.state() == state;
    return n;
  }
  // Polls `c` until `done(jobs)` or the limit; returns the last listing.
  static v1::ListResultsResponse WaitUntil(Coordinator& c, int64_t sweep, std::chrono::seconds limit,
                                           const std::function<bool(const v1::ListResultsResponse&)>& done) {
    const auto give_up = Clock::now() + limit;
    v1::ListResultsResponse jobs;
    while (Clock::now() < give_up) {
      jobs = Jobs(c, sweep);
      if (done(jobs)) break;
      std::this_thread::sleep_for(100ms);
    }
    return jobs;
  }
  static v1::ListResultsResponse WaitAllFinished(Coordinator& c, int64_t sweep, std::chrono::seconds limit) {
    return WaitUntil(c, sweep, limit, [](const auto& jobs) {
      return jobs.jobs_size() > 0 && Count(jobs, v1::JOB_STATE_FINISHED) == jobs.jobs_size();
    });
  }

  // Every process log of the test (coordinators, workers) and the tail of PostgreSQL's, for failure messages.
  std::string Logs() const {
    std::string all;
    std::error_code ec;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_.path(), ec))
      if (entry.path().extension() == ".log")
        all += "==== " + entry.path().lexically_relative(dir_.path()).string() + "\n" +
               TestProcess::ReadFile(entry.path().string());
    if (pg_) {
      const std::string pg_log = pg_->Log();
      all += "==== postgres.log (tail)\n" + pg_log.substr(pg_log.size() > 4000 ? pg_log.size() - 4000 : 0);
    }
    return all;
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::PostgresServer> pg_;  // outlives the coordinators (declared before them)
  Coordinator a_, b_;
};

// The test is the worker: a claim long-polling on B is woken by a submit on A, the lease is heartbeated through
// A and completed through B; A lists the result, calls it a duplicate when A is sent it again, and refuses (ABORTED)
// an attempt that a re-registration through B ended.
TEST_F(MultiCoordinator, ClaimOnOneCompleteOnAnother) {
  const int64_t first_session = Register(b_, "sim").session();
  constexpr double kWaitS = 10;  // the server's cap on a long poll
  v1::ClaimJobResponse claimed;
  Clock::time_point claim_started, claim_returned;
  std::thread claimer([&] {
    claim_started = Clock::now();
    claimed = Claim(b_, "sim", kWaitS);
    claim_returned = Clock::now();
  });
  // The claim is waiting on B, with nothing queued. Its loop also re-checks the queue once a second by itself
  // (ClaimJob's fallback), so the submit comes 1.2 s in: by polling alone the claim would return about 0.8 s
  // after it, at the 2 s re-check; the notification wakes it at once.
  std::this_thread::sleep_for(1200ms);
  const int64_t sweep = testing::SubmitSweep(*a_.client, TinySpec());
  const Clock::time_point submitted = Clock::now();
  claimer.join();
  ASSERT_TRUE(claimed.has_job()) << Logs();
  const v1::Lease lease = claimed.lease();
  EXPECT_EQ(lease.job().sweep_id(), sweep);
  const double wake_ms = Ms(claim_returned - submitted);
  std::cout << "claim on B woken by the submit on A after " << wake_ms << " ms (it had waited "
            << Ms(submitted - claim_started) << " ms; wait_s " << kWaitS << ")\n";
  // Woken by the notification: well before its wait ended, and before its own next re-check.
  EXPECT_LT(wake_ms, 500) << Logs();
  EXPECT_LT(Ms(claim_returned - claim_started), kWaitS * 1000 / 2);

  // Heartbeat through A: the lease taken on B is live there, and the job is running.
  v1::HeartbeatResponse beat;
  ASSERT_TRUE(Heartbeat(a_, "sim", {lease.attempt_id()}, &beat).ok());
  EXPECT_EQ(beat.revoked_attempt_ids_size(), 0);
  EXPECT_GT(beat.lease_expires_unix_ms(), 0);
  auto running = Jobs(b_, sweep);
  ASSERT_EQ(running.jobs_size(), 1);
  EXPECT_EQ(running.jobs(0).state(), v1::JOB_STATE_RUNNING);

  // Complete through B; A lists the result.
  v1::CompleteJobResponse completed;
  grpc::Status done = Complete(b_, "sim", lease.attempt_id(), &completed);
  ASSERT_TRUE(done.ok()) << done.error_message() << Logs();
  EXPECT_FALSE(completed.duplicate());
  auto on_a = Jobs(a_, sweep);
  ASSERT_EQ(on_a.jobs_size(), 1);
  EXPECT_EQ(on_a.jobs(0).state(), v1::JOB_STATE_FINISHED);
  EXPECT_EQ(on_a.jobs(0).result().outcome(), v1::OUTCOME_OK);
  EXPECT_EQ(on_a.jobs(0).result().attempt_id(), lease.attempt_id());
  EXPECT_EQ(on_a.jobs(0).result().worker_id(), "sim");
  EXPECT_EQ(on_a.jobs(0).attempts(), 1);

  // The same completion sent to A (a retry after a lost reply, through the other coordinator): a duplicate.
  v1::CompleteJobResponse again;
  ASSERT_TRUE(Complete(a_, "sim", lease.attempt_id(), &again).ok());
  EXPECT_TRUE(again.duplicate());
  EXPECT_EQ(again.stored().attempt_id(), lease.attempt_id());
  EXPECT_EQ(again.stored().message(), "simulated by the test");

  // A stale fencing token: a job claimed through A, then the worker re-registers through B (its daemon
  // restarted), which ends that attempt. Its heartbeat on A revokes it, its completion on A is ABORTED.
  const int64_t second = testing::SubmitSweep(*b_.client, TinySpec());
  v1::ClaimJobResponse claimed_on_a = Claim(a_, "sim", 5);
  ASSERT_TRUE(claimed_on_a.has_job()) << Logs();
  EXPECT_EQ(claimed_on_a.lease().job().sweep_id(), second);
  const int64_t stale = claimed_on_a.lease().attempt_id();
  const v1::RegisterWorkerResponse restarted = Register(b_, "sim");
  EXPECT_GT(restarted.session(), first_session) << "a re-registration starts a new session";
  v1::HeartbeatResponse revoked;
  ASSERT_TRUE(Heartbeat(a_, "sim", {stale}, &revoked).ok());
  ASSERT_EQ(revoked.revoked_attempt_ids_size(), 1);
  EXPECT_EQ(revoked.revoked_attempt_ids(0), stale);
  v1::CompleteJobResponse refused;
  grpc::Status aborted = Complete(a_, "sim", stale, &refused);
  EXPECT_EQ(aborted.error_code(), grpc::StatusCode::ABORTED) << aborted.error_message();
  std::cout << "stale attempt on A: " << aborted.error_message() << "\n";
  auto requeued = Jobs(b_, second);
  ASSERT_EQ(requeued.jobs_size(), 1);
  EXPECT_EQ(requeued.jobs(0).state(), v1::JOB_STATE_QUEUED);
}

// A watch stream on A sees, in order, every event that writes through B append, each soon after the write
// returned (the watch has no polling fallback short of its keepalive, 10 s here: only the notification wakes it).
TEST_F(MultiCoordinator, WatchOnOneSeesEventsWrittenByAnother) {
  constexpr int kJobs = 5;
  const int64_t sweep = testing::SubmitSweep(*b_.client, TinySpec(kJobs));
  Register(b_, "sim");

  struct Arrival {
    v1::SweepEvent event;
    Clock::time_point at;
  };
  std::mutex mu;
  std::condition_variable arrived;
  std::vector<Arrival> arrivals;
  bool stream_over = false;
  grpc::ClientContext watch_ctx;
  watch_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  v1::WatchSweepRequest watch;
  watch.set_sweep_id(sweep);
  watch.set_keepalive_s(10);
  auto reader = a_.client->WatchSweep(&watch_ctx, watch);
  std::thread reading([&] {
    v1::SweepEvent event;
    while (reader->Read(&event)) {
      const auto at = Clock::now();
      std::lock_guard<std::mutex> lock(mu);
      if (!event.keepalive()) arrivals.push_back({event, at});
      arrived.notify_all();
    }
    std::lock_guard<std::mutex> lock(mu);
    stream_over = true;
    arrived.notify_all();
  });
  // A failed assertion below returns early: the stream is cancelled and the reader joined first.
  struct JoinOnExit {
    grpc::ClientContext& ctx;
    std::thread& thread;
    ~JoinOnExit() {
      if (!thread.joinable()) return;
      ctx.TryCancel();
      thread.join();
    }
  } join_on_exit{watch_ctx, reading};
  std::this_thread::sleep_for(500ms);  // the watch is open and waiting on A

  // Each write through B, then the wait for its event on A.
  // The delay is signed: the event can reach A before B's reply reaches the test (B notifies at its commit,
  // then answers). From the write's start it is the whole path: B's commit, the notification, A's read.
  struct Expected {
    int64_t job_id;
    v1::JobState state;
  };
  std::vector<Expected> expected;
  std::vector<double> delays_ms, from_start_ms;
  auto await_event = [&](int64_t job_id, v1::JobState state, Clock::time_point started, Clock::time_point written) {
    expected.push_back({job_id, state});
    std::unique_lock<std::mutex> lock(mu);
    const size_t index = expected.size() - 1;
    const bool got = arrived.wait_for(lock, 10s, [&] { return arrivals.size() > index || stream_over; });
    if (!got || arrivals.size() <= index) {
      ADD_FAILURE() << "no event on A for job " << job_id << " state " << v1::JobState_Name(state);
      return false;
    }
    delays_ms.push_back(Ms(arrivals[index].at - written));
    from_start_ms.push_back(Ms(arrivals[index].at - started));
    return true;
  };
  for (int i = 0; i < kJobs; ++i) {
    Clock::time_point started = Clock::now();
    v1::ClaimJobResponse claimed = Claim(b_, "sim", 5);
    ASSERT_TRUE(claimed.has_job()) << Logs();
    const int64_t job = claimed.lease().job().job_id(), attempt = claimed.lease().attempt_id();
    ASSERT_TRUE(await_event(job, v1::JOB_STATE_LEASED, started, Clock::now())) << Logs();

    started = Clock::now();
    v1::HeartbeatResponse beat;
    ASSERT_TRUE(Heartbeat(b_, "sim", {attempt}, &beat).ok());
    ASSERT_TRUE(await_event(job, v1::JOB_STATE_RUNNING, started, Clock::now())) << Logs();

    started = Clock::now();
    v1::CompleteJobResponse completed;
    ASSERT_TRUE(Complete(b_, "sim", attempt, &completed).ok());
    ASSERT_TRUE(await_event(job, v1::JOB_STATE_FINISHED, started, Clock::now())) << Logs();
  }
  // The sweep is done: the stream sends end_of_sweep and ends OK.
  reading.join();
  grpc::Status finished = reader->Finish();
  EXPECT_TRUE(finished.ok()) << finished.error_message();

  // Every event arrived, in order, exactly the ones written (and the last one is the end of the sweep).
  ASSERT_EQ(arrivals.size(), expected.size() + 1) << Logs();
  EXPECT_TRUE(arrivals.back().event.end_of_sweep());
  int64_t last_id = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    const v1::SweepEvent& event = arrivals[i].event;
    EXPECT_EQ(event.job_id(), expected[i].job_id) << "event " << i;
    EXPECT_EQ(event.state(), expected[i].state) << "event " << i;
    EXPECT_GT(event.event_id(), last_id) << "event " << i;
    if (expected[i].state == v1::JOB_STATE_FINISHED) EXPECT_EQ(event.outcome(), v1::OUTCOME_OK);
    last_id = event.event_id();
  }
  EXPECT_EQ(arrivals.back().event.event_id(), last_id);

  auto p50_max = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return std::pair<double, double>{v[v.size() / 2], v.back()};
  };
  const auto [p50, max] = p50_max(delays_ms);
  const auto [start_p50, start_max] = p50_max(from_start_ms);
  const long early = std::count_if(delays_ms.begin(), delays_ms.end(), [](double d) { return d < 0; });
  std::cout << "watch delay across coordinators: p50 " << p50 << " ms, max " << max << " ms over " << delays_ms.size()
            << " events (write's reply on B -> event read on A; " << early
            << " arrived before the reply); from the write's start: p50 " << start_p50 << " ms, max " << start_max
            << " ms\n";
  EXPECT_LT(max, 2000) << Logs();
}

// A real worker connected only to B runs a long job; the sweep is cancelled through A. B revokes the attempt at
// the worker's next heartbeat, the runner is killed, the job ends cancelled (no `ok` ever appears), and the worker
// claims the next sweep's jobs.
TEST_F(MultiCoordinator, CancelOnOneStopsAJobLeasedByAnother) {
  auto worker = StartWorker("w", b_.address());
  const int64_t sweep = testing::SubmitSweep(*a_.client, testing::LongJobsSpec(1, 60.0));
  auto running = WaitUntil(a_, sweep, 60s, [](const auto& jobs) { return Count(jobs, v1::JOB_STATE_RUNNING) == 1; });
  ASSERT_EQ(Count(running, v1::JOB_STATE_RUNNING), 1) << Logs();
  ASSERT_FALSE(testing::FindProcesses({"--job", StateDir("w")}).empty()) << Logs();

  v1::CancelRequest cancel;
  cancel.set_sweep_id(sweep);
  v1::CancelResponse cancelled;
  ASSERT_TRUE(a_.client->Cancel(testing::CallContext().get(), cancel, &cancelled).ok());
  const Clock::time_point cancel_returned = Clock::now();
  EXPECT_EQ(cancelled.cancelled_jobs(), 1);
  bool child_gone = false;
  while (!child_gone && Clock::now() < cancel_returned + 15s) {
    child_gone = testing::FindProcesses({"--job", StateDir("w")}).empty();
    if (!child_gone) std::this_thread::sleep_for(50ms);
  }
  const double stop_ms = Ms(Clock::now() - cancel_returned);
  ASSERT_TRUE(child_gone) << Logs();
  std::cout << "runner stopped " << stop_ms << " ms after the cancel on A (heartbeat 0.5 s, worker on B)\n";
  EXPECT_LT(stop_ms, 4000) << Logs();  // a few heartbeats
  for (auto* c : {&a_, &b_}) {
    auto jobs = Jobs(*c, sweep);
    ASSERT_EQ(jobs.jobs_size(), 1);
    EXPECT_EQ(jobs.jobs(0).state(), v1::JOB_STATE_FINISHED);
    EXPECT_EQ(jobs.jobs(0).result().outcome(), v1::OUTCOME_CANCELLED);
  }
  // The worker logs the kill once it has reaped the runner, which may be just after the test saw the child gone.
  std::string log = WorkerLog("w");
  for (auto give_up = Clock::now() + 10s;
       log.find("runner killed, the coordinator revoked the lease") == std::string::npos && Clock::now() < give_up;
       log = WorkerLog("w"))
    std::this_thread::sleep_for(50ms);
  EXPECT_NE(log.find("revoked by the coordinator: killing its runner"), std::string::npos) << log;
  EXPECT_NE(log.find("runner killed, the coordinator revoked the lease"), std::string::npos) << log;

  // The worker carries on: the next sweep, submitted on A, is run by it through B.
  const int64_t next = testing::SubmitSweep(*a_.client, testing::TinyGridSpec(1, 0.05));
  auto after = WaitAllFinished(a_, next, 60s);
  ASSERT_EQ(Count(after, v1::JOB_STATE_FINISHED), 2) << Logs();
  for (const auto& job : after.jobs()) {
    EXPECT_EQ(job.result().outcome(), v1::OUTCOME_OK) << job.result().message();
    EXPECT_EQ(job.result().worker_id(), "w");
  }
  // The cancelled job still has its one `cancelled` result: the killed runner reported nothing.
  auto still = Jobs(b_, sweep);
  ASSERT_EQ(still.jobs_size(), 1);
  EXPECT_EQ(still.jobs(0).result().outcome(), v1::OUTCOME_CANCELLED);
  const int64_t cancelled_attempt = still.jobs(0).result().attempt_id();
  EXPECT_GT(cancelled_attempt, 0);
  const std::string final_log = WorkerLog("w");
  EXPECT_EQ(final_log.find("attempt " + std::to_string(cancelled_attempt) + ": ok"), std::string::npos) << final_log;
  sql::Database db;
  ASSERT_TRUE(db.Open(pg_->uri()).ok());
  sql::Statement rows(db, "SELECT COUNT(*), MIN(outcome) FROM results WHERE job_id=?");
  rows.Bind(1, running.jobs(0).spec().job_id());
  ASSERT_TRUE(rows.Step()) << rows.status().ToString();
  EXPECT_EQ(rows.ColumnInt(0), 1);
  EXPECT_EQ(rows.ColumnInt(1), v1::OUTCOME_CANCELLED);
}

// Coordinator A is SIGKILLed mid-sweep under three real workers: one on A only, one on B only, one given both
// (`ipv4:A,B`: gRPC's pick_first uses A, then moves to B when A drops). The worker on A only is then restarted
// pointed at B, with its id and state directory (an operator fixing its configuration, or Kubernetes restarting
// the pod with a new address): results it could not deliver to A go to B from its outbox. Every job finishes
// through B with exactly one result, `ok`, none lost and none duplicated, read from the database itself.
TEST_F(MultiCoordinator, SigkillOfOneCoordinatorMidSweepLosesAndDuplicatesNothing) {
  const std::string both = "ipv4:" + a_.address() + "," + b_.address();
  auto on_a = StartWorker("wa", a_.address());
  auto on_b = StartWorker("wb", b_.address());
  auto on_both = StartWorker("wab", both);
  constexpr int kJobs = 16;
  const int64_t sweep = testing::SubmitSweep(*a_.client, testing::TinyGridSpec(kJobs / 2, 0.3));

  // Some jobs finished, some in flight.
  auto before = WaitUntil(a_, sweep, 60s, [](const auto& jobs) {
    return Count(jobs, v1::JOB_STATE_FINISHED) >= 4 &&
           Count(jobs, v1::JOB_STATE_LEASED) + Count(jobs, v1::JOB_STATE_RUNNING) >= 1;
  });
  const int finished_before = Count(before, v1::JOB_STATE_FINISHED);
  const int in_flight_before = Count(before, v1::JOB_STATE_LEASED) + Count(before, v1::JOB_STATE_RUNNING);
  ASSERT_GE(finished_before, 4) << Logs();
  ASSERT_LT(finished_before, kJobs) << "the sweep finished before the kill: " << Logs();
  std::map<int64_t, int64_t> acknowledged;  // job id -> attempt id of its result, before the kill
  for (const auto& job : before.jobs())
    if (job.state() == v1::JOB_STATE_FINISHED) acknowledged[job.spec().job_id()] = job.result().attempt_id();
  const std::string a_log_before_kill = a_.process->Log();
  a_.process->process().Kill();
  const Clock::time_point killed = Clock::now();

  // The worker on A only cannot reach anything now. Restarted (SIGTERM: it drains, keeping what it cannot
  // deliver in its outbox), pointed at B.
  std::this_thread::sleep_for(1s);
  const int drained = on_a->Stop(std::chrono::milliseconds(30000));
  EXPECT_TRUE(WIFEXITED(drained) && WEXITSTATUS(drained) == 0) << Logs();
  on_a.reset();
  const std::string wa_first_run = WorkerLog("wa");
  on_a = StartWorker("wa", b_.address());

  auto after = WaitAllFinished(b_, sweep, 60s);
  const double recovery_s = std::chrono::duration<double>(Clock::now() - killed).count();
  ASSERT_EQ(Count(after, v1::JOB_STATE_FINISHED), kJobs) << Logs();
  std::map<std::string, int> by_worker;
  int rerun = 0;
  for (const auto& job : after.jobs()) {
    EXPECT_EQ(job.result().outcome(), v1::OUTCOME_OK) << job.spec().job_id() << ": " << job.result().message();
    ++by_worker[job.result().worker_id()];
    rerun += job.attempts() > 1;
    // Acknowledged before the kill: unchanged.
    auto it = acknowledged.find(job.spec().job_id());
    if (it != acknowledged.end()) EXPECT_EQ(job.result().attempt_id(), it->second);
  }

  // The worker given both addresses moved to B by itself: B leased it jobs after the kill, and it never
  // registered again (its session went on through B).
  const std::string b_log = b_.process->Log();
  const std::string wab_log = WorkerLog("wab");
  EXPECT_NE(b_log.find("leased to wab"), std::string::npos) << Logs();
  size_t registrations = 0;
  for (size_t at = wab_log.find("registered with"); at != std::string::npos;
       at = wab_log.find("registered with", at + 1))
    ++registrations;
  EXPECT_EQ(registrations, 1u) << wab_log;
  EXPECT_NE(a_log_before_kill.find("leased to wab"), std::string::npos) << "wab did not start on A: " << Logs();

  // From the database: one result per job, none lost, none duplicated, every one ok.
  sql::Database db;
  ASSERT_TRUE(db.Open(pg_->uri()).ok());
  sql::Statement rows(db,
                      "SELECT (SELECT COUNT(*) FROM jobs), (SELECT COUNT(*) FROM results), "
                      "(SELECT COUNT(DISTINCT job_id) FROM results), "
                      "(SELECT COUNT(*) FROM results WHERE outcome <> ?), (SELECT COUNT(*) FROM attempts)");
  rows.Bind(1, static_cast<int64_t>(v1::OUTCOME_OK));
  ASSERT_TRUE(rows.Step()) << rows.status().ToString();
  EXPECT_EQ(rows.ColumnInt(0), kJobs);
  EXPECT_EQ(rows.ColumnInt(1), kJobs);
  EXPECT_EQ(rows.ColumnInt(2), kJobs);
  EXPECT_EQ(rows.ColumnInt(3), 0);
  const int64_t attempts = rows.ColumnInt(4);

  std::cout << "at the kill: " << finished_before << " of " << kJobs << " finished, " << in_flight_before
            << " in flight; all finished through B " << recovery_s << " s after it; " << attempts << " attempts for "
            << kJobs << " jobs (" << rerun << " jobs ran again); results by worker:";
  for (const auto& [id, n] : by_worker) std::cout << " " << id << "=" << n;
  std::cout << "\n";
  const bool outbox_used =
      WorkerLog("wa").find("from a previous run to deliver", wa_first_run.size()) != std::string::npos;
  std::cout << "wa's restart " << (outbox_used ? "delivered results from its outbox through B" : "had no outbox")
            << "\n";
}

}  // namespace
}  // namespace tscale
