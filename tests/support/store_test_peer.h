// Reaches Store's private write path, for tests that run their own bodies through the group commit.
#pragma once

#include <functional>

#include "server/store.h"

namespace tscale {

class StoreTestPeer {
 public:
  static Status Write(Store& store, const std::function<Status()>& body, WriteKind kind = WriteKind::kAny) {
    return store.writer_.Write(body, kind);
  }
  static GroupCommitQueue& Writer(Store& store) { return store.writer_; }
  static sql::Database& Db(Store& store) { return store.db_; }
};

}  // namespace tscale
