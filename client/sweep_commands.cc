// tscale-client status, watch and cancel: following and steering sweeps that are running.
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <map>
#include <thread>

#include "client/commands.h"
#include "client/progress.h"
#include "client/table.h"
#include "common/grpc_channel.h"
#include "common/host_info.h"
#include "common/outcome.h"

namespace tscale::client {
namespace {

// Streams a sweep's events until it finishes. Resumes from the last event after a disconnect (the server
// restarting, say), so no event is shown twice or skipped. On a terminal, a progress line is redrawn.
int WatchSweep(Connection& conn, int64_t sweep_id, int64_t after_event_id) {
  const bool tty = isatty(STDOUT_FILENO);
  std::map<int64_t, std::string> job_names;  // job id -> "model@len"
  Progress progress;
  // A wall-finder sweep grows while it runs: a job id not seen yet means the listing is refreshed.
  auto refresh = [&]() -> grpc::Status {
    v1::ListResultsRequest list;
    list.set_sweep_id(sweep_id);
    v1::ListResultsResponse jobs;
    grpc::Status status = ListAllResults(conn, list, &jobs);
    if (!status.ok()) return status;
    for (const auto& job : jobs.jobs())
      job_names[job.spec().job_id()] = job.spec().model_id() + "@" + std::to_string(job.spec().seq_len());
    progress.total = jobs.jobs_size();
    return status;
  };
  if (grpc::Status listed = refresh(); !listed.ok()) return conn.Fail(listed);
  int64_t cursor = after_event_id;
  int failures = 0;
  while (true) {
    grpc::ClientContext ctx;
    AddBearerToken(&ctx, conn.token);
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
      if (event.job_id() > 0 && !job_names.count(event.job_id())) (void)refresh();
      const std::string name = job_names.count(event.job_id()) ? job_names[event.job_id()] : "?";
      std::string line =
          "[" + std::to_string(event.event_id()) + "] job " + std::to_string(event.job_id()) + " " + name + " ";
      if (event.has_metric()) {
        line += event.metric().phase() + " " + std::to_string(event.metric().iterations_done()) + " (last " +
                FormatFixed(event.metric().last_latency_ms(), 1) + " ms)";
      } else if (event.state() == v1::JOB_STATE_FINISHED) {
        ++progress.finished;
        ++progress.by_outcome[OutcomeName(event.outcome())];
        line += OutcomeName(event.outcome()) + (event.detail().empty() ? "" : ": " + event.detail());
      } else {
        line += JobStateName(event.state()) + (event.detail().empty() ? "" : ": " + event.detail());
      }
      if (tty) {
        progress.now_unix_ms = NowUnixMs();
        std::cout << "\r\033[K" << line << "\n" << ProgressBar(progress) << std::flush;
      } else {
        std::cout << line << std::endl;
      }
    }
    grpc::Status status = reader->Finish();
    if (!RetryTransient(status, "watch (resuming after event " + std::to_string(cursor) + ")", &failures))
      return conn.Fail(status);
  }
}

}  // namespace

std::string SweepStatusLine(const v1::SweepStatus& s) {
  std::string line = "sweep " + std::to_string(s.sweep_id()) + ": " + std::to_string(s.finished()) + "/" +
                     std::to_string(s.total_jobs()) + " finished, " + std::to_string(s.running() + s.leased()) +
                     " running, " + std::to_string(s.queued()) + " queued";
  std::string outcomes;
  // protobuf maps iterate in no fixed order; sort so repeated lines compare equal. The keys are the enum's
  // value names ("OUTCOME_EXCEEDS_CONTEXT"); users read the short names everywhere else ("exceeds_context").
  std::map<std::string, int> sorted;
  for (const auto& [key, count] : s.outcome_counts()) {
    v1::Outcome outcome{};
    sorted[v1::Outcome_Parse(key, &outcome) ? OutcomeName(outcome) : key] += count;
  }
  for (const auto& [name, count] : sorted)
    outcomes += (outcomes.empty() ? "" : ", ") + name + "=" + std::to_string(count);
  if (!outcomes.empty()) line += " [" + outcomes + "]";
  for (const auto& reason : s.waiting_reasons()) line += "; waiting: " + reason;
  return line;
}

Command AddStatusCommand(CLI::App& app) {
  auto sweep = std::make_shared<int64_t>(0);
  CLI::App* c = app.add_subcommand("status", "progress of a sweep (or of the latest sweeps)");
  c->add_option("--sweep,-s", *sweep, "sweep id (default: the 10 latest)");
  return {c, [sweep](Connection& conn) {
            if (*sweep > 0) {
              v1::GetSweepRequest request;
              request.set_sweep_id(*sweep);
              v1::SweepStatus status;
              auto ctx = conn.Context();
              grpc::Status rpc = conn.stub->GetSweep(ctx.get(), request, &status);
              if (!rpc.ok()) return conn.Fail(rpc);
              std::cout << SweepStatusLine(status) << "\n";
              return kExitOk;
            }
            v1::ListSweepsRequest request;
            request.set_limit(10);
            v1::ListSweepsResponse response;
            auto ctx = conn.Context();
            grpc::Status rpc = conn.stub->ListSweeps(ctx.get(), request, &response);
            if (!rpc.ok()) return conn.Fail(rpc);
            for (const auto& s : response.sweeps()) std::cout << SweepStatusLine(s) << "\n";
            return kExitOk;
          }};
}

Command AddWatchCommand(CLI::App& app) {
  struct Options {
    int64_t sweep = 0, after = 0;
  };
  auto o = std::make_shared<Options>();
  CLI::App* c = app.add_subcommand("watch", "follow a sweep live until it finishes");
  c->add_option("--sweep,-s", o->sweep, "sweep id")->required();
  c->add_option("--after", o->after, "resume after this event id");
  return {c, [o](Connection& conn) { return WatchSweep(conn, o->sweep, o->after); }};
}

Command AddCancelCommand(CLI::App& app) {
  struct Options {
    int64_t sweep = 0, job = 0;
  };
  auto o = std::make_shared<Options>();
  CLI::App* c = app.add_subcommand("cancel", "cancel a sweep, or one job of it");
  c->add_option("--sweep,-s", o->sweep, "sweep id");
  c->add_option("--job,-j", o->job, "job id (default: every unfinished job of the sweep)");
  return {c, [o](Connection& conn) {
            if (o->sweep == 0 && o->job == 0) return UsageError("cancel: give --sweep, --job or both");
            v1::CancelRequest request;
            request.set_sweep_id(o->sweep);
            request.set_job_id(o->job);
            v1::CancelResponse response;
            auto ctx = conn.Context();
            grpc::Status rpc = conn.stub->Cancel(ctx.get(), request, &response);
            if (!rpc.ok()) return conn.Fail(rpc);
            std::cout << response.cancelled_jobs() << " jobs cancelled\n";
            return kExitOk;
          }};
}

}  // namespace tscale::client
