// Copying a SQLite store into PostgreSQL (server/store_copy.h, tscale-server --copy-from): a real SQLite file with
// content made through the Store API, copied into a real PostgreSQL server (tests/support/postgres_server.h) with
// an empty database per test, then read back through the Store API on the PostgreSQL side.
#include "server/store_copy.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "common/file_io.h"
#include "server/migrations.h"
#include "server/sql.h"
#include "server/store.h"
#include "support/postgres_server.h"
#include "support/temp_dir.h"

namespace tscale {
namespace {

constexpr int64_t kNow = 1'000'000;
const char* const kTables[] = {"sweeps",   "model_configs", "jobs",    "workers",
                               "attempts", "results",       "samples", "events"};

v1::WorkerCapabilities Cpu(std::vector<std::string> labels = {}) {
  v1::WorkerCapabilities caps;
  caps.set_device_kind(v1::DEVICE_KIND_CPU);
  caps.set_ram_bytes(8LL << 30);
  caps.set_hostname("host-" + std::to_string(labels.size()));
  for (auto& label : labels) caps.add_labels(label);
  return caps;
}

v1::Result Measured(double median, int samples) {
  v1::Result result;
  result.set_outcome(v1::OUTCOME_OK);
  result.mutable_latency()->set_median_ms(median);
  result.set_tokens_per_second(1000.5);
  result.set_parameter_count(123456);
  result.set_load_time_ms(42.25);
  result.mutable_memory()->set_peak_rss_bytes(1LL << 30);
  for (int i = 0; i < samples; ++i) result.add_samples_ms(median + 0.001 * i);
  return result;
}

std::vector<PlannedJob> Jobs(int count, const std::string& config_json = "") {
  std::vector<PlannedJob> planned;
  for (int i = 0; i < count; ++i) {
    PlannedJob job;
    job.category = i % 2 ? "Decoder" : "Encoder";
    job.spec.set_model_id(i % 2 ? "gpt" : "bert");
    job.spec.set_model_config_json(config_json.empty() ? (i % 2 ? R"({"layers": 2, "hidden": 64})"
                                                                : R"({"layers": 4, "hidden": 128, "name": "bért"})")
                                                       : config_json);
    job.spec.set_seq_len(128 << (i % 3));
    job.spec.set_batch_size(1 + i % 2);
    job.spec.set_dtype(v1::DTYPE_FP32);
    planned.push_back(job);
  }
  return planned;
}

template <typename Message>
std::string Text(const std::vector<Message>& messages) {
  std::string text;
  for (const auto& message : messages) text += message.ShortDebugString() + "\n";
  return text;
}

class StoreCopyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::PostgresAvailable()) GTEST_SKIP() << testing::PostgresUnavailableMessage();
    server_ = testing::SharedPostgresServer();
    ASSERT_NE(server_, nullptr);
    source_ = dir_.File("old.db");
  }

  std::string NewDatabase() {
    auto uri = server_->CreateFreshDatabase("copy");
    EXPECT_TRUE(uri.ok()) << uri.status().ToString();
    return uri.ok() ? *uri : "";
  }

  static std::unique_ptr<Store> OpenStore(const std::string& target) {
    auto opened = Store::Open(target);
    EXPECT_TRUE(opened.ok()) << opened.status().ToString();
    return opened.ok() ? std::move(opened).value() : nullptr;
  }

  static int64_t Count(const std::string& target, const std::string& sql_text) {
    sql::Database db;
    Status opened = db.Open(target);
    EXPECT_TRUE(opened.ok()) << opened.ToString();
    if (!opened.ok()) return -1;
    sql::Statement count(db, sql_text.c_str());
    EXPECT_TRUE(count.Step()) << count.status().ToString();
    return count.ColumnInt(0);
  }

  // Every table's row count.
  static std::map<std::string, int64_t> Counts(const std::string& target) {
    std::map<std::string, int64_t> counts;
    for (const char* table : kTables) counts[table] = Count(target, std::string("SELECT COUNT(*) FROM ") + table);
    return counts;
  }

  // What the Store API shows of a database: every job with its samples, every sweep's status and events, every
  // worker, as text (ShortDebugString: map fields in key order).
  static std::string Everything(Store& store, int64_t now) {
    std::string text;
    ResultFilter filter;
    filter.include_samples = true;
    auto jobs = store.ListJobs(filter);
    EXPECT_TRUE(jobs.ok()) << jobs.status().ToString();
    if (jobs.ok()) text += "jobs:\n" + Text(jobs->jobs);
    auto sweeps = store.ListSweeps(100, now);
    EXPECT_TRUE(sweeps.ok()) << sweeps.status().ToString();
    if (!sweeps.ok()) return text;
    text += "sweeps:\n" + Text(*sweeps);
    for (const auto& listed : *sweeps) {
      auto status = store.GetSweepStatus(listed.sweep_id(), now);
      EXPECT_TRUE(status.ok()) << status.status().ToString();
      if (status.ok()) text += "status:\n" + status->ShortDebugString() + "\n";
      auto events = store.ReadEvents(listed.sweep_id(), 0, 100'000);
      EXPECT_TRUE(events.ok()) << events.status().ToString();
      if (events.ok()) text += "events:\n" + Text(*events);
    }
    auto workers = store.ListWorkers();
    EXPECT_TRUE(workers.ok()) << workers.status().ToString();
    if (workers.ok()) text += "workers:\n" + Text(*workers);
    auto states = store.CountJobsByState();
    EXPECT_TRUE(states.ok()) << states.status().ToString();
    if (states.ok())
      for (const auto& [state, count] : *states) text += state + "=" + std::to_string(count) + "\n";
    return text;
  }

  testing::TempDir dir_;
  testing::PostgresServer* server_ = nullptr;
  std::string source_;
};

TEST_F(StoreCopyTest, CopiesEveryRowWithItsIdsAndNewRowsFollowThem) {
  auto old_store = OpenStore(source_);
  ASSERT_NE(old_store, nullptr);
  Store& old = *old_store;
  ASSERT_TRUE(old.RegisterWorker("w1", Cpu(), kNow, "instance-1").ok());
  ASSERT_TRUE(old.RegisterWorker("w2", Cpu({"lab"}), kNow, "instance-2").ok());
  v1::SweepSpec first_spec;
  first_spec.set_name("first");
  first_spec.add_models("bert");
  auto first = old.CreateSweep(first_spec, Jobs(4), kNow);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  v1::SweepSpec second_spec;
  second_spec.set_name("second");
  auto second = old.CreateSweep(second_spec, Jobs(2), kNow);
  ASSERT_TRUE(second.ok()) << second.status().ToString();

  // Job 1: measured, with progress reports and samples. Job 2: still running on w2. Job 3: released back to the
  // queue. Job 4 and the second sweep: cancelled.
  auto lease1 = old.ClaimJob("w1", kNow + 1);
  ASSERT_TRUE(lease1.ok() && lease1->has_value());
  v1::MetricEvent metric;
  metric.set_attempt_id((*lease1)->attempt_id());
  metric.set_phase("measuring");
  metric.set_iterations_done(3);
  metric.set_last_latency_ms(12.5);
  ASSERT_TRUE(old.RecordMetric("w1", metric, kNow + 2).ok());
  auto done = old.CompleteJob("w1", (*lease1)->attempt_id(), Measured(12.5, 7), kNow + 3);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  auto lease2 = old.ClaimJob("w2", kNow + 4);
  ASSERT_TRUE(lease2.ok() && lease2->has_value());
  ASSERT_TRUE(old.Heartbeat("w2", {(*lease2)->attempt_id()}, kNow + 5).ok());
  auto lease3 = old.ClaimJob("w1", kNow + 6);
  ASSERT_TRUE(lease3.ok() && lease3->has_value());
  ASSERT_TRUE(old.ReleaseAttempt("w1", (*lease3)->attempt_id(), "draining", kNow + 7).ok());
  ASSERT_EQ(old.Cancel(*first, (*lease3)->job().job_id() + 1, kNow + 8).value(), 1);
  ASSERT_EQ(old.Cancel(*second, 0, kNow + 9).value(), 2);

  const int64_t now = kNow + 10;
  const std::string before = Everything(old, now);
  const std::map<std::string, int64_t> source_counts = Counts(source_);
  EXPECT_EQ(source_counts.at("samples"), 7);
  EXPECT_EQ(source_counts.at("model_configs"), 2);

  // The old server's store stays open, as a still-running server's would.
  const std::string target = NewDatabase();
  auto report = CopySqliteToPostgresql(source_, target);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(report->tables.size(), std::size(kTables));
  for (size_t i = 0; i < report->tables.size(); ++i) {
    EXPECT_EQ(report->tables[i].name, kTables[i]);
    EXPECT_EQ(report->tables[i].rows, source_counts.at(kTables[i])) << kTables[i];
  }
  EXPECT_GT(report->seconds, 0);
  EXPECT_EQ(Counts(target), source_counts);

  auto copy_store = OpenStore(target);
  ASSERT_NE(copy_store, nullptr);
  Store& copy = *copy_store;
  EXPECT_EQ(copy.schema_version(), LatestSchemaVersion());
  EXPECT_EQ(Everything(copy, now), before);
  EXPECT_EQ(Everything(old, now), before);  // the source is read, never written

  // The running lease goes on against the new store: same attempt id, same fencing.
  ASSERT_TRUE(copy.Heartbeat("w2", {(*lease2)->attempt_id()}, now + 1).ok());
  auto completed = copy.CompleteJob("w2", (*lease2)->attempt_id(), Measured(20, 3), now + 2);
  ASSERT_TRUE(completed.ok()) << completed.status().ToString();

  // New rows get ids past the copied ones in every table with an identity id.
  const int64_t max_job = Count(source_, "SELECT MAX(id) FROM jobs");
  const int64_t max_attempt = Count(source_, "SELECT MAX(id) FROM attempts");
  const int64_t max_event = Count(source_, "SELECT MAX(id) FROM events");
  v1::SweepSpec third_spec;
  third_spec.set_name("third");
  auto third = copy.CreateSweep(third_spec, Jobs(2, R"({"layers": 8})"), now + 3);
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  EXPECT_GT(*third, *second);
  ResultFilter of_third;
  of_third.sweep_id = *third;
  auto third_jobs = copy.ListJobs(of_third);
  ASSERT_TRUE(third_jobs.ok());
  ASSERT_EQ(third_jobs->jobs.size(), 2u);
  EXPECT_GT(third_jobs->jobs[0].spec().job_id(), max_job);
  EXPECT_EQ(third_jobs->jobs[0].spec().model_config_json(), R"({"layers": 8})");
  EXPECT_EQ(Count(target, "SELECT MAX(id) FROM model_configs"), 3);
  auto lease = copy.ClaimJob("w1", now + 4);
  ASSERT_TRUE(lease.ok() && lease->has_value()) << lease.status().ToString();
  EXPECT_GT((*lease)->attempt_id(), max_attempt);
  auto events = copy.ReadEvents((*lease)->job().sweep_id(), 0, 100);
  ASSERT_TRUE(events.ok());
  ASSERT_FALSE(events->empty());
  EXPECT_EQ(events->back().attempt_id(), (*lease)->attempt_id());
  EXPECT_GT(events->back().event_id(), max_event);
}

TEST_F(StoreCopyTest, ANonEmptyTargetIsRefusedNamingTheTableAndKeepsItsRows) {
  {
    auto old = OpenStore(source_);
    ASSERT_NE(old, nullptr);
    ASSERT_TRUE(old->CreateSweep(v1::SweepSpec(), Jobs(3), kNow).ok());
  }

  // Only a worker on the target: the table named is workers.
  const std::string with_worker = NewDatabase();
  {
    auto store = OpenStore(with_worker);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->RegisterWorker("already-here", Cpu(), kNow).ok());
  }
  auto refused = CopySqliteToPostgresql(source_, with_worker);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kFailedPrecondition) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("table workers already has 1 row"), std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find("empty PostgreSQL database"), std::string::npos);

  // A sweep of two jobs on the target: refused at the first table, and the target is as it was.
  const std::string with_sweep = NewDatabase();
  std::string before;
  std::map<std::string, int64_t> counts_before;
  {
    auto store = OpenStore(with_sweep);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->CreateSweep(v1::SweepSpec(), Jobs(2), kNow).ok());
    before = Everything(*store, kNow);
    counts_before = Counts(with_sweep);
  }
  refused = CopySqliteToPostgresql(source_, with_sweep);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kFailedPrecondition) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("table sweeps already has 1 row"), std::string::npos)
      << refused.status().message();
  EXPECT_EQ(Counts(with_sweep), counts_before);
  auto store = OpenStore(with_sweep);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(Everything(*store, kNow), before);
}

TEST_F(StoreCopyTest, AMissingOrForeignSourceIsAnErrorNamingItAndCreatesNothing) {
  const std::string target = NewDatabase();
  const std::string missing = dir_.File("no-such.db");
  auto copied = CopySqliteToPostgresql(missing, target);
  ASSERT_FALSE(copied.ok());
  EXPECT_EQ(copied.status().code(), Status::Code::kNotFound) << copied.status().ToString();
  EXPECT_NE(copied.status().message().find(missing), std::string::npos) << copied.status().message();
  EXPECT_FALSE(std::filesystem::exists(missing));

  // An empty file (a mistyped path a shell created, say) is no tscale database: it is not given a schema.
  const std::string empty = dir_.File("empty.db");
  std::ofstream(empty).close();
  copied = CopySqliteToPostgresql(empty, target);
  ASSERT_FALSE(copied.ok());
  EXPECT_EQ(copied.status().code(), Status::Code::kFailedPrecondition) << copied.status().ToString();
  EXPECT_NE(copied.status().message().find(empty), std::string::npos) << copied.status().message();
  EXPECT_EQ(std::filesystem::file_size(empty), 0u);

  const std::string text = dir_.File("notes.txt");
  std::ofstream(text) << "not a database, but long enough to have a header of one: " << std::string(200, 'x');
  copied = CopySqliteToPostgresql(text, target);
  ASSERT_FALSE(copied.ok());
  EXPECT_NE(copied.status().message().find(text), std::string::npos) << copied.status().message();

  // Nothing reached the target: not even the schema.
  EXPECT_EQ(Count(target, "SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema()"), 0);

  // And a target that is no PostgreSQL URI is refused before anything is opened.
  copied = CopySqliteToPostgresql(missing, dir_.File("other.db"));
  EXPECT_EQ(copied.status().code(), Status::Code::kInvalidArgument) << copied.status().ToString();
}

TEST_F(StoreCopyTest, ACountMismatchRollsTheWholeCopyBack) {
  {
    auto old = OpenStore(source_);
    ASSERT_NE(old, nullptr);
    ASSERT_TRUE(old->RegisterWorker("w1", Cpu(), kNow).ok());
    ASSERT_TRUE(old->CreateSweep(v1::SweepSpec(), Jobs(2), kNow).ok());
    auto lease = old->ClaimJob("w1", kNow);
    ASSERT_TRUE(lease.ok() && lease->has_value());
    ASSERT_TRUE(old->CompleteJob("w1", (*lease)->attempt_id(), Measured(5, 10), kNow).ok());
  }
  // The target silently drops one sample row on insert (as a broken replica or a stray trigger might).
  const std::string target = NewDatabase();
  ASSERT_NE(OpenStore(target), nullptr);
  {
    sql::Database db;
    ASSERT_TRUE(db.Open(target).ok());
    ASSERT_TRUE(db.Exec("CREATE FUNCTION drop_one_sample() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                        "IF NEW.idx = 4 THEN RETURN NULL; END IF; RETURN NEW; END $$; "
                        "CREATE TRIGGER drop_one_sample BEFORE INSERT ON samples FOR EACH ROW "
                        "EXECUTE FUNCTION drop_one_sample()")
                    .ok());
  }
  auto copied = CopySqliteToPostgresql(source_, target);
  ASSERT_FALSE(copied.ok());
  EXPECT_NE(copied.status().message().find("table samples does not match"), std::string::npos)
      << copied.status().ToString();
  EXPECT_NE(copied.status().message().find("rolled back"), std::string::npos) << copied.status().ToString();
  for (const auto& [table, rows] : Counts(target)) EXPECT_EQ(rows, 0) << table;
}

TEST_F(StoreCopyTest, AnOlderSourceIsUpgradedFirst) {
  auto fixture = ReadWholeFile(TSCALE_TEST_SCHEMA_V6);
  ASSERT_TRUE(fixture.ok()) << fixture.status().ToString();
  const std::string config = R"({"layers": 3})";
  {
    sql::Database v6;
    ASSERT_TRUE(v6.Open(source_).ok());
    ASSERT_TRUE(v6.Exec(*fixture).ok());
    ASSERT_TRUE(v6.Exec("INSERT INTO sweeps(id, name, spec, created_ms) VALUES(1, 'old', x'', 5)").ok());
    v1::JobSpec spec;
    spec.set_sweep_id(1);
    spec.set_model_id("tiny");
    spec.set_model_config_json(config);
    spec.set_seq_len(16);
    spec.set_batch_size(1);
    sql::Statement job(v6,
                       "INSERT INTO jobs(id, sweep_id, model_id, seq_len, batch_size, dtype, attention, spec, state, "
                       "created_ms, updated_ms, requirements) VALUES(1, 1, 'tiny', 16, 1, 1, 1, ?, ?, 5, 5, x'')");
    ASSERT_TRUE(job.BindBlob(1, spec.SerializeAsString()).Bind(2, static_cast<int>(v1::JOB_STATE_QUEUED)).Run().ok());
  }
  const std::string target = NewDatabase();
  auto copied = CopySqliteToPostgresql(source_, target);
  ASSERT_TRUE(copied.ok()) << copied.status().ToString();
  EXPECT_EQ(Count(source_, "PRAGMA user_version"), LatestSchemaVersion());
  auto store = OpenStore(target);
  ASSERT_NE(store, nullptr);
  auto jobs = store->ListJobs({});
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->jobs.size(), 1u);
  EXPECT_EQ(jobs->jobs[0].spec().model_config_json(), config);
}

// 10,000 samples (20 measured jobs of 500) and the rows around them: checks the counts, and prints the rate.
TEST_F(StoreCopyTest, TenThousandSamples) {
  constexpr int kJobs = 20, kSamples = 500;
  {
    auto old = OpenStore(source_);
    ASSERT_NE(old, nullptr);
    ASSERT_TRUE(old->RegisterWorker("w1", Cpu(), kNow).ok());
    ASSERT_TRUE(old->CreateSweep(v1::SweepSpec(), Jobs(kJobs), kNow).ok());
    for (int i = 0; i < kJobs; ++i) {
      auto lease = old->ClaimJob("w1", kNow);
      ASSERT_TRUE(lease.ok() && lease->has_value());
      ASSERT_TRUE(old->CompleteJob("w1", (*lease)->attempt_id(), Measured(5 + i, kSamples), kNow).ok());
    }
  }
  const std::string target = NewDatabase();
  auto copied = CopySqliteToPostgresql(source_, target);
  ASSERT_TRUE(copied.ok()) << copied.status().ToString();
  int64_t rows = 0;
  for (const auto& table : copied->tables) rows += table.rows;
  EXPECT_EQ(Count(target, "SELECT COUNT(*) FROM samples"), kJobs * kSamples);
  EXPECT_EQ(Counts(target), Counts(source_));
  std::cout << "copied " << rows << " rows (" << kJobs * kSamples << " samples) in " << copied->seconds
            << " s: " << static_cast<int64_t>(rows / copied->seconds) << " rows/s\n";
}

}  // namespace
}  // namespace tscale
