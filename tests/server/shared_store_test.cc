// Two Store objects on one PostgreSQL database, as two coordinators have: claims on one and completions on the
// other, the lease reaper running in both at once, cancels across, and a watch cursor that must never pass an
// event another store commits later. Real PostgreSQL (tests/support/postgres_server.h).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "server/migrations.h"
#include "server/postgres_connection.h"
#include "server/store.h"
#include "support/postgres_server.h"

namespace tscale {
namespace {

using Clock = std::chrono::steady_clock;

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class SharedStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::PostgresAvailable()) GTEST_SKIP() << testing::PostgresUnavailableMessage();
    testing::PostgresServer* server = testing::SharedPostgresServer();
    ASSERT_NE(server, nullptr);
    auto uri = server->CreateFreshDatabase("shared");
    ASSERT_TRUE(uri.ok()) << uri.status().ToString();
    uri_ = *uri;
  }

  std::unique_ptr<Store> Open(StoreOptions options = {}) {
    auto opened = Store::Open(uri_, options, WallMs());
    EXPECT_TRUE(opened.ok()) << opened.status().ToString();
    return opened.ok() ? std::move(opened).value() : nullptr;
  }

  static int64_t Submit(Store& store, int jobs) {
    std::vector<PlannedJob> planned;
    for (int i = 0; i < jobs; ++i) {
      PlannedJob job;
      job.spec.set_model_id("m");
      job.spec.set_seq_len(8 + i);
      job.spec.set_batch_size(1);
      job.spec.set_model_config_json("{\"layers\": 2}");
      planned.push_back(job);
    }
    v1::SweepSpec spec;
    spec.set_name("shared");
    auto id = store.CreateSweep(spec, planned, WallMs());
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : 0;
  }

  static v1::WorkerCapabilities Cpu() {
    v1::WorkerCapabilities caps;
    caps.set_device_kind(v1::DEVICE_KIND_CPU);
    caps.set_ram_bytes(8LL << 30);
    return caps;
  }

  static v1::Result Ok() {
    v1::Result r;
    r.set_outcome(v1::OUTCOME_OK);
    r.mutable_latency()->set_median_ms(1);
    r.add_samples_ms(1);
    return r;
  }

  // Every row of the events of `sweep` as (id, job, attempt, state) through `store`.
  static std::vector<std::tuple<int64_t, int64_t, int64_t, int>> Events(Store& store, int64_t sweep,
                                                                        int64_t after = 0) {
    std::vector<std::tuple<int64_t, int64_t, int64_t, int>> out;
    while (true) {
      auto page = store.ReadEvents(sweep, after, 500);
      EXPECT_TRUE(page.ok()) << page.status().ToString();
      if (!page.ok() || page->empty()) break;
      for (const auto& e : *page) {
        out.emplace_back(e.event_id(), e.job_id(), e.attempt_id(), static_cast<int>(e.state()));
        after = e.event_id();
      }
    }
    return out;
  }

  using Event = std::tuple<int64_t, int64_t, int64_t, int>;
  struct WatchedSweep {
    std::vector<Event> seen;  // what the polling reader saw, in order
    std::vector<Event> all;   // every event of the sweep, read at the end
    int errors = 0;
    int64_t shared_commits[2] = {0, 0};
  };

  // `workers` workers, spread over two stores, claim and complete a sweep of `jobs` (each first reporting progress
  // once when `progress`), while a reader on the first store polls its events from a cursor as a watch stream does,
  // until the sweep is done and a last read finds nothing new.
  WatchedSweep RunWatched(int jobs, int workers, bool progress) {
    WatchedSweep out;
    auto a = Open(), b = Open();
    if (!a || !b) return out;
    const int64_t sweep = Submit(*a, jobs);
    std::atomic<bool> stop{false};
    std::atomic<int> errors{0};
    std::vector<std::thread> threads;
    Store* stores[2] = {a.get(), b.get()};
    for (int w = 0; w < workers; ++w) {
      threads.emplace_back([&, w] {
        Store& store = *stores[w % 2];
        const std::string id = "writer" + std::to_string(w);
        if (!store.RegisterWorker(id, Cpu(), WallMs()).ok()) ++errors;
        while (!stop) {
          auto lease = store.ClaimJob(id, WallMs());
          if (!lease.ok()) {
            ++errors;
            continue;
          }
          if (!lease->has_value()) break;
          if (progress) {
            v1::MetricEvent metric;
            metric.set_attempt_id((*lease)->attempt_id());
            metric.set_phase("measuring");
            if (!store.RecordMetric(id, metric, WallMs()).ok()) ++errors;
          }
          if (!store.CompleteJob(id, (*lease)->attempt_id(), Ok(), WallMs()).ok()) ++errors;
        }
      });
    }
    int64_t cursor = 0;
    auto poll = [&] {
      auto page = a->ReadEvents(sweep, cursor, 50);
      EXPECT_TRUE(page.ok()) << page.status().ToString();
      if (!page.ok()) return;
      for (const auto& e : *page) {
        out.seen.emplace_back(e.event_id(), e.job_id(), e.attempt_id(), static_cast<int>(e.state()));
        cursor = e.event_id();
      }
    };
    for (auto deadline = Clock::now() + std::chrono::seconds(90); Clock::now() < deadline;) {
      poll();
      auto status = b->GetSweepStatus(sweep, WallMs());
      if (status.ok() && status->done()) break;
    }
    stop = true;
    for (auto& t : threads) t.join();
    for (size_t before = 0;;) {  // the tail, until a read finds nothing new
      before = out.seen.size();
      poll();
      if (out.seen.size() == before) break;
    }
    out.all = Events(*b, sweep);
    out.errors = errors.load();
    out.shared_commits[0] = a->write_stats().shared_commits;
    out.shared_commits[1] = b->write_stats().shared_commits;
    return out;
  }

  std::string uri_;
};

// Four workers, two on each store, claim on theirs and complete on the other; one claim in eight is abandoned (a
// crash), so its lease expires and one of the two reapers, both running all along, requeues it. Every job ends
// with exactly one result, completed by the attempt the job last leased, and no attempt stays live.
TEST_F(SharedStoreTest, ClaimsCompletionsAndReapersAcrossTwoStoresLoseAndDuplicateNothing) {
  StoreOptions options;
  options.lease_ms = 300;
  options.max_attempts = 100;
  auto a = Open(options), b = Open(options);
  ASSERT_TRUE(a && b);
  constexpr int kJobs = 120;
  const int64_t sweep = Submit(*a, kJobs);
  Store* stores[2] = {a.get(), b.get()};
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0}, abandoned{0}, duplicates{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      Store& claim_on = *stores[w % 2];
      Store& complete_on = *stores[(w + 1) % 2];
      const std::string id = "w" + std::to_string(w);
      if (!claim_on.RegisterWorker(id, Cpu(), WallMs()).ok()) ++errors;
      std::mt19937 rng(static_cast<unsigned>(w));
      while (!stop) {
        auto lease = claim_on.ClaimJob(id, WallMs());
        if (!lease.ok()) {
          ++errors;
          continue;
        }
        if (!lease->has_value()) {
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
          continue;
        }
        if (rng() % 8 == 0) {  // crashed: never completes; the lease expires
          ++abandoned;
          continue;
        }
        auto done = complete_on.CompleteJob(id, (*lease)->attempt_id(), Ok(), WallMs());
        if (!done.ok() && done.status().code() != Status::Code::kAborted) ++errors;
        if (done.ok() && done->duplicate) ++duplicates;
      }
    });
  }
  for (Store* store : stores) {
    threads.emplace_back([&, store] {
      while (!stop) {
        if (!store->ExpireLeases(WallMs()).ok()) ++errors;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  }
  const auto give_up = Clock::now() + std::chrono::seconds(90);
  while (Clock::now() < give_up) {
    auto status = b->GetSweepStatus(sweep, WallMs());
    if (status.ok() && status->done()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  stop = true;
  for (auto& t : threads) t.join();

  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(duplicates.load(), 0);
  EXPECT_GT(abandoned.load(), 0) << "no lease was abandoned: the reapers were not exercised";
  auto status = a->GetSweepStatus(sweep, WallMs());
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(status->done());
  EXPECT_EQ(status->finished(), kJobs);
  ASSERT_EQ(status->outcome_counts().count("OUTCOME_OK"), 1u);
  EXPECT_EQ(status->outcome_counts().at("OUTCOME_OK"), kJobs);

  sql::Database db;
  ASSERT_TRUE(db.Open(uri_).ok());
  sql::Statement truth(db,
                       "SELECT (SELECT COUNT(*) FROM results), (SELECT COUNT(DISTINCT job_id) FROM results), "
                       "(SELECT COUNT(*) FROM attempts WHERE ended_ms IS NULL), "
                       "(SELECT COUNT(*) FROM results r JOIN attempts a ON a.id = r.attempt_id "
                       " WHERE a.job_id = r.job_id AND a.end_reason = 'completed'), "
                       "(SELECT COUNT(*) FROM attempts WHERE end_reason = 'completed'), "
                       "(SELECT COUNT(*) FROM attempts WHERE end_reason = 'expired')");
  ASSERT_TRUE(truth.Step()) << truth.status().ToString();
  EXPECT_EQ(truth.ColumnInt(0), kJobs);
  EXPECT_EQ(truth.ColumnInt(1), kJobs);
  EXPECT_EQ(truth.ColumnInt(2), 0) << "an attempt was left live";
  EXPECT_EQ(truth.ColumnInt(3), kJobs) << "each result comes from a completed attempt of its own job";
  EXPECT_EQ(truth.ColumnInt(4), kJobs) << "one completed attempt per job";
  EXPECT_GE(truth.ColumnInt(5), abandoned.load()) << "every abandoned lease was reaped";

  // Both stores list the same events, every job's in a valid order.
  EXPECT_EQ(Events(*a, sweep), Events(*b, sweep));
  // Claims and completions ran as shared groups (beside the other store's), not only under the writer lock.
  EXPECT_GT(a->write_stats().shared_commits, 0);
  EXPECT_GT(b->write_stats().shared_commits, 0);
}

// A watch resumes from the last event id it has seen. With writers on two stores, a lower id committed after a
// higher one would be skipped for good; the writer lock (server/postgres_connection.h) makes id order commit order.
// A reader that polls through one store while both write must see, in the end, exactly the full list. Here each
// job also reports progress (a write that runs exclusively), so shared and exclusive groups interleave.
TEST_F(SharedStoreTest, AWatchCursorNeverPassesAnEventTheOtherStoreCommitsLater) {
  const WatchedSweep run = RunWatched(/*jobs=*/150, /*workers=*/2, /*progress=*/true);
  EXPECT_EQ(run.errors, 0);
  EXPECT_EQ(run.all.size(), 150u * 4) << "leased, running, progress and finished per job";
  EXPECT_EQ(run.seen, run.all) << "the polling cursor skipped or reordered events";
}

// Claims and completions only, two workers on each store: their groups run side by side (WriteMode::kShared), each
// drawing its event ids only in its tail, under the commit-order lock. A reader polling one store all along must
// still see exactly the full list, and every job's LEASED, RUNNING, FINISHED in that order.
TEST_F(SharedStoreTest, AWatchCursorNeverPassesAnEventWhileSharedWritesRunSideBySide) {
  const WatchedSweep run = RunWatched(/*jobs=*/200, /*workers=*/4, /*progress=*/false);
  EXPECT_EQ(run.errors, 0);
  EXPECT_EQ(run.all.size(), 200u * 3) << "leased, running and finished per job";
  EXPECT_EQ(run.seen, run.all) << "the polling cursor skipped or reordered events";
  std::map<int64_t, std::vector<int>> states_per_job;
  for (const auto& [event, job, attempt, state] : run.all) states_per_job[job].push_back(state);
  const std::vector<int> expected = {v1::JOB_STATE_LEASED, v1::JOB_STATE_RUNNING, v1::JOB_STATE_FINISHED};
  for (const auto& [job, states] : states_per_job) EXPECT_EQ(states, expected) << "job " << job;
  EXPECT_GT(run.shared_commits[0], 0);
  EXPECT_GT(run.shared_commits[1], 0);
}

// Alone on its database a coordinator runs claims and completions exclusively (fewer statements than beside
// others); once a second one serves, it counts it within a second and shares.
TEST_F(SharedStoreTest, AStoreAloneWritesExclusivelyAndSharesOnceAnotherServes) {
  auto a = Open();
  ASSERT_TRUE(a);
  Submit(*a, 4);
  ASSERT_TRUE(a->RegisterWorker("w", Cpu(), WallMs()).ok());
  int64_t now = WallMs();
  auto claim_and_complete = [&](Store& store) {
    auto lease = store.ClaimJob("w", now);
    ASSERT_TRUE(lease.ok() && lease->has_value()) << lease.status().ToString();
    ASSERT_TRUE(store.CompleteJob("w", (*lease)->attempt_id(), Ok(), now).ok());
  };
  claim_and_complete(*a);
  now += 1001;  // past the next count
  claim_and_complete(*a);
  EXPECT_EQ(a->write_stats().shared_commits, 0) << "a store alone ran shared groups";
  auto b = Open();
  ASSERT_TRUE(b);
  now += 1001;
  claim_and_complete(*a);  // this claim counts two coordinators: the completion after it is shared
  EXPECT_GT(a->write_stats().shared_commits, 0) << "the second coordinator went unnoticed";
}

// A worker that retries its completion on the other coordinator while the first is still answering: both stores
// complete the same attempt at once. The completion locks its job before reading it, so one stores the result and
// the other answers it as the duplicate it is; neither fails, and each job keeps one result.
TEST_F(SharedStoreTest, OneAttemptCompletedThroughBothStoresAtOnceStoresOneResult) {
  auto a = Open(), b = Open();
  ASSERT_TRUE(a && b);
  constexpr int kJobs = 40;
  const int64_t sweep = Submit(*a, kJobs + 2);
  ASSERT_TRUE(a->RegisterWorker("twice", Cpu(), WallMs()).ok());
  // One job claimed and completed through each store first: each then counts the other (at its claim) and
  // shares, so the race below is between two shared completions.
  for (Store* store : {a.get(), b.get()}) {
    auto lease = store->ClaimJob("twice", WallMs());
    ASSERT_TRUE(lease.ok() && lease->has_value()) << lease.status().ToString();
    ASSERT_TRUE(store->CompleteJob("twice", (*lease)->attempt_id(), Ok(), WallMs()).ok());
  }
  const int64_t shared_before[2] = {a->write_stats().shared_commits, b->write_stats().shared_commits};
  int stored = 0, duplicates = 0, failures = 0;
  for (int i = 0; i < kJobs; ++i) {
    auto lease = a->ClaimJob("twice", WallMs());
    ASSERT_TRUE(lease.ok() && lease->has_value()) << lease.status().ToString();
    const int64_t attempt = (*lease)->attempt_id();
    std::atomic<int> ready{0};
    StatusOr<CompletionOutcome> outcomes[2] = {Status::Internal("not run"), Status::Internal("not run")};
    std::thread racers[2];
    for (int s = 0; s < 2; ++s) {
      racers[s] = std::thread([&, s] {
        Store& store = s == 0 ? *a : *b;
        ++ready;
        while (ready < 2) std::this_thread::yield();
        outcomes[s] = store.CompleteJob("twice", attempt, Ok(), WallMs());
      });
    }
    for (auto& racer : racers) racer.join();
    for (const auto& outcome : outcomes) {
      if (!outcome.ok())
        ++failures;
      else if (outcome->duplicate)
        ++duplicates;
      else
        ++stored;
    }
  }
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(stored, kJobs);
  EXPECT_EQ(duplicates, kJobs);
  EXPECT_GT(a->write_stats().shared_commits, shared_before[0]) << "store a's completions did not run shared";
  EXPECT_GT(b->write_stats().shared_commits, shared_before[1]) << "store b's completions did not run shared";
  auto status = b->GetSweepStatus(sweep, WallMs());
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(status->done());
  EXPECT_EQ(status->finished(), kJobs + 2);
  EXPECT_EQ(Events(*a, sweep).size(), static_cast<size_t>(kJobs + 2) * 3) << "one LEASED, RUNNING, FINISHED per job";
}

// A cancel through one store ends the lease a worker holds through the other: its heartbeat there reports the
// attempt gone, and its completion there is refused as stale.
TEST_F(SharedStoreTest, CancelOnOneStoreEndsALeaseHeldThroughTheOther) {
  auto a = Open(), b = Open();
  ASSERT_TRUE(a && b);
  const int64_t sweep = Submit(*a, 2);
  ASSERT_TRUE(a->RegisterWorker("w", Cpu(), WallMs()).ok());
  auto lease = a->ClaimJob("w", WallMs());
  ASSERT_TRUE(lease.ok() && lease->has_value());
  const int64_t attempt = (*lease)->attempt_id();

  auto cancelled = b->Cancel(sweep, 0, WallMs());
  ASSERT_TRUE(cancelled.ok()) << cancelled.status().ToString();
  EXPECT_EQ(*cancelled, 2);
  auto revoked = a->Heartbeat("w", {attempt}, WallMs());
  ASSERT_TRUE(revoked.ok());
  EXPECT_EQ(*revoked, std::vector<int64_t>{attempt});
  auto stale = a->CompleteJob("w", attempt, Ok(), WallMs());
  EXPECT_EQ(stale.status().code(), Status::Code::kAborted);
  auto status = a->GetSweepStatus(sweep, WallMs());
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(status->done());
  ASSERT_EQ(status->outcome_counts().count("OUTCOME_CANCELLED"), 1u);
  EXPECT_EQ(status->outcome_counts().at("OUTCOME_CANCELLED"), 2);
}

// The cross-coordinator wake-up: a commit's NOTIFY reaches a listener with its change mask; when the listener's
// connection is killed (a database restart, a failover) it wakes everything at once (the polling fallback),
// reconnects, and hears the next commit again.
TEST_F(SharedStoreTest, TheChangeListenerHearsCommitsAndRecoversFromALostConnection) {
  using namespace std::chrono_literals;
  auto a = Open();
  ASSERT_TRUE(a);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<unsigned> heard;
  sql::ChangeListener listener(uri_, [&](unsigned changes) {
    std::lock_guard lock(mu);
    heard.push_back(changes);
    cv.notify_all();
  });
  std::thread running([&] { listener.Run(); });
  auto wait_for = [&](size_t count) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 10s, [&] { return heard.size() >= count; });
  };
  ASSERT_TRUE(wait_for(1)) << "no wake-up when the listener first connected";
  EXPECT_EQ(heard[0], sql::kWorkQueued | sql::kEventsAppended) << "what happened before it listened is unknown";

  Submit(*a, 1);  // queues work, appends no event
  ASSERT_TRUE(wait_for(2)) << "the submit's NOTIFY never arrived";
  EXPECT_EQ(heard[1], sql::kWorkQueued);
  EXPECT_EQ(listener.received(), 1);

  sql::Database admin;
  ASSERT_TRUE(admin.Open(uri_).ok());
  sql::Statement kill(admin,
                      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND application_name = 'tscale-listener'");
  ASSERT_TRUE(kill.Step()) << kill.status().ToString() << ": no listening session to end";
  ASSERT_TRUE(wait_for(3)) << "no wake-up after the connection was lost";
  EXPECT_EQ(heard[2], sql::kWorkQueued | sql::kEventsAppended);

  ASSERT_TRUE(a->RegisterWorker("w", Cpu(), WallMs()).ok());
  auto lease = a->ClaimJob("w", WallMs());  // appends the leased event
  ASSERT_TRUE(lease.ok() && lease->has_value());
  ASSERT_TRUE(wait_for(4)) << "the listener did not hear commits after reconnecting";
  EXPECT_EQ(heard.back(), sql::kEventsAppended);
  listener.Stop();
  running.join();
}

// A coordinator that starts while another serves gives no lease grace (there was no outage: workers could
// heartbeat all along), so a dead worker's lease still expires on time; one that starts after all have stopped does.
TEST_F(SharedStoreTest, ALeaseGraceOnlyAfterEveryCoordinatorHadStopped) {
  StoreOptions options;
  options.lease_ms = 1000;
  const int64_t start = WallMs();
  auto a = Store::Open(uri_, options, start);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  Submit(**a, 1);
  ASSERT_TRUE((*a)->RegisterWorker("dead", Cpu(), start).ok());
  ASSERT_TRUE((*a)->RegisterWorker("alive", Cpu(), start).ok());
  auto lease = (*a)->ClaimJob("dead", start);
  ASSERT_TRUE(lease.ok() && lease->has_value());

  // B starts 5 s (logical) later while A serves: the dead worker's lease expired 4 s ago and stays expired.
  auto b = Store::Open(uri_, options, start + 5000);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  auto requeued = (*b)->ClaimJob("alive", start + 5001);
  ASSERT_TRUE(requeued.ok());
  ASSERT_TRUE(requeued->has_value()) << "B's start extended a lease another coordinator was serving";

  // Both stop; C starts after the outage: the live lease gets a full period again.
  a->reset();
  b->reset();
  auto c = Store::Open(uri_, options, start + 20000);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto early = (*c)->ClaimJob("dead", start + 20000 + options.lease_ms - 1);
  ASSERT_TRUE(early.ok());
  EXPECT_FALSE(early->has_value()) << "no grace after an outage of every coordinator";
  auto late = (*c)->ClaimJob("dead", start + 20000 + options.lease_ms + 1);
  ASSERT_TRUE(late.ok());
  EXPECT_TRUE(late->has_value()) << "the grace is one lease period, not more";
}

// A coordinator's connection lost between calls (a database restart, a failover, an administrator): reads go on
// at once (retried once on a new connection), a write fails at most once, and the new session holds the
// coordinator lock again, so another coordinator starting still sees this one serving.
TEST_F(SharedStoreTest, AStoreRecoversFromLosingItsConnection) {
  auto a = Open();
  ASSERT_TRUE(a);
  const int64_t sweep = Submit(*a, 2);
  sql::Database admin;
  ASSERT_TRUE(admin.Open(uri_).ok());
  auto end_store_sessions = [&] {
    sql::Statement kill(admin,
                        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = "
                        "current_database() AND application_name = 'tscale-server' AND pid <> pg_backend_pid()");
    EXPECT_TRUE(kill.Step()) << kill.status().ToString();
    EXPECT_GE(kill.ColumnInt(0), 1) << "no store session to end";
  };
  // The coordinator lock (kCoordinatorLockKey = classid, objid halves), held shared.
  auto coordinator_locks = [&] {
    sql::Statement held(admin,
                        "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND mode = 'ShareLock' AND "
                        "classid = ? AND objid = ?");
    held.Bind(1, static_cast<int64_t>(sql::kCoordinatorLockKey >> 32))
        .Bind(2, static_cast<int64_t>(sql::kCoordinatorLockKey & 0xffffffff));
    EXPECT_TRUE(held.Step()) << held.status().ToString();
    return held.ColumnInt(0);
  };
  EXPECT_EQ(coordinator_locks(), 1);

  end_store_sessions();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the backend exits
  auto status = a->GetSweepStatus(sweep, WallMs());
  ASSERT_TRUE(status.ok()) << "a read after the loss: " << status.status().ToString();
  EXPECT_EQ(status->total_jobs(), 2);
  EXPECT_EQ(coordinator_locks(), 1) << "the new session did not take the coordinator lock again";

  end_store_sessions();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  Status registered = a->RegisterWorker("w", Cpu(), WallMs()).status();
  if (!registered.ok()) registered = a->RegisterWorker("w", Cpu(), WallMs()).status();  // the one allowed failure
  ASSERT_TRUE(registered.ok()) << registered.ToString();
  auto lease = a->ClaimJob("w", WallMs());
  ASSERT_TRUE(lease.ok() && lease->has_value()) << lease.status().ToString();
  EXPECT_TRUE(a->CompleteJob("w", (*lease)->attempt_id(), Ok(), WallMs()).ok());
  EXPECT_EQ(coordinator_locks(), 1);
}

// Coordinators starting together on an empty database: one creates the schema, the others find it.
TEST_F(SharedStoreTest, StoresOpeningAnEmptyDatabaseTogetherCreateTheSchemaOnce) {
  std::vector<std::thread> openers;
  std::atomic<int> opened{0};
  std::vector<std::string> failures(4);
  for (int i = 0; i < 4; ++i) {
    openers.emplace_back([&, i] {
      auto store = Store::Open(uri_, {}, WallMs());
      if (store.ok() && (*store)->schema_version() == LatestSchemaVersion())
        ++opened;
      else
        failures[static_cast<size_t>(i)] = store.ok() ? "wrong version" : store.status().ToString();
    });
  }
  for (auto& t : openers) t.join();
  EXPECT_EQ(opened.load(), 4) << failures[0] << failures[1] << failures[2] << failures[3];
}

}  // namespace
}  // namespace tscale
