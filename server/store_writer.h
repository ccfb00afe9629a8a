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
#include <utility>
#include <vector>

#include "common/status.h"
#include "server/sql.h"

namespace tscale {

// Since the store opened: writes run, transactions committed (or attempted) for them, and the largest group.
struct GroupCommitStats {
  int64_t writes = 0;
  int64_t commits = 0;
  int64_t max_group = 0;
  int64_t shared_commits = 0;  // of `commits`: groups run beside other coordinators' (WriteMode::kShared)
};

// What a write is, for grouping: claims and completions (kShareable) may run as a group of their own beside other
// coordinators' (WriteMode::kShared).
enum class WriteKind { kAny, kShareable };

class GroupCommitQueue {
 public:
  // `db` and `db_mu` (which guards every use of `db`) must outlive the queue.
  GroupCommitQueue(sql::Database& db, std::mutex& db_mu) : db_(db), db_mu_(db_mu) {}

  // Runs `body` in a write transaction shared with the writes queued beside it (group commit); returns the
  // body's status, or the commit's when the commit fails. Bodies must not call Write. A body that throws
  // fails alone with INTERNAL (its changes rolled back); the exception never leaves Write.
  //
  // Where the database lets writes run beside each other (sql::Connection::SharesWrites), kShareable writes are
  // grouped apart from the others, and such a group runs as WriteMode::kShared. Writes queued at the same time
  // come from different calls, so committing them in another order changes nothing any caller can see.
  Status Write(const std::function<Status()>& body, WriteKind kind = WriteKind::kAny);

  // Called by a body: what it changed (sql::ChangeKind), told to other coordinators when the group commits.
  void NoteChange(unsigned kinds) { changes_ |= kinds; }

  // Called by a body: true when its group runs as WriteMode::kShared (sql.h). Such a body locks the job it changes
  // before reading it, and leaves to AtCommit what must follow commit order (events, new jobs) and what would make
  // it wait for another coordinator's group (a worker's row).
  bool shared() const { return shared_; }
  // True in a kShared group's body, false in its tails (where what was left to the commit now runs).
  bool defers_to_commit() const { return shared_ && !in_tails_; }

  // Called by a body: `tail` runs after every body of the group, after OrderCommit (so ids drawn there follow
  // commit order), and only if this body succeeds. A tail that fails fails the whole group.
  void AtCommit(std::function<Status()> tail);

  GroupCommitStats stats() const {
    return {writes_.load(std::memory_order_relaxed), commits_.load(std::memory_order_relaxed),
            max_group_.load(std::memory_order_relaxed), shared_commits_.load(std::memory_order_relaxed)};
  }

 private:
  struct PendingWrite {
    const std::function<Status()>* body = nullptr;
    WriteKind kind = WriteKind::kAny;
    Status status;
    bool done = false;
    std::condition_variable cv;
  };
  void CommitGroup(PendingWrite* const* group, size_t size) noexcept;
  // Runs the group's tails and commits; the status every member still succeeding gets.
  Status RunTailsAndCommit();

  sql::Database& db_;
  std::mutex& db_mu_;
  // Guarded by db_mu_: the group being written, what it changed, whether it runs as kShared and is in its tails, its
  // members' tails (with the member's index in the group), and the member now running.
  unsigned changes_ = sql::kNoChange;
  bool shared_ = false, in_tails_ = false;
  std::vector<std::pair<size_t, std::function<Status()>>> tails_;
  size_t running_member_ = 0;
  std::mutex queue_mu_;  // guards queue_
  std::deque<PendingWrite*> queue_;
  std::atomic<int64_t> writes_{0}, commits_{0}, max_group_{0}, shared_commits_{0};
};

}  // namespace tscale
