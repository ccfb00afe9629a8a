// Helpers shared by the store's implementation files (store*.cc); not part of the Store interface.
#pragma once

#include <google/protobuf/message.h>

#include <string>

#include "common/status.h"
#include "tscale/v1/tscale.pb.h"

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

// A job's spec as stored since schema version 7: the blob without its model_config_json, which lives once per
// distinct config in model_configs and comes back here from the row's join (`config_json`; empty when the job
// has no config_id, and then the blob's own, if any, is kept).
inline Status ParseJobSpec(const std::string& blob, const std::string& config_json, v1::JobSpec* out) {
  TSCALE_RETURN_IF_ERROR(Parse(blob, out, "job spec"));
  if (!config_json.empty()) out->set_model_config_json(config_json);
  return Status::Ok();
}

}  // namespace tscale::store_internal
