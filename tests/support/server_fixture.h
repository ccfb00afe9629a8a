// A fixture for integration tests that drive one real tscale-server (fresh SQLite file, default flags) over gRPC
// as client and as simulated worker, and through the real tscale-client binary.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "support/client_cli.h"
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

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::TscaleService::Stub> client_;
  std::unique_ptr<v1::WorkerService::Stub> worker_;
  int runs_ = 0;
};

}  // namespace tscale::testing
