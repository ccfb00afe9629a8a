// Results waiting for the coordinator's acknowledgement: one file per attempt under a directory, written
// atomically before the first delivery attempt and removed only once the coordinator has answered for good.
// A result so survives a coordinator outage and a worker restart, and completion being idempotent per
// attempt makes the delivery exactly-once.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "tscale/v1/tscale.pb.h"

namespace tscale {

class Outbox {
 public:
  explicit Outbox(std::string dir) : dir_(std::move(dir)) {}
  Status Open();  // creates the directory

  Status Put(int64_t attempt_id, const v1::Result& result);
  // Every pending result, oldest attempt first; unreadable files are skipped and reported in `skipped`.
  std::vector<std::pair<int64_t, v1::Result>> Pending(int* skipped = nullptr) const;
  void Remove(int64_t attempt_id);

 private:
  std::string Path(int64_t attempt_id) const;
  std::string dir_;
};

// Serialises delivery rounds over the outbox without losing a request. A round asked for while one runs is
// remembered, and exactly one more starts when that one ends: it reads the outbox afresh, so a result stored
// after the running round listed the files is delivered now, not when some later job happens to finish
// (by which time its lease may have expired and the job been run again). State of the event loop only.
class DeliveryRounds {
 public:
  // True: start a round now. False: one is running, and another will follow it.
  bool Request();
  // The running round is over. True: start another now, for the requests made while it ran.
  bool Finish();
  bool running() const { return running_; }

 private:
  bool running_ = false, again_ = false;
};

}  // namespace tscale
