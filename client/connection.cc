#include "client/connection.h"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <thread>

#include "common/grpc_channel.h"

namespace tscale::client {

Status Connection::Open() {
  auto loaded = LoadToken(server.token_file, "TSCALE_TOKEN");
  if (!loaded.ok()) return loaded.status();
  token = *loaded;
  auto channel = MakeChannel({server.address, server.tls_ca, token});
  if (!channel.ok()) return channel.status();
  stub = v1::TscaleService::NewStub(*channel);
  return Status::Ok();
}

std::unique_ptr<grpc::ClientContext> Connection::Context() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000)));
  AddBearerToken(ctx.get(), token);
  return ctx;
}

int Connection::Fail(const grpc::Status& status) const {
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    std::cerr << "tscale-client: cannot reach tscale-server at " << server.address << ": " << status.error_message()
              << "\n";
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

bool RetryTransient(const grpc::Status& status, const std::string& what, int* failures) {
  if (status.error_code() != grpc::StatusCode::UNAVAILABLE || ++*failures > kMaxTransientRetries) return false;
  std::cerr << "tscale-client: " << what << " interrupted (" << status.error_message() << "); retrying" << std::endl;
  std::this_thread::sleep_for(std::chrono::milliseconds(500 * std::min(*failures, 4)));
  return true;
}

int UsageError(const std::string& message) {
  std::cerr << "tscale-client: " << message << "\n";
  return kExitUsage;
}

int UsageError(const Status& status) {
  return UsageError(status.message());
}

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

}  // namespace tscale::client
