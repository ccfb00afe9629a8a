#include <spdlog/spdlog.h>

#include "common/host_info.h"
#include "common/model_config.h"
#include "common/version.h"
#include "server/grpc_status.h"
#include "server/migrations.h"
#include "server/request_validation.h"
#include "server/services.h"
#include "server/sweep_planner.h"

namespace tscale {

grpc::Status ClientService::SubmitSweep(grpc::ServerContext* context, const v1::SubmitSweepRequest* request,
                                        v1::SubmitSweepResponse* response) {
  if (Status auth = ctx_.auth->Check(*context, Audience::kClient); !auth.ok()) return ToGrpcStatus(auth);
  SkippedCells skipped;
  auto jobs = PlanSweep(request->spec(), *ctx_.catalog, ctx_.planner, &skipped);
  if (!jobs.ok()) return ToGrpcStatus(jobs.status());
  const int count = static_cast<int>(jobs->size());
  auto sweep_id = ctx_.store->CreateSweep(request->spec(), std::move(jobs).value(), NowUnixMs());
  if (!sweep_id.ok()) return ToGrpcStatus(sweep_id.status());
  spdlog::info("sweep {} submitted: {} jobs, {} cells skipped", *sweep_id, count, skipped.cells);
  ctx_.work_signal->Notify();
  ctx_.event_signal->Notify();
  response->set_sweep_id(*sweep_id);
  response->set_job_count(count);
  response->set_skipped_cells(skipped.cells);
  for (auto& reason : skipped.reasons) response->add_skipped_reasons(std::move(reason));
  return grpc::Status::OK;
}

grpc::Status ClientService::GetSweep(grpc::ServerContext* context, const v1::GetSweepRequest* request,
                                     v1::SweepStatus* response) {
  if (Status auth = ctx_.auth->Check(*context, Audience::kClient); !auth.ok()) return ToGrpcStatus(auth);
  if (Status valid = ValidateGetSweep(*request); !valid.ok()) return ToGrpcStatus(valid);
  auto status = ctx_.store->GetSweepStatus(request->sweep_id(), NowUnixMs());
  if (!status.ok()) return ToGrpcStatus(status.status());
  *response = std::move(status).value();
  return grpc::Status::OK;
}

grpc::Status ClientService::ListSweeps(grpc::ServerContext* context, const v1::ListSweepsRequest* request,
                                       v1::ListSweepsResponse* response) {
  if (Status auth = ctx_.auth->Check(*context, Audience::kClient); !auth.ok()) return ToGrpcStatus(auth);
  if (Status valid = ValidateListSweeps(*request); !valid.ok()) return ToGrpcStatus(valid);
  auto sweeps = ctx_.store->ListSweeps(request->limit(), NowUnixMs());
  if (!sweeps.ok()) return ToGrpcStatus(sweeps.status());
  for (auto& s : *sweeps) *response->add_sweeps() = std::move(s);
  return grpc::Status::OK;
}

grpc::Status ClientService::ListResults(grpc::ServerContext* context, const v1::ListResultsRequest* request,
                                        v1::ListResultsResponse* response) {
  if (Status auth = ctx_.auth->Check(*context, Audience::kClient); !auth.ok()) return ToGrpcStatus(auth);
  if (Status valid = ValidateListResults(*request); !valid.ok()) return ToGrpcStatus(valid);
  ResultFilter filter;
  filter.sweep_id = request->sweep_id();
  filter.model_id = request->model_id();
  if (!filter.model_id.empty()) {
    if (const ModelConfig* model = ctx_.catalog->Find(filter.model_id)) filter.model_id = model->id;
  }
  filter.category = request->category();
  filter.seq_len = request->seq_len();
  filter.outcome = request->outcome();
  filter.workload = request->workload();
  filter.include_samples = request->include_samples();
  filter.latency_samples_only = request->latency_samples_only();
  // Never unbounded: a page of at most kMaxListResults jobs, fewer when the samples or bytes budget fills first
  // (ResultFilter); the response's cursor leads to the rest.
  filter.limit = request->limit() > 0 ? request->limit() : kDefaultListResults;
  filter.max_samples = kMaxListResultsSamples;
  filter.max_bytes = kMaxListResultsBytes;
  filter.after_job_id = request->after_job_id();
  auto page = ctx_.store->ListJobs(filter);
  if (!page.ok()) return ToGrpcStatus(page.status());
  // "No such sweep" is not "no jobs match": a mistyped sweep id must not look like an empty result.
  if (page->jobs.empty() && filter.sweep_id > 0) {
    auto sweep = ctx_.store->GetSweepStatus(filter.sweep_id, NowUnixMs());
    if (!sweep.ok()) return ToGrpcStatus(sweep.status());
  }
  for (auto& job : page->jobs) *response->add_jobs() = std::move(job);
  response->set_next_after_job_id(page->next_after_job_id);
  return grpc::Status::OK;
}

grpc::Status ClientService::WatchSweep(grpc::ServerContext* context, const v1::WatchSweepRequest* request,
                                       grpc::ServerWriter<v1::SweepEvent>* writer) {
  if (Status auth = ctx_.auth->Check(*context, Audience::kClient); !auth.ok()) return ToGrpcStatus(auth);
  if (Status valid = ValidateWatch(*request); !valid.ok()) return ToGrpcStatus(valid);
  const double keepalive_s =
      request->keepalive_s() > 0 ? std::max(0.05, request->keepalive_s()) : ctx_.default_keepalive_s;
  const auto keepalive = std::chrono::milliseconds(static_cast<int64_t>(keepalive_s * 1000));
  constexpr int kBatch = 500;

  using Clock = std::chrono::steady_clock;
  int64_t cursor = request->after_event_id();
  Clock::time_point last_write = Clock::now();
  bool finish_seen = true;  // the sweep may be done before the watch starts: check once
  // Sends every stored event past the cursor; false when the client has gone.
  auto drain = [&]() -> StatusOr<bool> {
    while (true) {
      auto events = ctx_.store->ReadEvents(request->sweep_id(), cursor, kBatch);
      if (!events.ok()) return events.status();
      for (const auto& event : *events) {
        if (!writer->Write(event)) return false;
        last_write = Clock::now();
        cursor = event.event_id();
        finish_seen = finish_seen || event.state() == v1::JOB_STATE_FINISHED;
      }
      if (static_cast<int>(events->size()) < kBatch) return true;
    }
  };

  // The event signal is shared by every sweep: a wake-up says only that something, somewhere, changed. So the
  // keepalive is due by this stream's own clock (nothing written to it for a keepalive interval), not by a
  // quiet signal, which a busy server never has.
  while (true) {
    if (ctx_.event_signal->shutting_down())
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "server shutting down; resume from event " + std::to_string(cursor));
    if (context->IsCancelled()) return grpc::Status::CANCELLED;
    const uint64_t generation = ctx_.event_signal->generation();
    auto sent = drain();
    if (!sent.ok()) return ToGrpcStatus(sent.status());
    if (!*sent) return grpc::Status::CANCELLED;

    // A sweep becomes done only by a job finishing, which appends a FINISHED event: without a new one, the
    // full status (counts, waiting reasons) is not worth recomputing on every wake-up.
    if (finish_seen) {
      finish_seen = false;
      auto status = ctx_.store->GetSweepStatus(request->sweep_id(), NowUnixMs());
      if (!status.ok()) return ToGrpcStatus(status.status());
      if (status->done()) {
        // Events of the last jobs may have committed between the drain and the status read.
        auto last = drain();
        if (!last.ok()) return ToGrpcStatus(last.status());
        v1::SweepEvent end;
        end.set_event_id(cursor);
        end.set_end_of_sweep(true);
        end.set_unix_ms(NowUnixMs());
        writer->Write(end);
        return grpc::Status::OK;
      }
    }
    const auto keepalive_due = last_write + keepalive;
    if (Clock::now() >= keepalive_due) {
      v1::SweepEvent ping;
      ping.set_event_id(cursor);
      ping.set_keepalive(true);
      ping.set_unix_ms(NowUnixMs());
      if (!writer->Write(ping)) return grpc::Status::CANCELLED;
      last_write = Clock::now();
      continue;
    }
    ctx_.event_signal->WaitFor(generation,
                               std::chrono::duration_cast<std::chrono::milliseconds>(keepalive_due - Clock::now()) +
                                   std::chrono::milliseconds(1));
  }
}

grpc::Status ClientService::Cancel(grpc::ServerContext* context, const v1::CancelRequest* request,
                                   v1::CancelResponse* response) {
  if (Status auth = ctx_.auth->Check(*context, Audience::kClient); !auth.ok()) return ToGrpcStatus(auth);
  if (Status valid = ValidateCancel(*request); !valid.ok()) return ToGrpcStatus(valid);
  auto cancelled = ctx_.store->Cancel(request->sweep_id(), request->job_id(), NowUnixMs());
  if (!cancelled.ok()) return ToGrpcStatus(cancelled.status());
  spdlog::info("cancel sweep={} job={}: {} jobs cancelled", request->sweep_id(), request->job_id(), *cancelled);
  ctx_.event_signal->Notify();
  response->set_cancelled_jobs(*cancelled);
  return grpc::Status::OK;
}

grpc::Status ClientService::ListWorkers(grpc::ServerContext* context, const v1::ListWorkersRequest*,
                                        v1::ListWorkersResponse* response) {
  if (Status auth = ctx_.auth->Check(*context, Audience::kClient); !auth.ok()) return ToGrpcStatus(auth);
  auto workers = ctx_.store->ListWorkers();
  if (!workers.ok()) return ToGrpcStatus(workers.status());
  for (auto& w : *workers) *response->add_workers() = std::move(w);
  return grpc::Status::OK;
}

grpc::Status ClientService::ListModels(grpc::ServerContext* context, const v1::ListModelsRequest* request,
                                       v1::ListModelsResponse* response) {
  if (Status auth = ctx_.auth->Check(*context, Audience::kClient); !auth.ok()) return ToGrpcStatus(auth);
  for (const ModelConfig& model : ctx_.catalog->models()) {
    if (!request->category().empty() && model.category != request->category()) continue;
    v1::ModelInfo* info = response->add_models();
    info->set_id(model.id);
    for (const auto& alias : model.aliases) info->add_aliases(alias);
    info->set_category(model.category);
    info->set_arch_kind(ArchKindName(model.arch));
    info->set_parameter_count(AnalyticParameterCount(model));
    info->set_max_positions(model.max_input_tokens);
    info->set_config_json(ModelConfigToJson(model));
  }
  return grpc::Status::OK;
}

grpc::Status ClientService::GetServerStatus(grpc::ServerContext* context, const v1::ServerStatusRequest*,
                                            v1::ServerStatus* response) {
  if (Status auth = ctx_.auth->Check(*context, Audience::kClient); !auth.ok()) return ToGrpcStatus(auth);
  response->set_version(kVersion);
  response->set_schema_version(ctx_.store->schema_version());
  auto states = ctx_.store->CountJobsByState();
  if (!states.ok()) return ToGrpcStatus(states.status());
  for (const auto& [state, count] : *states) (*response->mutable_jobs_by_state())[state] = count;
  auto workers = ctx_.store->ListWorkers();
  if (!workers.ok()) return ToGrpcStatus(workers.status());
  response->set_workers(static_cast<int>(workers->size()));
  response->set_uptime_s(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - ctx_.started).count());
  const GroupCommitStats writes = ctx_.store->write_stats();
  response->set_store_writes(writes.writes);
  response->set_store_commits(writes.commits);
  response->set_store_max_group(writes.max_group);
  return grpc::Status::OK;
}

}  // namespace tscale
