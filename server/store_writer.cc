#include "server/store_writer.h"

#include <algorithm>
#include <array>
#include <exception>
#include <new>
#include <optional>
#include <string>

namespace tscale {
namespace {

// The status of a write whose body threw. Building the message may itself throw (out of memory): then the
// status goes without one.
Status ThrownWrite(const char* what) noexcept {
  try {
    return Status::Internal(std::string("write failed with an exception: ") + what);
  } catch (...) {
    return Status::Internal(std::string());
  }
}

// A body's exception becomes its status. Unwinding through the group commit instead would leave the
// transaction open and the writer queue blocked behind an entry whose thread has gone.
Status RunBody(const std::function<Status()>& body) noexcept {
  try {
    return body();
  } catch (const std::exception& e) {
    return ThrownWrite(e.what());
  } catch (...) {
    return ThrownWrite("unknown exception");
  }
}

}  // namespace

// Group commit, after LevelDB's writer queue: a write waits in a FIFO; the write at the front runs itself
// and every write queued behind it (up to kMaxGroup) inside one BEGIN IMMEDIATE ... COMMIT, so one fsync
// serves the whole group. Each body runs inside its own savepoint: a body that fails is rolled back alone.
//
// Exception safety: once the leader has taken its group, nothing may throw until the group is popped and its
// members woken, or every later write would wait forever behind them. So the group is a fixed array (no
// allocation), and CommitGroup turns every exception into statuses.
Status GroupCommitQueue::Write(const std::function<Status()>& body, WriteKind kind) {
  constexpr size_t kMaxGroup = 256;
  PendingWrite self;
  self.body = &body;
  self.kind = kind;
  // Where shareable writes may run beside other coordinators' they are grouped apart, so that such a group can;
  // elsewhere (SQLite) every write queued shares the group, as fewer commits are what count there.
  const bool by_kind = db_.connection().SharesWrites();
  std::unique_lock queue_lock(queue_mu_);
  try {
    queue_.push_back(&self);
  } catch (const std::bad_alloc&) {  // nothing was queued
    return Status::Internal("write failed: out of memory");
  }
  while (!self.done && &self != queue_.front()) self.cv.wait(queue_lock);
  if (self.done) return self.status;

  std::array<PendingWrite*, kMaxGroup> group;
  size_t size = 0;
  for (PendingWrite* queued : queue_) {
    if (size == kMaxGroup) break;
    if (!by_kind || queued->kind == kind) group[size++] = queued;
  }
  queue_lock.unlock();
  CommitGroup(group.data(), size);
  queue_lock.lock();
  for (size_t i = 0; i < size; ++i) {
    queue_.erase(std::find(queue_.begin(), queue_.end(), group[i]));
    if (group[i] != &self) {
      group[i]->done = true;
      group[i]->cv.notify_one();
    }
  }
  if (!queue_.empty()) queue_.front()->cv.notify_one();
  return self.status;
}

void GroupCommitQueue::AtCommit(std::function<Status()> tail) {
  tails_.emplace_back(running_member_, std::move(tail));
}

Status GroupCommitQueue::RunTailsAndCommit() {
  if (!tails_.empty()) {
    // Sent behind the bodies' statements, answered with the COMMIT: a failure among them fails the commit.
    TSCALE_RETURN_IF_ERROR(db_.connection().OrderCommit());
    in_tails_ = true;
    Status ran;
    for (auto& [member, tail] : tails_)
      if (ran = tail(); !ran.ok()) break;
    in_tails_ = false;
    TSCALE_RETURN_IF_ERROR(ran);
  }
  return db_.connection().Commit(changes_);
}

void GroupCommitQueue::CommitGroup(PendingWrite* const* group, size_t size) noexcept {
  std::lock_guard lock(db_mu_);
  writes_.fetch_add(static_cast<int64_t>(size), std::memory_order_relaxed);
  commits_.fetch_add(1, std::memory_order_relaxed);
  if (static_cast<int64_t>(size) > max_group_.load(std::memory_order_relaxed))
    max_group_.store(static_cast<int64_t>(size), std::memory_order_relaxed);  // only the leader writes it
  try {
    // A transaction a failed ROLLBACK left open would make every later BEGIN fail: end it first.
    if (db_.InTransaction()) db_.Exec("ROLLBACK");
    changes_ = sql::kNoChange;
    tails_.clear();
    in_tails_ = false;
    shared_ = db_.connection().SharesWrites();
    for (size_t i = 0; i < size && shared_; ++i) shared_ = group[i]->kind == WriteKind::kShareable;
    if (shared_) shared_commits_.fetch_add(1, std::memory_order_relaxed);
    if (Status begin = db_.connection().BeginWrite(shared_ ? sql::WriteMode::kShared : sql::WriteMode::kExclusive);
        !begin.ok()) {
      for (size_t i = 0; i < size; ++i) group[i]->status = begin;
      return;
    }
    sql::Connection& connection = db_.connection();
    // A RELEASE sent without waiting for its answer (its write had nothing else outstanding). It is checked once
    // the next write has run, before anything relies on the savepoint stack again: a failed one leaves its write's
    // savepoint in place, and the next write's ROLLBACK TO would undo a write already reported done. So a failed
    // one fails the whole group, as a RELEASE that waits does. (The last one is answered with the commit, which
    // fails if it failed.)
    std::optional<sql::Statement> unanswered_release;
    for (size_t i = 0; i < size; ++i) {
      PendingWrite* member = group[i];
      running_member_ = i;
      // SAVEPOINT and RELEASE go in the pipeline with the body's own statements (server/sql.h, "round trips").
      Status savepoint = sql::Statement(db_, "SAVEPOINT write_op").Run();
      member->status = savepoint.ok() ? RunBody(*member->body) : savepoint;
      Status undone;
      if (unanswered_release) {
        unanswered_release->Step();  // answered by the body's first round trip, or now
        undone = unanswered_release->status();
        unanswered_release.reset();
      }
      if (savepoint.ok() && undone.ok()) {
        if (member->status.ok()) {
          // The body's deferred statements are its own: their outcome is settled before the next body runs.
          if (connection.Unsettled()) {
            undone = sql::Statement(db_, "RELEASE write_op").Run();
            if (undone.ok()) undone = connection.Flush();
            if (!undone.ok()) member->status = undone;
          } else {
            unanswered_release.emplace(db_, "RELEASE write_op");
            unanswered_release->Send();
          }
        }
        // A deferred statement's failure is the better reason: the body may have failed only by its knock-on.
        if (!member->status.ok()) {
          // What it left for the commit goes with it.
          tails_.erase(std::remove_if(tails_.begin(), tails_.end(), [i](const auto& tail) { return tail.first == i; }),
                       tails_.end());
          if (Status deferred = connection.Flush(); !deferred.ok()) member->status = deferred;
          // If the failed body's changes cannot be undone, or its savepoint cannot be closed, they would commit
          // with the rest of the group: undo the whole group instead.
          undone = db_.Exec("ROLLBACK TO write_op");
          if (undone.ok()) undone = db_.Exec("RELEASE write_op");
        }
      }
      if (!undone.ok()) {
        db_.Exec("ROLLBACK");
        const Status failed = Status::Internal("a write's savepoint could not be rolled back or released (" +
                                               undone.message() + "): the whole group was rolled back");
        for (size_t j = 0; j < size; ++j)
          if (j >= i || group[j]->status.ok()) group[j]->status = failed;
        return;
      }
      if (!db_.InTransaction()) {
        // The database rolled the whole transaction back (I/O error, disk full, out of memory, a lost PostgreSQL
        // connection): nothing of the group was stored, so every member fails, and none of the rest may run outside
        // a transaction. The ROLLBACK ends the transaction on the driver's side too (PostgreSQL's driver refuses to
        // reconnect while it believes one is open).
        const Status rolled_back = Status::Internal("the database rolled the transaction back: " + db_.ErrorMessage());
        db_.Exec("ROLLBACK");
        for (size_t j = 0; j < size; ++j)
          if (j > i || group[j]->status.ok()) group[j]->status = rolled_back;
        return;
      }
    }
    if (Status commit = RunTailsAndCommit(); !commit.ok()) {
      db_.Exec("ROLLBACK");
      for (size_t i = 0; i < size; ++i)
        if (group[i]->status.ok()) group[i]->status = commit;
    }
  } catch (...) {
    // The transaction machinery itself threw (out of memory building a statement or a message): whatever the
    // group wrote is rolled back and every member fails; the queue moves on.
    try {
      db_.Exec("ROLLBACK");
    } catch (...) {
    }
    for (size_t i = 0; i < size; ++i) group[i]->status = ThrownWrite("the group commit failed");
  }
}

}  // namespace tscale
