// Store tests on a real SQLite file in a temporary directory.
#include "server/store.h"

#include <gtest/gtest.h>

#include "server/migrations.h"
#include "support/temp_dir.h"

namespace tscale {
namespace {

constexpr int64_t kNow = 1'000'000;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen(StoreOptions options = {}) {
    store_.reset();
    auto opened = Store::Open(dir_.File("tscale.db"), options);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(opened).value();
  }

  static v1::WorkerCapabilities Cpu(std::vector<std::string> labels = {}) {
    v1::WorkerCapabilities caps;
    caps.set_device_kind(v1::DEVICE_KIND_CPU);
    caps.set_ram_bytes(8LL << 30);
    for (auto& l : labels) caps.add_labels(l);
    return caps;
  }

  int64_t Submit(int jobs, v1::Requirements req = {}) {
    std::vector<PlannedJob> planned;
    for (int i = 0; i < jobs; ++i) {
      PlannedJob job;
      job.category = "Test";
      job.spec.set_model_id("m" + std::to_string(i % 2));
      job.spec.set_seq_len(128 << i % 3);
      job.spec.set_batch_size(1);
      *job.spec.mutable_requirements() = req;
      planned.push_back(job);
    }
    v1::SweepSpec spec;
    spec.set_name("test sweep");
    auto id = store_->CreateSweep(spec, planned, kNow);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : 0;
  }

  v1::Lease Claim(const std::string& worker, int64_t now = kNow) {
    auto lease = store_->ClaimJob(worker, now);
    EXPECT_TRUE(lease.ok()) << lease.status().ToString();
    EXPECT_TRUE(lease.ok() && lease->has_value());
    return lease.ok() && lease->has_value() ? **lease : v1::Lease();
  }

  static v1::Result Ok(double median) {
    v1::Result r;
    r.set_outcome(v1::OUTCOME_OK);
    r.mutable_latency()->set_median_ms(median);
    r.set_tokens_per_second(1000);
    for (double s : {median - 1, median, median + 1}) r.add_samples_ms(s);
    return r;
  }

  testing::TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, FreshDatabaseHasLatestSchema) {
  EXPECT_EQ(store_->schema_version(), LatestSchemaVersion());
  EXPECT_EQ(store_->schema_version(), 2);
}

TEST_F(StoreTest, LeaseCompleteAndQuery) {
  const int64_t sweep = Submit(3);
  ASSERT_TRUE(store_->RegisterWorker("w1", Cpu(), kNow).ok());
  v1::Lease lease = Claim("w1");
  EXPECT_GT(lease.attempt_id(), 0);
  EXPECT_EQ(lease.job().sweep_id(), sweep);
  EXPECT_EQ(lease.lease_expires_unix_ms(), kNow + store_->options().lease_ms);

  auto done = store_->CompleteJob("w1", lease.attempt_id(), Ok(12.5), kNow + 10);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_FALSE(done->duplicate);

  auto status = store_->GetSweepStatus(sweep, kNow + 20);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->total_jobs(), 3);
  EXPECT_EQ(status->finished(), 1);
  EXPECT_EQ(status->queued(), 2);
  EXPECT_EQ(status->outcome_counts().at("ok"), 1);
  EXPECT_FALSE(status->done());

  ResultFilter filter;
  filter.sweep_id = sweep;
  filter.include_samples = true;
  auto jobs = store_->ListJobs(filter);
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 3u);
  const auto& first = (*jobs)[0];
  EXPECT_EQ(first.state(), v1::JOB_STATE_FINISHED);
  EXPECT_DOUBLE_EQ(first.result().latency().median_ms(), 12.5);
  ASSERT_EQ(first.result().samples_ms_size(), 3);
  EXPECT_DOUBLE_EQ(first.result().samples_ms(2), 13.5);
  EXPECT_EQ(first.result().worker_id(), "w1");
}

TEST_F(StoreTest, CompletionIsIdempotentPerAttempt) {
  Submit(1);
  ASSERT_TRUE(store_->RegisterWorker("w1", Cpu(), kNow).ok());
  v1::Lease lease = Claim("w1");
  ASSERT_TRUE(store_->CompleteJob("w1", lease.attempt_id(), Ok(10), kNow).ok());
  auto again = store_->CompleteJob("w1", lease.attempt_id(), Ok(99), kNow + 1);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->duplicate);
  EXPECT_DOUBLE_EQ(again->stored.latency().median_ms(), 10);  // the first result stands
}

TEST_F(StoreTest, ExpiredLeaseRequeuesAndStaleAttemptIsAborted) {
  Submit(1);
  ASSERT_TRUE(store_->RegisterWorker("w1", Cpu(), kNow).ok());
  ASSERT_TRUE(store_->RegisterWorker("w2", Cpu(), kNow).ok());
  v1::Lease first = Claim("w1");
  const int64_t after_expiry = kNow + store_->options().lease_ms + 1;
  v1::Lease second = Claim("w2", after_expiry);
  EXPECT_EQ(second.job().job_id(), first.job().job_id());
  EXPECT_NE(second.attempt_id(), first.attempt_id());

  auto stale = store_->CompleteJob("w1", first.attempt_id(), Ok(1), after_expiry);
  EXPECT_EQ(stale.status().code(), Status::Code::kAborted);
  auto hb = store_->Heartbeat("w1", {first.attempt_id()}, after_expiry);
  ASSERT_TRUE(hb.ok());
  EXPECT_EQ(*hb, std::vector<int64_t>{first.attempt_id()});

  ASSERT_TRUE(store_->CompleteJob("w2", second.attempt_id(), Ok(2), after_expiry).ok());
  ResultFilter filter;
  auto jobs = store_->ListJobs(filter);
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].attempts(), 2);
  EXPECT_EQ((*jobs)[0].result().attempt_id(), second.attempt_id());
}

TEST_F(StoreTest, HeartbeatKeepsLeaseAlive) {
  Submit(1);
  ASSERT_TRUE(store_->RegisterWorker("w1", Cpu(), kNow).ok());
  ASSERT_TRUE(store_->RegisterWorker("w2", Cpu(), kNow).ok());
  v1::Lease lease = Claim("w1");
  const int64_t lease_ms = store_->options().lease_ms;
  auto hb = store_->Heartbeat("w1", {lease.attempt_id()}, kNow + lease_ms - 1);
  ASSERT_TRUE(hb.ok());
  EXPECT_TRUE(hb->empty());
  // Past the original expiry but within the extended one: nothing to claim.
  auto none = store_->ClaimJob("w2", kNow + lease_ms + 10);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST_F(StoreTest, JobEndsLostPastAttemptCap) {
  StoreOptions options;
  options.max_attempts = 2;
  Reopen(options);
  Submit(1);
  ASSERT_TRUE(store_->RegisterWorker("w1", Cpu(), kNow).ok());
  int64_t now = kNow;
  Claim("w1", now);
  now += options.lease_ms + 1;
  Claim("w1", now);
  now += options.lease_ms + 1;
  auto expired = store_->ExpireLeases(now);
  ASSERT_TRUE(expired.ok());
  EXPECT_EQ(*expired, 1);
  auto jobs = store_->ListJobs({});
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].state(), v1::JOB_STATE_FINISHED);
  EXPECT_EQ((*jobs)[0].result().outcome(), v1::OUTCOME_LOST);
  EXPECT_NE((*jobs)[0].result().message().find("cap 2"), std::string::npos);
}

TEST_F(StoreTest, RoutingWaitsForMatchingWorker) {
  v1::Requirements needs_gpu;
  needs_gpu.set_device_kind(v1::DEVICE_KIND_CUDA);
  Submit(1, needs_gpu);
  v1::Requirements needs_label;
  needs_label.add_labels("lab-mac");
  Submit(1, needs_label);
  ASSERT_TRUE(store_->RegisterWorker("cpu", Cpu(), kNow).ok());
  auto none = store_->ClaimJob("cpu", kNow);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  ASSERT_TRUE(store_->RegisterWorker("mac", Cpu({"lab-mac"}), kNow).ok());
  v1::Lease lease = Claim("mac");
  EXPECT_EQ(lease.job().requirements().labels(0), "lab-mac");
}

TEST_F(StoreTest, UnregisteredWorkerCannotClaim) {
  Submit(1);
  EXPECT_EQ(store_->ClaimJob("ghost", kNow).status().code(), Status::Code::kNotFound);
}

TEST_F(StoreTest, ResultsSurviveReopen) {
  const int64_t sweep = Submit(2);
  ASSERT_TRUE(store_->RegisterWorker("w1", Cpu(), kNow).ok());
  v1::Lease lease = Claim("w1");
  ASSERT_TRUE(store_->CompleteJob("w1", lease.attempt_id(), Ok(5), kNow).ok());
  Reopen();
  auto status = store_->GetSweepStatus(sweep, kNow);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->finished(), 1);
  EXPECT_EQ(status->total_jobs(), 2);
}

TEST_F(StoreTest, NewerSchemaIsRefusedAndLeftUntouched) {
  Submit(1);
  store_.reset();
  {
    sql::Database db;
    ASSERT_TRUE(db.Open(dir_.File("tscale.db")).ok());
    ASSERT_TRUE(db.Exec("PRAGMA user_version = 99").ok());
  }
  auto opened = Store::Open(dir_.File("tscale.db"));
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(opened.status().message().find("version 99"), std::string::npos);
  sql::Database db;
  ASSERT_TRUE(db.Open(dir_.File("tscale.db")).ok());
  sql::Statement count(db, "SELECT COUNT(*) FROM jobs");
  ASSERT_TRUE(count.Step());
  EXPECT_EQ(count.ColumnInt(0), 1);
}

}  // namespace
}  // namespace tscale

namespace tscale {
namespace {

TEST_F(StoreTest, WorkerRestartRequeuesItsJobAndQuarantinesRepeatOffenders) {
  Submit(1);
  ASSERT_TRUE(store_->RegisterWorker("w1", Cpu(), kNow).ok());
  v1::Lease first = Claim("w1");
  // The daemon comes back: its new session does not run the old attempt.
  auto again = store_->RegisterWorker("w1", Cpu(), kNow + 5);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->session, 2);
  EXPECT_EQ(again->requeued_attempts, 1);
  EXPECT_EQ(store_->CompleteJob("w1", first.attempt_id(), Ok(1), kNow + 6).status().code(), Status::Code::kAborted);

  v1::Lease second = Claim("w1", kNow + 10);
  EXPECT_EQ(second.job().job_id(), first.job().job_id());
  ASSERT_TRUE(store_->RegisterWorker("w1", Cpu(), kNow + 20).ok());  // took the worker down again

  auto jobs = store_->ListJobs({});
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 1u);
  const auto& result = (*jobs)[0].result();
  EXPECT_EQ(result.outcome(), v1::OUTCOME_LOST);
  EXPECT_TRUE(result.quarantined());
  EXPECT_NE(result.message().find("quarantined: 2 workers restarted"), std::string::npos) << result.message();
}

TEST_F(StoreTest, CancelQueuedAndRunningJobs) {
  const int64_t sweep = Submit(3);
  ASSERT_TRUE(store_->RegisterWorker("w1", Cpu(), kNow).ok());
  v1::Lease running = Claim("w1");
  auto cancelled = store_->Cancel(sweep, 0, kNow + 1);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status().ToString();
  EXPECT_EQ(*cancelled, 3);
  // The running attempt is revoked at its next heartbeat; its late completion returns the stored result.
  auto hb = store_->Heartbeat("w1", {running.attempt_id()}, kNow + 2);
  ASSERT_TRUE(hb.ok());
  EXPECT_EQ(*hb, std::vector<int64_t>{running.attempt_id()});
  auto late = store_->CompleteJob("w1", running.attempt_id(), Ok(1), kNow + 3);
  ASSERT_TRUE(late.ok());
  EXPECT_TRUE(late->duplicate);
  EXPECT_EQ(late->stored.outcome(), v1::OUTCOME_CANCELLED);
  // Nothing is left to claim, and cancelling again touches nothing.
  auto none = store_->ClaimJob("w1", kNow + 4);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_EQ(*store_->Cancel(sweep, 0, kNow + 5), 0);
  auto status = store_->GetSweepStatus(sweep, kNow + 5);
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(status->done());
  EXPECT_EQ(status->outcome_counts().at("cancelled"), 3);
}

TEST_F(StoreTest, CancelUnknownIsNotFound) {
  const int64_t sweep = Submit(1);
  EXPECT_EQ(store_->Cancel(sweep + 1, 0, kNow).status().code(), Status::Code::kNotFound);
  EXPECT_EQ(store_->Cancel(sweep, 999, kNow).status().code(), Status::Code::kNotFound);
}

TEST_F(StoreTest, EventsRecordEveryTransitionInOrder) {
  const int64_t sweep = Submit(1);
  ASSERT_TRUE(store_->RegisterWorker("w1", Cpu(), kNow).ok());
  v1::Lease lease = Claim("w1");
  ASSERT_TRUE(store_->Heartbeat("w1", {lease.attempt_id()}, kNow + 1).ok());
  v1::MetricEvent metric;
  metric.set_attempt_id(lease.attempt_id());
  metric.set_phase("measuring");
  metric.set_iterations_done(3);
  ASSERT_TRUE(store_->RecordMetric("w1", metric, kNow + 2).ok());
  ASSERT_TRUE(store_->CompleteJob("w1", lease.attempt_id(), Ok(4), kNow + 3).ok());

  auto events = store_->ReadEvents(sweep, 0, 100);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 4u);
  EXPECT_EQ((*events)[0].state(), v1::JOB_STATE_LEASED);
  EXPECT_EQ((*events)[1].state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ((*events)[2].metric().iterations_done(), 3);
  EXPECT_EQ((*events)[3].state(), v1::JOB_STATE_FINISHED);
  EXPECT_EQ((*events)[3].outcome(), v1::OUTCOME_OK);
  for (size_t i = 1; i < events->size(); ++i) EXPECT_GT((*events)[i].event_id(), (*events)[i - 1].event_id());
  // Resuming from a cursor returns exactly the rest.
  auto rest = store_->ReadEvents(sweep, (*events)[1].event_id(), 100);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 2u);
  EXPECT_EQ((*rest)[0].event_id(), (*events)[2].event_id());
}

TEST_F(StoreTest, MetricsOfAStaleAttemptAreRefused) {
  Submit(1);
  ASSERT_TRUE(store_->RegisterWorker("w1", Cpu(), kNow).ok());
  v1::Lease lease = Claim("w1");
  ASSERT_TRUE(store_->ExpireLeases(kNow + store_->options().lease_ms + 1).ok());
  v1::MetricEvent metric;
  metric.set_attempt_id(lease.attempt_id());
  EXPECT_EQ(store_->RecordMetric("w1", metric, kNow).code(), Status::Code::kAborted);
  EXPECT_EQ(store_->RecordMetric("w2", metric, kNow).code(), Status::Code::kAborted);
}

TEST_F(StoreTest, RestartGivesLiveLeasesOneFullPeriod) {
  Submit(1);
  ASSERT_TRUE(store_->RegisterWorker("w1", Cpu(), kNow).ok());
  ASSERT_TRUE(store_->RegisterWorker("w2", Cpu(), kNow).ok());
  Claim("w1", kNow);
  const int64_t lease_ms = store_->options().lease_ms;
  // The server was down past the lease's expiry; on restart the worker gets a full period to heartbeat.
  const int64_t restart = kNow + 2 * lease_ms;
  store_.reset();
  auto reopened = Store::Open(dir_.File("tscale.db"), {}, restart);
  ASSERT_TRUE(reopened.ok());
  store_ = std::move(reopened).value();
  auto early = store_->ClaimJob("w2", restart + lease_ms - 1);
  ASSERT_TRUE(early.ok());
  EXPECT_FALSE(early->has_value());
  auto late = store_->ClaimJob("w2", restart + lease_ms + 1);
  ASSERT_TRUE(late.ok());
  EXPECT_TRUE(late->has_value());
}

TEST_F(StoreTest, WaitingReasonsNameUnservedRequirements) {
  v1::Requirements gpu;
  gpu.set_device_kind(v1::DEVICE_KIND_CUDA);
  gpu.add_labels("a100");
  const int64_t sweep = Submit(2, gpu);
  auto nobody = store_->GetSweepStatus(sweep, kNow);
  ASSERT_TRUE(nobody.ok());
  ASSERT_EQ(nobody->waiting_reasons_size(), 1);
  EXPECT_NE(nobody->waiting_reasons(0).find("no live worker"), std::string::npos);

  ASSERT_TRUE(store_->RegisterWorker("cpu", Cpu(), kNow).ok());
  auto unmatched = store_->GetSweepStatus(sweep, kNow);
  ASSERT_TRUE(unmatched.ok());
  ASSERT_EQ(unmatched->waiting_reasons_size(), 1);
  EXPECT_NE(unmatched->waiting_reasons(0).find("2 queued jobs need device=cuda, label a100"), std::string::npos)
      << unmatched->waiting_reasons(0);
}

}  // namespace
}  // namespace tscale
