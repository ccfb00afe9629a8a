#include "server/sql.h"

#include "server/postgres_connection.h"
#include "server/sqlite_connection.h"

namespace tscale::sql {

bool IsPostgresqlUri(const std::string& target) {
  return target.rfind("postgresql://", 0) == 0 || target.rfind("postgres://", 0) == 0;
}

std::string ValuesPlaceholders(int columns, int rows) {
  std::string tuple = "(";
  for (int i = 0; i < columns; ++i) tuple += i == 0 ? "?" : ",?";
  tuple += ")";
  std::string out;
  out.reserve(static_cast<size_t>(rows) * (tuple.size() + 1));
  for (int row = 0; row < rows; ++row) {
    if (row > 0) out += ",";
    out += tuple;
  }
  return out;
}

Database::~Database() = default;

Status Database::Open(const std::string& target) {
  auto opened = IsPostgresqlUri(target) ? OpenPostgresql(target) : OpenSqlite(target);
  if (!opened.ok()) return opened.status();
  connection_ = std::move(opened).value();
  return Status::Ok();
}

sqlite3* Database::handle() const {
  return connection_ ? SqliteHandle(*connection_) : nullptr;
}

Statement::Statement(const Database& db, const char* sql) : cursor_(db.connection().Prepare(sql, &status_)) {}

Statement& Statement::Bind(int index, int64_t value) {
  if (cursor_) cursor_->BindInt(index, value);
  return *this;
}
Statement& Statement::Bind(int index, double value) {
  if (cursor_) cursor_->BindDouble(index, value);
  return *this;
}
Statement& Statement::Bind(int index, const std::string& text) {
  if (cursor_) cursor_->BindText(index, text);
  return *this;
}
Statement& Statement::BindBlob(int index, const std::string& bytes) {
  if (cursor_) cursor_->BindBlob(index, bytes);
  return *this;
}
Statement& Statement::BindNull(int index) {
  if (cursor_) cursor_->BindNull(index);
  return *this;
}

bool Statement::Step() {
  if (!cursor_ || !status_.ok()) return false;
  return cursor_->Step(&status_);
}

Status Statement::Run() {
  if (!cursor_ || !status_.ok()) return status_;
  status_ = cursor_->Run();
  return status_;
}

void Statement::Send() {
  if (cursor_ && status_.ok()) cursor_->Send();
}

void Statement::Reset() {
  if (cursor_) cursor_->Reset();
}

WriteTransaction::WriteTransaction(Database& db) : db_(db) {
  status_ = db_.connection().BeginWrite(WriteMode::kExclusive);
}

WriteTransaction::~WriteTransaction() {
  if (status_.ok() && !done_) db_.Exec("ROLLBACK");
}

Status WriteTransaction::Commit(unsigned changes) {
  if (!status_.ok()) return status_;
  Status st = db_.connection().Commit(changes);
  if (st.ok()) done_ = true;
  return st;
}

}  // namespace tscale::sql
