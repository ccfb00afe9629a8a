#include "client/results_table.h"

#include <utility>
#include <vector>

#include "client/report/aggregate.h"
#include "client/report/render_text.h"
#include "client/table.h"
#include "common/outcome.h"

namespace tscale::client {
namespace {

std::string Detail(const v1::Result& r) {
  std::string detail = r.message();
  if (!r.signal_name().empty() && detail.find(r.signal_name()) == std::string::npos)
    detail = r.signal_name() + " " + detail;
  for (const auto& reason : r.invalid_reasons()) detail += (detail.empty() ? "" : "; ") + reason;
  if (detail.size() > 60) detail = detail.substr(0, 57) + "...";
  return detail;
}

}  // namespace

std::string RenderResultsTable(const v1::ListResultsResponse& response) {
  // The decode columns only where there is something to put in them: a forward sweep's table stays as it was.
  bool any_decode = false, any_train = false;
  for (const auto& job : response.jobs()) {
    any_decode = any_decode || job.spec().workload() == v1::WORKLOAD_DECODE;
    any_train = any_train || job.spec().workload() == v1::WORKLOAD_TRAIN;
  }
  using A = TextTable::Align;
  std::vector<std::pair<const char*, A>> columns = {
      {"job", A::kRight},       {"model", A::kLeft},   {"workload", A::kLeft}, {"len", A::kRight},
      {"batch", A::kRight},     {"outcome", A::kLeft}, {"params", A::kRight},  {"load_ms", A::kRight},
      {"median_ms", A::kRight}, {"iqr_ms", A::kRight}, {"n", A::kRight},       {"tokens/s", A::kRight},
      {"peak_MiB", A::kRight}};
  if (any_decode)
    for (const char* name : {"new_tok", "ttft_ms", "tpot_ms", "dec_tok/s", "kv_MiB"})
      columns.emplace_back(name, A::kRight);
  if (any_train) columns.emplace_back("ckpt", A::kLeft);
  columns.emplace_back("detail", A::kLeft);
  TextTable table;
  for (auto [header, align] : columns) table.AddColumn(header, align);

  for (const auto& job : response.jobs()) {
    const auto& spec = job.spec();
    const auto& r = job.result();
    const bool finished = job.state() == v1::JOB_STATE_FINISHED;
    const bool measured = finished && (r.outcome() == v1::OUTCOME_OK || r.outcome() == v1::OUTCOME_INVALID);
    std::vector<std::string> cells = {std::to_string(spec.job_id()),
                                      spec.model_id(),
                                      WorkloadName(spec.workload()),
                                      std::to_string(spec.seq_len()),
                                      std::to_string(spec.batch_size()),
                                      finished ? OutcomeName(r.outcome()) : JobStateName(job.state()),
                                      r.parameter_count() > 0 ? FormatMillions(r.parameter_count()) : "",
                                      measured ? FormatFixed(r.load_time_ms(), 0) : "",
                                      measured ? FormatFixed(r.latency().median_ms(), 1) : "",
                                      measured ? FormatFixed(r.latency().iqr_ms(), 1) : "",
                                      measured ? std::to_string(r.latency().count()) : "",
                                      measured ? FormatFixed(r.tokens_per_second(), 0) : "",
                                      measured ? FormatMiB(r.memory().peak_rss_bytes()) : ""};
    if (any_decode) {
      const bool decoded = measured && r.has_decode();
      const auto& d = r.decode();
      cells.push_back(spec.workload() == v1::WORKLOAD_DECODE ? std::to_string(spec.new_tokens()) : "");
      cells.push_back(decoded ? FormatFixed(d.ttft().median_ms(), 1) : "");
      cells.push_back(decoded ? FormatFixed(d.tpot().median_ms(), 2) : "");
      cells.push_back(decoded ? FormatFixed(d.decode_tokens_per_second(), 1) : "");
      cells.push_back(decoded && d.kv_cache_bytes() > 0 ? FormatFixed(d.kv_cache_bytes() / 1048576.0, 1) : "");
    }
    if (any_train)
      cells.push_back(spec.workload() == v1::WORKLOAD_TRAIN ? CheckpointingName(spec.checkpointing()) : "");
    cells.push_back(Detail(r));
    table.AddRow(std::move(cells));
  }
  std::string out = table.Render();
  const std::string walls = report::RenderWalls(report::Walls(report::RowsFrom(response, v1::ListModelsResponse())));
  if (!walls.empty()) out += "\n" + walls;
  return out;
}

}  // namespace tscale::client
