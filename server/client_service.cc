#include <spdlog/spdlog.h>

#include "common/host_info.h"
#include "common/model_config.h"
#include "common/version.h"
#include "server/grpc_status.h"
#include "server/migrations.h"
#include "server/services.h"
#include "server/sweep_planner.h"

namespace tscale {

grpc::Status ClientService::SubmitSweep(grpc::ServerContext*, const v1::SubmitSweepRequest* request,
                                        v1::SubmitSweepResponse* response) {
  auto jobs = PlanSweep(request->spec(), *ctx_.catalog);
  if (!jobs.ok()) return ToGrpcStatus(jobs.status());
  const int count = static_cast<int>(jobs->size());
  auto sweep_id = ctx_.store->CreateSweep(request->spec(), std::move(jobs).value(), NowUnixMs());
  if (!sweep_id.ok()) return ToGrpcStatus(sweep_id.status());
  spdlog::info("sweep {} submitted: {} jobs", *sweep_id, count);
  ctx_.work_signal->Notify();
  response->set_sweep_id(*sweep_id);
  response->set_job_count(count);
  return grpc::Status::OK;
}

grpc::Status ClientService::GetSweep(grpc::ServerContext*, const v1::GetSweepRequest* request,
                                     v1::SweepStatus* response) {
  if (request->sweep_id() <= 0) return ToGrpcStatus(Status::InvalidArgument("sweep_id: must be positive"));
  auto status = ctx_.store->GetSweepStatus(request->sweep_id(), NowUnixMs());
  if (!status.ok()) return ToGrpcStatus(status.status());
  *response = std::move(status).value();
  return grpc::Status::OK;
}

grpc::Status ClientService::ListSweeps(grpc::ServerContext*, const v1::ListSweepsRequest* request,
                                       v1::ListSweepsResponse* response) {
  if (request->limit() < 0) return ToGrpcStatus(Status::InvalidArgument("limit: must not be negative"));
  auto sweeps = ctx_.store->ListSweeps(request->limit(), NowUnixMs());
  if (!sweeps.ok()) return ToGrpcStatus(sweeps.status());
  for (auto& s : *sweeps) *response->add_sweeps() = std::move(s);
  return grpc::Status::OK;
}

grpc::Status ClientService::ListResults(grpc::ServerContext*, const v1::ListResultsRequest* request,
                                        v1::ListResultsResponse* response) {
  if (request->sweep_id() < 0) return ToGrpcStatus(Status::InvalidArgument("sweep_id: must not be negative"));
  if (request->seq_len() < 0) return ToGrpcStatus(Status::InvalidArgument("seq_len: must not be negative"));
  if (request->limit() < 0) return ToGrpcStatus(Status::InvalidArgument("limit: must not be negative"));
  if (!v1::Outcome_IsValid(request->outcome())) return ToGrpcStatus(Status::InvalidArgument("outcome: unknown value"));
  ResultFilter filter;
  filter.sweep_id = request->sweep_id();
  filter.model_id = request->model_id();
  if (!filter.model_id.empty()) {
    if (const ModelConfig* model = ctx_.catalog->Find(filter.model_id)) filter.model_id = model->id;
  }
  filter.category = request->category();
  filter.seq_len = request->seq_len();
  filter.outcome = request->outcome();
  filter.include_samples = request->include_samples();
  filter.limit = request->limit();
  auto jobs = ctx_.store->ListJobs(filter);
  if (!jobs.ok()) return ToGrpcStatus(jobs.status());
  for (auto& job : *jobs) *response->add_jobs() = std::move(job);
  return grpc::Status::OK;
}

grpc::Status ClientService::ListWorkers(grpc::ServerContext*, const v1::ListWorkersRequest*,
                                        v1::ListWorkersResponse* response) {
  auto workers = ctx_.store->ListWorkers();
  if (!workers.ok()) return ToGrpcStatus(workers.status());
  for (auto& w : *workers) *response->add_workers() = std::move(w);
  return grpc::Status::OK;
}

grpc::Status ClientService::ListModels(grpc::ServerContext*, const v1::ListModelsRequest* request,
                                       v1::ListModelsResponse* response) {
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

grpc::Status ClientService::GetServerStatus(grpc::ServerContext*, const v1::ServerStatusRequest*,
                                            v1::ServerStatus* response) {
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
  return grpc::Status::OK;
}

}  // namespace tscale
