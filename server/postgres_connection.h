// The PostgreSQL backend of server/sql.h (libpq), for a queue shared by several coordinators.
//
// Writers take one transaction-scoped advisory lock (kWriterLockKey) right after BEGIN, so write transactions on
// every coordinator run one at a time, as SQLite's BEGIN IMMEDIATE does within one. The watch stream needs it:
// its resume cursor is the event id, and a reader may only pass an id once no lower id can still commit. With
// concurrent writers a lower id can commit after a higher one (ids are drawn before commit), and a watcher would
// skip it for good. One writer at a time makes id order commit order, and with it every store invariant the
// SQLite backend has (one live attempt per job, one probe per wall search step, the reaper safe anywhere) holds
// across coordinators unchanged. Each coordinator still groups its writes into one transaction (group commit),
// so the lock is taken once per group, not per write; readers never take it.
//
// Claims and completions are the exception (WriteMode::kShared): a transaction of only those holds the writer lock
// shared, so those of several coordinators run at once, and never beside any other write. They keep the invariants
// by row locks instead: a claim takes its job with FOR NO KEY UPDATE SKIP LOCKED (one live attempt per job, and no
// claim waits for another), a completion locks its job before it reads it (one result per job). Each writes its
// events, and a wall search's next probe, only after taking a second, exclusive lock (kCommitOrderLockKey,
// OrderCommit) that it holds to its end, so event and job ids still follow commit order.
//
// A session that holds the lock and stalls (a stopped coordinator) is ended by the server after
// idle_in_transaction_session_timeout, releasing the lock; a writer waits at most lock_timeout for it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "server/sql.h"

namespace tscale::sql {

inline constexpr int64_t kWriterLockKey = 0x747363616c65;  // "tscale"
// Taken by a shared write transaction before it writes its events, held to its end (OrderCommit).
inline constexpr int64_t kCommitOrderLockKey = 0x747363616c67;
// Held shared by every serving coordinator for the life of its session; a coordinator that can take it exclusively
// starts after an outage of them all (Store::Open's lease grace).
inline constexpr int64_t kCoordinatorLockKey = 0x747363616c66;
inline constexpr char kChangeChannel[] = "tscale_changes";

// Connects to `uri` (libpq connection URI) and sets the session up for the store.
StatusOr<std::unique_ptr<Connection>> OpenPostgresql(const std::string& uri);

// Listens on kChangeChannel on its own connection and calls `on_change` with each notification's ChangeKind
// mask. Run() returns when Stop() is called; while the connection is down it reconnects every second and calls
// `on_change(kWorkQueued | kEventsAppended)` each time it tries, so waiters fall back to polling.
class ChangeListener {
 public:
  ChangeListener(std::string uri, std::function<void(unsigned)> on_change);
  ~ChangeListener();
  void Run();
  void Stop();
  // Notifications received so far (tests and the server's status).
  int64_t received() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace tscale::sql
