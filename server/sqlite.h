// Thin RAII wrappers over the SQLite C API: a connection, prepared statements and an IMMEDIATE
// transaction. Every SQL statement with outside values goes through Statement::Bind (no string
// concatenation of values).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>

#include "common/status.h"

namespace tscale::sql {

class Database {
 public:
  Database() = default;
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  Status Open(const std::string& path);
  // Runs one or more statements that take no parameters (schema, pragmas).
  Status Exec(const std::string& sql);
  sqlite3* handle() const { return db_; }
  int64_t LastInsertRowId() const { return sqlite3_last_insert_rowid(db_); }
  int Changes() const { return sqlite3_changes(db_); }
  std::string ErrorMessage() const { return db_ ? sqlite3_errmsg(db_) : "database not open"; }

 private:
  sqlite3* db_ = nullptr;
};

class Statement {
 public:
  Statement(const Database& db, const char* sql);
  ~Statement();
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
  // Runs a statement that returns no rows.
  Status Run();
  // Makes the statement ready to run again with new bindings.
  void Reset();
  Status status() const { return status_; }

  int64_t ColumnInt(int column) const { return sqlite3_column_int64(stmt_, column); }
  double ColumnDouble(int column) const { return sqlite3_column_double(stmt_, column); }
  bool ColumnIsNull(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
  std::string ColumnText(int column) const;
  std::string ColumnBlob(int column) const;

 private:
  void Fail(int rc);
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  Status status_;
};

// BEGIN IMMEDIATE on construction (takes the write lock up front, so a transaction never fails
// half-way on a lock upgrade); ROLLBACK on destruction unless Commit() succeeded.
class WriteTransaction {
 public:
  explicit WriteTransaction(Database& db);
  ~WriteTransaction();
  WriteTransaction(const WriteTransaction&) = delete;
  WriteTransaction& operator=(const WriteTransaction&) = delete;

  const Status& status() const { return status_; }
  Status Commit();

 private:
  Database& db_;
  Status status_;
  bool done_ = false;
};

}  // namespace tscale::sql
