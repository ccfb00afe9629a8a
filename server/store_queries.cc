// The store's read queries: sweep status, results pages, workers, events. Reads share the connection with
// the writer, so each takes the store's lock; none opens a write transaction.
#include "server/store.h"

#include <algorithm>

#include "common/outcome.h"
#include "server/store_internal.h"

namespace tscale {

using store_internal::Parse;
using store_internal::Serialize;

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
    (*status.mutable_outcome_counts())[v1::Outcome_Name(static_cast<v1::Outcome>(outcomes.ColumnInt(0)))] =
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
                        "state=? LIMIT 10000) AS queued_jobs GROUP BY requirements");
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
                      "SELECT j.id, j.spec, j.state, j.attempts, r.result, c.json FROM jobs j "
                      "LEFT JOIN results r ON r.job_id = j.id LEFT JOIN model_configs c ON c.id = j.config_id "
                      "WHERE (?1 = 0 OR j.sweep_id = ?1) AND (?2 = '' OR j.model_id = ?2) "
                      "AND (?3 = '' OR j.category = ?3) AND (?4 = 0 OR j.seq_len = ?4) "
                      "AND (?5 = 0 OR r.outcome = ?5) AND (?8 = 0 OR j.workload = ?8) AND j.id > ?7 "
                      "ORDER BY j.id LIMIT ?6");
  jobs.Bind(1, f.sweep_id)
      .Bind(2, f.model_id)
      .Bind(3, f.category)
      .Bind(4, f.seq_len)
      .Bind(5, static_cast<int>(f.outcome))
      .Bind(6, limit + 1)  // one past the page: says whether another page follows
      .Bind(7, f.after_job_id)
      .Bind(8, static_cast<int>(f.workload));
  sql::Statement samples(db_, "SELECT latency_ms FROM samples WHERE job_id=? ORDER BY idx");
  JobPage page;
  int64_t page_samples = 0, page_bytes = 0;
  while (jobs.Step()) {
    if (static_cast<int64_t>(page.jobs.size()) == limit) {
      page.next_after_job_id = page.jobs.back().spec().job_id();
      break;
    }
    v1::JobView view;
    TSCALE_RETURN_IF_ERROR(store_internal::ParseJobSpec(jobs.ColumnBlob(1), jobs.ColumnText(5), view.mutable_spec()));
    view.mutable_spec()->set_job_id(jobs.ColumnInt(0));
    // Jobs stored before the workload axis (schema version 5) have none in their spec: they were forward jobs.
    if (view.spec().workload() == v1::WORKLOAD_UNSPECIFIED) view.mutable_spec()->set_workload(v1::WORKLOAD_FORWARD);
    view.set_state(static_cast<v1::JobState>(jobs.ColumnInt(2)));
    view.set_attempts(static_cast<int>(jobs.ColumnInt(3)));
    if (!jobs.ColumnIsNull(4)) TSCALE_RETURN_IF_ERROR(Parse(jobs.ColumnBlob(4), view.mutable_result(), "result"));
    if (f.include_samples && view.has_result()) {
      samples.Bind(1, view.spec().job_id());
      while (samples.Step()) view.mutable_result()->add_samples_ms(samples.ColumnDouble(0));
      TSCALE_RETURN_IF_ERROR(samples.status());
      samples.Reset();
    }
    // The decode samples and train losses are in the result blob: listed only with every sample asked for.
    const bool every_sample = f.include_samples && !f.latency_samples_only;
    if (!every_sample && view.result().has_decode()) {
      v1::DecodeStats* decode = view.mutable_result()->mutable_decode();
      decode->clear_ttft_samples_ms();
      decode->clear_step_ms();
      decode->clear_step_positions();
    }
    if (!every_sample && view.result().has_train()) view.mutable_result()->mutable_train()->clear_losses();
    // The budgets end the page before the job that would overflow it; the first job always fits (one result
    // is bounded by request validation), so following the cursor always makes progress.
    const auto& decode = view.result().decode();
    const int64_t job_samples = view.result().samples_ms_size() + decode.ttft_samples_ms_size() +
                                decode.step_ms_size() + view.result().train().losses_size();
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
    out[v1::JobState_Name(static_cast<v1::JobState>(states.ColumnInt(0)))] = static_cast<int>(states.ColumnInt(1));
  TSCALE_RETURN_IF_ERROR(states.status());
  return out;
}

}  // namespace tscale
