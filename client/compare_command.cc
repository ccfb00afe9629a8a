// tscale-client compare: two sweeps (one server) or two CSV exports (any servers) side by side, cell by cell,
// with a verdict of statistical confidence (docs/compare.md). The comparison itself is client/compare/.
#include <iostream>

#include "client/commands.h"
#include "client/compare/compare.h"
#include "client/compare/compare_html.h"
#include "client/compare/compare_render.h"
#include "client/report/csv.h"
#include "common/file_io.h"
#include "common/outcome.h"

namespace tscale::client {
namespace {

struct CompareOptions {
  int64_t base_sweep = 0, head_sweep = 0;
  std::string base_csv, head_csv, model, workload, html;
  bool csv = false, json = false, fail_on_regression = false;
  compare::Options stats;
};

// One side's rows: a sweep's finished jobs (raw latency samples, no per-step decode arrays) or a CSV export.
// *unfinished counts the sweep's jobs without a result yet.
int LoadSide(Connection& conn, const std::string& side, int64_t sweep, const std::string& csv,
             std::vector<report::Row>* rows, int* unfinished) {
  *unfinished = 0;
  if (!csv.empty()) {
    auto parsed = report::ReadCsvFile(csv);
    if (!parsed.ok()) return UsageError("--" + side + "-csv: " + parsed.status().message());
    *rows = std::move(parsed).value();
    return kExitOk;
  }
  v1::ListResultsRequest request;
  request.set_sweep_id(sweep);
  request.set_include_samples(true);
  request.set_latency_samples_only(true);
  v1::ListResultsResponse jobs;
  if (grpc::Status status = ListAllResults(conn, request, &jobs); !status.ok()) return conn.Fail(status);
  for (const auto& job : jobs.jobs()) *unfinished += job.state() != v1::JOB_STATE_FINISHED;
  int code = kExitOk;
  auto catalog = FetchModels(conn, &code);
  if (!catalog) return code;
  *rows = report::RowsFrom(jobs, *catalog);
  return kExitOk;
}

void Filter(const CompareOptions& o, v1::Workload workload, std::vector<report::Row>* rows) {
  std::vector<report::Row> kept;
  for (auto& row : *rows)
    if ((o.model.empty() || row.model_id == o.model) &&
        (workload == v1::WORKLOAD_UNSPECIFIED || row.workload == workload))
      kept.push_back(std::move(row));
  *rows = std::move(kept);
}

std::string SideName(int64_t sweep, const std::string& csv) {
  return csv.empty() ? "sweep " + std::to_string(sweep) : csv;
}

int Run(Connection& conn, const CompareOptions& o) {
  if ((o.base_sweep > 0) == !o.base_csv.empty())
    return UsageError("compare: give the base side as exactly one of --base SWEEP or --base-csv FILE");
  if ((o.head_sweep > 0) == !o.head_csv.empty())
    return UsageError("compare: give the head side as exactly one of --head SWEEP or --head-csv FILE");
  if (o.csv && o.json) return UsageError("compare: --csv and --json exclude each other");
  if (Status valid = compare::ValidateOptions(o.stats); !valid.ok()) return UsageError("compare: " + valid.message());
  v1::Workload workload = v1::WORKLOAD_UNSPECIFIED;
  if (!o.workload.empty()) {
    auto parsed = ParseWorkload(o.workload);
    if (!parsed) return UsageError("--workload: unknown workload \"" + o.workload + "\" (forward, decode, train)");
    workload = *parsed;
  }
  // The server is needed only for a side given as a sweep: two CSV files compare offline.
  if (o.base_sweep > 0 || o.head_sweep > 0)
    if (Status opened = conn.Open(); !opened.ok()) return UsageError(opened);
  std::vector<report::Row> base, head;
  int base_unfinished = 0, head_unfinished = 0;
  if (int code = LoadSide(conn, "base", o.base_sweep, o.base_csv, &base, &base_unfinished); code != kExitOk)
    return code;
  if (int code = LoadSide(conn, "head", o.head_sweep, o.head_csv, &head, &head_unfinished); code != kExitOk)
    return code;
  // A running sweep compares as far as it has got, saying so; a CI gate on half a sweep would pass on what is
  // missing, so --fail-on-regression refuses it.
  for (const auto& [sweep, unfinished] :
       {std::pair{o.base_sweep, base_unfinished}, std::pair{o.head_sweep, head_unfinished}}) {
    if (unfinished == 0) continue;
    const std::string what = "sweep " + std::to_string(sweep) + " is still running: " + std::to_string(unfinished) +
                             " of its jobs have no result yet";
    if (o.fail_on_regression) return UsageError("compare: " + what + " (--fail-on-regression needs finished sweeps)");
    std::cerr << "tscale-client: compare: " << what << "; comparing the jobs that finished\n";
  }
  Filter(o, workload, &base);
  Filter(o, workload, &head);
  if (base.empty() || head.empty())
    return UsageError(
        std::string("compare: no finished jobs match on the ") + (base.empty() ? "base" : "head") + " side (" +
        SideName(base.empty() ? o.base_sweep : o.head_sweep, base.empty() ? o.base_csv : o.head_csv) + ")");

  const compare::Comparison comparison = compare::Compare(base, head, o.stats);
  if (o.csv) {
    std::cout << compare::RenderCompareCsv(comparison);
  } else if (o.json) {
    std::cout << compare::RenderCompareJson(comparison);  // ends with its newline
  } else {
    std::cout << "base: " << SideName(o.base_sweep, o.base_csv) << "\nhead: " << SideName(o.head_sweep, o.head_csv)
              << "\n\n"
              << compare::RenderCompareText(comparison);
  }
  if (!o.html.empty()) {
    const std::string title = SideName(o.base_sweep, o.base_csv) + " vs " + SideName(o.head_sweep, o.head_csv);
    if (Status written = WriteFileAtomically(o.html, compare::RenderCompareHtml(comparison, title)); !written.ok())
      return UsageError("compare: " + written.message());
    std::cerr << "tscale-client: HTML comparison written to " << o.html << "\n";
  }
  if (o.fail_on_regression && comparison.HasRegression()) {
    std::cerr << "tscale-client: compare: regression found (--fail-on-regression)\n";
    return kExitRegression;
  }
  return kExitOk;
}

}  // namespace

Command AddCompareCommand(CLI::App& app) {
  auto o = std::make_shared<CompareOptions>();
  CLI::App* c = app.add_subcommand("compare", "what got faster, slower or broke between two sweeps or CSV exports");
  c->add_option("--base", o->base_sweep, "the base side: a sweep on the server")->check(CLI::PositiveNumber);
  c->add_option("--head", o->head_sweep, "the head side: a sweep on the server")->check(CLI::PositiveNumber);
  c->add_option("--base-csv", o->base_csv, "the base side: a `results --csv` export")->check(CLI::ExistingFile);
  c->add_option("--head-csv", o->head_csv, "the head side: a `results --csv` export")->check(CLI::ExistingFile);
  c->add_option("--model", o->model, "only this model");
  c->add_option("--workload", o->workload, "only this workload (forward, decode, train)");
  c->add_option("--threshold", o->stats.threshold, "a median latency change smaller than this fraction is no change")
      ->capture_default_str();
  c->add_option("--alpha", o->stats.alpha, "significance level of the Mann-Whitney U test")->capture_default_str();
  c->add_option("--memory-threshold", o->stats.memory_threshold,
                "a peak-memory change smaller than this fraction is not listed")
      ->capture_default_str();
  c->add_option("--confidence", o->stats.confidence, "of the bootstrap interval of the ratio")->capture_default_str();
  c->add_option("--resamples", o->stats.bootstrap_resamples, "bootstrap resamples per cell")->capture_default_str();
  c->add_option("--seed", o->stats.seed, "seed of the bootstrap (the same seed gives the same intervals)")
      ->capture_default_str();
  c->add_flag("--csv", o->csv, "one CSV row per matched cell instead of the text");
  c->add_flag("--json", o->json, "the whole comparison as JSON instead of the text");
  c->add_option("--html", o->html, "also write the comparison as one self-contained HTML file to this path");
  c->add_flag("--fail-on-regression", o->fail_on_regression,
              "exit 4 when a cell is slower beyond the threshold with p < alpha, or a cell that worked fails");
  return {c, [o](Connection& conn) { return Run(conn, *o); }, /*needs_server=*/false};
}

}  // namespace tscale::client
