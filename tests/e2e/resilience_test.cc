// Failures of whole processes, end to end: the coordinator killed with SIGKILL mid-sweep and restarted on
// the same database; a worker killed with SIGKILL mid-job; a running job cancelled. Real server, workers,
// runners and SQLite file throughout.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <map>
#include <thread>

#include "server/sqlite.h"
#include "support/processes.h"
#include "support/server_process.h"
#include "support/temp_dir.h"
#include "tscale/v1/tscale.grpc.pb.h"

namespace tscale {
namespace {

using namespace std::chrono_literals;
using testing::TestProcess;

class Resilience : public ::testing::Test {
 protected:
  void StartServer(int port = 0) {
    server_ =
        std::make_unique<testing::ServerProcess>(dir_.path().string(), dir_.File("tscale.db"),
                                                 std::vector<std::string>{"--heartbeat-s", "0.5", "--lease-s", "3"},
                                                 port, "server-" + std::to_string(++server_starts_) + ".log");
    ASSERT_TRUE(server_->started()) << server_->Log();
    stub_ = v1::TscaleService::NewStub(grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
  }

  std::unique_ptr<TestProcess> StartWorker(const std::string& id) {
    auto worker = std::make_unique<TestProcess>(
        testing::kWorkerBinary,
        std::vector<std::string>{"--server", server_->address(), "--runner", testing::kRunnerBinary, "--id", id,
                                 "--threads", "1", "--state-dir", dir_.File("work-" + id), "--claim-wait-s", "0.5"},
        dir_.File(id + ".log"));
    EXPECT_TRUE(worker->started());
    return worker;
  }

  std::unique_ptr<grpc::ClientContext> Ctx() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + 10s);
    return ctx;
  }

  int64_t Submit(int lengths, double min_time_s) {
    v1::SubmitSweepRequest submit;
    auto* spec = submit.mutable_spec();
    spec->add_models("tiny-bert");
    spec->add_models("tiny-gpt2");
    for (int i = 0; i < lengths; ++i) spec->add_seq_lengths(8 + 8 * i);
    spec->mutable_measurement()->set_min_time_s(min_time_s);
    spec->mutable_measurement()->set_min_iters(3);
    v1::SubmitSweepResponse response;
    EXPECT_TRUE(stub_->SubmitSweep(Ctx().get(), submit, &response).ok());
    return response.sweep_id();
  }

  v1::ListResultsResponse Jobs(int64_t sweep) {
    v1::ListResultsRequest request;
    request.set_sweep_id(sweep);
    v1::ListResultsResponse response;
    grpc::Status status = stub_->ListResults(Ctx().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  // Polls until `done(jobs)` or the limit; returns the last listing.
  template <typename Pred>
  v1::ListResultsResponse WaitFor(int64_t sweep, std::chrono::seconds limit, Pred done) {
    const auto give_up = std::chrono::steady_clock::now() + limit;
    v1::ListResultsResponse jobs;
    while (std::chrono::steady_clock::now() < give_up) {
      jobs = Jobs(sweep);
      if (done(jobs)) break;
      std::this_thread::sleep_for(100ms);
    }
    return jobs;
  }

  static int Finished(const v1::ListResultsResponse& jobs) {
    int n = 0;
    for (const auto& job : jobs.jobs()) n += job.state() == v1::JOB_STATE_FINISHED;
    return n;
  }

  // Exactly one result row per job, read from the database file itself.
  void ExpectOneResultPerJob(int expected_jobs) {
    sql::Database db;
    ASSERT_TRUE(db.Open(dir_.File("tscale.db")).ok());
    sql::Statement rows(db,
                        "SELECT (SELECT COUNT(*) FROM jobs), (SELECT COUNT(*) FROM results), "
                        "(SELECT COUNT(DISTINCT job_id) FROM results)");
    ASSERT_TRUE(rows.Step());
    EXPECT_EQ(rows.ColumnInt(0), expected_jobs);
    EXPECT_EQ(rows.ColumnInt(1), expected_jobs);
    EXPECT_EQ(rows.ColumnInt(2), expected_jobs);
  }

  std::string Logs() {
    std::string all;
    for (const auto& entry : std::filesystem::directory_iterator(dir_.path()))
      if (entry.path().extension() == ".log")
        all += "==== " + entry.path().filename().string() + "\n" + TestProcess::ReadFile(entry.path().string());
    return all;
  }

  testing::TempDir dir_;
  int server_starts_ = 0;
  std::unique_ptr<testing::ServerProcess> server_;
  std::unique_ptr<v1::TscaleService::Stub> stub_;
};

TEST_F(Resilience, CoordinatorKilledMidSweepLosesNothingAcknowledged) {
  StartServer();
  auto worker = StartWorker("w1");
  const int64_t sweep = Submit(6, 0.3);  // 12 jobs of ~0.5 s each

  auto before = WaitFor(sweep, 120s, [](const auto& jobs) { return Finished(jobs) >= 3; });
  ASSERT_GE(Finished(before), 3) << Logs();
  const int port = server_->port();
  server_->process().Kill();
  // Acknowledged before the kill: each of these must come back unchanged.
  std::map<int64_t, int64_t> acknowledged;  // job id -> attempt id of its result
  for (const auto& job : before.jobs())
    if (job.state() == v1::JOB_STATE_FINISHED) acknowledged[job.spec().job_id()] = job.result().attempt_id();

  std::this_thread::sleep_for(1500ms);  // the worker notices: heartbeats and deliveries fail, it retries
  StartServer(port);
  auto after = WaitFor(sweep, 180s, [](const auto& jobs) { return Finished(jobs) == jobs.jobs_size(); });
  ASSERT_EQ(Finished(after), 12) << Logs();
  for (const auto& job : after.jobs()) {
    EXPECT_EQ(job.result().outcome(), v1::OUTCOME_OK) << job.result().message();
    auto it = acknowledged.find(job.spec().job_id());
    if (it != acknowledged.end()) EXPECT_EQ(job.result().attempt_id(), it->second);
  }
  ExpectOneResultPerJob(12);
  std::cout << "acknowledged before the kill: " << acknowledged.size() << " of 12\n";
}

TEST_F(Resilience, WorkerKilledMidJobIsFinishedByAnother) {
  StartServer();
  auto doomed = StartWorker("doomed");
  const int64_t sweep = Submit(2, 3.0);  // 4 jobs of ~3 s each
  // Wait until the doomed worker is running a job, then kill it without warning.
  int64_t victim_job = 0;
  WaitFor(sweep, 60s, [&](const auto& jobs) {
    for (const auto& job : jobs.jobs())
      if (job.state() == v1::JOB_STATE_RUNNING) victim_job = job.spec().job_id();
    return victim_job != 0;
  });
  ASSERT_NE(victim_job, 0) << Logs();
  doomed->Kill();
  // Its runner dies with it (PR_SET_PDEATHSIG): no orphan keeps measuring.
  bool orphan_gone = false;
  for (int i = 0; i < 50 && !orphan_gone; ++i) {
    orphan_gone = testing::FindProcesses({"--job", dir_.File("work-doomed")}).empty();
    if (!orphan_gone) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(orphan_gone);

  auto survivor = StartWorker("survivor");
  auto after = WaitFor(sweep, 120s, [](const auto& jobs) { return Finished(jobs) == jobs.jobs_size(); });
  ASSERT_EQ(Finished(after), 4) << Logs();
  for (const auto& job : after.jobs()) {
    EXPECT_EQ(job.result().outcome(), v1::OUTCOME_OK) << job.result().message();
    if (job.spec().job_id() == victim_job) {
      EXPECT_EQ(job.attempts(), 2);  // the expired lease, then the survivor's
      EXPECT_EQ(job.result().worker_id(), "survivor");
    }
  }
  ExpectOneResultPerJob(4);
}

TEST_F(Resilience, CancelKillsTheRunningChildAndTheWorkerCarriesOn) {
  StartServer();
  auto worker = StartWorker("w1");
  const int64_t long_sweep = Submit(1, 600.0);  // would run for 10 minutes
  WaitFor(long_sweep, 60s, [](const auto& jobs) {
    for (const auto& job : jobs.jobs())
      if (job.state() == v1::JOB_STATE_RUNNING) return true;
    return false;
  });
  ASSERT_FALSE(testing::FindProcesses({"--job", dir_.File("work-w1")}).empty()) << Logs();

  v1::CancelRequest cancel;
  cancel.set_sweep_id(long_sweep);
  v1::CancelResponse cancelled;
  ASSERT_TRUE(stub_->Cancel(Ctx().get(), cancel, &cancelled).ok());
  EXPECT_EQ(cancelled.cancelled_jobs(), 2);
  // The worker learns it at its next heartbeat (0.5 s) and kills the runner's process group.
  bool child_gone = false;
  for (int i = 0; i < 100 && !child_gone; ++i) {
    child_gone = testing::FindProcesses({"--job", dir_.File("work-w1")}).empty();
    if (!child_gone) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(child_gone) << Logs();
  const v1::ListResultsResponse cancelled_jobs = Jobs(long_sweep);
  for (const auto& job : cancelled_jobs.jobs()) EXPECT_EQ(job.result().outcome(), v1::OUTCOME_CANCELLED);

  const int64_t next = Submit(1, 0.05);
  auto after = WaitFor(next, 60s, [](const auto& jobs) { return Finished(jobs) == jobs.jobs_size(); });
  ASSERT_EQ(Finished(after), 2) << Logs();
  for (const auto& job : after.jobs()) EXPECT_EQ(job.result().outcome(), v1::OUTCOME_OK);
}

}  // namespace
}  // namespace tscale
