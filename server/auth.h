// Bearer-token authorisation of the coordinator's two audiences. Clients (TscaleService) and workers
// (WorkerService) have separate tokens, so a worker's token cannot submit or cancel sweeps and a client's
// token cannot claim jobs. Tokens are compared in constant time and never logged.
#pragma once

#include <grpcpp/server_context.h>

#include <string>
#include <string_view>

#include "common/status.h"

namespace tscale {

enum class Audience { kClient, kWorker };

class Authenticator {
 public:
  // An empty token disables the check for that audience (loopback development).
  Authenticator(std::string client_token, std::string worker_token)
      : client_token_(std::move(client_token)), worker_token_(std::move(worker_token)) {}

  bool enabled(Audience audience) const {
    return !(audience == Audience::kClient ? client_token_ : worker_token_).empty();
  }

  // OK, UNAUTHENTICATED (no or unknown token) or PERMISSION_DENIED (the other audience's token).
  Status Check(const grpc::ServerContext& context, Audience audience) const;

 private:
  std::string client_token_, worker_token_;
};

// Compares without an early exit, so the time taken does not reveal how much of a guess was right.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace tscale
