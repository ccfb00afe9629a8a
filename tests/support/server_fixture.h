// A fixture for integration tests that drive one real tscale-server (fresh SQLite file, default flags) over gRPC
// as client and as simulated worker, and through the real tscale-client binary.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "support/client_cli.h"
#include "support/coordinator_calls.h"
#include "support/server_process.h"
#include "support/temp_dir.h"
#include "tscale/v1/tscale.grpc.pb.h"

namespace tscale::testing {

class ServerFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(dir_.path().string(), dir_.File("tscale.db"), std::vector<std::string>{});
    ASSERT_TRUE(server_->started()) << server_->Log();
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    client_ = v1::TscaleService::NewStub(channel_);
    worker_ = v1::WorkerService::NewStub(channel_);
  }

  // tscale-client against this server; each run's output in its own log file.
  CliRun Cli(std::vector<std::string> args) {
    return RunClientCli(server_->address(), std::move(args), dir_.File("client-" + std::to_string(++runs_) + ".log"));
  }

  // Plays one worker ("sim"): claims every queued job and completes it with the result `measure` gives its spec.
  void CompleteEveryJob(const std::function<v1::Result(const v1::JobSpec&)>& measure) {
    v1::RegisterWorkerRequest reg;
    reg.set_worker_id("sim");
    reg.mutable_capabilities()->set_device_kind(v1::DEVICE_KIND_CPU);
    v1::RegisterWorkerResponse registered;
    ASSERT_TRUE(worker_->RegisterWorker(CallContext().get(), reg, &registered).ok());
    while (true) {
      v1::ClaimJobRequest claim;
      claim.set_worker_id("sim");
      v1::ClaimJobResponse claimed;
      ASSERT_TRUE(worker_->ClaimJob(CallContext().get(), claim, &claimed).ok());
      if (!claimed.has_lease()) return;
      v1::CompleteJobRequest complete;
      complete.set_worker_id("sim");
      complete.set_attempt_id(claimed.lease().attempt_id());
      *complete.mutable_result() = measure(claimed.lease().job());
      v1::CompleteJobResponse completed;
      ASSERT_TRUE(worker_->CompleteJob(CallContext().get(), complete, &completed).ok());
    }
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::TscaleService::Stub> client_;
  std::unique_ptr<v1::WorkerService::Stub> worker_;
  int runs_ = 0;
};

}  // namespace tscale::testing
