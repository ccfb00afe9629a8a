// tscale-client's link to the coordinator: flags, credentials, per-call deadlines, and how a failed call
// becomes one line on stderr and an exit code.
//
// Exit codes (documented in the README): 0 success; 1 the server could not be reached or failed; 2 bad
// arguments, a request the server rejected as invalid or not found, or refused credentials; 3 --wait gave up.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "tscale/v1/tscale.grpc.pb.h"

namespace tscale::client {

inline constexpr int kExitOk = 0, kExitServer = 1, kExitUsage = 2, kExitWaitTimeout = 3;

struct Connection {
  std::string address = "127.0.0.1:50051";
  double timeout_s = 30;
  std::string tls_ca, token_file, token;
  std::unique_ptr<v1::TscaleService::Stub> stub;

  Status Open();                                         // reads the token, builds the channel
  std::unique_ptr<grpc::ClientContext> Context() const;  // deadline and bearer token set
  // Prints one line for a failed call and returns its exit code: "your request" (2) vs "the server" (1).
  int Fail(const grpc::Status& status) const;
};

// Prints "tscale-client: <message>" and returns kExitUsage.
int UsageError(const std::string& message);
int UsageError(const Status& status);

// The catalog as the server knows it; on failure prints why and sets *exit_code.
std::optional<v1::ListModelsResponse> FetchModels(Connection& conn, int* exit_code);

// Every job matching `request`, following the coordinator's page cursor (pages are bounded server-side).
grpc::Status ListAllResults(Connection& conn, v1::ListResultsRequest request, v1::ListResultsResponse* all);

}  // namespace tscale::client
