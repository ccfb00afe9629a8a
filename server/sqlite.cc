#include "server/sqlite.h"

#include "server/slow_fsync_vfs.h"

namespace tscale::sql {

Database::~Database() {
  if (db_) sqlite3_close_v2(db_);
}

Status Database::Open(const std::string& path) {
  int rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           TestOnlySlowFsyncVfs());
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close_v2(db_);
    db_ = nullptr;
    return Status::Unavailable("cannot open database " + path + ": " + msg);
  }
  sqlite3_extended_result_codes(db_, 1);
  return Status::Ok();
}

Status Database::Exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return Status::Ok();
  std::string msg = err ? err : sqlite3_errstr(rc);
  sqlite3_free(err);
  return Status::Internal("sqlite: " + msg);
}

Statement::Statement(const Database& db, const char* sql) : db_(db.handle()) {
  int rc = sqlite3_prepare_v2(db_, sql, -1, &stmt_, nullptr);
  if (rc != SQLITE_OK) Fail(rc);
}

Statement::~Statement() {
  sqlite3_finalize(stmt_);
}

void Statement::Fail(int rc) {
  if (status_.ok())
    status_ = Status::Internal(std::string("sqlite: ") + sqlite3_errmsg(db_) + " (" + sqlite3_errstr(rc) + ")");
}

Statement& Statement::Bind(int index, int64_t value) {
  if (stmt_) {
    int rc = sqlite3_bind_int64(stmt_, index, value);
    if (rc != SQLITE_OK) Fail(rc);
  }
  return *this;
}

Statement& Statement::Bind(int index, double value) {
  if (stmt_) {
    int rc = sqlite3_bind_double(stmt_, index, value);
    if (rc != SQLITE_OK) Fail(rc);
  }
  return *this;
}

Statement& Statement::Bind(int index, const std::string& text) {
  if (stmt_) {
    int rc = sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    if (rc != SQLITE_OK) Fail(rc);
  }
  return *this;
}

Statement& Statement::BindBlob(int index, const std::string& bytes) {
  if (stmt_) {
    int rc = sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
    if (rc != SQLITE_OK) Fail(rc);
  }
  return *this;
}

Statement& Statement::BindNull(int index) {
  if (stmt_) {
    int rc = sqlite3_bind_null(stmt_, index);
    if (rc != SQLITE_OK) Fail(rc);
  }
  return *this;
}

bool Statement::Step() {
  if (!stmt_ || !status_.ok()) return false;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc != SQLITE_DONE) Fail(rc);
  return false;
}

Status Statement::Run() {
  Step();
  return status_;
}

void Statement::Reset() {
  if (!stmt_) return;
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::string Statement::ColumnText(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  return text ? std::string(reinterpret_cast<const char*>(text),
                            static_cast<size_t>(sqlite3_column_bytes(stmt_, column)))
              : std::string();
}

std::string Statement::ColumnBlob(int column) const {
  const void* data = sqlite3_column_blob(stmt_, column);
  return data ? std::string(static_cast<const char*>(data), static_cast<size_t>(sqlite3_column_bytes(stmt_, column)))
              : std::string();
}

WriteTransaction::WriteTransaction(Database& db) : db_(db) {
  status_ = db_.Exec("BEGIN IMMEDIATE");
}

WriteTransaction::~WriteTransaction() {
  if (status_.ok() && !done_) db_.Exec("ROLLBACK");
}

Status WriteTransaction::Commit() {
  if (!status_.ok()) return status_;
  Status st = db_.Exec("COMMIT");
  if (st.ok()) done_ = true;
  return st;
}

}  // namespace tscale::sql
