// The job lifecycle in the store: sweeps and workers in, then claim, heartbeat, complete, release, metrics,
// cancel, lease expiry and the requeue/lost/quarantine decision (see store.h for the state machine).
#include "server/store.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <optional>

#include "common/outcome.h"
#include "server/store_internal.h"

namespace tscale {

using store_internal::Parse;
using store_internal::Serialize;

StatusOr<int64_t> Store::CreateSweep(const v1::SweepSpec& spec, std::vector<PlannedJob> jobs, int64_t now_ms) {
  int64_t out_value{};
  const Status written = Write([&]() -> Status {
    sql::Statement sweep(db_, "INSERT INTO sweeps(name, spec, created_ms) VALUES(?, ?, ?) RETURNING id");
    sweep.Bind(1, spec.name()).BindBlob(2, Serialize(spec)).Bind(3, now_ms);
    if (!sweep.Step()) return sweep.status().ok() ? Status::Internal("sweep insert returned no id") : sweep.status();
    const int64_t sweep_id = sweep.ColumnInt(0);

    // Many rows per statement: with PostgreSQL every statement is a round trip, and a sweep may hold 100 000 jobs.
    JobInsertion insertion;
    constexpr size_t kJobsPerInsert = 100;
    for (size_t first = 0; first < jobs.size(); first += kJobsPerInsert)
      TSCALE_RETURN_IF_ERROR(InsertJobsLocked(sweep_id, jobs.data() + first,
                                              std::min(kJobsPerInsert, jobs.size() - first), now_ms, &insertion));
    out_value = sweep_id;
    return Status::Ok();
  });
  if (!written.ok()) return written;
  return out_value;
}

StatusOr<RegisteredWorker> Store::RegisterWorker(const std::string& worker_id, const v1::WorkerCapabilities& caps,
                                                 int64_t now_ms, const std::string& instance_id) {
  RegisteredWorker out_value{};
  const Status written = Write([&]() -> Status {
    // A restart of the same daemon sends the instance id it keeps in its state directory; another daemon with
    // the same worker id sends its own, and would silently end the first one's attempts (docs/worker.md).
    sql::Statement previous(db_, "SELECT instance, last_seen_ms, session FROM workers WHERE id=?");
    previous.Bind(1, worker_id);
    if (previous.Step()) {
      const std::string holder = previous.ColumnText(0);
      const int64_t seen_ago_ms = now_ms - previous.ColumnInt(1);
      if (!instance_id.empty() && !holder.empty() && holder != instance_id && seen_ago_ms <= options_.worker_live_ms)
        return Status::AlreadyExists(
            "worker id \"" + worker_id + "\" is in use: another live worker process holds it (session " +
            std::to_string(previous.ColumnInt(2)) + ", instance " + holder + ", last seen " +
            std::to_string(seen_ago_ms / 1000) + " s ago); give each worker its own --id, or, if that worker is " +
            "gone, retry once it has not been seen for " + std::to_string(options_.worker_live_ms / 1000) + " s");
    }
    TSCALE_RETURN_IF_ERROR(previous.status());
    sql::Statement upsert(
        db_,
        "INSERT INTO workers(id, capabilities, registered_ms, last_seen_ms, session, instance) VALUES(?,?,?,?,1,?) "
        "ON CONFLICT(id) DO UPDATE SET capabilities=excluded.capabilities, "
        "last_seen_ms=excluded.last_seen_ms, session=workers.session+1, instance=excluded.instance");
    upsert.Bind(1, worker_id).BindBlob(2, Serialize(caps)).Bind(3, now_ms).Bind(4, now_ms).Bind(5, instance_id);
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
  if (writer_.defers_to_commit()) {
    // Beside other coordinators' writes an event id is drawn only in the commit's tail, where ids follow commit
    // order (sql.h), so it names its attempt itself: the job's current one may have changed by then.
    if (attempt_id == kCurrentAttempt) return Status::Internal("an event left to the commit must name its attempt");
    std::optional<v1::MetricEvent> kept;
    if (metric) kept = *metric;
    writer_.AtCommit([this, job_id, attempt_id, state, outcome, detail, kept = std::move(kept), now_ms] {
      return AppendEventLocked(job_id, attempt_id, state, outcome, detail, kept ? &*kept : nullptr, now_ms);
    });
    return Status::Ok();
  }
  // VALUES, not INSERT ... SELECT: PostgreSQL types a NULL parameter from its target column only there.
  sql::Statement insert(db_,
                        "INSERT INTO events(sweep_id, job_id, attempt_id, state, outcome, detail, metric, unix_ms) "
                        "VALUES((SELECT sweep_id FROM jobs WHERE id=?1), ?1, "
                        "CASE WHEN ?2 < 0 THEN (SELECT current_attempt FROM jobs WHERE id=?1) ELSE ?2 END, "
                        "?3, ?4, ?5, ?6, ?7)");
  insert.Bind(1, job_id).Bind(2, attempt_id).Bind(3, static_cast<int>(state)).Bind(4, static_cast<int>(outcome));
  insert.Bind(5, detail);
  if (metric)
    insert.BindBlob(6, Serialize(*metric));
  else
    insert.BindNull(6);
  writer_.NoteChange(sql::kEventsAppended | (state == v1::JOB_STATE_QUEUED ? sql::kWorkQueued : 0u));
  return insert.Bind(7, now_ms).Run();
}

namespace {

std::string UtcTime(int64_t unix_ms) {
  const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
  char millis[8];
  std::snprintf(millis, sizeof millis, ".%03dZ", static_cast<int>(unix_ms % 1000));
  return std::string(text) + millis;
}

// The evidence behind a `lost` verdict: every worker death during the job, when, and whether it counted.
std::string DescribeDeaths(const std::vector<Store::WorkerDeath>& deaths) {
  if (deaths.empty()) return "";
  std::string out = "; worker deaths:";
  for (size_t i = 0; i < deaths.size(); ++i) {
    const auto& d = deaths[i];
    out += (i == 0 ? " " : ", ") + std::string("worker \"") + d.worker_id + "\" restarted at " + UtcTime(d.ended_ms) +
           ", " + std::to_string((d.ended_ms - d.leased_ms) / 1000.0).substr(0, 6) + " s into attempt " +
           std::to_string(d.attempt_id) +
           (d.counted ? " (counted: its newest job)" : " (not counted: a newer job was running on it)");
  }
  return out;
}

}  // namespace

StatusOr<std::vector<Store::WorkerDeath>> Store::WorkerDeathsLocked(int64_t job_id) {
  // A worker restart ends every attempt its previous session held, but at most one of those jobs can have taken
  // it down. A job that kills its worker does so while its runner is the newest process the worker started, so
  // only the newest attempt that was live at the death is blamed; the others ran beside an unrelated death.
  sql::Statement deaths(db_,
                        "SELECT a.id, a.worker_id, a.leased_ms, a.ended_ms, NOT EXISTS (SELECT 1 FROM attempts b "
                        "WHERE b.worker_id = a.worker_id AND b.worker_session = a.worker_session AND b.id > a.id "
                        "AND (b.ended_ms IS NULL OR b.ended_ms >= a.ended_ms)) FROM attempts a "
                        "WHERE a.job_id=? AND a.end_reason='worker_restarted' ORDER BY a.id");
  deaths.Bind(1, job_id);
  std::vector<WorkerDeath> out;
  while (deaths.Step()) {
    WorkerDeath d;
    d.attempt_id = deaths.ColumnInt(0);
    d.worker_id = deaths.ColumnText(1);
    d.leased_ms = deaths.ColumnInt(2);
    d.ended_ms = deaths.ColumnInt(3);
    d.counted = deaths.ColumnInt(4) != 0;
    out.push_back(std::move(d));
  }
  TSCALE_RETURN_IF_ERROR(deaths.status());
  return out;
}

Status Store::EndAttemptLocked(int64_t job_id, int64_t attempt_id, const std::string& reason, int64_t now_ms,
                               bool counts_against_cap) {
  sql::Statement end(db_, "UPDATE attempts SET ended_ms=?, end_reason=? WHERE id=?");
  TSCALE_RETURN_IF_ERROR(end.Bind(1, now_ms).Bind(2, reason).Bind(3, attempt_id).Run());

  sql::Statement counts(db_, "SELECT attempts FROM jobs WHERE id=?");
  counts.Bind(1, job_id);
  if (!counts.Step()) return Status::Internal("job " + std::to_string(job_id) + " vanished");
  const int64_t leases = counts.ColumnInt(0);
  auto deaths = WorkerDeathsLocked(job_id);
  if (!deaths.ok()) return deaths.status();
  const int64_t workers_lost = std::count_if(deaths->begin(), deaths->end(), [](const auto& d) { return d.counted; });
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
                       std::to_string(options_.quarantine_after) + ")" + DescribeDeaths(*deaths));
    } else {
      lost.set_message(std::to_string(leases) + " attempts ended without a result (cap " +
                       std::to_string(options_.max_attempts) + "); the last one: " + reason + DescribeDeaths(*deaths));
    }
    lost.set_finished_unix_ms(now_ms);
    return InsertResultLocked(job_id, lost, now_ms);
  }
  sql::Statement requeue(db_, "UPDATE jobs SET state=?, current_attempt=NULL, updated_ms=? WHERE id=?");
  TSCALE_RETURN_IF_ERROR(requeue.Bind(1, static_cast<int>(v1::JOB_STATE_QUEUED)).Bind(2, now_ms).Bind(3, job_id).Run());
  return AppendEventLocked(job_id, attempt_id, v1::JOB_STATE_QUEUED, v1::OUTCOME_UNSPECIFIED,
                           "requeued: attempt " + std::to_string(attempt_id) + " " + reason, nullptr, now_ms);
}

namespace {

std::string RunningDetail(const std::string& worker_id) {
  return "running on " + worker_id;
}

}  // namespace

// LEASED -> RUNNING with its event, once per attempt: on its first heartbeat, progress report or result,
// whichever comes first, so every job that ran emits LEASED, RUNNING, FINISHED in that order (the proto's
// SweepEvent contract), however fast it was.
Status Store::MarkRunningLocked(int64_t job_id, int64_t attempt_id, const std::string& worker_id, int64_t now_ms,
                                bool update_state) {
  // The event first, on the condition the update then makes false: neither waits for the other's answer (sql.h's
  // "round trips"). No NULL in the SELECT: PostgreSQL would type it text there, not as its target column.
  sql::Statement event(db_,
                       "INSERT INTO events(sweep_id, job_id, attempt_id, state, outcome, detail, unix_ms) "
                       "SELECT sweep_id, id, ?2, ?3, ?4, ?5, ?6 FROM jobs WHERE id=?1 AND state=?7");
  TSCALE_RETURN_IF_ERROR(event.Bind(1, job_id)
                             .Bind(2, attempt_id)
                             .Bind(3, static_cast<int>(v1::JOB_STATE_RUNNING))
                             .Bind(4, static_cast<int>(v1::OUTCOME_UNSPECIFIED))
                             .Bind(5, RunningDetail(worker_id))
                             .Bind(6, now_ms)
                             .Bind(7, static_cast<int>(v1::JOB_STATE_LEASED))
                             .Run());
  writer_.NoteChange(sql::kEventsAppended);
  if (!update_state) return Status::Ok();
  sql::Statement running(db_, "UPDATE jobs SET state=?, updated_ms=? WHERE id=? AND state=?");
  return running.Bind(1, static_cast<int>(v1::JOB_STATE_RUNNING))
      .Bind(2, now_ms)
      .Bind(3, job_id)
      .Bind(4, static_cast<int>(v1::JOB_STATE_LEASED))
      .Run();
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
      auto live = LiveLeaseJobLocked(worker_id, attempt_id);
      if (!live.ok()) return live.status();
      if (!live->has_value()) {
        revoked.push_back(attempt_id);
        continue;
      }
      const int64_t job_id = **live;
      sql::Statement extend(db_, "UPDATE attempts SET lease_expires_ms=? WHERE id=?");
      TSCALE_RETURN_IF_ERROR(extend.Bind(1, now_ms + options_.lease_ms).Bind(2, attempt_id).Run());
      TSCALE_RETURN_IF_ERROR(MarkRunningLocked(job_id, attempt_id, worker_id, now_ms));
    }
    out_value = std::move(revoked);
    return Status::Ok();
  });
  if (!written.ok()) return written;
  return out_value;
}

StatusOr<CompletionOutcome> Store::CompleteJob(const std::string& worker_id, int64_t attempt_id, v1::Result result,
                                               int64_t now_ms) {
  CompletionOutcome out_value{};
  // PostgreSQL runs completions beside other coordinators' claims and completions (server/store_writer.h).
  const Status written = writer_.Write(
      [&]() -> Status {
        const bool shared = writer_.shared();
        if (shared) {
          // Beside other writers the job is locked first, so that the read below (a later statement, with its own
          // snapshot) sees it as any other completion of it left it: one result per job. In the same round trip.
          sql::Statement lock(
              db_, "SELECT id FROM jobs WHERE id=(SELECT job_id FROM attempts WHERE id=?) FOR NO KEY UPDATE");
          TSCALE_RETURN_IF_ERROR(lock.Bind(1, attempt_id).Run());
        }
        // The attempt, its job and the job's result if it has one, in one read (one round trip with PostgreSQL).
        sql::Statement attempt(db_,
                               "SELECT a.job_id, a.worker_id, j.current_attempt, a.end_reason, j.spec, r.attempt_id, "
                               "r.result, r.outcome, j.state FROM attempts a JOIN jobs j ON j.id = a.job_id "
                               "LEFT JOIN results r ON r.job_id = a.job_id WHERE a.id=?");
        attempt.Bind(1, attempt_id);
        if (!attempt.Step()) {
          TSCALE_RETURN_IF_ERROR(attempt.status());
          return Status::NotFound("attempt " + std::to_string(attempt_id) + " does not exist");
        }
        const int64_t job_id = attempt.ColumnInt(0);
        const std::string owner = attempt.ColumnText(1);
        const bool is_current = !attempt.ColumnIsNull(2) && attempt.ColumnInt(2) == attempt_id;
        const bool completed = attempt.ColumnText(3) == "completed";
        if (!attempt.ColumnIsNull(5)) {
          const int64_t finisher = attempt.ColumnInt(5);
          if (finisher != attempt_id)
            return Status::Aborted("attempt " + std::to_string(attempt_id) + " is stale: job " +
                                   std::to_string(job_id) + " was finished by attempt " + std::to_string(finisher));
          // A cancel or a `lost` verdict records the attempt that was live, but that attempt did not produce the
          // result: its fencing token is void, so its late completion is refused, not acknowledged as a duplicate.
          if (!completed)
            return Status::Aborted("attempt " + std::to_string(attempt_id) + " is stale: job " +
                                   std::to_string(job_id) + " ended " +
                                   OutcomeName(static_cast<v1::Outcome>(attempt.ColumnInt(7))) + " while it ran");
          out_value.duplicate = true;
          return Parse(attempt.ColumnBlob(6), &out_value.stored, "result");
        }
        // Only a wall-finder probe has a search to move on (below); the spec says whether this job is one.
        v1::JobSpec spec;
        TSCALE_RETURN_IF_ERROR(Parse(attempt.ColumnBlob(4), &spec, "job spec"));
        if (!is_current)
          return Status::Aborted("attempt " + std::to_string(attempt_id) + " is stale: its lease on job " +
                                 std::to_string(job_id) + " was revoked");
        if (owner != worker_id)
          return Status::Aborted("attempt " + std::to_string(attempt_id) + " belongs to worker \"" + owner + "\"");

        result.set_job_id(job_id);
        result.set_attempt_id(attempt_id);
        result.set_worker_id(worker_id);
        if (result.finished_unix_ms() == 0) result.set_finished_unix_ms(now_ms);
        // A job too fast to heartbeat still reports RUNNING before FINISHED; its state goes straight to FINISHED.
        // Beside other writers the event waits for the commit's tail, so the state read above decides, not the database
        // then.
        if (!shared)
          TSCALE_RETURN_IF_ERROR(MarkRunningLocked(job_id, attempt_id, worker_id, now_ms, /*update_state=*/false));
        else if (attempt.ColumnInt(8) == v1::JOB_STATE_LEASED)
          TSCALE_RETURN_IF_ERROR(AppendEventLocked(job_id, attempt_id, v1::JOB_STATE_RUNNING, v1::OUTCOME_UNSPECIFIED,
                                                   RunningDetail(worker_id), nullptr, now_ms));
        TSCALE_RETURN_IF_ERROR(InsertResultLocked(job_id, result, now_ms));
        sql::Statement end(db_, "UPDATE attempts SET ended_ms=?, end_reason='completed' WHERE id=?");
        TSCALE_RETURN_IF_ERROR(end.Bind(1, now_ms).Bind(2, attempt_id).Run());
        // Only a completion can move a wall search on: a cancelled or lost probe stops it (common/wall_search.h),
        // so the cancel and lost paths store their results without this step.
        // Beside other writers the step waits for the commit's tail, where no other writer runs: it then sees every
        // probe that finished before it, and the new probe's job id follows commit order.
        if (spec.has_wall()) {
          auto advance = [this, job_id, now_ms, &out_value]() -> Status {
            auto probe = AdvanceWallSearchLocked(job_id, now_ms);
            if (!probe.ok()) return probe.status();
            out_value.queued_probe = *probe;
            return Status::Ok();
          };
          if (shared)
            writer_.AtCommit(advance);
          else
            TSCALE_RETURN_IF_ERROR(advance());
        }
        out_value.stored = result;
        return Status::Ok();
      },
      ShareableKind());
  if (!written.ok()) return written;
  return out_value;
}

StatusOr<std::optional<int64_t>> Store::LiveLeaseJobLocked(const std::string& worker_id, int64_t attempt_id) {
  sql::Statement live(db_,
                      "SELECT j.id FROM jobs j JOIN attempts a ON a.id = j.current_attempt "
                      "WHERE a.id=? AND a.worker_id=? AND a.ended_ms IS NULL");
  live.Bind(1, attempt_id).Bind(2, worker_id);
  if (live.Step()) return std::optional<int64_t>(live.ColumnInt(0));
  TSCALE_RETURN_IF_ERROR(live.status());
  return std::optional<int64_t>();
}

StatusOr<int64_t> Store::RequireLiveLeaseLocked(const std::string& worker_id, int64_t attempt_id) {
  auto live = LiveLeaseJobLocked(worker_id, attempt_id);
  if (!live.ok()) return live.status();
  if (!live->has_value())
    return Status::Aborted("attempt " + std::to_string(attempt_id) + " is not a live lease of worker \"" + worker_id +
                           "\"");
  return **live;
}

Status Store::ReleaseAttempt(const std::string& worker_id, int64_t attempt_id, const std::string& reason,
                             int64_t now_ms) {
  return Write([&]() -> Status {
    auto job_id = RequireLiveLeaseLocked(worker_id, attempt_id);
    if (!job_id.ok()) return job_id.status();
    return EndAttemptLocked(*job_id, attempt_id, "released: " + reason, now_ms, /*counts_against_cap=*/false);
  });
}

Status Store::RecordMetric(const std::string& worker_id, const v1::MetricEvent& metric, int64_t now_ms) {
  return Write([&]() -> Status {
    auto job_id = RequireLiveLeaseLocked(worker_id, metric.attempt_id());
    if (!job_id.ok()) return job_id.status();
    // Counted per attempt in the database, so neither new streams nor a server restart reset the bound.
    sql::Statement count(db_, "UPDATE attempts SET metric_events = metric_events + 1 WHERE id=? AND metric_events < ?");
    TSCALE_RETURN_IF_ERROR(count.Bind(1, metric.attempt_id()).Bind(2, options_.max_metric_events_per_attempt).Run());
    if (db_.Changes() == 0)
      return Status::ResourceExhausted("attempt " + std::to_string(metric.attempt_id()) + " has reported " +
                                       std::to_string(options_.max_metric_events_per_attempt) +
                                       " progress events, the most one attempt may store");
    TSCALE_RETURN_IF_ERROR(MarkRunningLocked(*job_id, metric.attempt_id(), worker_id, now_ms));
    TSCALE_RETURN_IF_ERROR(AppendEventLocked(*job_id, metric.attempt_id(), v1::JOB_STATE_RUNNING,
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
}  // namespace tscale
