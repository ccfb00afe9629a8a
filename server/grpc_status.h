// The edge between typed Status inside the coordinator and gRPC status codes on the wire.
#pragma once

#include <grpcpp/support/status.h>

#include "common/status.h"

namespace tscale {

inline grpc::Status ToGrpcStatus(const Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), status.message());
}

}  // namespace tscale
