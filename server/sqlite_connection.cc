#include "server/sqlite_connection.h"

#include <memory>
#include <unordered_map>
#include <vector>

#include "server/slow_fsync_vfs.h"

namespace tscale::sql {
namespace {

// Compiled statements kept for reuse, by text: SQLite compiles a statement in about the time it takes to run a
// small one, and the store runs a few dozen texts over and over (the claim's requirement walk is a recursive
// query with five subqueries). A statement in use is not in the cache; a second cursor on the same text compiles
// its own. Shared with the cursors, so that one outliving its connection finalizes its statement instead.
struct StatementCache {
  static constexpr size_t kMaxIdle = 512;
  bool open = true;
  size_t idle_count = 0;
  std::unordered_map<std::string, std::vector<sqlite3_stmt*>> idle;
};

class SqliteCursor final : public Cursor {
 public:
  SqliteCursor(sqlite3* db, std::shared_ptr<StatementCache> cache, const char* sql, Status* status)
      : db_(db), cache_(std::move(cache)), sql_(sql) {
    if (auto it = cache_->idle.find(sql_); it != cache_->idle.end() && !it->second.empty()) {
      stmt_ = it->second.back();
      it->second.pop_back();
      --cache_->idle_count;
      return;
    }
    int rc = sqlite3_prepare_v2(db_, sql, -1, &stmt_, nullptr);
    if (rc != SQLITE_OK) {
      Fail(rc);
      *status = status_;
    }
  }
  ~SqliteCursor() override {
    if (!stmt_) return;
    if (!cache_->open || cache_->idle_count >= StatementCache::kMaxIdle) {
      sqlite3_finalize(stmt_);
      return;
    }
    // Reset: a statement left part-way would keep its read open, or block a COMMIT.
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    cache_->idle[sql_].push_back(stmt_);
    ++cache_->idle_count;
  }

  void BindInt(int index, int64_t value) override { Check(sqlite3_bind_int64(stmt_, index, value)); }
  void BindDouble(int index, double value) override { Check(sqlite3_bind_double(stmt_, index, value)); }
  void BindText(int index, const std::string& text) override {
    Check(sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT));
  }
  void BindBlob(int index, const std::string& bytes) override {
    Check(sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT));
  }
  void BindNull(int index) override { Check(sqlite3_bind_null(stmt_, index)); }

  bool Step(Status* status) override {
    if (!stmt_ || !status_.ok()) {
      *status = status_;
      return false;
    }
    if (primed_) {  // Send ran it as far as its first row
      primed_ = false;
      if (primed_row_) return true;
      *status = status_;
      return false;
    }
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) Fail(rc);
    *status = status_;
    return false;
  }
  // Runs now, as far as the first row, so that the statement takes effect where it is sent (server/sql.h).
  void Send() override {
    Status status;
    primed_row_ = Step(&status);
    primed_ = true;
  }
  void Reset() override {
    primed_ = false;
    if (!stmt_) return;
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  int64_t ColumnInt(int column) const override { return sqlite3_column_int64(stmt_, column); }
  double ColumnDouble(int column) const override { return sqlite3_column_double(stmt_, column); }
  bool ColumnIsNull(int column) const override { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
  std::string ColumnText(int column) const override {
    const unsigned char* text = sqlite3_column_text(stmt_, column);
    return text ? std::string(reinterpret_cast<const char*>(text),
                              static_cast<size_t>(sqlite3_column_bytes(stmt_, column)))
                : std::string();
  }
  std::string ColumnBlob(int column) const override {
    const void* data = sqlite3_column_blob(stmt_, column);
    return data ? std::string(static_cast<const char*>(data), static_cast<size_t>(sqlite3_column_bytes(stmt_, column)))
                : std::string();
  }

 private:
  void Check(int rc) {
    if (stmt_ && rc != SQLITE_OK) Fail(rc);
  }
  void Fail(int rc) {
    if (status_.ok())
      status_ = Status::Internal(std::string("sqlite: ") + sqlite3_errmsg(db_) + " (" + sqlite3_errstr(rc) + ")");
  }

  sqlite3* db_;
  std::shared_ptr<StatementCache> cache_;
  std::string sql_;
  sqlite3_stmt* stmt_ = nullptr;
  bool primed_ = false, primed_row_ = false;  // Send stepped once: whether that found a row
  Status status_;
};

class SqliteConnection final : public Connection {
 public:
  explicit SqliteConnection(sqlite3* db) : db_(db) {}
  ~SqliteConnection() override {
    cache_->open = false;
    for (auto& [text, statements] : cache_->idle)
      for (sqlite3_stmt* statement : statements) sqlite3_finalize(statement);
    cache_->idle.clear();
    sqlite3_close_v2(db_);  // a cursor still alive finalizes its own statement; the handle goes with the last
  }

  Dialect dialect() const override { return Dialect::kSqlite; }
  Status Exec(const std::string& sql) override {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    if (rc == SQLITE_OK) return Status::Ok();
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return Status::Internal("sqlite: " + msg);
  }
  std::unique_ptr<Cursor> Prepare(const char* sql, Status* status) override {
    auto cursor = std::make_unique<SqliteCursor>(db_, cache_, sql, status);
    return cursor;
  }
  int64_t Changes() override { return sqlite3_changes(db_); }
  bool InTransaction() const override { return !sqlite3_get_autocommit(db_); }
  Status BeginWrite(WriteMode) override { return Exec("BEGIN IMMEDIATE"); }  // one writer per file
  // One coordinator per SQLite file: nobody else to tell.
  Status Commit(unsigned /*changes*/) override { return Exec("COMMIT"); }
  std::string ErrorMessage() const override { return sqlite3_errmsg(db_); }
  Status HoldSharedSessionLock(int64_t /*key*/) override { return Status::Ok(); }
  StatusOr<bool> SessionLockIsFree(int64_t /*key*/) override { return true; }

  sqlite3* handle() const { return db_; }

 private:
  sqlite3* db_;
  std::shared_ptr<StatementCache> cache_ = std::make_shared<StatementCache>();
};

}  // namespace

StatusOr<std::unique_ptr<Connection>> OpenSqlite(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           TestOnlySlowFsyncVfs());
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return Status::Unavailable("cannot open database " + path + ": " + msg);
  }
  sqlite3_extended_result_codes(db, 1);
  return std::unique_ptr<Connection>(new SqliteConnection(db));
}

sqlite3* SqliteHandle(const Connection& connection) {
  const auto* sqlite = dynamic_cast<const SqliteConnection*>(&connection);
  return sqlite ? sqlite->handle() : nullptr;
}

}  // namespace tscale::sql
