// The rows a write adds in bulk: jobs (many per statement), their model configs (each stored once) and a
// job's result with its samples (many per statement). With PostgreSQL every statement is a round trip, so a
// sweep of 100 000 jobs or a result of thousands of samples must not cost one each.
#include <algorithm>
#include <optional>

#include "server/store.h"
#include "server/store_internal.h"

namespace tscale {

using store_internal::Serialize;

StatusOr<int64_t> Store::ConfigIdLocked(const std::string& json, JobInsertion* insertion) {
  auto* known = &insertion->config_ids;
  if (auto it = known->find(json); it != known->end()) return it->second;
  // Looked up, then inserted when new: writes are exclusive (server/sql.h), so nobody inserts it in between.
  // (PostgreSQL's unique index is a hash exclusion constraint, which ON CONFLICT cannot name.)
  sql::Statement find(db_, "SELECT id FROM model_configs WHERE json=?");
  find.Bind(1, json);
  int64_t id = 0;
  if (find.Step()) {
    id = find.ColumnInt(0);
  } else {
    TSCALE_RETURN_IF_ERROR(find.status());
    sql::Statement insert(db_, "INSERT INTO model_configs(json) VALUES(?) RETURNING id");
    insert.Bind(1, json);
    if (!insert.Step())
      return insert.status().ok() ? Status::Internal("model config insert returned no id") : insert.status();
    id = insert.ColumnInt(0);
  }
  known->emplace(json, id);
  return id;
}

Status Store::InsertJobsLocked(int64_t sweep_id, PlannedJob* jobs, size_t count, int64_t now_ms,
                               JobInsertion* insertion, int64_t* job_id) {
  constexpr int kColumns = 18;
  std::string text =
      "INSERT INTO jobs(sweep_id, model_id, category, seq_len, batch_size, dtype, attention, repetition, spec, "
      "state, created_ms, updated_ms, requirements, workload, new_tokens, checkpointing, loss, config_id) VALUES " +
      sql::ValuesPlaceholders(kColumns, static_cast<int>(count));
  if (job_id) text += " RETURNING id";
  sql::Statement insert(db_, text.c_str());
  for (size_t row = 0; row < count; ++row) {
    PlannedJob* job = &jobs[row];
    job->spec.set_sweep_id(sweep_id);
    const auto& s = job->spec;
    // The config is stored once in model_configs; the blob keeps everything else (schema version 7). It is moved
    // out of the spec for the serialization and back, rather than copied with it.
    std::optional<int64_t> config_id;
    std::string config = std::move(*job->spec.mutable_model_config_json());
    job->spec.clear_model_config_json();
    if (!config.empty()) {
      auto id = ConfigIdLocked(config, insertion);
      if (!id.ok()) return id.status();
      config_id = *id;
    }
    const std::string blob = Serialize(s);
    *job->spec.mutable_model_config_json() = std::move(config);
    const int base = static_cast<int>(row) * kColumns;
    insert.Bind(base + 1, sweep_id)
        .Bind(base + 2, s.model_id())
        .Bind(base + 3, job->category)
        .Bind(base + 4, s.seq_len())
        .Bind(base + 5, s.batch_size())
        .Bind(base + 6, static_cast<int>(s.dtype()))
        .Bind(base + 7, static_cast<int>(s.attention()))
        .Bind(base + 8, s.repetition())
        .BindBlob(base + 9, blob)
        .Bind(base + 10, static_cast<int>(v1::JOB_STATE_QUEUED))
        .Bind(base + 11, now_ms)
        .Bind(base + 12, now_ms)
        .BindBlob(base + 13, Serialize(s.requirements()))
        .Bind(base + 14,
              static_cast<int>(s.workload() == v1::WORKLOAD_UNSPECIFIED ? v1::WORKLOAD_FORWARD : s.workload()))
        .Bind(base + 15, s.new_tokens())
        .Bind(base + 16, static_cast<int>(s.checkpointing()))
        .Bind(base + 17, static_cast<int>(s.loss()));
    if (config_id)
      insert.Bind(base + 18, *config_id);
    else
      insert.BindNull(base + 18);
  }
  writer_.NoteChange(sql::kWorkQueued);
  if (!job_id) return insert.Run();
  if (!insert.Step()) return insert.status().ok() ? Status::Internal("job insert returned no id") : insert.status();
  *job_id = insert.ColumnInt(0);
  return Status::Ok();
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

  // Many rows per statement: with PostgreSQL every statement is a round trip, and a job keeps hundreds of samples.
  constexpr int kRowsPerInsert = 100;
  for (int first = 0; first < result.samples_ms_size(); first += kRowsPerInsert) {
    const int rows = std::min(kRowsPerInsert, result.samples_ms_size() - first);
    const std::string text = "INSERT INTO samples(job_id, idx, latency_ms) VALUES " + sql::ValuesPlaceholders(3, rows);
    sql::Statement samples(db_, text.c_str());
    for (int row = 0; row < rows; ++row)
      samples.Bind(3 * row + 1, job_id)
          .Bind(3 * row + 2, first + row)
          .Bind(3 * row + 3, result.samples_ms(first + row));
    TSCALE_RETURN_IF_ERROR(samples.Run());
  }
  sql::Statement finish(db_, "UPDATE jobs SET state=?, current_attempt=NULL, updated_ms=? WHERE id=?");
  TSCALE_RETURN_IF_ERROR(
      finish.Bind(1, static_cast<int>(v1::JOB_STATE_FINISHED)).Bind(2, now_ms).Bind(3, job_id).Run());
  TSCALE_RETURN_IF_ERROR(AppendEventLocked(job_id, result.attempt_id(), v1::JOB_STATE_FINISHED, result.outcome(),
                                           result.message(), nullptr, now_ms));
  return Status::Ok();
}

}  // namespace tscale
