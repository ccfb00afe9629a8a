// The calls an integration test makes against a real tscale-server over gRPC, as a client or as a simulated
// worker: one copy for every suite that drives the services directly. `token` empty: no bearer token.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "common/grpc_channel.h"
#include "tscale/v1/tscale.grpc.pb.h"

namespace tscale::testing {

inline std::unique_ptr<grpc::ClientContext> CallContext(const std::string& token = "") {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  if (!token.empty()) AddBearerToken(ctx.get(), token);
  return ctx;
}

// Submits `spec` and returns the sweep id (0 after a failed expectation).
inline int64_t SubmitSweep(v1::TscaleService::Stub& client, const v1::SweepSpec& spec, const std::string& token = "") {
  v1::SubmitSweepRequest request;
  *request.mutable_spec() = spec;
  v1::SubmitSweepResponse response;
  grpc::Status status = client.SubmitSweep(CallContext(token).get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.sweep_id();
}

// Registers `worker_id` as a CPU worker and claims one job (waiting up to 5 s); the lease, expected to hold one.
inline v1::Lease RegisterAndClaim(v1::WorkerService::Stub& worker, const std::string& worker_id,
                                  const std::string& token = "") {
  v1::RegisterWorkerRequest reg;
  reg.set_worker_id(worker_id);
  reg.mutable_capabilities()->set_device_kind(v1::DEVICE_KIND_CPU);
  v1::RegisterWorkerResponse registered;
  EXPECT_TRUE(worker.RegisterWorker(CallContext(token).get(), reg, &registered).ok());
  v1::ClaimJobRequest claim;
  claim.set_worker_id(worker_id);
  claim.set_wait_s(5);
  v1::ClaimJobResponse claimed;
  EXPECT_TRUE(worker.ClaimJob(CallContext(token).get(), claim, &claimed).ok());
  EXPECT_TRUE(claimed.has_job());
  return claimed.lease();
}

}  // namespace tscale::testing
