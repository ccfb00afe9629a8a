// tscale-client's link to the coordinator: flags, credentials, per-call deadlines, how a failed call becomes
// one line on stderr and an exit code, and how long a transient outage is ridden out.
//
// Exit codes (common/cli_flags.h, documented in the README): 0 success; 1 the server could not be reached or
// failed; 2 bad arguments, a request the server rejected as invalid or not found, or refused credentials;
// 3 --wait gave up; 4 compare --fail-on-regression found a regression.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <string>

#include "common/cli_flags.h"
#include "common/status.h"
#include "tscale/v1/tscale.grpc.pb.h"

namespace tscale::client {

inline constexpr int kExitOk = cli::kExitOk, kExitServer = cli::kExitFailure, kExitUsage = cli::kExitUsage,
                     kExitWaitTimeout = cli::kExitWaitTimeout, kExitRegression = cli::kExitRegression;

struct Connection {
  cli::ServerFlags server;
  double timeout_s = 30;
  std::string token;
  std::unique_ptr<v1::TscaleService::Stub> stub;

  Status Open();                                         // reads the token, builds the channel
  std::unique_ptr<grpc::ClientContext> Context() const;  // deadline and bearer token set
  // Prints one line for a failed call and returns its exit code: "your request" (2) vs "the server" (1).
  int Fail(const grpc::Status& status) const;
};

// Rides out a coordinator that is briefly away (restarting, say): for an UNAVAILABLE status it prints why
// `what` is retried, waits (0.5 s, growing to 2 s) and returns true, at most kMaxTransientRetries times in a
// row (about a minute); *failures counts them and the caller resets it after a call that worked. False for
// any other status, and once the budget is spent: then the caller fails with the status.
inline constexpr int kMaxTransientRetries = 30;
bool RetryTransient(const grpc::Status& status, const std::string& what, int* failures);

// Prints "tscale-client: <message>" and returns kExitUsage.
int UsageError(const std::string& message);
int UsageError(const Status& status);

// The catalog as the server knows it; on failure prints why and sets *exit_code.
std::optional<v1::ListModelsResponse> FetchModels(Connection& conn, int* exit_code);

// Every job matching `request`, following the coordinator's page cursor (pages are bounded server-side).
grpc::Status ListAllResults(Connection& conn, v1::ListResultsRequest request, v1::ListResultsResponse* all);

}  // namespace tscale::client
