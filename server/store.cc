#include "server/store.h"

#include <algorithm>
#include <array>
#include <exception>
#include <new>

#include "common/outcome.h"
#include "common/wall_search.h"
#include "server/migrations.h"

namespace tscale {
namespace {

std::string Serialize(const google::protobuf::Message& message) {
  std::string bytes;
  message.SerializeToString(&bytes);
  return bytes;
}

template <typename Message>
Status Parse(const std::string& bytes, Message* out, const char* what) {
  if (!out->ParseFromString(bytes)) return Status::DataLoss(std::string("stored ") + what + " does not parse");
  return Status::Ok();
}

// The status of a write whose body threw. Building the message may itself throw (out of memory): then the
// status goes without one.
Status ThrownWrite(const char* what) noexcept {
  try {
    return Status::Internal(std::string("write failed with an exception: ") + what);
  } catch (...) {
    return Status::Internal(std::string());
  }
}

// A body's exception becomes its status. Unwinding through the group commit instead would leave the
// transaction open and the writer queue blocked behind an entry whose thread has gone.
Status RunBody(const std::function<Status()>& body) noexcept {
  try {
    return body();
  } catch (const std::exception& e) {
    return ThrownWrite(e.what());
  } catch (...) {
    return ThrownWrite("unknown exception");
  }
}

}  // namespace

bool WorkerMatches(const v1::WorkerCapabilities& caps, const v1::Requirements& req) {
  if (req.device_kind() != v1::DEVICE_KIND_UNSPECIFIED && req.device_kind() != caps.device_kind()) return false;
  if (req.min_device_memory_bytes() > 0) {
    int64_t memory = caps.device_kind() == v1::DEVICE_KIND_CPU ? caps.ram_bytes() : caps.device_memory_bytes();
    if (memory < req.min_device_memory_bytes()) return false;
  }
  for (const auto& label : req.labels()) {
    if (std::find(caps.labels().begin(), caps.labels().end(), label) == caps.labels().end()) return false;
  }
  return true;
}

StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& path, StoreOptions options, int64_t now_ms) {
  std::unique_ptr<Store> store(new Store(options));
  TSCALE_RETURN_IF_ERROR(store->db_.Open(path));
  sqlite3_busy_timeout(store->db_.handle(), options.busy_timeout_ms);
  // WAL lets readers run beside the writer; synchronous=FULL makes every acknowledged commit durable
  // across a power loss, not just a process crash.
  TSCALE_RETURN_IF_ERROR(
      store->db_.Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                      "PRAGMA foreign_keys=ON;"));
  TSCALE_RETURN_IF_ERROR(MigrateToLatest(store->db_));
  auto version = SchemaVersion(store->db_);
  if (!version.ok()) return version.status();
  store->schema_version_ = *version;
  // Workers could not heartbeat while no server ran: give every live lease one full period from now.
  if (now_ms > 0) {
    sql::WriteTransaction txn(store->db_);
    TSCALE_RETURN_IF_ERROR(txn.status());
    sql::Statement grace(store->db_,
                         "UPDATE attempts SET lease_expires_ms = MAX(lease_expires_ms, ?) WHERE ended_ms IS NULL");
    TSCALE_RETURN_IF_ERROR(grace.Bind(1, now_ms + options.lease_ms).Run());
    TSCALE_RETURN_IF_ERROR(txn.Commit());
  }
  return store;
}

// Group commit, after LevelDB's writer queue: a write waits in a FIFO; the write at the front runs itself
// and every write queued behind it (up to kMaxGroup) inside one BEGIN IMMEDIATE ... COMMIT, so one fsync
// serves the whole group. Each body runs inside its own savepoint: a body that fails is rolled back alone.
//
// Exception safety: once the leader has taken its group, nothing may throw until the group is popped and its
// members woken, or every later write would wait forever behind them. So the group is a fixed array (no
// allocation), and CommitGroup turns every exception into statuses.
Status Store::Write(const std::function<Status()>& body) {
  constexpr size_t kMaxGroup = 256;
  PendingWrite self;
  self.body = &body;
  std::unique_lock queue_lock(queue_mu_);
  try {
    queue_.push_back(&self);
  } catch (const std::bad_alloc&) {  // nothing was queued
    return Status::Internal("write failed: out of memory");
  }
  while (!self.done && &self != queue_.front()) self.cv.wait(queue_lock);
  if (self.done) return self.status;

  std::array<PendingWrite*, kMaxGroup> group;
  const size_t size = std::min(queue_.size(), kMaxGroup);
  std::copy_n(queue_.begin(), size, group.begin());
  queue_lock.unlock();
  CommitGroup(group.data(), size);
  queue_lock.lock();
  for (size_t i = 0; i < size; ++i) {
    queue_.pop_front();
    if (group[i] != &self) {
      group[i]->done = true;
      group[i]->cv.notify_one();
    }
  }
  if (!queue_.empty()) queue_.front()->cv.notify_one();
  return self.status;
}

void Store::CommitGroup(PendingWrite* const* group, size_t size) noexcept {
  std::lock_guard lock(mu_);
  try {
    if (Status begin = db_.Exec("BEGIN IMMEDIATE"); !begin.ok()) {
      for (size_t i = 0; i < size; ++i) group[i]->status = begin;
      return;
    }
    for (size_t i = 0; i < size; ++i) {
      PendingWrite* member = group[i];
      Status savepoint = db_.Exec("SAVEPOINT write_op");
      member->status = savepoint.ok() ? RunBody(*member->body) : savepoint;
      if (!member->status.ok() && savepoint.ok()) db_.Exec("ROLLBACK TO write_op");
      if (savepoint.ok()) db_.Exec("RELEASE write_op");
      if (sqlite3_get_autocommit(db_.handle())) {
        // SQLite rolled the whole transaction back (I/O error, disk full, out of memory): nothing of the group
        // was stored, so every member fails, and none of the rest may run outside a transaction.
        const Status rolled_back = Status::Internal("the database rolled the transaction back: " + db_.ErrorMessage());
        for (size_t j = 0; j < size; ++j)
          if (j > i || group[j]->status.ok()) group[j]->status = rolled_back;
        return;
      }
    }
    if (Status commit = db_.Exec("COMMIT"); !commit.ok()) {
      db_.Exec("ROLLBACK");
      for (size_t i = 0; i < size; ++i)
        if (group[i]->status.ok()) group[i]->status = commit;
    }
  } catch (...) {
    // The transaction machinery itself threw (out of memory building a statement or a message): whatever the
    // group wrote is rolled back and every member fails; the queue moves on.
    try {
      db_.Exec("ROLLBACK");
    } catch (...) {
    }
    for (size_t i = 0; i < size; ++i) group[i]->status = ThrownWrite("the group commit failed");
  }
}

StatusOr<int64_t> Store::CreateSweep(const v1::SweepSpec& spec, std::vector<PlannedJob> jobs, int64_t now_ms) {
  int64_t out_value{};
  const Status written = Write([&]() -> Status {
    sql::Statement sweep(db_, "INSERT INTO sweeps(name, spec, created_ms) VALUES(?, ?, ?)");
    sweep.Bind(1, spec.name()).BindBlob(2, Serialize(spec)).Bind(3, now_ms);
    TSCALE_RETURN_IF_ERROR(sweep.Run());
    const int64_t sweep_id = db_.LastInsertRowId();

    for (auto& job : jobs) TSCALE_RETURN_IF_ERROR(InsertJobLocked(sweep_id, &job, now_ms));
    out_value = sweep_id;
    return Status::Ok();
  });
  if (!written.ok()) return written;
  return out_value;
}

StatusOr<RegisteredWorker> Store::RegisterWorker(const std::string& worker_id, const v1::WorkerCapabilities& caps,
                                                 int64_t now_ms) {
  RegisteredWorker out_value{};
  const Status written = Write([&]() -> Status {
    sql::Statement upsert(
        db_,
        "INSERT INTO workers(id, capabilities, registered_ms, last_seen_ms, session) VALUES(?,?,?,?,1) "
        "ON CONFLICT(id) DO UPDATE SET capabilities=excluded.capabilities, "
        "last_seen_ms=excluded.last_seen_ms, session=session+1");
    upsert.Bind(1, worker_id).BindBlob(2, Serialize(caps)).Bind(3, now_ms).Bind(4, now_ms);
    TSCALE_RETURN_IF_ERROR(upsert.Run());

    RegisteredWorker out;
    sql::Statement session(db_, "SELECT session FROM workers WHERE id=?");
    session.Bind(1, worker_id);
    if (!session.Step()) return Status::Internal("worker row vanished: " + session.status().message());
    out.session = session.ColumnInt(0);

    // A new session means the daemon restarted: whatever it was running died with it.
    sql::Statement live(db_,
                        "SELECT a.job_id, a.id FROM attempts a JOIN jobs j ON j.current_attempt = a.id "
                        "WHERE a.worker_id=? AND a.ended_ms IS NULL AND a.worker_session < ?");
    live.Bind(1, worker_id).Bind(2, out.session);
    std::vector<std::pair<int64_t, int64_t>> orphaned;
    while (live.Step()) orphaned.emplace_back(live.ColumnInt(0), live.ColumnInt(1));
    TSCALE_RETURN_IF_ERROR(live.status());
    for (const auto& [job_id, attempt_id] : orphaned)
      TSCALE_RETURN_IF_ERROR(EndAttemptLocked(job_id, attempt_id, "worker_restarted", now_ms));
    out.requeued_attempts = static_cast<int>(orphaned.size());
    out_value = out;
    return Status::Ok();
  });
  if (!written.ok()) return written;
  return out_value;
}

Status Store::AppendEventLocked(int64_t job_id, int64_t attempt_id, v1::JobState state, v1::Outcome outcome,
                                const std::string& detail, const v1::MetricEvent* metric, int64_t now_ms) {
  sql::Statement insert(db_,
                        "INSERT INTO events(sweep_id, job_id, attempt_id, state, outcome, detail, metric, unix_ms) "
                        "SELECT sweep_id, id, ?, ?, ?, ?, ?, ? FROM jobs WHERE id=?");
  insert.Bind(1, attempt_id).Bind(2, static_cast<int>(state)).Bind(3, static_cast<int>(outcome)).Bind(4, detail);
  if (metric)
    insert.BindBlob(5, Serialize(*metric));
  else
    insert.BindNull(5);
  return insert.Bind(6, now_ms).Bind(7, job_id).Run();
}

Status Store::EndAttemptLocked(int64_t job_id, int64_t attempt_id, const std::string& reason, int64_t now_ms,
                               bool counts_against_cap) {
  sql::Statement end(db_, "UPDATE attempts SET ended_ms=?, end_reason=? WHERE id=?");
  TSCALE_RETURN_IF_ERROR(end.Bind(1, now_ms).Bind(2, reason).Bind(3, attempt_id).Run());

  sql::Statement counts(db_,
                        "SELECT j.attempts, (SELECT COUNT(*) FROM attempts a WHERE a.job_id = j.id "
                        "AND a.end_reason = 'worker_restarted') FROM jobs j WHERE j.id=?");
  counts.Bind(1, job_id);
  if (!counts.Step()) return Status::Internal("job " + std::to_string(job_id) + " vanished");
  const int64_t leases = counts.ColumnInt(0), workers_lost = counts.ColumnInt(1);
  if (!counts_against_cap) {
    // Given back, not failed: the lease does not count as an attempt.
    sql::Statement uncount(db_, "UPDATE jobs SET attempts = attempts - 1 WHERE id=?");
    TSCALE_RETURN_IF_ERROR(uncount.Bind(1, job_id).Run());
  }

  if (counts_against_cap && (workers_lost >= options_.quarantine_after || leases >= options_.max_attempts)) {
    v1::Result lost;
    lost.set_job_id(job_id);
    lost.set_attempt_id(attempt_id);
    lost.set_outcome(v1::OUTCOME_LOST);
    if (workers_lost >= options_.quarantine_after) {
      lost.set_quarantined(true);
      lost.set_message("quarantined: " + std::to_string(workers_lost) +
                       " workers restarted while running this job (threshold " +
                       std::to_string(options_.quarantine_after) + ")");
    } else {
      lost.set_message(std::to_string(leases) + " attempts ended without a result (cap " +
                       std::to_string(options_.max_attempts) + "); the last one: " + reason);
    }
    lost.set_finished_unix_ms(now_ms);
    return InsertResultLocked(job_id, lost, now_ms);
  }
  sql::Statement requeue(db_, "UPDATE jobs SET state=?, current_attempt=NULL, updated_ms=? WHERE id=?");
  TSCALE_RETURN_IF_ERROR(requeue.Bind(1, static_cast<int>(v1::JOB_STATE_QUEUED)).Bind(2, now_ms).Bind(3, job_id).Run());
  return AppendEventLocked(job_id, attempt_id, v1::JOB_STATE_QUEUED, v1::OUTCOME_UNSPECIFIED,
                           "requeued: attempt " + std::to_string(attempt_id) + " " + reason, nullptr, now_ms);
}

StatusOr<int> Store::ExpireLeases(int64_t now_ms) {
  int out_value{};
  const Status written = Write([&]() -> Status {
    auto expired = ExpireLeasesLocked(now_ms);
    if (!expired.ok()) return expired.status();
    out_value = *expired;
    return Status::Ok();
  });
  if (!written.ok()) return written;
  return out_value;
}

StatusOr<int> Store::ExpireLeasesLocked(int64_t now_ms) {
  sql::Statement find(db_,
                      "SELECT j.id, a.id FROM jobs j JOIN attempts a ON a.id = j.current_attempt "
                      "WHERE j.state IN (?, ?) AND a.lease_expires_ms < ?");
  find.Bind(1, static_cast<int>(v1::JOB_STATE_LEASED)).Bind(2, static_cast<int>(v1::JOB_STATE_RUNNING)).Bind(3, now_ms);
  std::vector<std::pair<int64_t, int64_t>> expired;
  while (find.Step()) expired.emplace_back(find.ColumnInt(0), find.ColumnInt(1));
  TSCALE_RETURN_IF_ERROR(find.status());
  for (const auto& [job_id, attempt_id] : expired)
    TSCALE_RETURN_IF_ERROR(EndAttemptLocked(job_id, attempt_id, "expired", now_ms));
  return static_cast<int>(expired.size());
}

StatusOr<std::optional<v1::Lease>> Store::ClaimJob(const std::string& worker_id, int64_t now_ms) {
  std::optional<v1::Lease> out_value{};
  const Status written = Write([&]() -> Status {
    v1::WorkerCapabilities caps;
    int64_t session = 0;
    {
      sql::Statement worker(db_, "SELECT capabilities, session FROM workers WHERE id=?");
      worker.Bind(1, worker_id);
      if (!worker.Step()) {
        TSCALE_RETURN_IF_ERROR(worker.status());
        return Status::NotFound("worker \"" + worker_id + "\" is not registered");
      }
      TSCALE_RETURN_IF_ERROR(Parse(worker.ColumnBlob(0), &caps, "worker capabilities"));
      session = worker.ColumnInt(1);
      sql::Statement seen(db_, "UPDATE workers SET last_seen_ms=? WHERE id=?");
      TSCALE_RETURN_IF_ERROR(seen.Bind(1, now_ms).Bind(2, worker_id).Run());
    }
    auto expired = ExpireLeasesLocked(now_ms);
    if (!expired.ok()) return expired.status();

    // The oldest queued job this worker can run, wherever it is in the queue. Queued jobs share few distinct
    // requirements (a sweep has one set), so walk those through jobs_by_requirements, one index seek per
    // set, taking the oldest job of each: a claim costs the same behind 10 or 100,000 jobs it cannot run.
    sql::Statement next_set(db_,
                            "SELECT requirements, id FROM jobs WHERE state=?1 AND requirements > ?2 "
                            "ORDER BY requirements, id LIMIT 1");
    int64_t chosen_id = 0;
    std::optional<std::string> previous_set;
    while (true) {
      next_set.Bind(1, static_cast<int>(v1::JOB_STATE_QUEUED));
      // SQLite sorts every TEXT value before every BLOB, so text '' starts the walk below the first set (x'').
      if (previous_set)
        next_set.BindBlob(2, *previous_set);
      else
        next_set.Bind(2, std::string());
      if (!next_set.Step()) break;
      previous_set = next_set.ColumnBlob(0);
      const int64_t oldest = next_set.ColumnInt(1);
      next_set.Reset();
      v1::Requirements requirements;
      TSCALE_RETURN_IF_ERROR(Parse(*previous_set, &requirements, "job requirements"));
      if (WorkerMatches(caps, requirements) && (chosen_id == 0 || oldest < chosen_id)) chosen_id = oldest;
    }
    TSCALE_RETURN_IF_ERROR(next_set.status());
    if (chosen_id == 0) return Status::Ok();  // keeps the lease expiry and last_seen update

    std::optional<v1::JobSpec> chosen;
    {
      sql::Statement spec(db_, "SELECT spec FROM jobs WHERE id=?");
      spec.Bind(1, chosen_id);
      if (!spec.Step()) return spec.status().ok() ? Status::Internal("queued job vanished") : spec.status();
      chosen.emplace();
      TSCALE_RETURN_IF_ERROR(Parse(spec.ColumnBlob(0), &*chosen, "job spec"));
      chosen->set_job_id(chosen_id);
    }

    const int64_t expires = now_ms + options_.lease_ms;
    sql::Statement attempt(db_,
                           "INSERT INTO attempts(job_id, worker_id, leased_ms, lease_expires_ms, worker_session) "
                           "VALUES(?,?,?,?,?)");
    TSCALE_RETURN_IF_ERROR(
        attempt.Bind(1, chosen->job_id()).Bind(2, worker_id).Bind(3, now_ms).Bind(4, expires).Bind(5, session).Run());
    const int64_t attempt_id = db_.LastInsertRowId();
    sql::Statement lease(db_,
                         "UPDATE jobs SET state=?, attempts=attempts+1, current_attempt=?, updated_ms=? WHERE id=?");
    TSCALE_RETURN_IF_ERROR(lease.Bind(1, static_cast<int>(v1::JOB_STATE_LEASED))
                               .Bind(2, attempt_id)
                               .Bind(3, now_ms)
                               .Bind(4, chosen->job_id())
                               .Run());
    TSCALE_RETURN_IF_ERROR(AppendEventLocked(chosen->job_id(), attempt_id, v1::JOB_STATE_LEASED,
                                             v1::OUTCOME_UNSPECIFIED, "leased to " + worker_id, nullptr, now_ms));
    v1::Lease out;
    out.set_attempt_id(attempt_id);
    out.set_lease_expires_unix_ms(expires);
    *out.mutable_job() = std::move(*chosen);
    out_value = std::move(out);
    return Status::Ok();
  });
  if (!written.ok()) return written;
  return out_value;
}

StatusOr<std::vector<int64_t>> Store::Heartbeat(const std::string& worker_id, const std::vector<int64_t>& attempt_ids,
                                                int64_t now_ms) {
  std::vector<int64_t> out_value{};
  const Status written = Write([&]() -> Status {
    sql::Statement seen(db_, "UPDATE workers SET last_seen_ms=? WHERE id=?");
    TSCALE_RETURN_IF_ERROR(seen.Bind(1, now_ms).Bind(2, worker_id).Run());
    if (db_.Changes() == 0) return Status::NotFound("worker \"" + worker_id + "\" is not registered");

    std::vector<int64_t> revoked;
    for (int64_t attempt_id : attempt_ids) {
      sql::Statement live(db_,
                          "SELECT j.id, j.state FROM jobs j JOIN attempts a ON a.id = j.current_attempt "
                          "WHERE a.id=? AND a.worker_id=? AND a.ended_ms IS NULL");
      live.Bind(1, attempt_id).Bind(2, worker_id);
      if (!live.Step()) {
        TSCALE_RETURN_IF_ERROR(live.status());
        revoked.push_back(attempt_id);
        continue;
      }
      const int64_t job_id = live.ColumnInt(0);
      const bool was_leased = live.ColumnInt(1) == v1::JOB_STATE_LEASED;
      sql::Statement extend(db_, "UPDATE attempts SET lease_expires_ms=? WHERE id=?");
      TSCALE_RETURN_IF_ERROR(extend.Bind(1, now_ms + options_.lease_ms).Bind(2, attempt_id).Run());
      if (was_leased) {
        sql::Statement running(db_, "UPDATE jobs SET state=?, updated_ms=? WHERE id=?");
        TSCALE_RETURN_IF_ERROR(
            running.Bind(1, static_cast<int>(v1::JOB_STATE_RUNNING)).Bind(2, now_ms).Bind(3, job_id).Run());
        TSCALE_RETURN_IF_ERROR(AppendEventLocked(job_id, attempt_id, v1::JOB_STATE_RUNNING, v1::OUTCOME_UNSPECIFIED,
                                                 "running on " + worker_id, nullptr, now_ms));
      }
    }
    out_value = std::move(revoked);
    return Status::Ok();
  });
  if (!written.ok()) return written;
  return out_value;
}

Status Store::InsertJobLocked(int64_t sweep_id, PlannedJob* job, int64_t now_ms) {
  job->spec.set_sweep_id(sweep_id);
  const auto& s = job->spec;
  sql::Statement insert(db_,
                        "INSERT INTO jobs(sweep_id, model_id, category, seq_len, batch_size, dtype, attention, "
                        "repetition, spec, state, created_ms, updated_ms, requirements) "
                        "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)");
  insert.Bind(1, sweep_id)
      .Bind(2, s.model_id())
      .Bind(3, job->category)
      .Bind(4, s.seq_len())
      .Bind(5, s.batch_size())
      .Bind(6, static_cast<int>(s.dtype()))
      .Bind(7, static_cast<int>(s.attention()))
      .Bind(8, s.repetition())
      .BindBlob(9, Serialize(s))
      .Bind(10, static_cast<int>(v1::JOB_STATE_QUEUED))
      .Bind(11, now_ms)
      .Bind(12, now_ms)
      .BindBlob(13, Serialize(s.requirements()));
  return insert.Run();
}

Status Store::AdvanceWallSearchLocked(int64_t job_id, int64_t now_ms) {
  sql::Statement finished(db_, "SELECT sweep_id, category, spec FROM jobs WHERE id=?");
  finished.Bind(1, job_id);
  if (!finished.Step()) return finished.status().ok() ? Status::Ok() : finished.status();
  PlannedJob next;
  const int64_t sweep_id = finished.ColumnInt(0);
  next.category = finished.ColumnText(1);
  TSCALE_RETURN_IF_ERROR(Parse(finished.ColumnBlob(2), &next.spec, "job spec"));
  if (!next.spec.has_wall()) return Status::Ok();

  // The search's probes so far: the same sweep, model and variant.
  sql::Statement probes_query(db_,
                              "SELECT j.seq_len, j.state, r.outcome, r.peak_rss_bytes FROM jobs j "
                              "LEFT JOIN results r ON r.job_id = j.id WHERE j.sweep_id=? AND j.model_id=? "
                              "AND j.batch_size=? AND j.dtype=? AND j.attention=? AND j.repetition=? ORDER BY j.id");
  const auto& s = next.spec;
  probes_query.Bind(1, sweep_id)
      .Bind(2, s.model_id())
      .Bind(3, s.batch_size())
      .Bind(4, static_cast<int>(s.dtype()))
      .Bind(5, static_cast<int>(s.attention()))
      .Bind(6, s.repetition());
  std::vector<wall::Probe> probes;
  while (probes_query.Step()) {
    wall::Probe p;
    p.seq_len = static_cast<int>(probes_query.ColumnInt(0));
    p.finished = probes_query.ColumnInt(1) == v1::JOB_STATE_FINISHED;
    p.outcome = static_cast<v1::Outcome>(probes_query.ColumnInt(2));
    p.peak_rss_bytes = probes_query.ColumnInt(3);
    probes.push_back(p);
  }
  TSCALE_RETURN_IF_ERROR(probes_query.status());
  const wall::Step step =
      wall::NextProbe(probes, {s.wall().start_length(), s.wall().max_length(), s.wall().resolution()});
  if (step.kind != wall::StepKind::kProbe) return Status::Ok();
  next.spec.clear_job_id();
  next.spec.set_seq_len(step.seq_len);
  TSCALE_RETURN_IF_ERROR(InsertJobLocked(sweep_id, &next, now_ms));
  const int64_t probe_id = db_.LastInsertRowId();
  return AppendEventLocked(probe_id, 0, v1::JOB_STATE_QUEUED, v1::OUTCOME_UNSPECIFIED,
                           "wall finder: next probe at " + std::to_string(step.seq_len) + " tokens", nullptr, now_ms);
}

Status Store::InsertResultLocked(int64_t job_id, const v1::Result& result, int64_t now_ms) {
  v1::Result without_samples = result;
  without_samples.clear_samples_ms();
  sql::Statement insert(db_,
                        "INSERT INTO results(job_id, attempt_id, outcome, median_ms, tokens_per_second, "
                        "peak_rss_bytes, parameter_count, load_time_ms, result, finished_ms) "
                        "VALUES(?,?,?,?,?,?,?,?,?,?)");
  insert.Bind(1, job_id).Bind(2, result.attempt_id()).Bind(3, static_cast<int>(result.outcome()));
  if (result.outcome() == v1::OUTCOME_OK || result.outcome() == v1::OUTCOME_INVALID) {
    insert.Bind(4, result.latency().median_ms()).Bind(5, result.tokens_per_second());
  } else {
    insert.BindNull(4).BindNull(5);
  }
  insert.Bind(6, result.memory().peak_rss_bytes())
      .Bind(7, result.parameter_count())
      .Bind(8, result.load_time_ms())
      .BindBlob(9, Serialize(without_samples))
      .Bind(10, now_ms);
  TSCALE_RETURN_IF_ERROR(insert.Run());

  sql::Statement sample(db_, "INSERT INTO samples(job_id, idx, latency_ms) VALUES(?,?,?)");
  for (int i = 0; i < result.samples_ms_size(); ++i) {
    TSCALE_RETURN_IF_ERROR(sample.Bind(1, job_id).Bind(2, i).Bind(3, result.samples_ms(i)).Run());
    sample.Reset();
  }
  sql::Statement finish(db_, "UPDATE jobs SET state=?, current_attempt=NULL, updated_ms=? WHERE id=?");
  TSCALE_RETURN_IF_ERROR(
      finish.Bind(1, static_cast<int>(v1::JOB_STATE_FINISHED)).Bind(2, now_ms).Bind(3, job_id).Run());
  TSCALE_RETURN_IF_ERROR(AppendEventLocked(job_id, result.attempt_id(), v1::JOB_STATE_FINISHED, result.outcome(),
                                           result.message(), nullptr, now_ms));
  return AdvanceWallSearchLocked(job_id, now_ms);
}

StatusOr<CompletionOutcome> Store::CompleteJob(const std::string& worker_id, int64_t attempt_id, v1::Result result,
                                               int64_t now_ms) {
  CompletionOutcome out_value{};
  const Status written = Write([&]() -> Status {
    sql::Statement attempt(db_,
                           "SELECT a.job_id, a.worker_id, j.current_attempt, a.end_reason FROM attempts a "
                           "JOIN jobs j ON j.id = a.job_id WHERE a.id=?");
    attempt.Bind(1, attempt_id);
    if (!attempt.Step()) {
      TSCALE_RETURN_IF_ERROR(attempt.status());
      return Status::NotFound("attempt " + std::to_string(attempt_id) + " does not exist");
    }
    const int64_t job_id = attempt.ColumnInt(0);
    const std::string owner = attempt.ColumnText(1);
    const bool is_current = !attempt.ColumnIsNull(2) && attempt.ColumnInt(2) == attempt_id;
    const bool completed = attempt.ColumnText(3) == "completed";

    sql::Statement existing(db_, "SELECT attempt_id, result, outcome FROM results WHERE job_id=?");
    existing.Bind(1, job_id);
    if (existing.Step()) {
      if (existing.ColumnInt(0) != attempt_id)
        return Status::Aborted("attempt " + std::to_string(attempt_id) + " is stale: job " + std::to_string(job_id) +
                               " was finished by attempt " + std::to_string(existing.ColumnInt(0)));
      // A cancel or a `lost` verdict records the attempt that was live, but that attempt did not produce the
      // result: its fencing token is void, so its late completion is refused, not acknowledged as a duplicate.
      if (!completed)
        return Status::Aborted("attempt " + std::to_string(attempt_id) + " is stale: job " + std::to_string(job_id) +
                               " ended " + OutcomeName(static_cast<v1::Outcome>(existing.ColumnInt(2))) +
                               " while it ran");
      out_value.duplicate = true;
      return Parse(existing.ColumnBlob(1), &out_value.stored, "result");
    }
    TSCALE_RETURN_IF_ERROR(existing.status());
    if (!is_current)
      return Status::Aborted("attempt " + std::to_string(attempt_id) + " is stale: its lease on job " +
                             std::to_string(job_id) + " was revoked");
    if (owner != worker_id)
      return Status::Aborted("attempt " + std::to_string(attempt_id) + " belongs to worker \"" + owner + "\"");

    result.set_job_id(job_id);
    result.set_attempt_id(attempt_id);
    result.set_worker_id(worker_id);
    if (result.finished_unix_ms() == 0) result.set_finished_unix_ms(now_ms);
    TSCALE_RETURN_IF_ERROR(InsertResultLocked(job_id, result, now_ms));
    sql::Statement end(db_, "UPDATE attempts SET ended_ms=?, end_reason='completed' WHERE id=?");
    TSCALE_RETURN_IF_ERROR(end.Bind(1, now_ms).Bind(2, attempt_id).Run());
    out_value.stored = result;
    return Status::Ok();
  });
  if (!written.ok()) return written;
  return out_value;
}

StatusOr<v1::SweepStatus> Store::GetSweepStatus(int64_t sweep_id, int64_t now_ms) {
  std::lock_guard lock(mu_);
  return SweepStatusLocked(sweep_id, now_ms);
}

StatusOr<v1::SweepStatus> Store::SweepStatusLocked(int64_t sweep_id, int64_t now_ms) {
  v1::SweepStatus status;
  sql::Statement sweep(db_, "SELECT name, created_ms FROM sweeps WHERE id=?");
  sweep.Bind(1, sweep_id);
  if (!sweep.Step()) {
    TSCALE_RETURN_IF_ERROR(sweep.status());
    return Status::NotFound("sweep " + std::to_string(sweep_id) + " does not exist");
  }
  status.set_sweep_id(sweep_id);
  status.set_name(sweep.ColumnText(0));
  status.set_created_unix_ms(sweep.ColumnInt(1));

  sql::Statement states(db_, "SELECT state, COUNT(*) FROM jobs WHERE sweep_id=? GROUP BY state");
  states.Bind(1, sweep_id);
  int total = 0;
  while (states.Step()) {
    const int count = static_cast<int>(states.ColumnInt(1));
    total += count;
    switch (static_cast<v1::JobState>(states.ColumnInt(0))) {
      case v1::JOB_STATE_QUEUED:
        status.set_queued(count);
        break;
      case v1::JOB_STATE_LEASED:
        status.set_leased(count);
        break;
      case v1::JOB_STATE_RUNNING:
        status.set_running(count);
        break;
      case v1::JOB_STATE_FINISHED:
        status.set_finished(count);
        break;
      default:
        break;
    }
  }
  TSCALE_RETURN_IF_ERROR(states.status());
  status.set_total_jobs(total);
  status.set_done(total > 0 && status.finished() == total);

  sql::Statement outcomes(db_,
                          "SELECT r.outcome, COUNT(*) FROM results r JOIN jobs j ON j.id = r.job_id "
                          "WHERE j.sweep_id=? GROUP BY r.outcome");
  outcomes.Bind(1, sweep_id);
  while (outcomes.Step()) {
    (*status.mutable_outcome_counts())[OutcomeName(static_cast<v1::Outcome>(outcomes.ColumnInt(0)))] =
        static_cast<int>(outcomes.ColumnInt(1));
  }
  TSCALE_RETURN_IF_ERROR(outcomes.status());

  if (status.queued() > 0) TSCALE_RETURN_IF_ERROR(WaitingReasonsLocked(sweep_id, now_ms, &status));
  return status;
}

Status Store::WaitingReasonsLocked(int64_t sweep_id, int64_t now_ms, v1::SweepStatus* status) {
  std::vector<v1::WorkerCapabilities> live_workers;
  sql::Statement workers(db_, "SELECT capabilities FROM workers WHERE last_seen_ms >= ?");
  workers.Bind(1, now_ms - options_.worker_live_ms);
  while (workers.Step()) {
    v1::WorkerCapabilities caps;
    TSCALE_RETURN_IF_ERROR(Parse(workers.ColumnBlob(0), &caps, "worker capabilities"));
    live_workers.push_back(std::move(caps));
  }
  TSCALE_RETURN_IF_ERROR(workers.status());
  if (live_workers.empty()) {
    status->add_waiting_reasons("no live worker: none has contacted the coordinator in the last " +
                                std::to_string(options_.worker_live_ms / 1000) + " s");
    return Status::Ok();
  }
  // Group the queued jobs by their requirements and name each group no live worker can serve.
  std::map<std::string, std::pair<int, v1::Requirements>> unmatched;
  sql::Statement queued(db_,
                        "SELECT requirements, COUNT(*) FROM (SELECT requirements FROM jobs WHERE sweep_id=? AND "
                        "state=? LIMIT 10000) GROUP BY requirements");
  queued.Bind(1, sweep_id).Bind(2, static_cast<int>(v1::JOB_STATE_QUEUED));
  while (queued.Step()) {
    v1::Requirements req;
    TSCALE_RETURN_IF_ERROR(Parse(queued.ColumnBlob(0), &req, "job requirements"));
    bool served = std::any_of(live_workers.begin(), live_workers.end(),
                              [&](const v1::WorkerCapabilities& caps) { return WorkerMatches(caps, req); });
    if (served) continue;
    auto& entry = unmatched[queued.ColumnBlob(0)];
    entry.first += static_cast<int>(queued.ColumnInt(1));
    entry.second = req;
  }
  TSCALE_RETURN_IF_ERROR(queued.status());
  for (const auto& [key, entry] : unmatched) {
    const auto& req = entry.second;
    std::string needs = "device=" + DeviceKindName(req.device_kind());
    if (req.min_device_memory_bytes() > 0)
      needs += ", device memory >= " + std::to_string(req.min_device_memory_bytes() >> 20) + " MiB";
    for (const auto& label : req.labels()) needs += ", label " + label;
    status->add_waiting_reasons(std::to_string(entry.first) + " queued jobs need " + needs + ": no live worker of " +
                                std::to_string(live_workers.size()) + " matches");
  }
  return Status::Ok();
}

StatusOr<std::vector<v1::SweepStatus>> Store::ListSweeps(int limit, int64_t now_ms) {
  std::lock_guard lock(mu_);
  sql::Statement ids(db_, "SELECT id FROM sweeps ORDER BY id DESC LIMIT ?");
  ids.Bind(1, limit > 0 ? limit : 50);
  std::vector<int64_t> sweep_ids;
  while (ids.Step()) sweep_ids.push_back(ids.ColumnInt(0));
  TSCALE_RETURN_IF_ERROR(ids.status());
  std::vector<v1::SweepStatus> out;
  for (int64_t id : sweep_ids) {
    auto status = SweepStatusLocked(id, now_ms);
    if (!status.ok()) return status.status();
    out.push_back(std::move(status).value());
  }
  return out;
}

StatusOr<JobPage> Store::ListJobs(const ResultFilter& f) {
  std::lock_guard lock(mu_);
  const int64_t limit = f.limit > 0 ? f.limit : ResultFilter().limit;
  // Each filter is "(? = <zero> OR column = ?)" so the statement text is fixed and every value is bound.
  sql::Statement jobs(db_,
                      "SELECT j.id, j.spec, j.state, j.attempts, r.result FROM jobs j "
                      "LEFT JOIN results r ON r.job_id = j.id "
                      "WHERE (?1 = 0 OR j.sweep_id = ?1) AND (?2 = '' OR j.model_id = ?2) "
                      "AND (?3 = '' OR j.category = ?3) AND (?4 = 0 OR j.seq_len = ?4) "
                      "AND (?5 = 0 OR r.outcome = ?5) AND j.id > ?7 ORDER BY j.id LIMIT ?6");
  jobs.Bind(1, f.sweep_id)
      .Bind(2, f.model_id)
      .Bind(3, f.category)
      .Bind(4, f.seq_len)
      .Bind(5, static_cast<int>(f.outcome))
      .Bind(6, limit + 1)  // one past the page: says whether another page follows
      .Bind(7, f.after_job_id);
  sql::Statement samples(db_, "SELECT latency_ms FROM samples WHERE job_id=? ORDER BY idx");
  JobPage page;
  int64_t page_samples = 0, page_bytes = 0;
  while (jobs.Step()) {
    if (static_cast<int64_t>(page.jobs.size()) == limit) {
      page.next_after_job_id = page.jobs.back().spec().job_id();
      break;
    }
    v1::JobView view;
    TSCALE_RETURN_IF_ERROR(Parse(jobs.ColumnBlob(1), view.mutable_spec(), "job spec"));
    view.mutable_spec()->set_job_id(jobs.ColumnInt(0));
    view.set_state(static_cast<v1::JobState>(jobs.ColumnInt(2)));
    view.set_attempts(static_cast<int>(jobs.ColumnInt(3)));
    if (!jobs.ColumnIsNull(4)) TSCALE_RETURN_IF_ERROR(Parse(jobs.ColumnBlob(4), view.mutable_result(), "result"));
    if (f.include_samples && view.has_result()) {
      samples.Bind(1, view.spec().job_id());
      while (samples.Step()) view.mutable_result()->add_samples_ms(samples.ColumnDouble(0));
      TSCALE_RETURN_IF_ERROR(samples.status());
      samples.Reset();
    }
    // The budgets end the page before the job that would overflow it; the first job always fits (one result
    // is bounded by request validation), so following the cursor always makes progress.
    const int64_t job_samples = view.result().samples_ms_size();
    const int64_t job_bytes = static_cast<int64_t>(view.ByteSizeLong());
    if (!page.jobs.empty() && (page_samples + job_samples > f.max_samples || page_bytes + job_bytes > f.max_bytes)) {
      page.next_after_job_id = page.jobs.back().spec().job_id();
      break;
    }
    page_samples += job_samples;
    page_bytes += job_bytes;
    page.jobs.push_back(std::move(view));
  }
  TSCALE_RETURN_IF_ERROR(jobs.status());
  return page;
}

StatusOr<std::vector<v1::WorkerView>> Store::ListWorkers() {
  std::lock_guard lock(mu_);
  sql::Statement workers(db_,
                         "SELECT w.id, w.capabilities, w.last_seen_ms, "
                         "(SELECT COUNT(*) FROM attempts a JOIN jobs j ON j.current_attempt = a.id "
                         " WHERE a.worker_id = w.id) FROM workers w ORDER BY w.id");
  std::vector<v1::WorkerView> out;
  while (workers.Step()) {
    v1::WorkerView view;
    view.set_worker_id(workers.ColumnText(0));
    TSCALE_RETURN_IF_ERROR(Parse(workers.ColumnBlob(1), view.mutable_capabilities(), "worker capabilities"));
    view.set_last_seen_unix_ms(workers.ColumnInt(2));
    view.set_running_jobs(static_cast<int>(workers.ColumnInt(3)));
    out.push_back(std::move(view));
  }
  TSCALE_RETURN_IF_ERROR(workers.status());
  return out;
}

Status Store::ReleaseAttempt(const std::string& worker_id, int64_t attempt_id, const std::string& reason,
                             int64_t now_ms) {
  return Write([&]() -> Status {
    sql::Statement live(db_,
                        "SELECT j.id FROM jobs j JOIN attempts a ON a.id = j.current_attempt "
                        "WHERE a.id=? AND a.worker_id=? AND a.ended_ms IS NULL");
    live.Bind(1, attempt_id).Bind(2, worker_id);
    if (!live.Step()) {
      TSCALE_RETURN_IF_ERROR(live.status());
      return Status::Aborted("attempt " + std::to_string(attempt_id) + " is not a live lease of worker \"" + worker_id +
                             "\"");
    }
    return EndAttemptLocked(live.ColumnInt(0), attempt_id, "released: " + reason, now_ms,
                            /*counts_against_cap=*/false);
  });
}

Status Store::RecordMetric(const std::string& worker_id, const v1::MetricEvent& metric, int64_t now_ms) {
  return Write([&]() -> Status {
    sql::Statement live(db_,
                        "SELECT j.id FROM jobs j JOIN attempts a ON a.id = j.current_attempt "
                        "WHERE a.id=? AND a.worker_id=? AND a.ended_ms IS NULL");
    live.Bind(1, metric.attempt_id()).Bind(2, worker_id);
    if (!live.Step()) {
      TSCALE_RETURN_IF_ERROR(live.status());
      return Status::Aborted("attempt " + std::to_string(metric.attempt_id()) + " is not a live lease of worker \"" +
                             worker_id + "\"");
    }
    // Counted per attempt in the database, so neither new streams nor a server restart reset the bound.
    sql::Statement count(db_, "UPDATE attempts SET metric_events = metric_events + 1 WHERE id=? AND metric_events < ?");
    TSCALE_RETURN_IF_ERROR(count.Bind(1, metric.attempt_id()).Bind(2, options_.max_metric_events_per_attempt).Run());
    if (db_.Changes() == 0)
      return Status::ResourceExhausted("attempt " + std::to_string(metric.attempt_id()) + " has reported " +
                                       std::to_string(options_.max_metric_events_per_attempt) +
                                       " progress events, the most one attempt may store");
    TSCALE_RETURN_IF_ERROR(AppendEventLocked(live.ColumnInt(0), metric.attempt_id(), v1::JOB_STATE_RUNNING,
                                             v1::OUTCOME_UNSPECIFIED, metric.phase(), &metric, now_ms));
    return Status::Ok();
  });
}

StatusOr<int> Store::Cancel(int64_t sweep_id, int64_t job_id, int64_t now_ms) {
  int out_value{};
  const Status written = Write([&]() -> Status {
    // The job must exist (in the sweep, when one is named); or, for a whole-sweep cancel, the sweep.
    sql::Statement exists(db_,
                          "SELECT (SELECT COUNT(*) FROM jobs WHERE id=?1 AND (?2=0 OR sweep_id=?2)), "
                          "(SELECT COUNT(*) FROM sweeps WHERE id=?2)");
    exists.Bind(1, job_id).Bind(2, sweep_id);
    if (!exists.Step()) return exists.status().ok() ? Status::Internal("count failed") : exists.status();
    if (job_id > 0 && exists.ColumnInt(0) == 0)
      return Status::NotFound("job " + std::to_string(job_id) + " does not exist" +
                              (sweep_id > 0 ? " in sweep " + std::to_string(sweep_id) : ""));
    if (job_id == 0 && exists.ColumnInt(1) == 0)
      return Status::NotFound("sweep " + std::to_string(sweep_id) + " does not exist");
    sql::Statement open_jobs(db_,
                             "SELECT id, current_attempt FROM jobs WHERE state != ?3 AND "
                             "((?1 > 0 AND id = ?1) OR (?1 = 0 AND sweep_id = ?2))");
    open_jobs.Bind(1, job_id).Bind(2, sweep_id).Bind(3, static_cast<int>(v1::JOB_STATE_FINISHED));
    std::vector<std::pair<int64_t, int64_t>> to_cancel;
    while (open_jobs.Step())
      to_cancel.emplace_back(open_jobs.ColumnInt(0), open_jobs.ColumnIsNull(1) ? 0 : open_jobs.ColumnInt(1));
    TSCALE_RETURN_IF_ERROR(open_jobs.status());
    for (const auto& [id, attempt_id] : to_cancel) {
      if (attempt_id > 0) {
        sql::Statement end(db_, "UPDATE attempts SET ended_ms=?, end_reason='cancelled' WHERE id=?");
        TSCALE_RETURN_IF_ERROR(end.Bind(1, now_ms).Bind(2, attempt_id).Run());
      }
      v1::Result cancelled;
      cancelled.set_job_id(id);
      cancelled.set_attempt_id(attempt_id);
      cancelled.set_outcome(v1::OUTCOME_CANCELLED);
      cancelled.set_message(attempt_id > 0 ? "cancelled by the user while running" : "cancelled by the user");
      cancelled.set_finished_unix_ms(now_ms);
      TSCALE_RETURN_IF_ERROR(InsertResultLocked(id, cancelled, now_ms));
    }
    out_value = static_cast<int>(to_cancel.size());
    return Status::Ok();
  });
  if (!written.ok()) return written;
  return out_value;
}

StatusOr<std::vector<v1::SweepEvent>> Store::ReadEvents(int64_t sweep_id, int64_t after_event_id, int limit) {
  std::lock_guard lock(mu_);
  sql::Statement events(db_,
                        "SELECT id, job_id, attempt_id, state, outcome, detail, metric, unix_ms FROM events "
                        "WHERE sweep_id=? AND id>? ORDER BY id LIMIT ?");
  events.Bind(1, sweep_id).Bind(2, after_event_id).Bind(3, limit);
  std::vector<v1::SweepEvent> out;
  while (events.Step()) {
    v1::SweepEvent e;
    e.set_event_id(events.ColumnInt(0));
    e.set_job_id(events.ColumnInt(1));
    e.set_attempt_id(events.ColumnInt(2));
    e.set_state(static_cast<v1::JobState>(events.ColumnInt(3)));
    e.set_outcome(static_cast<v1::Outcome>(events.ColumnInt(4)));
    e.set_detail(events.ColumnText(5));
    if (!events.ColumnIsNull(6)) TSCALE_RETURN_IF_ERROR(Parse(events.ColumnBlob(6), e.mutable_metric(), "metric"));
    e.set_unix_ms(events.ColumnInt(7));
    out.push_back(std::move(e));
  }
  TSCALE_RETURN_IF_ERROR(events.status());
  return out;
}

StatusOr<std::map<std::string, int>> Store::CountJobsByState() {
  std::lock_guard lock(mu_);
  sql::Statement states(db_, "SELECT state, COUNT(*) FROM jobs GROUP BY state");
  std::map<std::string, int> out;
  while (states.Step())
    out[JobStateName(static_cast<v1::JobState>(states.ColumnInt(0)))] = static_cast<int>(states.ColumnInt(1));
  TSCALE_RETURN_IF_ERROR(states.status());
  return out;
}

}  // namespace tscale
