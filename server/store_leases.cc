// Leases: claiming a job (the requirement walk, and with PostgreSQL the claim beside other coordinators' claims)
// and ending the leases that lapse (the reaper, and the claim's own look).
#include <algorithm>
#include <atomic>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "server/postgres_connection.h"
#include "server/store.h"
#include "server/store_internal.h"

namespace tscale {

using store_internal::Parse;

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

namespace {

// Every live lease as (job, attempt, expiry). Driven from the few leased and running jobs (jobs_by_state), each
// attempt looked up by its id: a join let PostgreSQL scan every attempt ever made instead, 0.7 ms at 8,000 jobs.
constexpr char kLiveLeasesSql[] =
    "SELECT j.id, j.current_attempt, (SELECT a.lease_expires_ms FROM attempts a WHERE a.id = j.current_attempt) "
    "FROM jobs j WHERE j.state IN (?1, ?2)";

void BindLiveLeases(sql::Statement& find) {
  find.Bind(1, static_cast<int>(v1::JOB_STATE_LEASED)).Bind(2, static_cast<int>(v1::JOB_STATE_RUNNING));
}

}  // namespace

StatusOr<std::vector<std::pair<int64_t, int64_t>>> Store::LapsedLeasesLocked(sql::Statement& live, int64_t now_ms) {
  // The next lease to lapse does so at the earliest expiry seen here, or, for a lease taken from now on, a full
  // period later than the next look (ExpiryRecheckMs is below lease_ms).
  std::vector<std::pair<int64_t, int64_t>> lapsed;
  int64_t next_expiry_ms = std::numeric_limits<int64_t>::max();
  while (live.Step()) {
    if (live.ColumnIsNull(1) || live.ColumnIsNull(2)) continue;  // no attempt to end (a join used to drop these)
    const int64_t expires_ms = live.ColumnInt(2);
    if (expires_ms < now_ms)
      lapsed.emplace_back(live.ColumnInt(0), live.ColumnInt(1));
    else
      next_expiry_ms = std::min(next_expiry_ms, expires_ms + 1);
  }
  TSCALE_RETURN_IF_ERROR(live.status());
  lapse_looked_ms_.store(now_ms, std::memory_order_relaxed);
  lapse_expiry_due_ms_.store(next_expiry_ms, std::memory_order_relaxed);
  lapse_recheck_due_ms_.store(now_ms + ExpiryRecheckMs(), std::memory_order_relaxed);
  // A look beside other writers cannot end what it found (ClaimJob): the next claim is a write of its own that can.
  lapse_found_.store(!lapsed.empty() && writer_.shared(), std::memory_order_relaxed);
  return lapsed;
}

StatusOr<int> Store::ExpireLeasesLocked(int64_t now_ms) {
  sql::Statement live(db_, kLiveLeasesSql);
  BindLiveLeases(live);
  auto expired = LapsedLeasesLocked(live, now_ms);
  if (!expired.ok()) return expired.status();
  for (const auto& [job_id, attempt_id] : *expired)
    TSCALE_RETURN_IF_ERROR(EndAttemptLocked(job_id, attempt_id, "expired", now_ms));
  return static_cast<int>(expired->size());
}

bool Store::LapseLookDue(int64_t now_ms) const {
  return LapsedLeaseLikely(now_ms) || now_ms >= lapse_recheck_due_ms_.load(std::memory_order_relaxed);
}

bool Store::LapsedLeaseLikely(int64_t now_ms) const {
  return now_ms < lapse_looked_ms_.load(std::memory_order_relaxed) ||
         now_ms >= lapse_expiry_due_ms_.load(std::memory_order_relaxed) || lapse_found_.load(std::memory_order_relaxed);
}

namespace {

// The oldest queued job of each distinct requirement set: queued jobs share few sets (a sweep has one), so the walk
// is one index seek per set (a loose index scan over jobs_by_requirements), and a claim costs the same behind 10 or
// 100,000 jobs it cannot run.
#define TSCALE_OLDEST_PER_SET                                                                                 \
  "WITH RECURSIVE sets(requirements) AS ("                                                                    \
  " SELECT (SELECT requirements FROM jobs WHERE state=?1 ORDER BY requirements LIMIT 1)"                      \
  " UNION ALL SELECT (SELECT j.requirements FROM jobs j WHERE j.state=?1 AND j.requirements > s.requirements" \
  " ORDER BY j.requirements LIMIT 1) FROM sets s WHERE s.requirements IS NOT NULL) "                          \
  " , oldest(requirements, id) AS (SELECT s.requirements, (SELECT k.id FROM jobs k WHERE k.state=?1"          \
  " AND k.requirements = s.requirements ORDER BY k.id LIMIT 1) FROM sets s WHERE s.requirements IS NOT NULL) "
// With each one's spec, which an exclusive claim takes as it is. Scalar subqueries by id, not a join: a join on the
// CTE's rows may be planned as a scan of every job.
constexpr char kOldestPerSetWithSpecSql[] = TSCALE_OLDEST_PER_SET
    "SELECT o.requirements, o.id, (SELECT spec FROM jobs WHERE id = o.id), (SELECT c.json FROM jobs j "
    "JOIN model_configs c ON c.id = j.config_id WHERE j.id = o.id) FROM oldest o";
// Without: beside other writers the claim reads the spec of the job it then locks (kLockOldestInSetSql).
constexpr char kOldestPerSetSql[] = TSCALE_OLDEST_PER_SET "SELECT o.requirements, o.id FROM oldest o";
#undef TSCALE_OLDEST_PER_SET

// A claim beside other coordinators' writes takes the oldest queued job of a set that no other claim has locked:
// the walk's oldest may be another's already (PostgreSQL only; the walk cannot lock, being recursive). NO KEY:
// the lock the UPDATE would take, which lets other transactions insert rows that reference the job.
constexpr char kLockOldestInSetSql[] =
    "SELECT k.id, k.spec, (SELECT c.json FROM model_configs c WHERE c.id = k.config_id) FROM jobs k "
    "WHERE k.state=?1 AND k.requirements=?2 ORDER BY k.id LIMIT 1 FOR NO KEY UPDATE OF k SKIP LOCKED";

// A requirement set the worker can run, with the walk's oldest job of it (and its spec, when the walk read it).
struct MatchingSet {
  int64_t oldest = 0;
  std::string requirements, spec, config_json;
};

}  // namespace

StatusOr<std::optional<v1::Lease>> Store::ClaimJob(const std::string& worker_id, int64_t now_ms) {
  // A claim that is likely to find lapsed leases ends them as well: a write like any other. Others are claims only,
  // which PostgreSQL runs beside other coordinators' claims and completions (server/store_writer.h).
  const WriteKind kind = LapsedLeaseLikely(now_ms) ? WriteKind::kAny : ShareableKind();
  std::optional<v1::Lease> out_value{};
  const Status written = writer_.Write(
      [&]() -> Status {
        // Beside other writers, the worker's row is only read here and updated in the commit's tail: updated here it
        // would stay locked to the end, and two claims in two coordinators' groups could wait for each other.
        const bool shared = writer_.shared();
        // The reads are sent together, so that with PostgreSQL they share one round trip (server/sql.h).
        sql::Statement worker(db_, shared ? "SELECT capabilities, session FROM workers WHERE id=?"
                                          : "UPDATE workers SET last_seen_ms=? WHERE id=? RETURNING capabilities, "
                                            "session");
        if (shared)
          worker.Bind(1, worker_id);
        else
          worker.Bind(1, now_ms).Bind(2, worker_id);
        worker.Send();
        // Lapsed leases are ended first, so their jobs can be claimed at once. The search is the claim's costliest
        // statement on PostgreSQL (the jobs_by_state entries of every job's past versions wait for vacuum), so a
        // claim looks only when a lease may have lapsed since the last look: past the earliest expiry then seen,
        // and at least every ExpiryRecheckMs for leases other coordinators grant (the server's reaper looks too).
        // Beside other writers a claim only looks: what it finds makes the next claim a write that ends them.
        const bool look_for_lapsed = LapseLookDue(now_ms);
        sql::Statement live(db_, kLiveLeasesSql);
        if (look_for_lapsed) {
          BindLiveLeases(live);
          live.Send();
        }
        sql::Statement oldest_per_set(db_, shared ? kOldestPerSetSql : kOldestPerSetWithSpecSql);
        oldest_per_set.Bind(1, static_cast<int>(v1::JOB_STATE_QUEUED)).Send();
        // Every serving coordinator holds the coordinator lock (store.cc): counted now and then, in the same round
        // trip. The key's high and low 32 bits are the lock's classid and objid (PostgreSQL's pg_locks), and
        // pg_locks lists every database's: only this one's count.
        const bool count_peers = db_.connection().SharesWrites() &&
                                 (now_ms < peers_counted_ms_.load(std::memory_order_relaxed) ||
                                  now_ms >= peers_counted_ms_.load(std::memory_order_relaxed) + kPeerCheckMs);
        std::optional<sql::Statement> peers;
        if (count_peers) {
          peers.emplace(db_,
                        "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND classid::bigint = ? AND "
                        "objid::bigint = ? AND objsubid = 1 AND granted AND database = "
                        "(SELECT oid FROM pg_database WHERE datname = current_database())");
          peers->Bind(1, sql::kCoordinatorLockKey >> 32).Bind(2, sql::kCoordinatorLockKey & 0xffffffff).Send();
        }

        if (!worker.Step()) {
          TSCALE_RETURN_IF_ERROR(worker.status());
          return Status::NotFound("worker \"" + worker_id + "\" is not registered");
        }
        v1::WorkerCapabilities caps;
        TSCALE_RETURN_IF_ERROR(Parse(worker.ColumnBlob(0), &caps, "worker capabilities"));
        const int64_t session = worker.ColumnInt(1);
        if (count_peers) {
          if (!peers->Step())
            return peers->status().ok() ? Status::Internal("no count of coordinators") : peers->status();
          peers_serving_.store(peers->ColumnInt(0) > 1, std::memory_order_relaxed);
          peers_counted_ms_.store(now_ms, std::memory_order_relaxed);
        }
        if (shared) {
          writer_.AtCommit([this, worker_id, now_ms] {
            sql::Statement seen(db_, "UPDATE workers SET last_seen_ms=? WHERE id=?");
            return seen.Bind(1, now_ms).Bind(2, worker_id).Run();
          });
        }
        std::vector<std::pair<int64_t, int64_t>> lapsed;
        if (look_for_lapsed) {
          auto found = LapsedLeasesLocked(live, now_ms);
          if (!found.ok()) return found.status();
          if (!shared) lapsed = std::move(found).value();
        }
        if (!lapsed.empty()) {
          // Rare: the walk ran before these jobs were requeued, so it runs again.
          for (const auto& [job_id, attempt_id] : lapsed)
            TSCALE_RETURN_IF_ERROR(EndAttemptLocked(job_id, attempt_id, "expired", now_ms));
          oldest_per_set.Reset();
          oldest_per_set.Bind(1, static_cast<int>(v1::JOB_STATE_QUEUED));
        }

        std::vector<MatchingSet> matching;
        while (oldest_per_set.Step()) {
          v1::Requirements requirements;
          TSCALE_RETURN_IF_ERROR(Parse(oldest_per_set.ColumnBlob(0), &requirements, "job requirements"));
          if (!WorkerMatches(caps, requirements)) continue;
          MatchingSet& set = matching.emplace_back();
          set.oldest = oldest_per_set.ColumnInt(1);
          set.requirements = oldest_per_set.ColumnBlob(0);
          if (!shared) {
            set.spec = oldest_per_set.ColumnBlob(2);
            set.config_json = oldest_per_set.ColumnText(3);
          }
        }
        TSCALE_RETURN_IF_ERROR(oldest_per_set.status());
        // The oldest job the worker can run first.
        std::sort(matching.begin(), matching.end(),
                  [](const MatchingSet& a, const MatchingSet& b) { return a.oldest < b.oldest; });
        std::optional<v1::JobSpec> chosen;
        for (MatchingSet& set : matching) {
          if (shared) {
            sql::Statement lock(db_, kLockOldestInSetSql);
            lock.Bind(1, static_cast<int>(v1::JOB_STATE_QUEUED)).BindBlob(2, set.requirements);
            if (!lock.Step()) {
              TSCALE_RETURN_IF_ERROR(lock.status());
              continue;  // every queued job of this set is taken or being taken
            }
            set.oldest = lock.ColumnInt(0);
            set.spec = lock.ColumnBlob(1);
            set.config_json = lock.ColumnText(2);
          }
          chosen.emplace();
          TSCALE_RETURN_IF_ERROR(store_internal::ParseJobSpec(set.spec, set.config_json, &*chosen));
          chosen->set_job_id(set.oldest);
          break;
        }
        if (!chosen) return Status::Ok();  // keeps the lease expiry and last_seen update

        // The attempt, the lease and its event, sent together: the lease and the event name the attempt through the
        // database (its largest attempt id, the current attempt), so nothing waits for the new id until the end.
        const int64_t job_id = chosen->job_id();
        const int64_t expires = now_ms + options_.lease_ms;
        sql::Statement attempt(db_,
                               "INSERT INTO attempts(job_id, worker_id, leased_ms, lease_expires_ms, worker_session) "
                               "VALUES(?,?,?,?,?) RETURNING id");
        attempt.Bind(1, job_id).Bind(2, worker_id).Bind(3, now_ms).Bind(4, expires).Bind(5, session).Send();
        sql::Statement lease(db_,
                             "UPDATE jobs SET state=?1, attempts=attempts+1, updated_ms=?2, "
                             "current_attempt=(SELECT MAX(id) FROM attempts WHERE job_id=?3) WHERE id=?3");
        TSCALE_RETURN_IF_ERROR(
            lease.Bind(1, static_cast<int>(v1::JOB_STATE_LEASED)).Bind(2, now_ms).Bind(3, job_id).Run());
        const std::string detail = "leased to " + worker_id;
        if (!shared)
          TSCALE_RETURN_IF_ERROR(AppendEventLocked(job_id, kCurrentAttempt, v1::JOB_STATE_LEASED,
                                                   v1::OUTCOME_UNSPECIFIED, detail, nullptr, now_ms));
        if (!attempt.Step())
          return attempt.status().ok() ? Status::Internal("attempt insert returned no id") : attempt.status();
        const int64_t attempt_id = attempt.ColumnInt(0);
        // This lease lapses at `expires` unless extended: a claim after that ends it (LapsedLeaseLikely).
        if (expires + 1 < lapse_expiry_due_ms_.load(std::memory_order_relaxed))
          lapse_expiry_due_ms_.store(expires + 1, std::memory_order_relaxed);
        // Beside other writers the event waits for the commit's tail (AppendEventLocked), and must name its attempt.
        if (shared)
          TSCALE_RETURN_IF_ERROR(AppendEventLocked(job_id, attempt_id, v1::JOB_STATE_LEASED, v1::OUTCOME_UNSPECIFIED,
                                                   detail, nullptr, now_ms));
        v1::Lease out;
        out.set_attempt_id(attempt_id);
        out.set_lease_expires_unix_ms(expires);
        *out.mutable_job() = std::move(*chosen);
        out_value = std::move(out);
        return Status::Ok();
      },
      kind);
  if (!written.ok()) return written;
  return out_value;
}

}  // namespace tscale
