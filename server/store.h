// Store: the coordinator's durable state (sweeps, jobs, attempts, workers, results, samples) in one SQLite file
// or one PostgreSQL database (server/sql.h: the same logic over either backend; with PostgreSQL several
// coordinators share the database). Thread-safe: every method takes the store's lock, and every write runs in
// one exclusive transaction, so a crash leaves either all or none of an operation.
//
// Job lifecycle: QUEUED --claim--> LEASED --heartbeat--> RUNNING --complete--> FINISHED.
// An attempt row is created per lease; its id is the fencing token. Only the job's current attempt may
// heartbeat, report metrics for or complete it; anything else is ABORTED. A job has at most one result
// (primary key). An attempt ends when it completes, its lease expires, its worker re-registers (the daemon
// restarted, so the job took it down or it crashed), or its job is cancelled. An ended attempt's job goes
// back to the queue, unless it has had max_attempts leases (-> lost) or has taken quarantine_after workers
// down (-> lost, quarantined). Every transition is also appended to the events table, the watch stream.
// A completion is accepted as a duplicate only from the attempt that completed the job: an attempt whose job
// was cancelled or ended `lost` meanwhile gets ABORTED, like any other stale fencing token.
//
// Files: store.cc (open, routing match), store_writer.{h,cc} (the group-commit queue every write goes
// through), store_lifecycle.cc (the job lifecycle above), store_rows.cc (bulk inserts: jobs, configs, results),
// store_wall_search.cc (the wall finder's next probe, an explicit step of the completion), store_queries.cc (reads).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "server/sql.h"
#include "server/store_writer.h"
#include "tscale/v1/tscale.pb.h"

namespace tscale {

struct StoreOptions {
  int64_t lease_ms = 30'000;  // a lease lasts this long past its last heartbeat
  int max_attempts = 3;       // leases per job before it ends `lost`
  // Worker restarts during one job's attempts before it is quarantined; a restart counts against the newest
  // attempt the worker held only (see Store::WorkerDeath).
  int quarantine_after = 2;
  int busy_timeout_ms = 10'000;
  int64_t worker_live_ms = 60'000;  // a worker not seen for this long does not count as live
  // Progress events one attempt may store; more are refused (RESOURCE_EXHAUSTED). At the runner's rate of
  // at most two a second this covers a job of more than an hour, and it bounds what a worker can write.
  int max_metric_events_per_attempt = 10'000;
};

// A job as planned at submit time: the spec plus what queries filter on.
struct PlannedJob {
  v1::JobSpec spec;
  std::string category;
};

struct ResultFilter {
  int64_t sweep_id = 0;
  std::string model_id;
  std::string category;
  int seq_len = 0;
  v1::Outcome outcome = v1::OUTCOME_UNSPECIFIED;
  v1::Workload workload = v1::WORKLOAD_UNSPECIFIED;  // UNSPECIFIED = every workload
  // Also the decode samples (Result.decode's ttft_samples_ms, step_ms, step_positions): like samples_ms they are
  // stored, and listed only when asked for.
  bool include_samples = false;
  // With include_samples: samples_ms only, the decode samples and train losses left out (as without it). The
  // budgets below count what is listed, so such a page holds more decode and train jobs.
  bool latency_samples_only = false;
  int64_t after_job_id = 0;  // page cursor: only jobs with a larger id
  // A page holds at most `limit` jobs, and ends early before the job that would take it past `max_samples`
  // samples or `max_bytes` serialized (a page always holds at least one job, so paging makes progress).
  int limit = 1000;
  int64_t max_samples = 1'000'000;
  int64_t max_bytes = 32 << 20;
};

struct JobPage {
  std::vector<v1::JobView> jobs;  // ordered by job id
  int64_t next_after_job_id = 0;  // non-zero when more jobs match: the cursor of the next page
};

struct RegisteredWorker {
  int64_t session = 0;
  int requeued_attempts = 0;  // live attempts of the previous session that were ended
};

struct CompletionOutcome {
  bool duplicate = false;  // the same attempt had completed before; `stored` is the first result
  v1::Result stored;
  bool queued_probe = false;  // the completion queued its wall search's next probe: claimers may wake for it
};

class Store {
 public:
  // Opens (creating or upgrading) the database: `path` is a SQLite file, or a postgresql:// URI (libpq's
  // connection URI; the password from PGPASSWORD or ~/.pgpass). Leases that were live when the previous server stopped
  // are extended to a full lease period from `now_ms`, so running workers can re-heartbeat.
  static StatusOr<std::unique_ptr<Store>> Open(const std::string& path, StoreOptions options = {}, int64_t now_ms = 0);

  ~Store();

  int schema_version() const { return schema_version_; }
  const StoreOptions& options() const { return options_; }

  // Stores the sweep and all its jobs in one transaction; returns the sweep id.
  StatusOr<int64_t> CreateSweep(const v1::SweepSpec& spec, std::vector<PlannedJob> jobs, int64_t now_ms);

  // Records the worker and starts a new session of it; attempts of its previous session end. ALREADY_EXISTS
  // when `instance_id` is not empty and differs from the previous session's while that session is live (seen
  // within options().worker_live_ms): another daemon holds the worker id.
  StatusOr<RegisteredWorker> RegisterWorker(const std::string& worker_id, const v1::WorkerCapabilities& caps,
                                            int64_t now_ms, const std::string& instance_id = "");

  // Leases the oldest queued job this worker can run, or returns nullopt. Expired leases are requeued
  // first. NOT_FOUND when the worker never registered.
  StatusOr<std::optional<v1::Lease>> ClaimJob(const std::string& worker_id, int64_t now_ms);

  // Extends the leases of the worker's live attempts; returns the ids that are no longer live.
  StatusOr<std::vector<int64_t>> Heartbeat(const std::string& worker_id, const std::vector<int64_t>& attempt_ids,
                                           int64_t now_ms);

  // Records the result of an attempt. Idempotent per attempt; ABORTED for a stale attempt.
  StatusOr<CompletionOutcome> CompleteJob(const std::string& worker_id, int64_t attempt_id, v1::Result result,
                                          int64_t now_ms);

  // Ends a live attempt without a result at the worker's request and requeues its job. The release does not
  // count towards max_attempts. ABORTED when the attempt is not the worker's live one.
  Status ReleaseAttempt(const std::string& worker_id, int64_t attempt_id, const std::string& reason, int64_t now_ms);

  // Records a runner progress report as an event; ABORTED when the attempt is not the job's live one,
  // RESOURCE_EXHAUSTED past options().max_metric_events_per_attempt (nothing is stored then).
  Status RecordMetric(const std::string& worker_id, const v1::MetricEvent& metric, int64_t now_ms);

  // Cancels one job (job_id > 0) or every unfinished job of a sweep: each gets a `cancelled` result and its
  // live attempt ends (the worker learns it at its next heartbeat). Returns how many jobs were cancelled.
  StatusOr<int> Cancel(int64_t sweep_id, int64_t job_id, int64_t now_ms);

  // Events of a sweep with id > after_event_id, oldest first, at most `limit`.
  StatusOr<std::vector<v1::SweepEvent>> ReadEvents(int64_t sweep_id, int64_t after_event_id, int limit);

  // Requeues jobs whose lease expired (or ends them `lost` past max_attempts); returns how many.
  StatusOr<int> ExpireLeases(int64_t now_ms);

  StatusOr<v1::SweepStatus> GetSweepStatus(int64_t sweep_id, int64_t now_ms);
  StatusOr<std::vector<v1::SweepStatus>> ListSweeps(int limit, int64_t now_ms);
  // One page of the jobs that match `filter` (see ResultFilter for the bounds).
  StatusOr<JobPage> ListJobs(const ResultFilter& filter);
  StatusOr<std::vector<v1::WorkerView>> ListWorkers();
  StatusOr<std::map<std::string, int>> CountJobsByState();
  // How well writes group into commits (GetServerStatus reports it; bench/load_test.cc prints it).
  GroupCommitStats write_stats() const { return writer_.stats(); }

  // A worker restart that ended one of a job's attempts. `counted` when the attempt was the newest one live on
  // that worker session: only those count towards quarantine_after.
  struct WorkerDeath {
    int64_t attempt_id = 0;
    std::string worker_id;
    int64_t leased_ms = 0, ended_ms = 0;
    bool counted = false;
  };

 private:
  friend class StoreTestPeer;  // tests/support/store_test_peer.h: tests drive Write directly
  explicit Store(StoreOptions options) : options_(options) {}

  // Runs `body` through the group-commit queue (server/store_writer.h).
  Status Write(const std::function<Status()>& body) { return writer_.Write(body); }
  StatusOr<int> ExpireLeasesLocked(int64_t now_ms);
  // The (job, attempt) of every lease in `live` (kLiveLeasesSql's rows) past its expiry at `now_ms`; notes when
  // the next one can lapse.
  StatusOr<std::vector<std::pair<int64_t, int64_t>>> LapsedLeasesLocked(sql::Statement& live, int64_t now_ms);
  StatusOr<std::vector<WorkerDeath>> WorkerDeathsLocked(int64_t job_id);
  // Ends a live attempt for `reason` and requeues, loses or quarantines its job.
  Status EndAttemptLocked(int64_t job_id, int64_t attempt_id, const std::string& reason, int64_t now_ms,
                          bool counts_against_cap = true);
  StatusOr<v1::SweepStatus> SweepStatusLocked(int64_t sweep_id, int64_t now_ms);
  Status WaitingReasonsLocked(int64_t sweep_id, int64_t now_ms, v1::SweepStatus* status);
  // What inserting many jobs in one write shares: the distinct model configs met so far by their JSON (a sweep of
  // thousands of jobs over a few models looks each config up once). Scoped to one Write body, so a config id never
  // outlives a rolled-back insert.
  struct JobInsertion {
    std::map<std::string, int64_t> config_ids;
  };
  // The id of `json` in model_configs, inserting it when it is new (content-addressed by its UNIQUE text).
  StatusOr<int64_t> ConfigIdLocked(const std::string& json, JobInsertion* insertion);
  // Inserts jobs[0..count) in one statement. With `job_id` (and count 1), sets it to the new job's id.
  Status InsertJobsLocked(int64_t sweep_id, PlannedJob* jobs, size_t count, int64_t now_ms, JobInsertion* insertion,
                          int64_t* job_id = nullptr);
  // Stores a job's result and marks it finished; it does not advance a wall search (the caller does).
  Status InsertResultLocked(int64_t job_id, const v1::Result& result, int64_t now_ms);
  // For a wall-finder probe that just completed: creates its search's next probe, if any, in the completion's
  // transaction, so each probe exists exactly once (docs/wall-finder.md). Called by CompleteJob only: a
  // cancelled or lost probe stops its search, so those paths have no next probe to create.
  // Returns whether a probe was queued.
  StatusOr<bool> AdvanceWallSearchLocked(int64_t job_id, int64_t now_ms);
  // The RUNNING event of a LEASED job, and (`update_state`) the state; a completion, which sets FINISHED next,
  // needs only the event (one update of the job row fewer).
  Status MarkRunningLocked(int64_t job_id, int64_t attempt_id, const std::string& worker_id, int64_t now_ms,
                           bool update_state = true);
  // The job of `attempt_id` while it is a live lease of `worker_id` (the job's current attempt, not ended, held by
  // that worker); nullopt otherwise.
  StatusOr<std::optional<int64_t>> LiveLeaseJobLocked(const std::string& worker_id, int64_t attempt_id);
  // LiveLeaseJobLocked, with ABORTED naming the attempt and worker when it is not a live lease.
  StatusOr<int64_t> RequireLiveLeaseLocked(const std::string& worker_id, int64_t attempt_id);
  // `attempt_id` kCurrentAttempt: the job's current attempt as the database has it when the insert runs (a lease
  // whose attempt id is still in flight in the pipeline: sql.h's "round trips").
  static constexpr int64_t kCurrentAttempt = -1;
  Status AppendEventLocked(int64_t job_id, int64_t attempt_id, v1::JobState state, v1::Outcome outcome,
                           const std::string& detail, const v1::MetricEvent* metric, int64_t now_ms);

  StoreOptions options_;
  std::mutex mu_;  // guards db_: one statement sequence at a time
  sql::Database db_;
  GroupCommitQueue writer_{db_, mu_};
  // When the store last looked for lapsed leases; when a lease it then saw lapses (the earliest expiry, plus 1);
  // when it looks again regardless, for leases other coordinators grant; and whether a look it could not act on
  // (beside other writers) found lapsed leases. Written under mu_; read before a claim queues too (ClaimJob).
  std::atomic<int64_t> lapse_looked_ms_{0}, lapse_expiry_due_ms_{0}, lapse_recheck_due_ms_{0};
  std::atomic<bool> lapse_found_{false};
  // Whether another coordinator serves the same PostgreSQL database, as last counted (ClaimJob, every
  // kPeerCheckMs): alone, a coordinator's claims and completions run exclusively, which costs fewer statements than
  // running beside others (server/store_writer.h); either way is correct.
  std::atomic<bool> peers_serving_{false};
  std::atomic<int64_t> peers_counted_ms_{0};
  static constexpr int64_t kPeerCheckMs = 1000;
  WriteKind ShareableKind() const {
    return peers_serving_.load(std::memory_order_relaxed) ? WriteKind::kShareable : WriteKind::kAny;
  }
  // A claim looks for lapsed leases (ClaimJob)...
  bool LapseLookDue(int64_t now_ms) const;
  // ... and must be able to end them: a lease it knows of has lapsed, or a look found one.
  bool LapsedLeaseLikely(int64_t now_ms) const;
  int64_t ExpiryRecheckMs() const { return std::min<int64_t>(100, options_.lease_ms / 10); }
  int schema_version_ = 0;
  bool holds_coordinator_lock_ = false;  // PostgreSQL: released explicitly on destruction (server/store.cc)
};

// True when a worker with `caps` satisfies `req`.
bool WorkerMatches(const v1::WorkerCapabilities& caps, const v1::Requirements& req);

}  // namespace tscale
