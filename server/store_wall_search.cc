// The wall finder's step in the store: after a probe's completion, the search's next probe (docs/wall-finder.md).
#include "server/store.h"

#include <optional>

#include "common/wall_search.h"
#include "server/store_internal.h"

namespace tscale {

using store_internal::Parse;
using store_internal::Serialize;

StatusOr<bool> Store::AdvanceWallSearchLocked(int64_t job_id, int64_t now_ms) {
  sql::Statement finished(db_,
                          "SELECT j.sweep_id, j.category, j.spec, c.json, j.config_id FROM jobs j "
                          "LEFT JOIN model_configs c ON c.id = j.config_id WHERE j.id=?");
  finished.Bind(1, job_id);
  if (!finished.Step()) {
    if (!finished.status().ok()) return finished.status();
    return false;
  }
  PlannedJob next;
  const int64_t sweep_id = finished.ColumnInt(0);
  next.category = finished.ColumnText(1);
  const std::optional<int64_t> config_id =
      finished.ColumnIsNull(4) ? std::nullopt : std::optional<int64_t>(finished.ColumnInt(4));
  TSCALE_RETURN_IF_ERROR(store_internal::ParseJobSpec(finished.ColumnBlob(2), finished.ColumnText(3), &next.spec));
  if (!next.spec.has_wall()) return false;

  // The search's probes so far: the same sweep, model, workload, checkpointing and variant. A decode search
  // (each probe a decode job of the same new_tokens: the spec is copied) finds its own wall, apart from the
  // forward one; a train search with checkpointing finds its own, apart from the one without (each probe keeps
  // the first one's checkpointing and loss; the loss is one per model in a sweep).
  sql::Statement probes_query(db_,
                              "SELECT j.seq_len, j.state, r.outcome, r.peak_rss_bytes FROM jobs j "
                              "LEFT JOIN results r ON r.job_id = j.id WHERE j.sweep_id=? AND j.model_id=? "
                              "AND j.batch_size=? AND j.dtype=? AND j.attention=? AND j.repetition=? "
                              "AND j.workload=? AND j.checkpointing=? ORDER BY j.id");
  const auto& s = next.spec;
  probes_query.Bind(1, sweep_id)
      .Bind(2, s.model_id())
      .Bind(3, s.batch_size())
      .Bind(4, static_cast<int>(s.dtype()))
      .Bind(5, static_cast<int>(s.attention()))
      .Bind(6, s.repetition())
      .Bind(7, static_cast<int>(s.workload() == v1::WORKLOAD_UNSPECIFIED ? v1::WORKLOAD_FORWARD : s.workload()))
      .Bind(8, static_cast<int>(s.checkpointing()));
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
  if (step.kind != wall::StepKind::kProbe) return false;
  next.spec.clear_job_id();
  next.spec.set_seq_len(step.seq_len);
  // The next probe runs the same config: its id is known, so the insert need not look the text up again.
  JobInsertion insertion;
  if (config_id) insertion.config_ids.emplace(next.spec.model_config_json(), *config_id);
  int64_t probe_id = 0;
  TSCALE_RETURN_IF_ERROR(InsertJobsLocked(sweep_id, &next, 1, now_ms, &insertion, &probe_id));
  TSCALE_RETURN_IF_ERROR(AppendEventLocked(probe_id, 0, v1::JOB_STATE_QUEUED, v1::OUTCOME_UNSPECIFIED,
                                           "wall finder: next probe at " + std::to_string(step.seq_len) + " tokens",
                                           nullptr, now_ms));
  return true;
}

}  // namespace tscale
