// tscale-client: submit sweeps to a tscale-server and read their results.
//
// Exit codes: 0 success; 1 the server could not be reached or failed; 2 bad arguments, a request the
// server rejected as invalid, or refused credentials; 3 --wait gave up before the sweep finished.
#include <grpcpp/grpcpp.h>

#include <unistd.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include <google/protobuf/util/json_util.h>

#include "client/progress.h"
#include "client/report/aggregate.h"
#include "client/report/csv.h"
#include "client/report/render_html.h"
#include "client/report/render_text.h"
#include "client/sweep_request.h"
#include "client/table.h"
#include "common/byte_size.h"
#include "common/grpc_channel.h"
#include "common/host_info.h"
#include "common/outcome.h"
#include "common/version.h"
#include "tscale/v1/tscale.grpc.pb.h"

namespace {

using tscale::TextTable;
namespace v1 = tscale::v1;

constexpr int kExitOk = 0, kExitServer = 1, kExitUsage = 2, kExitWaitTimeout = 3;

struct Connection {
  std::string address = "127.0.0.1:50051";
  double timeout_s = 30;
  std::string tls_ca, token_file, token;
  std::unique_ptr<v1::TscaleService::Stub> stub;

  tscale::Status Open() {
    auto loaded = tscale::LoadToken(token_file, "TSCALE_TOKEN");
    if (!loaded.ok()) return loaded.status();
    token = *loaded;
    auto channel = tscale::MakeChannel({address, tls_ca, token});
    if (!channel.ok()) return channel.status();
    stub = v1::TscaleService::NewStub(*channel);
    return tscale::Status::Ok();
  }
  std::unique_ptr<grpc::ClientContext> Context() const {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000)));
    tscale::AddBearerToken(ctx.get(), token);
    return ctx;
  }
  // One clear line per failure; the exit code separates "your request" from "the server".
  int Fail(const grpc::Status& status) const {
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
        status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      std::cerr << "tscale-client: cannot reach tscale-server at " << address << ": " << status.error_message() << "\n";
      return kExitServer;
    }
    std::cerr << "tscale-client: " << status.error_message() << "\n";
    switch (status.error_code()) {
      case grpc::StatusCode::INVALID_ARGUMENT:
      case grpc::StatusCode::NOT_FOUND:
      case grpc::StatusCode::UNAUTHENTICATED:
      case grpc::StatusCode::PERMISSION_DENIED:
        return kExitUsage;
      default:
        return kExitServer;
    }
  }
};

std::string ProgressLine(const v1::SweepStatus& s) {
  std::string line = "sweep " + std::to_string(s.sweep_id()) + ": " + std::to_string(s.finished()) + "/" +
                     std::to_string(s.total_jobs()) + " finished, " + std::to_string(s.running() + s.leased()) +
                     " running, " + std::to_string(s.queued()) + " queued";
  std::string outcomes;
  // protobuf maps iterate in no fixed order; sort so repeated lines compare equal.
  const std::map<std::string, int> sorted(s.outcome_counts().begin(), s.outcome_counts().end());
  for (const auto& [name, count] : sorted)
    outcomes += (outcomes.empty() ? "" : ", ") + name + "=" + std::to_string(count);
  if (!outcomes.empty()) line += " [" + outcomes + "]";
  for (const auto& reason : s.waiting_reasons()) line += "; waiting: " + reason;
  return line;
}

enum class ResultsFormat { kTable, kCsv, kJson };

// The catalog as the server knows it (categories and parameter counts for reports).
std::optional<v1::ListModelsResponse> FetchModels(Connection& conn, int* exit_code) {
  v1::ListModelsResponse models;
  auto ctx = conn.Context();
  grpc::Status status = conn.stub->ListModels(ctx.get(), v1::ListModelsRequest(), &models);
  if (!status.ok()) {
    *exit_code = conn.Fail(status);
    return std::nullopt;
  }
  return models;
}

int UsageError(const tscale::Status& status) {
  std::cerr << "tscale-client: " << status.message() << "\n";
  return kExitUsage;
}

// Every job matching `request`, following the coordinator's page cursor (pages are bounded server-side).
grpc::Status ListAllResults(Connection& conn, v1::ListResultsRequest request, v1::ListResultsResponse* all) {
  all->Clear();
  while (true) {
    v1::ListResultsResponse page;
    auto ctx = conn.Context();
    grpc::Status status = conn.stub->ListResults(ctx.get(), request, &page);
    if (!status.ok()) return status;
    for (auto& job : *page.mutable_jobs()) *all->add_jobs() = std::move(job);
    if (page.next_after_job_id() == 0) return grpc::Status::OK;
    request.set_after_job_id(page.next_after_job_id());
  }
}

int PrintResults(Connection& conn, const v1::ListResultsRequest& request,
                 ResultsFormat format = ResultsFormat::kTable) {
  v1::ListResultsResponse response;
  grpc::Status status = ListAllResults(conn, request, &response);
  if (!status.ok()) return conn.Fail(status);
  if (format == ResultsFormat::kJson) {
    std::string json;
    google::protobuf::util::JsonPrintOptions options;
    options.add_whitespace = true;
    google::protobuf::util::MessageToJsonString(response, &json, options);
    std::cout << json << "\n";
    return kExitOk;
  }
  if (format == ResultsFormat::kCsv) {
    int code = kExitOk;
    auto models = FetchModels(conn, &code);
    if (!models) return code;
    std::cout << tscale::report::ToCsv(tscale::report::RowsFrom(response, *models));
    return kExitOk;
  }

  TextTable table;
  using A = TextTable::Align;
  for (auto [header, align] : std::vector<std::pair<const char*, A>>{{"job", A::kRight},
                                                                     {"model", A::kLeft},
                                                                     {"len", A::kRight},
                                                                     {"batch", A::kRight},
                                                                     {"outcome", A::kLeft},
                                                                     {"params", A::kRight},
                                                                     {"load_ms", A::kRight},
                                                                     {"median_ms", A::kRight},
                                                                     {"iqr_ms", A::kRight},
                                                                     {"n", A::kRight},
                                                                     {"tokens/s", A::kRight},
                                                                     {"peak_MiB", A::kRight},
                                                                     {"detail", A::kLeft}})
    table.AddColumn(header, align);
  for (const auto& job : response.jobs()) {
    const auto& spec = job.spec();
    const auto& r = job.result();
    const bool finished = job.state() == v1::JOB_STATE_FINISHED;
    const bool measured = finished && (r.outcome() == v1::OUTCOME_OK || r.outcome() == v1::OUTCOME_INVALID);
    std::string detail = r.message();
    if (!r.signal_name().empty() && detail.find(r.signal_name()) == std::string::npos)
      detail = r.signal_name() + " " + detail;
    for (const auto& reason : r.invalid_reasons()) detail += (detail.empty() ? "" : "; ") + reason;
    if (detail.size() > 60) detail = detail.substr(0, 57) + "...";
    table.AddRow({std::to_string(spec.job_id()), spec.model_id(), std::to_string(spec.seq_len()),
                  std::to_string(spec.batch_size()),
                  finished ? tscale::OutcomeName(r.outcome()) : tscale::JobStateName(job.state()),
                  r.parameter_count() > 0 ? tscale::FormatMillions(r.parameter_count()) : "",
                  measured ? tscale::FormatFixed(r.load_time_ms(), 0) : "",
                  measured ? tscale::FormatFixed(r.latency().median_ms(), 1) : "",
                  measured ? tscale::FormatFixed(r.latency().iqr_ms(), 1) : "",
                  measured ? std::to_string(r.latency().count()) : "",
                  measured ? tscale::FormatFixed(r.tokens_per_second(), 0) : "",
                  measured ? tscale::FormatMiB(r.memory().peak_rss_bytes()) : "", detail});
  }
  std::cout << table.Render();
  const std::string walls =
      tscale::report::RenderWalls(tscale::report::Walls(tscale::report::RowsFrom(response, v1::ListModelsResponse())));
  if (!walls.empty()) std::cout << "\n" << walls;
  return kExitOk;
}

// Polls the sweep until every job has finished; prints a line whenever progress changes.
int WaitForSweep(Connection& conn, int64_t sweep_id, double max_wait_s) {
  const auto give_up =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(max_wait_s * 1000));
  std::string last_line;
  while (true) {
    v1::GetSweepRequest request;
    request.set_sweep_id(sweep_id);
    v1::SweepStatus status;
    auto ctx = conn.Context();
    grpc::Status rpc = conn.stub->GetSweep(ctx.get(), request, &status);
    if (!rpc.ok()) return conn.Fail(rpc);
    std::string line = ProgressLine(status);
    if (line != last_line) std::cout << line << std::endl;
    last_line = line;
    if (status.done()) return kExitOk;
    if (max_wait_s > 0 && std::chrono::steady_clock::now() > give_up) {
      std::cerr << "tscale-client: sweep " << sweep_id << " not finished after " << max_wait_s << " s\n";
      return kExitWaitTimeout;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

// Streams a sweep's events until it finishes. Resumes from the last event after a disconnect (the server
// restarting, say), so no event is shown twice or skipped. On a terminal, a progress line is redrawn.
int WatchSweep(Connection& conn, int64_t sweep_id, int64_t after_event_id) {
  const bool tty = isatty(STDOUT_FILENO);
  std::map<int64_t, std::string> job_names;  // job id -> "model@len"
  int total = 0;
  // A wall-finder sweep grows while it runs: a job id not seen yet means the listing is refreshed.
  auto refresh = [&]() -> grpc::Status {
    v1::ListResultsRequest list;
    list.set_sweep_id(sweep_id);
    v1::ListResultsResponse jobs;
    grpc::Status status = ListAllResults(conn, list, &jobs);
    if (!status.ok()) return status;
    for (const auto& job : jobs.jobs())
      job_names[job.spec().job_id()] = job.spec().model_id() + "@" + std::to_string(job.spec().seq_len());
    total = jobs.jobs_size();
    return status;
  };
  if (grpc::Status listed = refresh(); !listed.ok()) return conn.Fail(listed);
  tscale::client::Progress progress;
  progress.total = total;
  int64_t cursor = after_event_id;
  int failures = 0;
  while (true) {
    grpc::ClientContext ctx;
    tscale::AddBearerToken(&ctx, conn.token);
    v1::WatchSweepRequest request;
    request.set_sweep_id(sweep_id);
    request.set_after_event_id(cursor);
    auto reader = conn.stub->WatchSweep(&ctx, request);
    v1::SweepEvent event;
    while (reader->Read(&event)) {
      failures = 0;
      cursor = std::max(cursor, event.event_id());
      if (event.unix_ms() > 0 && (progress.started_unix_ms == 0 || event.unix_ms() < progress.started_unix_ms))
        progress.started_unix_ms = event.unix_ms();
      if (event.keepalive()) continue;
      if (event.end_of_sweep()) {
        if (tty) std::cout << "\n";
        std::cout << "sweep " << sweep_id << " finished (last event " << cursor << ")" << std::endl;
        return kExitOk;
      }
      if (event.job_id() > 0 && !job_names.count(event.job_id()) && refresh().ok()) progress.total = total;
      const std::string name = job_names.count(event.job_id()) ? job_names[event.job_id()] : "?";
      std::string line =
          "[" + std::to_string(event.event_id()) + "] job " + std::to_string(event.job_id()) + " " + name + " ";
      if (event.has_metric()) {
        line += event.metric().phase() + " " + std::to_string(event.metric().iterations_done()) + " (last " +
                tscale::FormatFixed(event.metric().last_latency_ms(), 1) + " ms)";
      } else if (event.state() == v1::JOB_STATE_FINISHED) {
        ++progress.finished;
        ++progress.by_outcome[tscale::OutcomeName(event.outcome())];
        line += tscale::OutcomeName(event.outcome()) + (event.detail().empty() ? "" : ": " + event.detail());
      } else {
        line += tscale::JobStateName(event.state()) + (event.detail().empty() ? "" : ": " + event.detail());
      }
      if (tty) {
        progress.now_unix_ms = tscale::NowUnixMs();
        std::cout << "\r\033[K" << line << "\n" << tscale::client::ProgressBar(progress) << std::flush;
      } else {
        std::cout << line << std::endl;
      }
    }
    grpc::Status status = reader->Finish();
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE || ++failures > 30) return conn.Fail(status);
    std::cerr << "tscale-client: watch interrupted (" << status.error_message() << "); resuming after event " << cursor
              << std::endl;
    std::this_thread::sleep_for(std::chrono::milliseconds(500 * std::min(failures, 4)));
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tscale-client: submit transformer scaling sweeps and read their results"};
  app.require_subcommand(1);
  Connection conn;
  app.add_option("--server", conn.address, "tscale-server address")->envname("TSCALE_SERVER")->capture_default_str();
  app.add_option("--timeout-s", conn.timeout_s, "deadline of each call to the server")->capture_default_str();
  app.add_option("--tls-ca", conn.tls_ca, "PEM roots to verify the server's TLS certificate (enables TLS)")
      ->envname("TSCALE_TLS_CA")
      ->check(CLI::ExistingFile);
  app.add_option("--token-file", conn.token_file, "file holding the client bearer token (or env TSCALE_TOKEN)")
      ->envname("TSCALE_TOKEN_FILE")
      ->check(CLI::ExistingFile);
  app.set_version_flag("--version", tscale::kVersion);

  // submit
  auto* submit = app.add_subcommand("submit", "submit a sweep: models x lengths x batch sizes x ...");
  v1::SweepSpec spec;
  std::vector<std::string> models, categories, lengths, dtypes, attention, required_labels, tags;
  std::vector<int> batches;
  std::string preset, device, min_device_memory;
  int repetitions = 1, warmup = 0, min_iters = 0, threads = 0;
  double min_time_s = 0, job_timeout_s = 0, wait_max_s = 0;
  std::string name;
  bool wait = false, show_results = false, extend_context = false;
  std::string sweep_file;
  submit->add_option("--file,-f", sweep_file, "sweep file: a SweepSpec in JSON (flags given too override it)")
      ->check(CLI::ExistingFile);
  submit->add_option("--preset", preset,
                     "quick (the smallest model of every category at 128,512) or paper (every model at "
                     "128,512,1024,2048); other flags refine it");
  submit->add_option("--models,-m", models, "model ids or aliases, category:NAME, or all")->delimiter(',');
  submit->add_option("--category", categories, "every catalog model of this category (repeatable)");
  submit->add_option("--lengths,-l", lengths, "sequence lengths: N or a doubling range FROM..TO (128..2048)")
      ->delimiter(',');
  submit->add_option("--batch,-b", batches, "batch sizes (default 1)")->delimiter(',');
  submit->add_option("--dtype", dtypes, "fp32, bf16, fp16 (default fp32)")->delimiter(',');
  submit->add_option("--attention", attention, "eager, memory_efficient, fused (default eager)")->delimiter(',');
  submit->add_option("--repetitions", repetitions, "independent runs of every cell")->check(CLI::Range(1, 1000));
  submit->add_option("--name", name, "a name for the sweep");
  submit->add_option("--warmup", warmup, "warm-up forwards (default 2)");
  submit->add_option("--min-iters", min_iters, "minimum timed forwards (default 5)");
  submit->add_option("--min-time-s", min_time_s, "minimum timed seconds (default 1)");
  submit->add_option("--threads", threads, "runner threads (default: the worker's cores)");
  submit->add_option("--job-timeout-s", job_timeout_s, "execution limit of one job (default 1800)");
  submit->add_flag("--extend-context", extend_context, "run past the models' position limits");
  submit->add_option("--device", device, "run only on workers of this device kind: cpu, cuda, mps");
  submit->add_option("--min-device-memory", min_device_memory,
                     "run only on workers with this much device memory (16G)");
  submit->add_option("--require-label", required_labels, "run only on workers advertising this label (repeatable)");
  submit->add_option("--tag", tags, "KEY=VALUE stored with the sweep (repeatable)");
  bool find_wall = false;
  int wall_start = 0, wall_max = 0, wall_resolution = 0;
  submit->add_flag("--find-wall", find_wall,
                   "find each model's longest working length: probes double from --wall-start until the first "
                   "failure, then bisect to --wall-resolution (no --lengths)");
  submit->add_option("--wall-start", wall_start, "with --find-wall: the first probe's length (default 128)");
  submit->add_option("--wall-max", wall_max, "with --find-wall: stop growing here (default: the coordinator's cap)");
  submit->add_option("--wall-resolution", wall_resolution,
                     "with --find-wall: the final bracket's width in tokens (default 64)");
  submit->add_flag("--wait", wait, "wait until every job has finished");
  submit->add_option("--wait-max-s", wait_max_s, "with --wait: give up after this long (0 = never)");
  submit->add_flag("--results", show_results, "with --wait: print the results table at the end");

  // results
  auto* results = app.add_subcommand("results", "list jobs and their results");
  v1::ListResultsRequest results_request;
  int64_t results_sweep = 0;
  std::string results_model, results_outcome;
  int results_length = 0;
  results->add_option("--sweep,-s", results_sweep, "only this sweep");
  results->add_option("--model", results_model, "only this model");
  results->add_option("--length", results_length, "only this sequence length");
  results->add_option("--outcome", results_outcome, "only this outcome (ok, exceeds_context, oom, ...)");
  std::string results_category;
  bool results_csv = false, results_json = false;
  results->add_option("--category", results_category, "only models of this category");
  results->add_flag("--csv", results_csv, "CSV, one row per finished job (what `report --from-csv` reads)");
  results->add_flag("--json", results_json, "JSON (the ListResults response, samples included)");

  auto* report_cmd = app.add_subcommand("report", "the study's tables from measured results, corrected");
  int64_t report_sweep = 0;
  std::string report_csv, report_category, report_model;
  report_cmd->add_option("--sweep,-s", report_sweep, "only this sweep (default: every sweep)");
  report_cmd->add_option("--from-csv", report_csv, "make the report offline from `results --csv` output")
      ->check(CLI::ExistingFile);
  report_cmd->add_option("--category", report_category, "only this category");
  report_cmd->add_option("--model", report_model, "only this model");
  std::string report_html;
  report_cmd->add_option("--html", report_html,
                         "also write the report as one self-contained HTML file with SVG charts to this path");

  // status
  auto* status_cmd = app.add_subcommand("status", "progress of a sweep (or of the latest sweeps)");
  int64_t status_sweep = 0;
  status_cmd->add_option("--sweep,-s", status_sweep, "sweep id (default: the 10 latest)");

  auto* watch_cmd = app.add_subcommand("watch", "follow a sweep live until it finishes");
  int64_t watch_sweep = 0, watch_after = 0;
  watch_cmd->add_option("--sweep,-s", watch_sweep, "sweep id")->required();
  watch_cmd->add_option("--after", watch_after, "resume after this event id");

  auto* cancel_cmd = app.add_subcommand("cancel", "cancel a sweep, or one job of it");
  int64_t cancel_sweep = 0, cancel_job = 0;
  cancel_cmd->add_option("--sweep,-s", cancel_sweep, "sweep id");
  cancel_cmd->add_option("--job,-j", cancel_job, "job id (default: every unfinished job of the sweep)");

  auto* workers_cmd = app.add_subcommand("workers", "list the workers the coordinator knows");

  auto* models_cmd = app.add_subcommand("models", "list the model catalog");
  std::string models_category;
  models_cmd->add_option("--category", models_category, "only this category");

  CLI11_PARSE(app, argc, argv);
  if (tscale::Status opened = conn.Open(); !opened.ok()) {
    std::cerr << "tscale-client: " << opened.message() << "\n";
    return kExitUsage;
  }

  if (*submit) {
    if (!sweep_file.empty()) {
      std::ifstream in(sweep_file);
      std::stringstream text;
      text << in.rdbuf();
      auto parsed = google::protobuf::util::JsonStringToMessage(text.str(), &spec);
      if (!parsed.ok()) {
        std::cerr << "tscale-client: sweep file " << sweep_file << ": " << parsed.message() << "\n";
        return kExitUsage;
      }
    }
    for (const auto& c : categories) models.push_back("category:" + c);
    const bool needs_catalog = !preset.empty() || std::any_of(models.begin(), models.end(), [](const std::string& m) {
      return m == "all" || m.rfind("category:", 0) == 0;
    });
    std::optional<v1::ListModelsResponse> catalog;
    if (needs_catalog) {
      int code = kExitOk;
      catalog = FetchModels(conn, &code);
      if (!catalog) return code;
    }
    if (!preset.empty()) {
      auto grid = tscale::client::Preset(preset, *catalog);
      if (!grid.ok()) return UsageError(grid.status());
      *spec.mutable_models() = grid->models();
      *spec.mutable_seq_lengths() = grid->seq_lengths();
      if (spec.name().empty()) spec.set_name(grid->name());
    }
    if (spec.models().empty() && models.empty()) {
      std::cerr << "tscale-client: submit: --models, --category or --preset (or a sweep file with \"models\") is "
                   "required\n";
      return kExitUsage;
    }
    if (find_wall) {
      spec.set_find_wall(true);
      if (wall_start) spec.mutable_wall()->set_start_length(wall_start);
      if (wall_max) spec.mutable_wall()->set_max_length(wall_max);
      if (wall_resolution) spec.mutable_wall()->set_resolution(wall_resolution);
    } else if (wall_start || wall_max || wall_resolution) {
      std::cerr << "tscale-client: submit: --wall-start, --wall-max and --wall-resolution need --find-wall\n";
      return kExitUsage;
    }
    if (spec.seq_lengths().empty() && lengths.empty() && !spec.find_wall()) {
      std::cerr << "tscale-client: submit: --lengths (or a sweep file with \"seqLengths\") is required\n";
      return kExitUsage;
    }
    if (!models.empty()) {
      auto expanded = tscale::client::ExpandModels(models, catalog ? *catalog : v1::ListModelsResponse());
      if (!expanded.ok()) return UsageError(expanded.status());
      spec.clear_models();
      for (const auto& m : *expanded) spec.add_models(m);
    }
    if (!lengths.empty()) {
      auto parsed = tscale::client::ParseLengths(lengths);
      if (!parsed.ok()) return UsageError(parsed.status());
      spec.clear_seq_lengths();
      for (int n : *parsed) spec.add_seq_lengths(n);
    }
    if (!batches.empty()) spec.clear_batch_sizes();
    if (!name.empty()) spec.set_name(name);
    if (!device.empty()) {
      auto kind = tscale::ParseDeviceKind(device);
      if (!kind) {
        std::cerr << "tscale-client: --device: unknown device kind \"" << device << "\" (cpu, cuda, mps)\n";
        return kExitUsage;
      }
      spec.mutable_requirements()->set_device_kind(*kind);
    }
    if (!min_device_memory.empty()) {
      auto bytes = tscale::ParseByteSize(min_device_memory);
      if (!bytes.ok()) {
        std::cerr << "tscale-client: --min-device-memory: " << bytes.status().message() << "\n";
        return kExitUsage;
      }
      spec.mutable_requirements()->set_min_device_memory_bytes(*bytes);
    }
    for (const auto& l : required_labels) spec.mutable_requirements()->add_labels(l);
    for (const auto& tag : tags) {
      const auto eq = tag.find('=');
      if (eq == std::string::npos || eq == 0) {
        std::cerr << "tscale-client: --tag: \"" << tag << "\" is not KEY=VALUE\n";
        return kExitUsage;
      }
      (*spec.mutable_labels())[tag.substr(0, eq)] = tag.substr(eq + 1);
    }
    for (int b : batches) spec.add_batch_sizes(b);
    for (const auto& d : dtypes) {
      auto parsed = tscale::ParseDType(d);
      if (!parsed) {
        std::cerr << "tscale-client: --dtype: unknown dtype \"" << d << "\" (fp32, bf16, fp16)\n";
        return kExitUsage;
      }
      spec.add_dtypes(*parsed);
    }
    for (const auto& a : attention) {
      auto parsed = tscale::ParseAttention(a);
      if (!parsed) {
        std::cerr << "tscale-client: --attention: unknown implementation \"" << a
                  << "\" (eager, memory_efficient, fused)\n";
        return kExitUsage;
      }
      spec.add_attention(*parsed);
    }
    if (submit->count("--repetitions")) spec.set_repetitions(repetitions);
    if (extend_context) spec.set_extend_context(true);
    auto* m = spec.mutable_measurement();
    if (warmup) m->set_warmup_iters(warmup);
    if (min_iters) m->set_min_iters(min_iters);
    if (min_time_s) m->set_min_time_s(min_time_s);
    if (threads) m->set_threads(threads);
    if (job_timeout_s) m->set_timeout_s(job_timeout_s);

    v1::SubmitSweepRequest request;
    *request.mutable_spec() = spec;
    v1::SubmitSweepResponse response;
    auto ctx = conn.Context();
    grpc::Status status = conn.stub->SubmitSweep(ctx.get(), request, &response);
    if (!status.ok()) return conn.Fail(status);
    std::cout << "sweep " << response.sweep_id() << " submitted: " << response.job_count() << " jobs" << std::endl;
    if (!wait) return kExitOk;
    int code = WaitForSweep(conn, response.sweep_id(), wait_max_s);
    if (code != kExitOk || !show_results) return code;
    v1::ListResultsRequest list;
    list.set_sweep_id(response.sweep_id());
    return PrintResults(conn, list);
  }

  if (*results) {
    results_request.set_sweep_id(results_sweep);
    results_request.set_model_id(results_model);
    results_request.set_seq_len(results_length);
    results_request.set_category(results_category);
    if (results_csv && results_json) {
      std::cerr << "tscale-client: results: --csv and --json exclude each other\n";
      return kExitUsage;
    }
    results_request.set_include_samples(results_json);
    if (!results_outcome.empty()) {
      auto outcome = tscale::ParseOutcome(results_outcome);
      if (!outcome) {
        std::cerr << "tscale-client: --outcome: unknown outcome \"" << results_outcome << "\"\n";
        return kExitUsage;
      }
      results_request.set_outcome(*outcome);
    }
    return PrintResults(conn, results_request,
                        results_csv    ? ResultsFormat::kCsv
                        : results_json ? ResultsFormat::kJson
                                       : ResultsFormat::kTable);
  }

  if (*report_cmd) {
    std::vector<tscale::report::Row> rows;
    if (!report_csv.empty()) {
      std::ifstream in(report_csv);
      std::stringstream text;
      text << in.rdbuf();
      auto parsed = tscale::report::FromCsv(text.str());
      if (!parsed.ok()) {
        std::cerr << "tscale-client: " << report_csv << ": " << parsed.status().message() << "\n";
        return kExitUsage;
      }
      rows = std::move(parsed).value();
    } else {
      v1::ListResultsRequest request;
      request.set_sweep_id(report_sweep);
      v1::ListResultsResponse jobs;
      grpc::Status status = ListAllResults(conn, request, &jobs);
      if (!status.ok()) return conn.Fail(status);
      int code = kExitOk;
      auto catalog = FetchModels(conn, &code);
      if (!catalog) return code;
      rows = tscale::report::RowsFrom(jobs, *catalog);
    }
    rows.erase(std::remove_if(rows.begin(), rows.end(),
                              [&](const tscale::report::Row& row) {
                                return (!report_category.empty() && row.category != report_category) ||
                                       (!report_model.empty() && row.model_id != report_model);
                              }),
               rows.end());
    if (rows.empty()) {
      std::cerr << "tscale-client: report: no finished jobs match\n";
      return kExitUsage;
    }
    std::cout << tscale::report::RenderText(tscale::report::Cells(rows));
    const std::string walls = tscale::report::RenderWalls(tscale::report::Walls(rows));
    if (!walls.empty()) std::cout << "\n" << walls;
    if (!report_html.empty()) {
      tscale::report::HtmlReportOptions options;
      options.scope = !report_csv.empty() ? report_csv
                      : report_sweep > 0  ? "sweep " + std::to_string(report_sweep)
                                          : "every sweep";
      if (!report_category.empty()) options.scope += ", category " + report_category;
      if (!report_model.empty()) options.scope += ", model " + report_model;
      std::ofstream out(report_html, std::ios::binary | std::ios::trunc);
      out << tscale::report::RenderHtml(rows, options);
      if (!out.flush()) {
        std::cerr << "tscale-client: report: cannot write " << report_html << "\n";
        return kExitUsage;
      }
      std::cerr << "tscale-client: HTML report written to " << report_html << "\n";
    }
    return kExitOk;
  }

  if (*status_cmd) {
    if (status_sweep > 0) {
      v1::GetSweepRequest request;
      request.set_sweep_id(status_sweep);
      v1::SweepStatus status;
      auto ctx = conn.Context();
      grpc::Status rpc = conn.stub->GetSweep(ctx.get(), request, &status);
      if (!rpc.ok()) return conn.Fail(rpc);
      std::cout << ProgressLine(status) << "\n";
      return kExitOk;
    }
    v1::ListSweepsRequest request;
    request.set_limit(10);
    v1::ListSweepsResponse response;
    auto ctx = conn.Context();
    grpc::Status rpc = conn.stub->ListSweeps(ctx.get(), request, &response);
    if (!rpc.ok()) return conn.Fail(rpc);
    for (const auto& s : response.sweeps()) std::cout << ProgressLine(s) << "\n";
    return kExitOk;
  }

  if (*watch_cmd) return WatchSweep(conn, watch_sweep, watch_after);

  if (*cancel_cmd) {
    if (cancel_sweep == 0 && cancel_job == 0) {
      std::cerr << "tscale-client: cancel: give --sweep, --job or both\n";
      return kExitUsage;
    }
    v1::CancelRequest request;
    request.set_sweep_id(cancel_sweep);
    request.set_job_id(cancel_job);
    v1::CancelResponse response;
    auto ctx = conn.Context();
    grpc::Status rpc = conn.stub->Cancel(ctx.get(), request, &response);
    if (!rpc.ok()) return conn.Fail(rpc);
    std::cout << response.cancelled_jobs() << " jobs cancelled\n";
    return kExitOk;
  }

  if (*workers_cmd) {
    v1::ListWorkersRequest request;
    v1::ListWorkersResponse response;
    auto ctx = conn.Context();
    grpc::Status rpc = conn.stub->ListWorkers(ctx.get(), request, &response);
    if (!rpc.ok()) return conn.Fail(rpc);
    TextTable table;
    for (const char* h : {"worker", "device", "host", "cores", "ram_GiB", "labels", "running", "last_seen_s"})
      table.AddColumn(h);
    const int64_t now =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    for (const auto& w : response.workers()) {
      const auto& c = w.capabilities();
      std::string labels;
      for (const auto& l : c.labels()) labels += (labels.empty() ? "" : ",") + l;
      table.AddRow({w.worker_id(), tscale::DeviceKindName(c.device_kind()), c.hostname(), std::to_string(c.cpu_cores()),
                    tscale::FormatFixed(static_cast<double>(c.ram_bytes()) / (1 << 30), 1), labels,
                    std::to_string(w.running_jobs()), std::to_string((now - w.last_seen_unix_ms()) / 1000)});
    }
    std::cout << table.Render();
    return kExitOk;
  }

  if (*models_cmd) {
    v1::ListModelsRequest request;
    request.set_category(models_category);
    v1::ListModelsResponse response;
    auto ctx = conn.Context();
    grpc::Status rpc = conn.stub->ListModels(ctx.get(), request, &response);
    if (!rpc.ok()) return conn.Fail(rpc);
    TextTable table;
    table.AddColumn("id");
    table.AddColumn("category");
    table.AddColumn("arch");
    table.AddColumn("params", TextTable::Align::kRight);
    table.AddColumn("max_len", TextTable::Align::kRight);
    for (const auto& m : response.models())
      table.AddRow({m.id(), m.category(), m.arch_kind(), tscale::FormatMillions(m.parameter_count()),
                    m.max_positions() > 0 ? std::to_string(m.max_positions()) : "none"});
    std::cout << table.Render();
    return kExitOk;
  }
  return kExitUsage;
}
