#include "server/postgres_connection.h"

#include <libpq-fe.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_map>
#include <vector>

namespace tscale::sql {
namespace {

// Type OIDs from PostgreSQL's pg_type.dat; stable across releases.
constexpr Oid kByteaOid = 17, kInt8Oid = 20, kTextOid = 25, kFloat8Oid = 701;

void IgnoreNotice(void*, const char*) {}

// Connects with defaults the URI may override: give up on an unreachable host after 10 s (a coordinator's
// shutdown must not hang in connect), and TCP keepalives so that a connection whose peer vanished without a reset
// is noticed. The URI is expanded after the defaults, so its own settings win.
PGconn* Connect(const std::string& uri) {
  const char* keywords[] = {
      "connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "dbname", nullptr};
  const char* values[] = {"10", "1", "30", "10", "3", uri.c_str(), nullptr};
  return PQconnectdbParams(keywords, values, 1);
}

std::string ErrorOf(PGconn* conn, const PGresult* result) {
  std::string message = result ? PQresultErrorMessage(result) : "";
  if (message.empty()) message = PQerrorMessage(conn);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  return "postgresql: " + message + (state ? std::string(" (SQLSTATE ") + state + ")" : "");
}

Status FailureOf(PGconn* conn, const PGresult* result) {
  // A lost connection is worth retrying elsewhere (UNAVAILABLE); anything else is the statement's fault.
  if (PQstatus(conn) != CONNECTION_OK) return Status::Unavailable(ErrorOf(conn, result));
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
  ~PostgresCursor() override { PQclear(result_); }

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
  void Reset() override {
    PQclear(result_);
    result_ = nullptr;
    row_ = -1;
    for (Param& param : params_) param = Param{};
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

  PostgresConnection* connection_;
  std::string sql_;
  std::vector<Param> params_;
  PGresult* result_ = nullptr;
  int row_ = -1;
  Status status_;
};

class PostgresConnection final : public Connection {
 public:
  explicit PostgresConnection(PGconn* conn) : conn_(conn) {}
  ~PostgresConnection() override { PQfinish(conn_); }

  Dialect dialect() const override { return Dialect::kPostgresql; }
  Status Exec(const std::string& sql) override {
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
  int64_t Changes() const override { return changes_; }
  bool InTransaction() const override {
    const PGTransactionStatusType status = PQtransactionStatus(conn_);
    return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE;
  }
  Status BeginWrite() override {
    // The caller has given up any transaction before (a lost connection may have left this flag set): a new one
    // starts here, on a new connection if need be.
    in_transaction_ = false;
    Status begun = Exec("BEGIN; SELECT pg_advisory_xact_lock(" + std::to_string(kWriterLockKey) + ")");
    if (!begun.ok()) {
      // BEGIN ran even when the lock wait failed (lock_timeout): end that transaction now, or every read on this
      // connection would fail as "aborted" until the next write.
      if (InTransaction()) Exec("ROLLBACK");
      return begun;
    }
    in_transaction_ = true;
    return begun;
  }
  Status Commit(unsigned changes) override {
    // The notification is delivered when, and only if, the transaction commits. A transaction a failed statement
    // left aborted answers COMMIT with ROLLBACK, which is a failure here, not a success.
    std::string sql = changes == kNoChange
                          ? "COMMIT"
                          : "NOTIFY " + std::string(kChangeChannel) + ", '" + std::to_string(changes) + "'; COMMIT";
    PGresult* result = PQexec(conn_, sql.c_str());
    in_transaction_ = false;
    Status outcome;
    if (PQresultStatus(result) != PGRES_COMMAND_OK) {
      outcome = FailureOf(conn_, result);
    } else if (std::strcmp(PQcmdStatus(result), "COMMIT") != 0) {
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
  void set_changes(int64_t changes) { changes_ = changes; }
  // The name of a server-side prepared statement for `sql`, preparing it on first use (with the parameter types of
  // that use; a NULL's is left to the server to infer): the store runs a few dozen statements over and over, and
  // parsing and planning each one every time would cost more than running it. Keyed on the text alone, so the
  // cache is as large as the number of distinct statements, whatever mix of NULLs they are run with. A failure to
  // prepare is the statement's own error (the same text), returned as such.
  StatusOr<std::string> PreparedName(const std::string& sql, const std::vector<Oid>& types) {
    if (auto it = prepared_.find(sql); it != prepared_.end()) return it->second;
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
    if (PQstatus(conn_) == CONNECTION_OK) {
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
  bool session_ready_ = true;          // the session's settings and locks are in place (false after a failed set-up)
  std::vector<int64_t> shared_locks_;  // HoldSharedSessionLock's keys
  std::unordered_map<std::string, std::string> prepared_;  // statement text -> prepared statement name
};

PostgresCursor::PostgresCursor(PostgresConnection* connection, const char* sql) : connection_(connection) {
  params_.resize(static_cast<size_t>(RewritePlaceholders(sql, &sql_)));
}

bool PostgresCursor::Step(Status* status) {
  if (!status_.ok()) {
    *status = status_;
    return false;
  }
  if (!result_) {
    connection_->ReconnectIfIdleAndLost();
    const int count = static_cast<int>(params_.size());
    std::vector<Oid> types(params_.size());
    std::vector<const char*> values(params_.size());
    std::vector<int> lengths(params_.size()), formats(params_.size());
    for (int i = 0; i < count; ++i) {
      const Param& param = params_[static_cast<size_t>(i)];
      types[i] = param.type;
      values[i] = param.null ? nullptr : param.value.data();
      lengths[i] = static_cast<int>(param.value.size());
      formats[i] = param.format;
    }
    // A statement outside a transaction that finds the connection lost (a database restart since the last call)
    // runs once more on a new one: nothing of it had run.
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto prepared = connection_->PreparedName(sql_, types);
      if (!prepared.ok()) {
        status_ = prepared.status();
      } else {
        result_ = PQexecPrepared(connection_->conn(), prepared->c_str(), count, values.data(), lengths.data(),
                                 formats.data(), 0);
      }
      const bool lost = PQstatus(connection_->conn()) != CONNECTION_OK;
      if (!lost || connection_->in_transaction() || attempt == 1 || !connection_->ReconnectIfIdleAndLost()) break;
      PQclear(result_);
      result_ = nullptr;
      status_ = Status::Ok();
    }
    if (!status_.ok()) {
      *status = status_;
      return false;
    }
    const ExecStatusType outcome = PQresultStatus(result_);
    if (outcome != PGRES_TUPLES_OK && outcome != PGRES_COMMAND_OK) {
      status_ = FailureOf(connection_->conn(), result_);
      *status = status_;
      return false;
    }
    const char* changed = PQcmdTuples(result_);
    if (changed && *changed && std::strncmp(PQcmdStatus(result_), "SELECT", 6) != 0)
      connection_->set_changes(std::strtoll(changed, nullptr, 10));
  }
  ++row_;
  return row_ < PQntuples(result_);
}

}  // namespace

StatusOr<std::unique_ptr<Connection>> OpenPostgresql(const std::string& uri) {
  PGconn* conn = Connect(uri);
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

struct ChangeListener::State {
  std::string uri;
  std::function<void(unsigned)> on_change;
  int stop_pipe[2] = {-1, -1};
  std::atomic<bool> stopped{false};
  std::atomic<int64_t> received{0};
};

ChangeListener::ChangeListener(std::string uri, std::function<void(unsigned)> on_change)
    : state_(std::make_unique<State>()) {
  state_->uri = std::move(uri);
  state_->on_change = std::move(on_change);
  if (pipe(state_->stop_pipe) != 0) state_->stop_pipe[0] = state_->stop_pipe[1] = -1;
}

ChangeListener::~ChangeListener() {
  for (int fd : state_->stop_pipe)
    if (fd >= 0) close(fd);
}

void ChangeListener::Stop() {
  state_->stopped = true;
  if (state_->stop_pipe[1] >= 0) (void)!write(state_->stop_pipe[1], "x", 1);
}

int64_t ChangeListener::received() const {
  return state_->received.load();
}

void ChangeListener::Run() {
  State& s = *state_;
  constexpr unsigned kEverything = kWorkQueued | kEventsAppended;
  PGconn* conn = nullptr;
  auto wait_for_stop = [&](int timeout_ms) {
    pollfd fd{s.stop_pipe[0], POLLIN, 0};
    return poll(&fd, 1, timeout_ms) > 0 || s.stopped;
  };
  while (!s.stopped) {
    if (!conn || PQstatus(conn) != CONNECTION_OK) {
      PQfinish(conn);
      conn = Connect(s.uri);
      bool listening = PQstatus(conn) == CONNECTION_OK;
      if (listening) {
        PQsetNoticeProcessor(conn, IgnoreNotice, nullptr);
        PGresult* result =
            PQexec(conn, (std::string("SET application_name = 'tscale-listener'; LISTEN ") + kChangeChannel).c_str());
        listening = PQresultStatus(result) == PGRES_COMMAND_OK;
        PQclear(result);
      }
      // Whatever happened while nobody listened is unknown: wake every waiter to look (the polling fallback).
      s.on_change(kEverything);
      if (!listening) {
        PQfinish(conn);
        conn = nullptr;
        if (wait_for_stop(1000)) break;
        continue;
      }
    }
    pollfd fds[2] = {{PQsocket(conn), POLLIN, 0}, {s.stop_pipe[0], POLLIN, 0}};
    const int ready = poll(fds, 2, 1000);
    if (s.stopped || (ready > 0 && (fds[1].revents & POLLIN))) break;
    if (ready < 0 && errno != EINTR) {
      if (wait_for_stop(1000)) break;
      continue;
    }
    if (ready > 0 && PQconsumeInput(conn) == 0) {
      PQfinish(conn);  // lost: reconnect on the next turn
      conn = nullptr;
      continue;
    }
    while (PGnotify* notify = PQnotifies(conn)) {
      const unsigned mask = static_cast<unsigned>(std::strtoul(notify->extra, nullptr, 10));
      PQfreemem(notify);
      s.received.fetch_add(1);
      s.on_change(mask == 0 ? kEverything : mask);
    }
  }
  PQfinish(conn);
}

}  // namespace tscale::sql
