// The store's SQL layer: one small connection interface with two backends, SQLite (embedded, the default) and
// PostgreSQL (libpq, for several coordinators on one queue), and the RAII wrappers the store is written against
// (Database, Statement, WriteTransaction). The store's logic exists once; only the drivers, the schema text and
// a few dialect points (sql::Dialect) differ, so both backends keep the same semantics by construction.
//
// SQL is written once in the common subset of both dialects, with `?` / `?N` placeholders (the PostgreSQL
// driver rewrites them to `$N`). Every statement with outside values goes through Bind (no string concatenation
// of values).
//
// Write transactions are exclusive in both backends, but for shared ones: SQLite's BEGIN IMMEDIATE takes the
// database's write lock; the PostgreSQL driver takes one transaction-scoped advisory lock after BEGIN, so writers on
// every coordinator run one at a time (see server/postgres_connection.h for why). The exception is a transaction of
// claims and completions (WriteMode::kShared): PostgreSQL runs those of several coordinators at once, each locking
// the job it changes (a claim with FOR NO KEY UPDATE SKIP LOCKED), and orders only their tails (OrderCommit), where
// the events go. Readers never wait for writers.
//
// Round trips. With PostgreSQL every statement that waits for its answer costs a round trip, and that, not the
// database's work, bounds a writer. So inside a write transaction the PostgreSQL driver pipelines: Run() sends a
// statement without waiting for it, Send() sends a query whose rows Step() reads later, and everything sent goes
// to the server with the next statement that must wait (a Step, Changes(), Exec, Commit or Flush), in one round
// trip. A deferred statement's failure is reported by that next wait, and Flush() reports whatever is still
// outstanding, so a caller that must know a write's own outcome (the group commit, at the end of each write)
// calls Flush(). SQLite runs every statement at once; there Run() reports its own failure and Flush() has nothing
// to do. Either way a failed statement fails the write it belongs to.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"

struct sqlite3;

namespace tscale::sql {

enum class Dialect { kSqlite, kPostgresql };

// True when `target` names a PostgreSQL database (a postgresql:// or postgres:// URI) rather than a file.
bool IsPostgresqlUri(const std::string& target);

// The placeholders of a multi-row INSERT: `rows` tuples of `columns` `?` each, "(?,?),(?,?)". Many rows per
// statement, because with PostgreSQL every statement is a round trip.
std::string ValuesPlaceholders(int columns, int rows);

// Who else may write while a write transaction runs.
enum class WriteMode {
  kExclusive,  // nobody
  // Other kShared transactions (PostgreSQL; SQLite treats it as kExclusive). Such a transaction locks the job rows it
  // changes before it reads them (a claim skips the locked ones), and writes what must follow commit order (events,
  // new jobs) only after OrderCommit.
  kShared,
};

// What a committed write transaction changed, for waiters in other coordinators (PostgreSQL NOTIFY).
enum ChangeKind : unsigned { kNoChange = 0, kWorkQueued = 1u, kEventsAppended = 2u };

// One prepared statement of a backend. Parameters and columns are as in Statement below.
class Cursor {
 public:
  virtual ~Cursor() = default;
  virtual void BindInt(int index, int64_t value) = 0;
  virtual void BindDouble(int index, double value) = 0;
  virtual void BindText(int index, const std::string& text) = 0;
  virtual void BindBlob(int index, const std::string& bytes) = 0;
  virtual void BindNull(int index) = 0;
  // True while a row is available; false at the end or on error (then *status is set).
  virtual bool Step(Status* status) = 0;
  // Runs a statement for its effect (see the file comment: inside a write transaction a backend may defer it).
  virtual Status Run() {
    Status status;
    Step(&status);
    return status;
  }
  // Starts the statement here, its rows kept for Step: PostgreSQL (inside a write transaction) sends it to share
  // the next round trip; SQLite runs it as far as its first row. Elsewhere Step runs it.
  virtual void Send() {}
  virtual void Reset() = 0;
  virtual int64_t ColumnInt(int column) const = 0;
  virtual double ColumnDouble(int column) const = 0;
  virtual bool ColumnIsNull(int column) const = 0;
  virtual std::string ColumnText(int column) const = 0;
  virtual std::string ColumnBlob(int column) const = 0;
};

// One backend connection. Not thread-safe: the caller serialises its use (the store holds a mutex).
class Connection {
 public:
  virtual ~Connection() = default;
  virtual Dialect dialect() const = 0;
  // Runs one or more statements that take no parameters (schema, pragmas).
  virtual Status Exec(const std::string& sql) = 0;
  // Compiles `sql`; on failure returns null and sets *status.
  virtual std::unique_ptr<Cursor> Prepare(const char* sql, Status* status) = 0;
  // Rows changed by the most recent INSERT, UPDATE or DELETE (waits for deferred statements first).
  virtual int64_t Changes() = 0;
  // Waits for every statement sent and not yet answered; returns the first failure among them (or one a Changes()
  // call met). Nothing to do in SQLite.
  virtual Status Flush() { return Status::Ok(); }
  // True when a Flush is needed to know how the statements so far went: some are unanswered, or one has failed
  // and aborted the transaction.
  virtual bool Unsettled() const { return false; }
  virtual bool InTransaction() const = 0;
  // Starts a write transaction (see the file comment).
  virtual Status BeginWrite(WriteMode mode) = 0;
  // True where a kShared transaction may run beside others (where kShared is not kExclusive).
  virtual bool SharesWrites() const { return false; }
  // In a kShared transaction, waits until no other one is past its own OrderCommit: from here to the end of the
  // transaction no other writer runs, so ids drawn from here on (event ids, the watch's cursor) follow commit order.
  // May be deferred like Run(). Nothing to do in an exclusive transaction.
  virtual Status OrderCommit() { return Status::Ok(); }
  // Commits, first telling the other coordinators' listeners what changed (`changes`, a ChangeKind mask).
  virtual Status Commit(unsigned changes) = 0;
  virtual std::string ErrorMessage() const = 0;
  // Holds a session-level shared lock on `key` for the life of this connection, taken again whenever the
  // connection is re-established (PostgreSQL advisory lock; SQLite has one coordinator per file: nothing to do).
  virtual Status HoldSharedSessionLock(int64_t key) = 0;
  // True when no other connection holds the session lock on `key` (it is tried exclusively and released at once).
  virtual StatusOr<bool> SessionLockIsFree(int64_t key) = 0;
};

class Database {
 public:
  Database() = default;
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // `target` is a SQLite file path or a PostgreSQL URI (IsPostgresqlUri).
  Status Open(const std::string& target);
  Status Exec(const std::string& sql) { return connection_->Exec(sql); }
  Dialect dialect() const { return connection_->dialect(); }
  Connection& connection() const { return *connection_; }
  // The SQLite handle; null for PostgreSQL (only SQLite-specific code and tests use it).
  sqlite3* handle() const;
  int64_t Changes() const { return connection_->Changes(); }
  bool InTransaction() const { return connection_->InTransaction(); }
  std::string ErrorMessage() const { return connection_ ? connection_->ErrorMessage() : "database not open"; }

 private:
  std::unique_ptr<Connection> connection_;
};

class Statement {
 public:
  Statement(const Database& db, const char* sql);
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Parameters are 1-based, as in SQLite.
  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, int value) { return Bind(index, static_cast<int64_t>(value)); }
  Statement& Bind(int index, double value);
  Statement& Bind(int index, const std::string& text);
  Statement& BindBlob(int index, const std::string& bytes);
  Statement& BindNull(int index);

  // True while a row is available; false at the end. Errors are kept in status().
  bool Step();
  // Runs a statement that returns no rows; inside a write transaction it may be deferred (see the file comment).
  Status Run();
  // Starts the statement here and lets Step read its rows later, so that it shares a round trip with what
  // follows (file comment). Statements take effect in the order they are sent or run.
  void Send();
  // Makes the statement ready to run again with new bindings.
  void Reset();
  Status status() const { return status_; }

  int64_t ColumnInt(int column) const { return cursor_->ColumnInt(column); }
  double ColumnDouble(int column) const { return cursor_->ColumnDouble(column); }
  bool ColumnIsNull(int column) const { return cursor_->ColumnIsNull(column); }
  std::string ColumnText(int column) const { return cursor_->ColumnText(column); }
  std::string ColumnBlob(int column) const { return cursor_->ColumnBlob(column); }

 private:
  // In this order: the constructor's Prepare reports a failure into status_, which must exist by then.
  Status status_;
  std::unique_ptr<Cursor> cursor_;
};

// An exclusive write transaction (Connection::BeginWrite) on construction; ROLLBACK on destruction unless
// Commit() succeeded.
class WriteTransaction {
 public:
  explicit WriteTransaction(Database& db);
  ~WriteTransaction();
  WriteTransaction(const WriteTransaction&) = delete;
  WriteTransaction& operator=(const WriteTransaction&) = delete;

  const Status& status() const { return status_; }
  Status Commit(unsigned changes = kNoChange);

 private:
  Database& db_;
  Status status_;
  bool done_ = false;
};

}  // namespace tscale::sql
