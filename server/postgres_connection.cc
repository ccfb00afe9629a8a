#include "server/postgres_connection.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "server/postgres_session.h"

namespace tscale::sql {

namespace {

// Type OIDs from PostgreSQL's pg_type.dat; stable across releases.
constexpr Oid kByteaOid = 17, kInt8Oid = 20, kTextOid = 25, kFloat8Oid = 701;

std::string ErrorOf(PGconn* conn, const PGresult* result) {
  std::string message = result ? PQresultErrorMessage(result) : "";
  if (message.empty()) message = PQerrorMessage(conn);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  return "postgresql: " + message + (state ? std::string(" (SQLSTATE ") + state + ")" : "");
}

Status FailureOf(PGconn* conn, const PGresult* result) {
  // A lost connection is worth retrying elsewhere (UNAVAILABLE), and so is a transaction the server gave up on
  // for the sake of others (a deadlock between coordinators' writes, a serialization failure: SQLSTATE class 40)
  // or a lock not granted in time (55P03). Anything else is the statement's fault.
  if (PQstatus(conn) != CONNECTION_OK) return Status::Unavailable(ErrorOf(conn, result));
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  if (state && (std::strncmp(state, "40", 2) == 0 || std::strcmp(state, "55P03") == 0))
    return Status::Unavailable(ErrorOf(conn, result));
  return Status::Internal(ErrorOf(conn, result));
}

// SQLite's `?` and `?N` placeholders to PostgreSQL's `$N` (a bare `?` takes the number after the largest so
// far, as in SQLite). Quoted literals and identifiers are copied as they are. Returns the parameter count.
int RewritePlaceholders(const char* sql, std::string* out) {
  int largest = 0;
  char quote = 0;
  for (const char* p = sql; *p; ++p) {
    if (quote) {
      if (*p == quote) quote = 0;
      out->push_back(*p);
    } else if (*p == '\'' || *p == '"') {
      quote = *p;
      out->push_back(*p);
    } else if (*p == '?') {
      int number = 0;
      while (p[1] >= '0' && p[1] <= '9') number = number * 10 + (*++p - '0');
      if (number == 0) number = largest + 1;
      if (number > largest) largest = number;
      *out += "$" + std::to_string(number);
    } else {
      out->push_back(*p);
    }
  }
  return largest;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return 0;
}

class PostgresConnection;

class PostgresCursor final : public Cursor {
 public:
  PostgresCursor(PostgresConnection* connection, const char* sql);
  ~PostgresCursor() override;

  void BindInt(int index, int64_t value) override { Set(index, kInt8Oid, std::to_string(value), 0); }
  void BindDouble(int index, double value) override {
    char text[32];
    std::snprintf(text, sizeof text, "%.17g", value);  // round-trips exactly; inf and nan read back as such
    Set(index, kFloat8Oid, text, 0);
  }
  void BindText(int index, const std::string& text) override {
    // PostgreSQL text cannot hold a NUL byte (libpq would cut the value there): refuse it rather than store less.
    if (text.find('\0') != std::string::npos && status_.ok())
      status_ = Status::InvalidArgument("postgresql: text parameter " + std::to_string(index) + " contains a NUL byte");
    Set(index, kTextOid, text, 0);
  }
  void BindBlob(int index, const std::string& bytes) override { Set(index, kByteaOid, bytes, 1); }
  void BindNull(int index) override {
    if (!InRange(index)) return;
    params_[index - 1] = Param{};
  }

  bool Step(Status* status) override;
  Status Run() override;
  void Send() override;
  void Reset() override;
  struct Wire {  // the parameters as libpq takes them
    std::vector<Oid> types;
    std::vector<const char*> values;
    std::vector<int> lengths, formats;
  };
  Wire ToWire() const;
  // The answer to this cursor's pipelined statement (null when it had none), or the failure that stopped it.
  void Deliver(PGresult* result, const Status& failure) {
    sent_ = false;
    result_ = result;
    if (!failure.ok() && status_.ok()) status_ = failure;
  }

  int64_t ColumnInt(int column) const override {
    const char* text = Value(column);
    if (text[0] == 't' && text[1] == 0) return 1;  // booleans (NOT EXISTS ...) read as SQLite's 1 and 0
    if (text[0] == 'f' && text[1] == 0) return 0;
    if (std::strchr(text, '.') || std::strchr(text, 'e')) return static_cast<int64_t>(std::strtod(text, nullptr));
    return std::strtoll(text, nullptr, 10);
  }
  double ColumnDouble(int column) const override { return std::strtod(Value(column), nullptr); }
  bool ColumnIsNull(int column) const override {
    return !result_ || row_ < 0 || column >= PQnfields(result_) || PQgetisnull(result_, row_, column);
  }
  std::string ColumnText(int column) const override {
    if (ColumnIsNull(column)) return {};
    return std::string(PQgetvalue(result_, row_, column), static_cast<size_t>(PQgetlength(result_, row_, column)));
  }
  std::string ColumnBlob(int column) const override {
    std::string text = ColumnText(column);
    if (PQftype(result_, column) != kByteaOid || text.size() < 2 || text[0] != '\\' || text[1] != 'x') return text;
    std::string bytes;
    bytes.reserve((text.size() - 2) / 2);
    for (size_t i = 2; i + 1 < text.size(); i += 2)
      bytes.push_back(static_cast<char>(HexValue(text[i]) << 4 | HexValue(text[i + 1])));
    return bytes;
  }

 private:
  struct Param {
    bool null = true;
    Oid type = 0;
    int format = 0;
    std::string value;
  };
  bool InRange(int index) {
    if (index >= 1 && index <= static_cast<int>(params_.size())) return true;
    if (status_.ok()) status_ = Status::Internal("postgresql: parameter " + std::to_string(index) + " out of range");
    return false;
  }
  void Set(int index, Oid type, std::string value, int format) {
    if (!InRange(index)) return;
    params_[index - 1] = Param{false, type, format, std::move(value)};
  }
  const char* Value(int column) const { return ColumnIsNull(column) ? "0" : PQgetvalue(result_, row_, column); }
  // Runs the statement and waits for its answer (sharing the round trip with whatever is pipelined before it).
  bool Execute();
  // Queues the statement in the connection's pipeline; `sink` gets its answer.
  Status Enqueue(PostgresCursor* sink);

  PostgresConnection* connection_;
  std::string sql_;
  std::vector<Param> params_;
  PGresult* result_ = nullptr;
  int row_ = -1;
  bool sent_ = false;  // queued in the pipeline, its answer not yet read
  Status status_;
};

class PostgresConnection final : public Connection {
 public:
  explicit PostgresConnection(PGconn* conn) : conn_(conn) {}
  ~PostgresConnection() override { PQfinish(conn_); }

  Dialect dialect() const override { return Dialect::kPostgresql; }
  Status Exec(const std::string& sql) override {
    // A ROLLBACK runs whatever the pipelined statements before it did; anything else after a failure would only
    // fail as "aborted", hiding the cause.
    Status pipelined = FlushPipeline();
    const bool rollback = sql.rfind("ROLLBACK", 0) == 0;
    if (!pipelined.ok() && !rollback) return pipelined;
    if (rollback) held_error_ = Status::Ok();  // it belonged to what is rolled back
    if (PQpipelineStatus(conn_) != PQ_PIPELINE_OFF && PQexitPipelineMode(conn_) != 1) {
      // A pipeline left stuck (a failed send or resync on a live connection): no synchronous call can run on it.
      // A ROLLBACK is what ending the session does anyway, so the session is replaced (and set up again by the
      // next call); anything else fails.
      if (!rollback) return Status::Internal("postgresql: the connection is stuck in pipeline mode");
      PQreset(conn_);
      prepared_.clear();
      session_ready_ = false;
      in_transaction_ = false;
      return Status::Ok();
    }
    ReconnectIfIdleAndLost();
    PGresult* result = PQexec(conn_, sql.c_str());
    const ExecStatusType status = PQresultStatus(result);
    Status outcome = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK ? Status::Ok() : FailureOf(conn_, result);
    PQclear(result);
    if (sql == "ROLLBACK") in_transaction_ = false;
    return outcome;
  }
  std::unique_ptr<Cursor> Prepare(const char* sql, Status*) override {
    return std::make_unique<PostgresCursor>(this, sql);
  }
  int64_t Changes() override {
    if (Status flushed = FlushPipeline(); !flushed.ok() && held_error_.ok()) held_error_ = flushed;
    return changes_;
  }
  Status Flush() override {
    Status flushed = FlushPipeline();
    Status held = std::move(held_error_);
    held_error_ = Status::Ok();
    return held.ok() ? flushed : held;
  }
  bool Unsettled() const override {
    return !pending_.empty() || !held_error_.ok() || PQtransactionStatus(conn_) == PQTRANS_INERROR;
  }
  bool InTransaction() const override {
    const PGTransactionStatusType status = PQtransactionStatus(conn_);
    return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE;
  }
  Status BeginWrite(WriteMode mode) override {
    // The caller has given up any transaction before (a lost connection may have left this flag set): a new one
    // starts here, on a new connection if need be.
    in_transaction_ = false;
    held_error_ = Status::Ok();
    // Shared writes hold the writer lock shared: they run beside each other and never beside any other (header).
    shared_ = mode == WriteMode::kShared;
    Status begun =
        Exec(std::string("BEGIN; SELECT ") + (shared_ ? "pg_advisory_xact_lock_shared(" : "pg_advisory_xact_lock(") +
             std::to_string(kWriterLockKey) + ")");
    if (!begun.ok()) {
      // BEGIN ran even when the lock wait failed (lock_timeout): end that transaction now, or every read on this
      // connection would fail as "aborted" until the next write.
      if (InTransaction()) Exec("ROLLBACK");
      return begun;
    }
    in_transaction_ = true;
    return begun;
  }
  bool SharesWrites() const override { return true; }
  Status OrderCommit() override {
    if (!shared_) return Status::Ok();
    const std::string key = std::to_string(kCommitOrderLockKey);
    const char* values[] = {key.c_str()};
    return SendText("SELECT pg_advisory_xact_lock($1::bigint)", 1, values, nullptr);
  }
  Status Commit(unsigned changes) override {
    // The notification is delivered when, and only if, the transaction commits. A transaction a failed statement
    // left aborted answers COMMIT with ROLLBACK, which is a failure here, not a success. Both go in the pipeline
    // behind the last writes, so the whole tail of the transaction is one round trip.
    Status outcome = held_error_;
    held_error_ = Status::Ok();
    PGresult* result = nullptr;
    if (outcome.ok() && changes != kNoChange) {
      const std::string mask = std::to_string(changes);
      const char* values[] = {kChangeChannel, mask.c_str()};
      outcome = SendText("SELECT pg_notify($1, $2)", 2, values, nullptr);
    }
    if (outcome.ok()) outcome = SendText("COMMIT", 0, nullptr, &result);
    Status flushed = FlushPipeline();
    if (outcome.ok()) outcome = flushed;
    in_transaction_ = false;
    if (outcome.ok() && (!result || PQresultStatus(result) != PGRES_COMMAND_OK)) {
      outcome = FailureOf(conn_, result);
    } else if (outcome.ok() && std::strcmp(PQcmdStatus(result), "COMMIT") != 0) {
      outcome = Status::Internal("postgresql: the transaction was rolled back at COMMIT (" +
                                 std::string(PQcmdStatus(result)) + ")");
    }
    PQclear(result);
    return outcome;
  }
  std::string ErrorMessage() const override { return PQerrorMessage(conn_); }
  Status HoldSharedSessionLock(int64_t key) override {
    ReconnectIfIdleAndLost();
    Status held = LockShared(key);
    if (held.ok()) shared_locks_.push_back(key);
    return held;
  }
  StatusOr<bool> SessionLockIsFree(int64_t key) override {
    ReconnectIfIdleAndLost();
    PGresult* result = PQexec(conn_, ("SELECT pg_try_advisory_lock(" + std::to_string(key) + ")").c_str());
    const bool ran = PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1;
    const bool free = ran && std::strcmp(PQgetvalue(result, 0, 0), "t") == 0;
    Status failed = ran ? Status::Ok() : FailureOf(conn_, result);
    PQclear(result);
    if (!failed.ok()) return failed;
    if (free) TSCALE_RETURN_IF_ERROR(Exec("SELECT pg_advisory_unlock(" + std::to_string(key) + ")"));
    return free;
  }

  PGconn* conn() { return conn_; }
  bool in_transaction() const { return in_transaction_; }
  bool pipelining() const { return !pending_.empty(); }
  // Changes() after `result`: the rows an INSERT, UPDATE or DELETE touched (a SELECT leaves the count as it was).
  void NoteChanges(PGresult* result) {
    const char* changed = PQcmdTuples(result);
    if (changed && *changed && std::strncmp(PQcmdStatus(result), "SELECT", 6) != 0)
      changes_ = std::strtoll(changed, nullptr, 10);
  }

  // The pipeline (libpq's pipeline mode, server/sql.h's "round trips"): statements sent and not yet answered, each
  // with where its answer goes. A cursor destroyed or reset before the answer comes is forgotten (it is still run).
  struct Pending {
    PostgresCursor* cursor = nullptr;  // gets the answer (Deliver)
    PGresult** keep = nullptr;         // or keeps it here
  };
  Status SendPrepared(const std::string& name, int count, const PostgresCursor::Wire* wire, Pending pending);
  Status SendText(const char* sql, int count, const char* const* values, PGresult** keep);
  void Forget(const PostgresCursor* cursor) {
    for (Pending& pending : pending_)
      if (pending.cursor == cursor) pending.cursor = nullptr;
  }
  // Sends a Sync and reads every answer in order, handing each to its cursor; returns the first failure. After a
  // failure the server skips the rest up to the Sync (they are "aborted"), and their cursors get the same failure.
  Status FlushPipeline();
  Status BoundPipeline();
  Status SendFailed();
  void Hold(const Status& failure) {
    if (held_error_.ok()) held_error_ = failure;
  }
  // The name of a server-side prepared statement for `sql`, preparing it on first use (with the parameter types of
  // that use; a NULL's is left to the server to infer): the store runs a few dozen statements over and over, and
  // parsing and planning each one every time would cost more than running it. Keyed on the text alone, so the
  // cache is as large as the number of distinct statements, whatever mix of NULLs they are run with. A failure to
  // prepare is the statement's own error (the same text), returned as such.
  StatusOr<std::string> PreparedName(const std::string& sql, const std::vector<Oid>& types) {
    if (auto it = prepared_.find(sql); it != prepared_.end()) return it->second;
    // Preparing waits for its answer, which pipeline mode does not allow: what is queued goes first.
    TSCALE_RETURN_IF_ERROR(FlushPipeline());
    std::string name = "tscale_" + std::to_string(prepared_.size() + 1);
    PGresult* result = PQprepare(conn_, name.c_str(), sql.c_str(), static_cast<int>(types.size()),
                                 types.empty() ? nullptr : types.data());
    Status outcome = PQresultStatus(result) == PGRES_COMMAND_OK ? Status::Ok() : FailureOf(conn_, result);
    PQclear(result);
    if (!outcome.ok()) return outcome;
    prepared_.emplace(sql, name);
    return name;
  }
  // A connection lost between transactions is reopened (a restarted database, a failover); one lost inside a
  // transaction is not: that transaction is gone (and its writer lock with it), and its statements must fail until
  // the caller rolls back, never run on a new session outside any transaction.
  bool ReconnectIfIdleAndLost() {
    if (in_transaction_) return false;
    // A pipeline whose end never came (the server stopped answering mid-way) leaves nothing to resynchronise on:
    // the session is replaced like a lost one.
    const bool stuck = PQpipelineStatus(conn_) != PQ_PIPELINE_OFF;
    if (PQstatus(conn_) == CONNECTION_OK && !stuck) {
      if (session_ready_) return false;
      // A reconnect whose set-up failed: this session must not run without its settings and locks.
      session_ready_ = SetUpSession(conn_).ok() && RetakeLocks();
      return session_ready_;
    }
    PQreset(conn_);
    prepared_.clear();  // they lived in the old session
    session_ready_ = PQstatus(conn_) == CONNECTION_OK && SetUpSession(conn_).ok() && RetakeLocks();
    return session_ready_;
  }
  Status LockShared(int64_t key) {
    PGresult* result = PQexec(conn_, ("SELECT pg_advisory_lock_shared(" + std::to_string(key) + ")").c_str());
    Status outcome = PQresultStatus(result) == PGRES_TUPLES_OK ? Status::Ok() : FailureOf(conn_, result);
    PQclear(result);
    return outcome;
  }
  // Session locks belong to a session: a new one takes them again.
  bool RetakeLocks() {
    for (int64_t key : shared_locks_)
      if (!LockShared(key).ok()) return false;
    return true;
  }
  // Pins every setting the driver's parsing relies on, whatever the database's or role's defaults: hex bytea output
  // (ColumnBlob), shortest exact float output (samples round-trip bit for bit), UTF-8, standard strings (the
  // schema's '\x' default). A writer waits at most 10 s for the writer lock; a session that stalls inside a
  // transaction is ended by the server after 60 s, releasing it. Keepalives on the server's side too, so that the
  // session (and its locks) of a coordinator whose host vanished ends within about a minute.
  static Status SetUpSession(PGconn* conn) {
    PQsetNoticeProcessor(conn, IgnoreNotice, nullptr);
    PGresult* result = PQexec(conn,
                              "SET bytea_output = 'hex'; SET extra_float_digits = 1; SET client_encoding = 'UTF8'; "
                              "SET standard_conforming_strings = on; SET lock_timeout = '10s'; "
                              "SET idle_in_transaction_session_timeout = '60s'; SET tcp_keepalives_idle = 30; "
                              "SET tcp_keepalives_interval = 10; SET tcp_keepalives_count = 3; "
                              "SET application_name = 'tscale-server'");
    Status outcome = PQresultStatus(result) == PGRES_COMMAND_OK ? Status::Ok() : FailureOf(conn, result);
    PQclear(result);
    return outcome;
  }

 private:
  PGconn* conn_;
  int64_t changes_ = 0;
  bool in_transaction_ = false;        // between a successful BeginWrite and its Commit or ROLLBACK
  bool shared_ = false;                // that transaction is WriteMode::kShared
  bool session_ready_ = true;          // the session's settings and locks are in place (false after a failed set-up)
  std::vector<int64_t> shared_locks_;  // HoldSharedSessionLock's keys
  std::unordered_map<std::string, std::string> prepared_;  // statement text -> prepared statement name
  std::vector<Pending> pending_;                           // the pipeline, in the order sent
  Status held_error_;  // a pipelined failure met where nobody could be told (Changes()), for the next Flush
};

PostgresCursor::PostgresCursor(PostgresConnection* connection, const char* sql) : connection_(connection) {
  params_.resize(static_cast<size_t>(RewritePlaceholders(sql, &sql_)));
}

PostgresCursor::~PostgresCursor() {
  if (sent_) connection_->Forget(this);
  PQclear(result_);
}

void PostgresCursor::Reset() {
  if (sent_) connection_->Forget(this);
  sent_ = false;
  PQclear(result_);
  result_ = nullptr;
  row_ = -1;
  for (Param& param : params_) param = Param{};
}

PostgresCursor::Wire PostgresCursor::ToWire() const {
  Wire wire;
  for (const Param& param : params_) {
    wire.types.push_back(param.type);
    wire.values.push_back(param.null ? nullptr : param.value.data());
    wire.lengths.push_back(static_cast<int>(param.value.size()));
    wire.formats.push_back(param.format);
  }
  return wire;
}

Status PostgresCursor::Enqueue(PostgresCursor* sink) {
  const Wire wire = ToWire();
  auto prepared = connection_->PreparedName(sql_, wire.types);
  if (!prepared.ok()) return prepared.status();
  PostgresConnection::Pending pending;
  pending.cursor = sink;
  if (sink) sent_ = true;  // before sending: a full pipeline is settled inside SendPrepared (Deliver)
  Status sent = connection_->SendPrepared(*prepared, static_cast<int>(params_.size()), &wire, pending);
  if (!sent.ok() && sink && sent_) {
    connection_->Forget(this);
    sent_ = false;
  }
  return sent;
}

Status PostgresCursor::Run() {
  if (!status_.ok()) return status_;
  // Deferred inside a write transaction: its answer comes with the next round trip (server/sql.h).
  if (connection_->in_transaction() && !result_ && !sent_) {
    if (Status sent = Enqueue(nullptr); !sent.ok()) status_ = sent;
    return status_;
  }
  Status status;
  Step(&status);
  return status;
}

void PostgresCursor::Send() {
  if (!status_.ok() || result_ || sent_) return;
  if (!connection_->in_transaction()) {
    Execute();  // no pipeline outside a write transaction: it runs here, as the contract says
    return;
  }
  if (Status sent = Enqueue(this); !sent.ok()) status_ = sent;
}

bool PostgresCursor::Execute() {
  if (connection_->pipelining()) {
    // Behind deferred statements: queued after them and answered in the same round trip.
    if (Status sent = Enqueue(this); !sent.ok()) {
      status_ = sent;
      return false;
    }
    const Status flushed = connection_->FlushPipeline();
    if (!flushed.ok() && status_.ok()) status_ = flushed;
    return status_.ok();
  }
  connection_->ReconnectIfIdleAndLost();
  const Wire wire = ToWire();
  const int count = static_cast<int>(params_.size());
  // A statement outside a transaction that finds the connection lost (a database restart since the last call)
  // runs once more on a new one: nothing of it had run.
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto prepared = connection_->PreparedName(sql_, wire.types);
    if (!prepared.ok()) {
      status_ = prepared.status();
    } else {
      result_ = PQexecPrepared(connection_->conn(), prepared->c_str(), count, wire.values.data(), wire.lengths.data(),
                               wire.formats.data(), 0);
    }
    const bool lost = PQstatus(connection_->conn()) != CONNECTION_OK;
    if (!lost || connection_->in_transaction() || attempt == 1 || !connection_->ReconnectIfIdleAndLost()) break;
    PQclear(result_);
    result_ = nullptr;
    status_ = Status::Ok();
  }
  if (!status_.ok()) return false;
  const ExecStatusType outcome = PQresultStatus(result_);
  if (outcome != PGRES_TUPLES_OK && outcome != PGRES_COMMAND_OK) {
    status_ = FailureOf(connection_->conn(), result_);
    return false;
  }
  connection_->NoteChanges(result_);
  return true;
}

bool PostgresCursor::Step(Status* status) {
  if (status_.ok() && sent_) {
    // Sent earlier: its answer comes with the pipeline's. A failure after it in the pipeline is not this
    // statement's: it is kept for the connection's next Flush.
    const Status flushed = connection_->FlushPipeline();
    if (status_.ok() && !flushed.ok()) connection_->Hold(flushed);
  } else if (status_.ok() && !result_) {
    Execute();
  }
  if (!status_.ok()) {
    *status = status_;
    return false;
  }
  ++row_;
  return result_ && row_ < PQntuples(result_);
}

Status PostgresConnection::SendPrepared(const std::string& name, int count, const PostgresCursor::Wire* wire,
                                        Pending pending) {
  if (PQpipelineStatus(conn_) == PQ_PIPELINE_OFF && PQenterPipelineMode(conn_) != 1) return FailureOf(conn_, nullptr);
  if (PQsendQueryPrepared(conn_, name.c_str(), count, wire->values.data(), wire->lengths.data(), wire->formats.data(),
                          0) != 1)
    return SendFailed();
  pending_.push_back(pending);
  return BoundPipeline();
}

Status PostgresConnection::SendText(const char* sql, int count, const char* const* values, PGresult** keep) {
  if (PQpipelineStatus(conn_) == PQ_PIPELINE_OFF && PQenterPipelineMode(conn_) != 1) return FailureOf(conn_, nullptr);
  if (PQsendQueryParams(conn_, sql, count, nullptr, values, nullptr, nullptr, 0) != 1) return SendFailed();
  Pending pending;
  pending.keep = keep;
  pending_.push_back(pending);
  return BoundPipeline();
}

// A send that failed leaves pipeline mode on; with nothing queued nobody would leave it (Exec and every
// synchronous call would fail on it), so it is left here.
Status PostgresConnection::SendFailed() {
  Status failed = FailureOf(conn_, nullptr);
  if (pending_.empty()) PQexitPipelineMode(conn_);
  return failed;
}

// The server answers while it reads, and nobody reads its answers until the Sync: a long enough pipeline (a cancel
// of a 100,000-job sweep) would fill both sockets and leave each side waiting on the other. So every
// kMaxPipelined statements the pipeline is settled, which costs one round trip per that many.
Status PostgresConnection::BoundPipeline() {
  constexpr size_t kMaxPipelined = 128;
  return pending_.size() < kMaxPipelined ? Status::Ok() : FlushPipeline();
}

Status PostgresConnection::FlushPipeline() {
  if (pending_.empty()) return Status::Ok();
  std::vector<Pending> pending;
  pending.swap(pending_);
  Status first;
  if (PQpipelineSync(conn_) != 1) first = FailureOf(conn_, nullptr);
  for (const Pending& entry : pending) {
    // Each statement's answer is its results (one here) and then a null.
    PGresult* kept = nullptr;
    Status failed;
    while (PGresult* result = PQgetResult(conn_)) {
      const ExecStatusType status = PQresultStatus(result);
      if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
        NoteChanges(result);
        if (!kept) {
          kept = result;
          continue;
        }
      } else if (failed.ok()) {
        // Skipped after an earlier failure: that failure is the reason.
        failed = status == PGRES_PIPELINE_ABORTED && !first.ok() ? first : FailureOf(conn_, result);
      }
      PQclear(result);
    }
    if (failed.ok() && !kept) failed = FailureOf(conn_, nullptr);  // no answer at all: the connection is gone
    if (!failed.ok()) {
      PQclear(kept);
      kept = nullptr;
      if (first.ok()) first = failed;
    }
    if (entry.cursor) {
      entry.cursor->Deliver(kept, failed);
    } else if (entry.keep) {
      *entry.keep = kept;
    } else {
      PQclear(kept);
    }
  }
  PGresult* sync = PQgetResult(conn_);
  const bool synced = sync && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
  PQclear(sync);
  if (!synced && first.ok()) first = FailureOf(conn_, nullptr);
  if (synced && PQexitPipelineMode(conn_) != 1 && first.ok()) first = FailureOf(conn_, nullptr);
  return first;
}

}  // namespace

StatusOr<std::unique_ptr<Connection>> OpenPostgresql(const std::string& uri) {
  PGconn* conn = ConnectPostgresql(uri);
  if (PQstatus(conn) != CONNECTION_OK) {
    // libpq's message names the host and port; the URI itself is not repeated (it may hold a password).
    std::string message = PQerrorMessage(conn);
    while (!message.empty() && message.back() == '\n') message.pop_back();
    PQfinish(conn);
    return Status::Unavailable("cannot connect to the PostgreSQL database: " + message);
  }
  if (PQserverVersion(conn) < 120000) {
    const int version = PQserverVersion(conn);
    PQfinish(conn);
    return Status::FailedPrecondition("PostgreSQL server version " + std::to_string(version / 10000) +
                                      " is too old: tscale needs 12 or newer");
  }
  if (Status set_up = PostgresConnection::SetUpSession(conn); !set_up.ok()) {
    PQfinish(conn);
    return set_up;
  }
  return std::unique_ptr<Connection>(new PostgresConnection(conn));
}

}  // namespace tscale::sql
