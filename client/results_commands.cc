// tscale-client results and report: finished jobs as a table, CSV or JSON; the study's tables, corrected, as
// text and as a self-contained HTML file.
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <sstream>

#include "client/commands.h"
#include "client/report/aggregate.h"
#include "client/report/crossover.h"
#include "client/report/csv.h"
#include "client/report/render_html.h"
#include "client/report/render_text.h"
#include "client/report/train_report.h"
#include "client/results_table.h"
#include "common/file_io.h"
#include "common/outcome.h"

namespace tscale::client {
namespace {

struct ResultsOptions {
  int64_t sweep = 0;
  std::string model, outcome, category, workload;
  int length = 0;
  bool csv = false, json = false;
};

struct ReportOptions {
  int64_t sweep = 0;
  std::string csv, category, model, html;
};

// The rows a report is made from: a CSV export, or the coordinator's finished jobs matching the filters.
// *unfinished counts the matching jobs that have no result yet (a sweep still running). 0 or an exit code.
int LoadRows(Connection& conn, const ReportOptions& o, std::vector<report::Row>* rows, int* unfinished) {
  *unfinished = 0;
  auto wanted = [&](const std::string& model_id, const std::string& category) {
    return (o.category.empty() || category == o.category) && (o.model.empty() || model_id == o.model);
  };
  if (!o.csv.empty()) {
    auto parsed = report::ReadCsvFile(o.csv);
    if (!parsed.ok()) return UsageError(parsed.status().message());
    *rows = std::move(parsed).value();
  } else {
    v1::ListResultsRequest request;
    request.set_sweep_id(o.sweep);
    // The HTML report's latency bands are p10-p90 of the samples; without them it can only show min-p90. It
    // reads no decode step or train loss, so those are not fetched.
    request.set_include_samples(!o.html.empty());
    request.set_latency_samples_only(true);
    v1::ListResultsResponse jobs;
    grpc::Status status = ListAllResults(conn, request, &jobs);
    if (!status.ok()) return conn.Fail(status);
    int code = kExitOk;
    auto catalog = FetchModels(conn, &code);
    if (!catalog) return code;
    *rows = report::RowsFrom(jobs, *catalog);
    std::map<std::string, std::string> category_of;
    for (const auto& m : catalog->models()) category_of[m.id()] = m.category();
    for (const auto& job : jobs.jobs())
      if (job.state() != v1::JOB_STATE_FINISHED && wanted(job.spec().model_id(), category_of[job.spec().model_id()]))
        ++*unfinished;
  }
  rows->erase(std::remove_if(rows->begin(), rows->end(),
                             [&](const report::Row& row) { return !wanted(row.model_id, row.category); }),
              rows->end());
  return kExitOk;
}

// "sweep 3 is still running: 4 of 12 jobs have no result yet; these tables cover the 8 that finished."
std::string PartialNote(const ReportOptions& o, size_t finished, int unfinished) {
  const std::string scope = o.sweep > 0 ? "sweep " + std::to_string(o.sweep) : "the sweeps";
  if (finished == 0)
    return scope + " is still running: none of its " + std::to_string(unfinished) + " matching jobs has finished yet";
  return scope + " is still running: " + std::to_string(unfinished) + " of " + std::to_string(finished + unfinished) +
         " matching jobs have no result yet; these tables cover the " + std::to_string(finished) + " that finished";
}

int WriteHtml(const ReportOptions& o, const std::vector<report::Row>& rows, int unfinished) {
  report::HtmlReportOptions options;
  options.scope = !o.csv.empty() ? o.csv : o.sweep > 0 ? "sweep " + std::to_string(o.sweep) : "every sweep";
  if (!o.category.empty()) options.scope += ", category " + o.category;
  if (!o.model.empty()) options.scope += ", model " + o.model;
  if (unfinished > 0) options.scope += " (still running: " + std::to_string(unfinished) + " jobs not finished yet)";
  // Atomic: a report being regenerated is never seen half-written by a browser or a CI step reading it.
  const Status written = WriteFileAtomically(o.html, report::RenderHtml(rows, options));
  if (!written.ok()) return UsageError("report: " + written.message());
  std::cerr << "tscale-client: HTML report written to " << o.html << "\n";
  return kExitOk;
}

}  // namespace

int PrintResultsTable(Connection& conn, const v1::ListResultsRequest& request) {
  v1::ListResultsResponse response;
  grpc::Status status = ListAllResults(conn, request, &response);
  if (!status.ok()) return conn.Fail(status);
  std::cout << RenderResultsTable(response);
  return kExitOk;
}

Command AddResultsCommand(CLI::App& app) {
  auto o = std::make_shared<ResultsOptions>();
  CLI::App* c = app.add_subcommand("results", "list jobs and their results");
  c->add_option("--sweep,-s", o->sweep, "only this sweep");
  c->add_option("--model", o->model, "only this model");
  c->add_option("--length", o->length, "only this sequence length");
  c->add_option("--outcome", o->outcome, "only this outcome (ok, exceeds_context, oom, ...)");
  c->add_option("--category", o->category, "only models of this category");
  c->add_option("--workload", o->workload, "only jobs of this workload (forward, decode, train)");
  c->add_flag("--csv", o->csv,
              "CSV, one row per finished job, its latency samples and environment included (what `report "
              "--from-csv` reads)");
  c->add_flag("--json", o->json, "JSON (the ListResults response, samples included)");
  return {c, [o](Connection& conn) {
            if (o->csv && o->json) return UsageError("results: --csv and --json exclude each other");
            v1::ListResultsRequest request;
            request.set_sweep_id(o->sweep);
            request.set_model_id(o->model);
            request.set_seq_len(o->length);
            request.set_category(o->category);
            // JSON: everything. CSV: the latency samples (its samples_ms column), not the decode steps or
            // train losses it has no column for, so a page holds as many jobs as the budgets allow.
            request.set_include_samples(o->json || o->csv);
            request.set_latency_samples_only(o->csv);
            if (!o->outcome.empty()) {
              auto outcome = ParseOutcome(o->outcome);
              if (!outcome) return UsageError("--outcome: unknown outcome \"" + o->outcome + "\"");
              request.set_outcome(*outcome);
            }
            if (!o->workload.empty()) {
              auto workload = ParseWorkload(o->workload);
              if (!workload)
                return UsageError("--workload: unknown workload \"" + o->workload + "\" (forward, decode, train)");
              request.set_workload(*workload);
            }
            if (!o->csv && !o->json) return PrintResultsTable(conn, request);
            v1::ListResultsResponse response;
            grpc::Status status = ListAllResults(conn, request, &response);
            if (!status.ok()) return conn.Fail(status);
            if (o->json) {
              std::string json;
              google::protobuf::util::JsonPrintOptions options;
              options.add_whitespace = true;
              google::protobuf::util::MessageToJsonString(response, &json, options);
              std::cout << json << "\n";
              return kExitOk;
            }
            int code = kExitOk;
            auto models = FetchModels(conn, &code);
            if (!models) return code;
            std::cout << report::ToCsv(report::RowsFrom(response, *models));
            return kExitOk;
          }};
}

Command AddReportCommand(CLI::App& app) {
  auto o = std::make_shared<ReportOptions>();
  CLI::App* c = app.add_subcommand("report", "the study's tables from measured results, corrected");
  c->add_option("--sweep,-s", o->sweep, "only this sweep (default: every sweep)");
  c->add_option("--from-csv", o->csv, "make the report offline from `results --csv` output")->check(CLI::ExistingFile);
  c->add_option("--category", o->category, "only this category");
  c->add_option("--model", o->model, "only this model");
  c->add_option("--html", o->html,
                "also write the report as one self-contained HTML file with SVG charts to this path");
  return {c, [o](Connection& conn) {
            std::vector<report::Row> rows;
            int unfinished = 0;
            if (int code = LoadRows(conn, *o, &rows, &unfinished); code != kExitOk) return code;
            // A running sweep is reported as far as it has got, saying what is missing: not an error.
            if (unfinished > 0) std::cout << PartialNote(*o, rows.size(), unfinished) << "\n\n";
            if (rows.empty()) return unfinished > 0 ? kExitOk : UsageError("report: no finished jobs match");
            // Forward and decode figures are never pooled: each workload's cells make their own tables.
            const auto forward = report::Cells(rows);
            if (!forward.empty()) std::cout << report::RenderText(forward);
            const std::string decode = report::RenderDecode(report::Cells(rows, v1::WORKLOAD_DECODE));
            if (!decode.empty())
              std::cout << (forward.empty() ? "" : "\n") << decode << report::RenderDecodeScaling(rows);
            const std::string train = report::RenderTrain(rows);  // training: its own tables, and every wall
            if (!train.empty()) std::cout << (forward.empty() && decode.empty() ? "" : "\n") << train;
            // Linear-time models against transformers: only when the rows hold both models of a pair.
            const std::string crossover = report::RenderCrossover(rows);
            if (!crossover.empty()) std::cout << "\n" << crossover;
            const std::string walls = report::RenderWalls(report::Walls(rows));
            if (!walls.empty()) std::cout << "\n" << walls;
            return o->html.empty() ? kExitOk : WriteHtml(*o, rows, unfinished);
          }};
}

}  // namespace tscale::client
