// Failures of whole processes, end to end: the coordinator killed with SIGKILL mid-sweep and restarted on
// the same database; a worker killed with SIGKILL mid-job; a running job cancelled. Real server, workers,
// runners and SQLite file throughout.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <map>
#include <thread>

#include "support/cluster.h"
#include "support/processes.h"

namespace tscale {
namespace {

using namespace std::chrono_literals;
using testing::TestProcess;

class Resilience : public ::testing::Test {
 protected:
  testing::Cluster cluster_;
};

TEST_F(Resilience, CoordinatorKilledMidSweepLosesNothingAcknowledged) {
  ASSERT_TRUE(cluster_.StartServer()) << cluster_.Logs();
  auto worker = cluster_.StartWorker("w1");
  const int64_t sweep = cluster_.SubmitTiny(6, 0.3);  // 12 jobs of ~0.5 s each

  auto before = cluster_.WaitUntil(sweep, 120s, [](const auto& jobs) { return testing::Cluster::Finished(jobs) >= 3; });
  ASSERT_GE(testing::Cluster::Finished(before), 3) << cluster_.Logs();
  const int port = cluster_.server().port();
  cluster_.server().process().Kill();
  // Acknowledged before the kill: each of these must come back unchanged.
  std::map<int64_t, int64_t> acknowledged;  // job id -> attempt id of its result
  for (const auto& job : before.jobs())
    if (job.state() == v1::JOB_STATE_FINISHED) acknowledged[job.spec().job_id()] = job.result().attempt_id();

  std::this_thread::sleep_for(1500ms);  // the worker notices: heartbeats and deliveries fail, it retries
  ASSERT_TRUE(cluster_.StartServer({"--heartbeat-s", "0.5", "--lease-s", "3"}, port)) << cluster_.Logs();
  auto after = cluster_.WaitAllFinished(sweep, 180s);
  ASSERT_EQ(testing::Cluster::Finished(after), 12) << cluster_.Logs();
  for (const auto& job : after.jobs()) {
    EXPECT_EQ(job.result().outcome(), v1::OUTCOME_OK) << job.result().message();
    auto it = acknowledged.find(job.spec().job_id());
    if (it != acknowledged.end()) EXPECT_EQ(job.result().attempt_id(), it->second);
  }
  cluster_.ExpectOneResultPerJob(12);
  std::cout << "acknowledged before the kill: " << acknowledged.size() << " of 12\n";
}

TEST_F(Resilience, WorkerKilledMidJobIsFinishedByAnother) {
  ASSERT_TRUE(cluster_.StartServer()) << cluster_.Logs();
  auto doomed = cluster_.StartWorker("doomed");
  const int64_t sweep = cluster_.SubmitLong(4, 3.0);
  // Wait until the doomed worker is running a job, then kill it without warning.
  const int64_t victim_job = cluster_.WaitRunning(sweep, 60s);
  ASSERT_NE(victim_job, 0) << cluster_.Logs();
  doomed->Kill();
  // Its runner dies with it (PR_SET_PDEATHSIG): no orphan keeps measuring.
  bool orphan_gone = false;
  for (int i = 0; i < 50 && !orphan_gone; ++i) {
    orphan_gone = testing::FindProcesses({"--job", cluster_.StateDir("doomed")}).empty();
    if (!orphan_gone) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(orphan_gone);

  auto survivor = cluster_.StartWorker("survivor");
  auto after = cluster_.WaitAllFinished(sweep, 120s);
  ASSERT_EQ(testing::Cluster::Finished(after), 4) << cluster_.Logs();
  for (const auto& job : after.jobs()) {
    EXPECT_EQ(job.result().outcome(), v1::OUTCOME_OK) << job.result().message();
    if (job.spec().job_id() == victim_job) {
      EXPECT_EQ(job.attempts(), 2);  // the expired lease, then the survivor's
      EXPECT_EQ(job.result().worker_id(), "survivor");
    }
  }
  cluster_.ExpectOneResultPerJob(4);
}

TEST_F(Resilience, CancelKillsTheRunningChildAndTheWorkerCarriesOn) {
  ASSERT_TRUE(cluster_.StartServer()) << cluster_.Logs();
  auto worker = cluster_.StartWorker("w1");
  const int64_t long_sweep = cluster_.SubmitLong(2, 600.0);  // would run for 10 minutes
  ASSERT_NE(cluster_.WaitRunning(long_sweep, 60s), 0) << cluster_.Logs();
  ASSERT_FALSE(testing::FindProcesses({"--job", cluster_.StateDir("w1")}).empty()) << cluster_.Logs();

  v1::CancelRequest cancel;
  cancel.set_sweep_id(long_sweep);
  v1::CancelResponse cancelled;
  ASSERT_TRUE(cluster_.stub().Cancel(cluster_.Ctx().get(), cancel, &cancelled).ok());
  EXPECT_EQ(cancelled.cancelled_jobs(), 2);
  // The worker learns it at its next heartbeat (0.5 s) and kills the runner's process group.
  bool child_gone = false;
  for (int i = 0; i < 100 && !child_gone; ++i) {
    child_gone = testing::FindProcesses({"--job", cluster_.StateDir("w1")}).empty();
    if (!child_gone) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(child_gone) << cluster_.Logs();
  const v1::ListResultsResponse cancelled_jobs = cluster_.Jobs(long_sweep);
  for (const auto& job : cancelled_jobs.jobs()) EXPECT_EQ(job.result().outcome(), v1::OUTCOME_CANCELLED);

  const int64_t next = cluster_.SubmitTiny(1, 0.05);
  auto after = cluster_.WaitAllFinished(next, 60s);
  ASSERT_EQ(testing::Cluster::Finished(after), 2) << cluster_.Logs();
  for (const auto& job : after.jobs()) EXPECT_EQ(job.result().outcome(), v1::OUTCOME_OK);
}

}  // namespace
}  // namespace tscale
