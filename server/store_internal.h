// Helpers shared by the store's implementation files (store*.cc); not part of the Store interface.
#pragma once

#include <google/protobuf/message.h>

#include <string>

#include "common/status.h"

namespace tscale::store_internal {

inline std::string Serialize(const google::protobuf::Message& message) {
  std::string bytes;
  message.SerializeToString(&bytes);
  return bytes;
}

template <typename Message>
Status Parse(const std::string& bytes, Message* out, const char* what) {
  if (!out->ParseFromString(bytes)) return Status::DataLoss(std::string("stored ") + what + " does not parse");
  return Status::Ok();
}

}  // namespace tscale::store_internal
