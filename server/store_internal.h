// Helpers shared by the store's implementation files (store*.cc); not part of the Store interface.
#pragma once

#include <google/protobuf/message.h>

#include <string>

#include "common/status.h"
#include "server/sql.h"
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

// Extends every live lease to at least `until_ms`: after an outage of every coordinator (Store::Open) or a move to
// another database (store_copy.cc), workers could not heartbeat meanwhile. Runs in the caller's transaction.
inline Status ExtendLiveLeases(sql::Database& db, int64_t until_ms) {
  sql::Statement grace(db,
                       "UPDATE attempts SET lease_expires_ms = CASE WHEN lease_expires_ms < ?1 THEN ?1 "
                       "ELSE lease_expires_ms END WHERE ended_ms IS NULL");
  return grace.Bind(1, until_ms).Run();
}

}  // namespace tscale::store_internal
