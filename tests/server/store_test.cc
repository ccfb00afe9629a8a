// Store tests, each on both backends: a real SQLite file in a temporary directory, and a real PostgreSQL server
// (tests/support/postgres_server.h) with an empty database per test. One suite: the semantics are the same.
#include "server/store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <new>
#include <thread>

#include "server/migrations.h"
#include "support/postgres_server.h"
#include "support/store_test_peer.h"
#include "support/temp_dir.h"

namespace tscale {
namespace {

constexpr int64_t kNow = 1'000'000;

enum class Backend { kSqlite, kPostgresql };

std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "Sqlite" : "Postgresql";
}

class StoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kPostgresql) {
      if (!testing::PostgresAvailable()) GTEST_SKIP() << testing::PostgresUnavailableMessage();
      testing::PostgresServer* server = testing::SharedPostgresServer();
      ASSERT_NE(server, nullptr);
      auto uri = server->CreateFreshDatabase("store");
      ASSERT_TRUE(uri.ok()) << uri.status().ToString();
      target_ = *uri;
    } else {
      target_ = dir_.File("tscale.db");
    }
    Reopen();
  }
  bool postgres() const { return GetParam() == Backend::kPostgresql; }

  void Reopen(StoreOptions options = {}) {
    store_.reset();
    auto opened = Store::Open(target_, options);
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
  std::string target_;  // the SQLite file or the PostgreSQL URI
  std::unique_ptr<Store> store_;
};

TEST_P(StoreTest, FreshDatabaseHasLatestSchema) {
  EXPECT_EQ(store_->schema_version(), LatestSchemaVersion());
  EXPECT_EQ(store_->schema_version(), 7);
}

TEST_P(StoreTest, LeaseCompleteAndQuery) {
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
  EXPECT_EQ(status->outcome_counts().at("OUTCOME_OK"), 1);
  EXPECT_FALSE(status->done());

  ResultFilter filter;
  filter.sweep_id = sweep;
  filter.include_samples = true;
  auto page = store_->ListJobs(filter);
  ASSERT_TRUE(page.ok());
  const auto& jobs = page->jobs;
  ASSERT_EQ(jobs.size(), 3u);
  const auto& first = jobs[0];
  EXPECT_EQ(first.state(), v1::JOB_STATE_FINISHED);
  EXPECT_DOUBLE_EQ(first.result().latency().median_ms(), 12.5);
  ASSERT_EQ(first.result().samples_ms_size(), 3);
  EXPECT_DOUBLE_EQ(first.result().samples_ms(2), 13.5);
  EXPECT_EQ(first.result().worker_id(), "w1");
}

// Samples are stored many rows per statement: every one comes back, in order and bit-exact, across the batches.
TEST_P(StoreTest, HundredsOfSamplesComeBackInOrderAndExact) {
  const int64_t sweep = Submit(1);
  ASSERT_TRUE(store_->RegisterWorker("w1", Cpu(), kNow).ok());
  v1::Lease lease = Claim("w1");
  v1::Result result = Ok(5);
  result.clear_samples_ms();
  for (int i = 0; i < 251; ++i) result.add_samples_ms(1.0 / 3.0 + i * 1e-9 + (i == 7 ? 1e300 : 0));
  ASSERT_TRUE(store_->CompleteJob("w1", lease.attempt_id(), result, kNow + 1).ok());
  ResultFilter filter;
  filter.sweep_id = sweep;
  filter.include_samples = true;
  auto page = store_->ListJobs(filter);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->jobs.size(), 1u);
  const auto& stored = page->jobs[0].result().samples_ms();
  ASSERT_EQ(stored.size(), 251);
  for (int i = 0; i < 251; ++i) EXPECT_EQ(stored[i], result.samples_ms(i)) << "sample " << i;
}

TEST_P(StoreTest, CompletionIsIdempotentPerAttempt) {
  Submit(1);
  ASSERT_TRUE(store_->RegisterWorker("w1", Cpu(), kNow).ok());
  v1::Lease lease = Claim("w1");
  ASSERT_TRUE(store_->CompleteJob("w1", lease.attempt_id(), Ok(10), kNow).ok());
  auto again = store_->CompleteJob("w1", lease.attempt_id(), Ok(99), kNow + 1);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->duplicate);
  EXPECT_DOUBLE_EQ(again->stored.latency().median_ms(), 10);  // the first result stands
}

TEST_P(StoreTest, ExpiredLeaseRequeuesAndStaleAttemptIsAborted) {
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
  auto page = store_->ListJobs(filter);
  ASSERT_TRUE(page.ok());
  const auto& jobs = page->jobs;
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].attempts(), 2);
  EXPECT_EQ(jobs[0].result().attempt_id(), second.attempt_id());
}

TEST_P(StoreTest, HeartbeatKeepsLeaseAlive) {
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

TEST_P(StoreTest, JobEndsLostPastAttemptCap) {
  StoreOptions options;
  options.max_attempts = 2;
  Reopen(options);
  Submit(1);
  ASSERT_TRUE(store_->RegisterWorker("w1", Cpu(), kNow).ok());
  int64_t now = kNow;
  Claim("w1", now);
  now += options.lease_ms + 1;
  v1::Lease last = Claim("w1", now);
  now += options.lease_ms + 1;
  auto expired = store_->ExpireLeases(now);
  ASSERT_TRUE(expired.ok());
  EXPECT_EQ(*expired, 1);
  auto page = store_->ListJobs({});
  ASSERT_TRUE(page.ok());
  const auto& jobs = page->jobs;
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].state(), v1::JOB_STATE_FINISHED);
  EXPECT_EQ(jobs[0].result().outcome(), v1::OUTCOME_LOST);
  EXPECT_NE(jobs[0].result().message().find("cap 2"), std::string::npos);
  // The `lost` result names the last attempt, but that attempt produced nothing: its completion is stale.
  EXPECT_EQ(store_->CompleteJob("w1", last.attempt_id(), Ok(1), now).status().code(), Status::Code::kAborted);
}

TEST_P(StoreTest, RoutingWaitsForMatchingWorker) {
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

TEST_P(StoreTest, UnregisteredWorkerCannotClaim) {
  Submit(1);
  EXPECT_EQ(store_->ClaimJob("ghost", kNow).status().code(), Status::Code::kNotFound);
}

TEST_P(StoreTest, ResultsSurviveReopen) {
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

TEST_P(StoreTest, NewerSchemaIsRefusedAndLeftUntouched) {
  Submit(1);
  store_.reset();
  {
    sql::Database db;
    ASSERT_TRUE(db.Open(target_).ok());
    ASSERT_TRUE(db.Exec(postgres() ? "UPDATE tscale_schema SET version = 99" : "PRAGMA user_version = 99").ok());
  }
  auto opened = Store::Open(target_);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(opened.status().message().find("version 99"), std::string::npos);
  sql::Database db;
  ASSERT_TRUE(db.Open(target_).ok());
  sql::Statement count(db, "SELECT COUNT(*) FROM jobs");
  ASSERT_TRUE(count.Step());
  EXPECT_EQ(count.ColumnInt(0), 1);
}

}  // namespace
}  // namespace tscale

namespace tscale {
namespace {

TEST_P(StoreTest, WorkerRestartRequeuesItsJobAndQuarantinesRepeatOffenders) {
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

  auto page = store_->ListJobs({});
  ASSERT_TRUE(page.ok());
  const auto& jobs = page->jobs;
  ASSERT_EQ(jobs.size(), 1u);
  const auto& result = jobs[0].result();
  EXPECT_EQ(result.outcome(), v1::OUTCOME_LOST);
  EXPECT_TRUE(result.quarantined());
  EXPECT_NE(result.message().find("quarantined: 2 workers restarted"), std::string::npos) << result.message();
}

TEST_P(StoreTest, CancelQueuedAndRunningJobs) {
  const int64_t sweep = Submit(3);
  ASSERT_TRUE(store_->RegisterWorker("w1", Cpu(), kNow).ok());
  v1::Lease running = Claim("w1");
  auto cancelled = store_->Cancel(sweep, 0, kNow + 1);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status().ToString();
  EXPECT_EQ(*cancelled, 3);
  // The running attempt is revoked at its next heartbeat; its fencing token is void, so its late completion is
  // refused (ABORTED, which the worker takes as final), not acknowledged as a duplicate of the cancel.
  auto hb = store_->Heartbeat("w1", {running.attempt_id()}, kNow + 2);
  ASSERT_TRUE(hb.ok());
  EXPECT_EQ(*hb, std::vector<int64_t>{running.attempt_id()});
  auto late = store_->CompleteJob("w1", running.attempt_id(), Ok(1), kNow + 3);
  EXPECT_EQ(late.status().code(), Status::Code::kAborted);
  EXPECT_NE(late.status().message().find("ended cancelled"), std::string::npos) << late.status().ToString();
  auto kept = store_->ListJobs({});
  ASSERT_TRUE(kept.ok());
  for (const auto& job : kept->jobs) EXPECT_EQ(job.result().outcome(), v1::OUTCOME_CANCELLED);
  // Nothing is left to claim, and cancelling again touches nothing.
  auto none = store_->ClaimJob("w1", kNow + 4);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_EQ(*store_->Cancel(sweep, 0, kNow + 5), 0);
  auto status = store_->GetSweepStatus(sweep, kNow + 5);
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(status->done());
  EXPECT_EQ(status->outcome_counts().at("OUTCOME_CANCELLED"), 3);
}

TEST_P(StoreTest, CancelUnknownIsNotFound) {
  const int64_t sweep = Submit(1);
  EXPECT_EQ(store_->Cancel(sweep + 1, 0, kNow).status().code(), Status::Code::kNotFound);
  EXPECT_EQ(store_->Cancel(sweep, 999, kNow).status().code(), Status::Code::kNotFound);
}

TEST_P(StoreTest, EventsRecordEveryTransitionInOrder) {
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

TEST_P(StoreTest, MetricsOfAStaleAttemptAreRefused) {
  Submit(1);
  ASSERT_TRUE(store_->RegisterWorker("w1", Cpu(), kNow).ok());
  v1::Lease lease = Claim("w1");
  ASSERT_TRUE(store_->ExpireLeases(kNow + store_->options().lease_ms + 1).ok());
  v1::MetricEvent metric;
  metric.set_attempt_id(lease.attempt_id());
  EXPECT_EQ(store_->RecordMetric("w1", metric, kNow).code(), Status::Code::kAborted);
  EXPECT_EQ(store_->RecordMetric("w2", metric, kNow).code(), Status::Code::kAborted);
}

TEST_P(StoreTest, RestartGivesLiveLeasesOneFullPeriod) {
  Submit(1);
  ASSERT_TRUE(store_->RegisterWorker("w1", Cpu(), kNow).ok());
  ASSERT_TRUE(store_->RegisterWorker("w2", Cpu(), kNow).ok());
  Claim("w1", kNow);
  const int64_t lease_ms = store_->options().lease_ms;
  // The server was down past the lease's expiry; on restart the worker gets a full period to heartbeat.
  const int64_t restart = kNow + 2 * lease_ms;
  store_.reset();
  auto reopened = Store::Open(target_, {}, restart);
  ASSERT_TRUE(reopened.ok());
  store_ = std::move(reopened).value();
  auto early = store_->ClaimJob("w2", restart + lease_ms - 1);
  ASSERT_TRUE(early.ok());
  EXPECT_FALSE(early->has_value());
  auto late = store_->ClaimJob("w2", restart + lease_ms + 1);
  ASSERT_TRUE(late.ok());
  EXPECT_TRUE(late->has_value());
}

TEST_P(StoreTest, WaitingReasonsNameUnservedRequirements) {
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

namespace tscale {

namespace {

v1::WorkerCapabilities Gpu(int64_t device_memory_bytes) {
  v1::WorkerCapabilities caps;
  caps.set_device_kind(v1::DEVICE_KIND_CUDA);
  caps.set_device_memory_bytes(device_memory_bytes);
  caps.set_ram_bytes(8LL << 30);
  return caps;
}

// A claim used to examine only the first 512 queued jobs: enough GPU-only work ahead starved a CPU worker.
TEST_P(StoreTest, RoutingFindsAMatchingJobBehindManyItCannotRun) {
  v1::Requirements cuda;
  cuda.set_device_kind(v1::DEVICE_KIND_CUDA);
  const int64_t gpu_sweep = Submit(600, cuda);
  v1::Requirements cpu;
  cpu.set_device_kind(v1::DEVICE_KIND_CPU);
  const int64_t cpu_sweep = Submit(1, cpu);

  ASSERT_TRUE(store_->RegisterWorker("cpu", Cpu(), kNow).ok());
  v1::Lease lease = Claim("cpu");
  EXPECT_EQ(lease.job().sweep_id(), cpu_sweep);
  EXPECT_EQ(lease.job().requirements().device_kind(), v1::DEVICE_KIND_CPU);
  auto none = store_->ClaimJob("cpu", kNow);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  // A GPU worker still gets the oldest job it can run.
  ASSERT_TRUE(store_->RegisterWorker("gpu", Gpu(80LL << 30), kNow).ok());
  v1::Lease gpu = Claim("gpu");
  EXPECT_EQ(gpu.job().sweep_id(), gpu_sweep);
  auto page = store_->ListJobs({});
  ASSERT_TRUE(page.ok());
  ASSERT_FALSE(page->jobs.empty());
  EXPECT_EQ(gpu.job().job_id(), page->jobs[0].spec().job_id());
}

TEST_P(StoreTest, RoutingByMinimumDeviceMemory) {
  v1::Requirements big_gpu;
  big_gpu.set_device_kind(v1::DEVICE_KIND_CUDA);
  big_gpu.set_min_device_memory_bytes(40LL << 30);
  const int64_t gpu_sweep = Submit(1, big_gpu);
  v1::Requirements big_host;  // on a CPU worker the device memory is its RAM
  big_host.set_device_kind(v1::DEVICE_KIND_CPU);
  big_host.set_min_device_memory_bytes(16LL << 30);
  const int64_t host_sweep = Submit(1, big_host);

  ASSERT_TRUE(store_->RegisterWorker("small-gpu", Gpu(24LL << 30), kNow).ok());
  ASSERT_TRUE(store_->RegisterWorker("small-cpu", Cpu(), kNow).ok());  // 8 GiB of RAM
  for (const char* worker : {"small-gpu", "small-cpu"}) {
    auto none = store_->ClaimJob(worker, kNow);
    ASSERT_TRUE(none.ok());
    EXPECT_FALSE(none->has_value()) << worker << " has too little memory";
  }
  auto waiting = store_->GetSweepStatus(gpu_sweep, kNow);
  ASSERT_TRUE(waiting.ok());
  ASSERT_EQ(waiting->waiting_reasons_size(), 1);
  EXPECT_NE(waiting->waiting_reasons(0).find("device memory >= 40960 MiB"), std::string::npos)
      << waiting->waiting_reasons(0);

  ASSERT_TRUE(store_->RegisterWorker("big-gpu", Gpu(80LL << 30), kNow).ok());
  EXPECT_EQ(Claim("big-gpu").job().sweep_id(), gpu_sweep);
  v1::WorkerCapabilities big_cpu = Cpu();
  big_cpu.set_ram_bytes(64LL << 30);
  ASSERT_TRUE(store_->RegisterWorker("big-cpu", big_cpu, kNow).ok());
  EXPECT_EQ(Claim("big-cpu").job().sweep_id(), host_sweep);
}

// A write body that throws used to unwind through the group commit: the transaction stayed open and the
// writer queue kept a dead entry at its front, so every later write waited forever.
TEST_P(StoreTest, ThrowingWriteFailsAloneAndLaterWritesProceed) {
  using namespace std::chrono_literals;
  Status thrown;
  bool escaped = false;
  try {
    thrown = StoreTestPeer::Write(*store_, [&]() -> Status {
      sql::Statement insert(StoreTestPeer::Db(*store_),
                            "INSERT INTO sweeps(name, spec, created_ms) VALUES('half-written', ?, 1)");
      EXPECT_TRUE(insert.BindBlob(1, "").Run().ok());
      throw std::bad_alloc();
    });
  } catch (...) {
    escaped = true;
  }
  EXPECT_FALSE(escaped) << "the exception left Store::Write";
  EXPECT_EQ(thrown.code(), Status::Code::kInternal);

  // The next write runs (on another thread, so a stuck queue fails the test instead of hanging it).
  std::packaged_task<int64_t()> next([this] { return Submit(1); });
  std::future<int64_t> sweep = next.get_future();
  std::thread(std::move(next)).detach();
  if (sweep.wait_for(20s) != std::future_status::ready) {
    ADD_FAILURE() << "a write after the throwing one never finished";
    (void)store_.release();  // a thread is blocked inside it: leak it rather than destroy it under that thread
    return;
  }
  EXPECT_GT(sweep.get(), 0);
  // What the throwing body wrote was rolled back.
  auto sweeps = store_->ListSweeps(10, kNow);
  ASSERT_TRUE(sweeps.ok());
  ASSERT_EQ(sweeps->size(), 1u);
  EXPECT_EQ((*sweeps)[0].name(), "test sweep");
}

TEST_P(StoreTest, MetricEventsPerAttemptAreCapped) {
  EXPECT_EQ(StoreOptions().max_metric_events_per_attempt, 10'000);
  StoreOptions options;
  options.max_metric_events_per_attempt = 3;
  Reopen(options);
  const int64_t sweep = Submit(1);
  ASSERT_TRUE(store_->RegisterWorker("w1", Cpu(), kNow).ok());
  v1::Lease lease = Claim("w1");
  v1::MetricEvent metric;
  metric.set_attempt_id(lease.attempt_id());
  metric.set_phase("measuring");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store_->RecordMetric("w1", metric, kNow + i).ok());
  auto before = store_->ReadEvents(sweep, 0, 100);
  ASSERT_TRUE(before.ok());

  Status refused = store_->RecordMetric("w1", metric, kNow + 10);
  EXPECT_EQ(refused.code(), Status::Code::kResourceExhausted);
  EXPECT_NE(refused.message().find("3 progress events"), std::string::npos) << refused.ToString();
  // Nothing was stored, and the attempt itself is unharmed: it still completes.
  auto after = store_->ReadEvents(sweep, 0, 100);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->size(), before->size());
  EXPECT_TRUE(store_->CompleteJob("w1", lease.attempt_id(), Ok(1), kNow + 11).ok());
}

TEST_P(StoreTest, ListJobsPagesAreBoundedAndResumable) {
  Submit(5);
  ASSERT_TRUE(store_->RegisterWorker("w1", Cpu(), kNow).ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store_->CompleteJob("w1", Claim("w1").attempt_id(), Ok(5), kNow).ok());

  // By count: pages of two, the cursor leading from one to the next, every job exactly once.
  ResultFilter filter;
  filter.limit = 2;
  std::vector<int64_t> seen;
  std::vector<size_t> sizes;
  do {
    auto page = store_->ListJobs(filter);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    sizes.push_back(page->jobs.size());
    for (const auto& job : page->jobs) seen.push_back(job.spec().job_id());
    filter.after_job_id = page->next_after_job_id;
  } while (filter.after_job_id != 0 && sizes.size() < 10);
  EXPECT_EQ(sizes, (std::vector<size_t>{2, 2, 1}));
  ASSERT_EQ(seen.size(), 5u);
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_GT(seen[i], seen[i - 1]);

  // A limit of 0 is the default page, not "everything".
  filter = ResultFilter();
  filter.limit = 0;
  auto all = store_->ListJobs(filter);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->jobs.size(), 5u);
  EXPECT_EQ(all->next_after_job_id, 0);

  // By samples: three per finished job, four per page, so one job per page; a page always holds one job.
  filter = ResultFilter();
  filter.include_samples = true;
  filter.max_samples = 4;
  auto by_samples = store_->ListJobs(filter);
  ASSERT_TRUE(by_samples.ok());
  ASSERT_EQ(by_samples->jobs.size(), 1u);
  EXPECT_EQ(by_samples->jobs[0].result().samples_ms_size(), 3);
  EXPECT_EQ(by_samples->next_after_job_id, by_samples->jobs[0].spec().job_id());

  // By bytes: the same.
  filter = ResultFilter();
  filter.max_bytes = 1;
  auto by_bytes = store_->ListJobs(filter);
  ASSERT_TRUE(by_bytes.ok());
  EXPECT_EQ(by_bytes->jobs.size(), 1u);
  EXPECT_NE(by_bytes->next_after_job_id, 0);
}

// A wall-finder sweep of one model in two repetitions: the planner's first probes, as PlanSweep makes them.
int64_t SubmitWallSearch(Store* store, int repetitions) {
  std::vector<PlannedJob> planned;
  for (int rep = 0; rep < repetitions; ++rep) {
    PlannedJob job;
    job.category = "Test";
    job.spec.set_model_id("m");
    job.spec.set_seq_len(128);
    job.spec.set_batch_size(1);
    job.spec.set_repetition(rep);
    job.spec.mutable_wall()->set_start_length(128);
    job.spec.mutable_wall()->set_max_length(4096);
    job.spec.mutable_wall()->set_resolution(64);
    planned.push_back(job);
  }
  v1::SweepSpec spec;
  spec.set_find_wall(true);
  auto id = store->CreateSweep(spec, planned, kNow);
  EXPECT_TRUE(id.ok()) << id.status().ToString();
  return id.ok() ? *id : 0;
}

std::vector<std::pair<int, int>> Lengths(Store* store, int64_t sweep) {  // (repetition, length) by job id
  ResultFilter filter;
  filter.sweep_id = sweep;
  auto page = store->ListJobs(filter);
  EXPECT_TRUE(page.ok());
  std::vector<std::pair<int, int>> out;
  for (const auto& job : page->jobs) out.emplace_back(job.spec().repetition(), job.spec().seq_len());
  return out;
}

TEST_P(StoreTest, WallSearchCreatesEachNextProbeInTheCompletionsTransactionExactlyOnce) {
  const int64_t sweep = SubmitWallSearch(store_.get(), 1);
  ASSERT_TRUE(store_->RegisterWorker("w1", Cpu(), kNow).ok());
  // The model works up to 300 tokens: 128, 256 ok; 512 oom; then 384 oom, 320 oom (bracket [256, 320]).
  std::vector<int> seen;
  for (int step = 0; step < 10; ++step) {
    auto lease = store_->ClaimJob("w1", kNow + step);
    ASSERT_TRUE(lease.ok());
    if (!lease->has_value()) break;
    const int len = (*lease)->job().seq_len();
    EXPECT_TRUE((*lease)->job().has_wall());
    seen.push_back(len);
    v1::Result result = len <= 300 ? Ok(len / 10.0) : v1::Result();
    if (len > 300) result.set_outcome(v1::OUTCOME_OOM);
    ASSERT_TRUE(store_->CompleteJob("w1", (*lease)->attempt_id(), result, kNow + step).ok());
    // A repeated completion (the worker's outbox retrying) is a duplicate and creates no probe.
    auto again = store_->CompleteJob("w1", (*lease)->attempt_id(), result, kNow + step);
    ASSERT_TRUE(again.ok());
    EXPECT_TRUE(again->duplicate);
  }
  EXPECT_EQ(seen, (std::vector<int>{128, 256, 512, 384, 320}));
  auto lengths = Lengths(store_.get(), sweep);
  EXPECT_EQ(lengths.size(), 5u);  // one job per probe, none twice
  auto status = store_->GetSweepStatus(sweep, kNow + 20);
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(status->done());
  EXPECT_EQ(status->total_jobs(), 5);
  // The probes survive a reopen: the search state is nothing but these rows.
  Reopen();
  EXPECT_EQ(Lengths(store_.get(), sweep).size(), 5u);
}

TEST_P(StoreTest, WallSearchesOfRepetitionsAreIndependentAndCancelStopsThem) {
  const int64_t sweep = SubmitWallSearch(store_.get(), 2);
  ASSERT_TRUE(store_->RegisterWorker("w1", Cpu(), kNow).ok());
  v1::Lease first = Claim("w1");
  ASSERT_TRUE(store_->CompleteJob("w1", first.attempt_id(), Ok(1), kNow + 1).ok());
  // Repetition 0 moved on to 256; repetition 1 still waits at 128.
  auto lengths = Lengths(store_.get(), sweep);
  ASSERT_EQ(lengths.size(), 3u);
  EXPECT_EQ(lengths[2], std::make_pair(first.job().repetition(), 256));
  v1::Lease running = Claim("w1", kNow + 2);
  auto cancelled = store_->Cancel(sweep, 0, kNow + 3);
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(*cancelled, 2);  // the running probe and the queued one; no probe follows a cancelled one
  EXPECT_EQ(Lengths(store_.get(), sweep).size(), 3u);
  auto status = store_->GetSweepStatus(sweep, kNow + 4);
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(status->done());
  auto none = store_->ClaimJob("w1", kNow + 5);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  (void)running;
}

}  // namespace
}  // namespace tscale

namespace tscale {
namespace {

int64_t CountSweepsNamed(Store& store, const std::string& name) {
  sql::Statement count(StoreTestPeer::Db(store), "SELECT COUNT(*) FROM sweeps WHERE name=?");
  count.Bind(1, name);
  return count.Step() ? count.ColumnInt(0) : -1;
}

// PostgreSQL only: the connection dies inside a write's transaction (a failover, an administrator ending the
// session). That write fails; nothing of it is stored; the store goes on, reads and writes, on a new connection,
// instead of refusing to reconnect for good because it still believed a transaction open.
TEST_P(StoreTest, AConnectionLostInsideAWriteFailsThatWriteAndTheStoreGoesOn) {
  if (!postgres()) GTEST_SKIP() << "a SQLite file has no connection to lose";
  const Status lost = StoreTestPeer::Write(*store_, [&]() -> Status {
    sql::Statement insert(StoreTestPeer::Db(*store_),
                          "INSERT INTO sweeps(name, spec, created_ms) VALUES('half-written', ?, 1)");
    EXPECT_TRUE(insert.BindBlob(1, "").Run().ok());
    sql::Statement kill(StoreTestPeer::Db(*store_), "SELECT pg_terminate_backend(pg_backend_pid())");
    return kill.Run();
  });
  EXPECT_FALSE(lost.ok());
  auto sweeps = store_->ListSweeps(10, kNow);
  ASSERT_TRUE(sweeps.ok()) << "a read after the loss: " << sweeps.status().ToString();
  EXPECT_TRUE(sweeps->empty()) << "the lost write's insert was committed";
  PlannedJob job;
  job.spec.set_model_id("m");
  job.spec.set_seq_len(8);
  job.spec.set_batch_size(1);
  auto sweep = store_->CreateSweep(v1::SweepSpec(), {job}, kNow);
  if (!sweep.ok()) sweep = store_->CreateSweep(v1::SweepSpec(), {job}, kNow);  // may meet the lost connection once
  ASSERT_TRUE(sweep.ok()) << sweep.status().ToString();
  ASSERT_TRUE(store_->RegisterWorker("w1", Cpu(), kNow).ok());
  EXPECT_GT(Claim("w1").attempt_id(), 0);
}

// A failed write whose savepoint cannot be rolled back (here the body closed it itself, so ROLLBACK TO finds no
// savepoint) used to commit its partial changes with the group. Now the whole group fails and nothing is stored,
// including the changes of a good write that shared the group.
TEST_P(StoreTest, FailedSavepointRollbackFailsTheWholeGroup) {
  using namespace std::chrono_literals;
  std::promise<void> release_leader;
  std::shared_future<void> leader_may_finish = release_leader.get_future().share();
  std::atomic<bool> leader_running{false};
  // The leader's group holds only itself; the two writes queued while it runs share the next group.
  std::thread leader([&] {
    StoreTestPeer::Write(*store_, [&]() -> Status {
      leader_running = true;
      leader_may_finish.wait();
      return Status::Ok();
    });
  });
  while (!leader_running) std::this_thread::sleep_for(1ms);
  Status broken, good;
  std::thread broken_writer([&] {
    broken = StoreTestPeer::Write(*store_, [&]() -> Status {
      sql::Statement insert(StoreTestPeer::Db(*store_),
                            "INSERT INTO sweeps(name, spec, created_ms) VALUES('half-written', ?, 1)");
      EXPECT_TRUE(insert.BindBlob(1, "").Run().ok());
      EXPECT_TRUE(StoreTestPeer::Db(*store_).Exec("RELEASE write_op").ok());
      return Status::Internal("the body failed after writing");
    });
  });
  std::this_thread::sleep_for(200ms);  // queued first
  std::thread good_writer([&] {
    good = StoreTestPeer::Write(*store_, [&]() -> Status {
      sql::Statement insert(StoreTestPeer::Db(*store_),
                            "INSERT INTO sweeps(name, spec, created_ms) VALUES('good', ?, 1)");
      return insert.BindBlob(1, "").Run();
    });
  });
  std::this_thread::sleep_for(200ms);  // queued second, behind the broken one
  release_leader.set_value();
  leader.join();
  broken_writer.join();
  good_writer.join();

  EXPECT_EQ(broken.code(), Status::Code::kInternal);
  EXPECT_EQ(good.code(), Status::Code::kInternal) << "shared the group: rolled back with it";
  EXPECT_NE(good.message().find("whole group"), std::string::npos) << good.ToString();
  EXPECT_EQ(CountSweepsNamed(*store_, "half-written"), 0);
  EXPECT_EQ(CountSweepsNamed(*store_, "good"), 0);
  // The store goes on: the next write commits.
  EXPECT_GT(Submit(1), 0);
}

}  // namespace
}  // namespace tscale

namespace tscale {
namespace {

// A worker with two slots dies twice while running two jobs. Only the newer job of each death could have taken it
// down; the older one merely ran beside it. It used to be quarantined all the same ("a job that kills workers").
TEST_P(StoreTest, WorkerDeathCountsOnlyAgainstItsNewestJobAndTheVerdictListsTheDeaths) {
  StoreOptions options;
  options.max_attempts = 5;
  Reopen(options);
  Submit(2);
  ASSERT_TRUE(store_->RegisterWorker("w1", Cpu(), kNow).ok());
  const int64_t older = Claim("w1", kNow).job().job_id();
  const int64_t newer = Claim("w1", kNow + 100).job().job_id();
  ASSERT_TRUE(store_->RegisterWorker("w1", Cpu(), kNow + 3'100).ok());  // died 3 s into the newer job
  // Requeued: the older job is claimed first again, so the newer one is again the newest process.
  EXPECT_EQ(Claim("w1", kNow + 4'000).job().job_id(), older);
  EXPECT_EQ(Claim("w1", kNow + 4'100).job().job_id(), newer);
  ASSERT_TRUE(store_->RegisterWorker("w1", Cpu(), kNow + 6'100).ok());

  auto page = store_->ListJobs({});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->jobs.size(), 2u);
  const auto& first = page->jobs[0].spec().job_id() == older ? page->jobs[0] : page->jobs[1];
  const auto& second = page->jobs[0].spec().job_id() == newer ? page->jobs[0] : page->jobs[1];
  EXPECT_EQ(first.state(), v1::JOB_STATE_QUEUED) << first.result().message();
  EXPECT_FALSE(first.result().quarantined());
  ASSERT_EQ(second.state(), v1::JOB_STATE_FINISHED);
  const auto& verdict = second.result();
  EXPECT_EQ(verdict.outcome(), v1::OUTCOME_LOST);
  EXPECT_TRUE(verdict.quarantined());
  EXPECT_NE(verdict.message().find("quarantined: 2 workers restarted"), std::string::npos) << verdict.message();
  // The evidence: each death with its time and how far into the attempt it came.
  EXPECT_NE(verdict.message().find("worker \"w1\" restarted at 1970-01-01T00:16:43.100Z, 3.0000 s into attempt"),
            std::string::npos)
      << verdict.message();
  EXPECT_NE(verdict.message().find("1970-01-01T00:16:46.100Z, 2.0000 s"), std::string::npos) << verdict.message();
  EXPECT_NE(verdict.message().find("(counted: its newest job)"), std::string::npos) << verdict.message();

  // The older job's next death, now as the only job on the worker, counts; with the earlier two uncounted it
  // is still one short of the threshold, and its `lost`-by-cap verdict would list all three.
  v1::Lease alone = Claim("w1", kNow + 7'000);
  EXPECT_EQ(alone.job().job_id(), older);
  ASSERT_TRUE(store_->RegisterWorker("w1", Cpu(), kNow + 8'000).ok());
  auto after = store_->ListJobs({});
  ASSERT_TRUE(after.ok());
  for (const auto& job : after->jobs)
    if (job.spec().job_id() == older) EXPECT_EQ(job.state(), v1::JOB_STATE_QUEUED);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values(Backend::kSqlite, Backend::kPostgresql), BackendName);

}  // namespace
}  // namespace tscale
