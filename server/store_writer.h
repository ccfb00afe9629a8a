// The store's group-commit writer queue: every Store write goes through Write(), which runs it in one database
// transaction shared with the writes queued beside it, so one fsync serves them all.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>

#include "common/status.h"
#include "server/sql.h"

namespace tscale {

// Since the store opened: writes run, transactions committed (or attempted) for them, and the largest group.
struct GroupCommitStats {
  int64_t writes = 0;
  int64_t commits = 0;
  int64_t max_group = 0;
};

class GroupCommitQueue {
 public:
  // `db` and `db_mu` (which guards every use of `db`) must outlive the queue.
  GroupCommitQueue(sql::Database& db, std::mutex& db_mu) : db_(db), db_mu_(db_mu) {}

  // Runs `body` in a write transaction shared with the writes queued beside it (group commit); returns the
  // body's status, or the commit's when the commit fails. Bodies must not call Write. A body that throws
  // fails alone with INTERNAL (its changes rolled back); the exception never leaves Write.
  Status Write(const std::function<Status()>& body);

  // Called by a body: what it changed (sql::ChangeKind), told to other coordinators when the group commits.
  void NoteChange(unsigned kinds) { changes_ |= kinds; }

  GroupCommitStats stats() const {
    return {writes_.load(std::memory_order_relaxed), commits_.load(std::memory_order_relaxed),
            max_group_.load(std::memory_order_relaxed)};
  }

 private:
  struct PendingWrite {
    const std::function<Status()>* body = nullptr;
    Status status;
    bool done = false;
    std::condition_variable cv;
  };
  void CommitGroup(PendingWrite* const* group, size_t size) noexcept;

  sql::Database& db_;
  std::mutex& db_mu_;
  unsigned changes_ = sql::kNoChange;  // guarded by db_mu_: what the group being written changed
  std::mutex queue_mu_;                // guards queue_
  std::deque<PendingWrite*> queue_;
  std::atomic<int64_t> writes_{0}, commits_{0}, max_group_{0};
};

}  // namespace tscale
