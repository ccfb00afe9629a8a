// How tscale-client and tscale-worker reach the coordinator: plain or TLS channels, and the bearer token
// every call carries. Tokens and certificates are read from files or the environment, never from argv
// (argv is visible to every user of the host).
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "common/status.h"

namespace tscale {

struct ChannelOptions {
  std::string address;
  std::string tls_ca_file;  // PEM roots to verify the server; empty = plaintext
  std::string token;        // bearer token; empty = none
};

StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const ChannelOptions& options);

// Adds "authorization: Bearer <token>" to a call (nothing when the token is empty).
void AddBearerToken(grpc::ClientContext* context, const std::string& token);

// The whole file with surrounding whitespace removed; NOT_FOUND / INVALID_ARGUMENT name the file.
StatusOr<std::string> ReadSecretFile(const std::string& path);

// A token from `file` if given, else from the environment variable `env_var`, else "".
StatusOr<std::string> LoadToken(const std::string& file, const char* env_var);

}  // namespace tscale
