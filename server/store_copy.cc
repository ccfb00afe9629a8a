#include "server/store_copy.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <set>
#include <system_error>

#include "common/host_info.h"
#include "server/migrations.h"
#include "server/sql.h"
#include "server/sqlite_connection.h"
#include "server/store.h"
#include "server/store_internal.h"

namespace tscale {
namespace {

// What a column holds, so that a value is read from SQLite and bound for PostgreSQL as the same type.
enum class Kind { kInt, kReal, kText, kBlob };

struct Column {
  const char* name;
  Kind kind;
};

// One table as the copy sees it. Its first column is its key's first column: rows are read in key order, and an
// error names the batch by the key of its first row.
struct Table {
  const char* name;
  const char* order_by;  // the primary key
  const char* max_id;    // an integer key column whose MAX() is compared on both sides; null: the count only
  bool identity;         // max_id is an identity column: its sequence is moved past the copied ids
  std::vector<Column> columns;
};

// The tables of schema version 7 (schema.sql, schema_postgresql.sql), in foreign-key order: a row's parents are
// copied before it. A column added by a later version must be added here too: the copy compares this list with
// both databases' columns and refuses to run while they differ, so it never drops a column silently.
const std::vector<Table>& Tables() {
  constexpr Kind kInt = Kind::kInt, kReal = Kind::kReal, kText = Kind::kText, kBlob = Kind::kBlob;
  static const std::vector<Table> tables = {
      {"sweeps", "id", "id", true, {{"id", kInt}, {"name", kText}, {"spec", kBlob}, {"created_ms", kInt}}},
      {"model_configs", "id", "id", true, {{"id", kInt}, {"json", kText}}},
      {"jobs",
       "id",
       "id",
       true,
       {{"id", kInt},
        {"sweep_id", kInt},
        {"model_id", kText},
        {"category", kText},
        {"seq_len", kInt},
        {"batch_size", kInt},
        {"dtype", kInt},
        {"attention", kInt},
        {"repetition", kInt},
        {"spec", kBlob},
        {"state", kInt},
        {"attempts", kInt},
        {"current_attempt", kInt},
        {"created_ms", kInt},
        {"updated_ms", kInt},
        {"requirements", kBlob},
        {"workload", kInt},
        {"new_tokens", kInt},
        {"checkpointing", kInt},
        {"loss", kInt},
        {"config_id", kInt}}},
      {"workers",
       "id",
       nullptr,
       false,
       {{"id", kText},
        {"capabilities", kBlob},
        {"registered_ms", kInt},
        {"last_seen_ms", kInt},
        {"session", kInt},
        {"instance", kText}}},
      {"attempts",
       "id",
       "id",
       true,
       {{"id", kInt},
        {"job_id", kInt},
        {"worker_id", kText},
        {"leased_ms", kInt},
        {"lease_expires_ms", kInt},
        {"ended_ms", kInt},
        {"end_reason", kText},
        {"worker_session", kInt},
        {"metric_events", kInt}}},
      {"results",
       "job_id",
       "job_id",
       false,
       {{"job_id", kInt},
        {"attempt_id", kInt},
        {"outcome", kInt},
        {"median_ms", kReal},
        {"tokens_per_second", kReal},
        {"peak_rss_bytes", kInt},
        {"parameter_count", kInt},
        {"load_time_ms", kReal},
        {"result", kBlob},
        {"finished_ms", kInt}}},
      {"samples", "job_id, idx", "job_id", false, {{"job_id", kInt}, {"idx", kInt}, {"latency_ms", kReal}}},
      {"events",
       "id",
       "id",
       true,
       {{"id", kInt},
        {"sweep_id", kInt},
        {"job_id", kInt},
        {"attempt_id", kInt},
        {"state", kInt},
        {"outcome", kInt},
        {"detail", kText},
        {"metric", kBlob},
        {"unix_ms", kInt}}},
  };
  return tables;
}

// Rows per INSERT, and a bound on its parameters (PostgreSQL allows 65535 per statement).
constexpr int kMaxBatchRows = 500;
constexpr int kMaxBatchParams = 30000;

std::string ColumnList(const Table& table) {
  std::string list;
  for (const Column& column : table.columns) {
    if (!list.empty()) list += ", ";
    list += column.name;
  }
  return list;
}

// INSERT INTO t(a, b) VALUES (?,?),(?,?)... for `rows` rows.
std::string InsertSql(const Table& table, int rows) {
  return std::string("INSERT INTO ") + table.name + "(" + ColumnList(table) + ") VALUES " +
         sql::ValuesPlaceholders(static_cast<int>(table.columns.size()), rows);
}

// One value read from SQLite, held until its batch is inserted.
struct Value {
  bool null = false;
  int64_t integer = 0;
  double real = 0;
  std::string bytes;  // text or blob
};

std::string KeyText(const Table& table, const Value& key) {
  return table.columns[0].kind == Kind::kInt ? std::to_string(key.integer) : "'" + key.bytes + "'";
}

// The columns `db` has for `table`.
StatusOr<std::set<std::string>> ColumnsOf(sql::Database& db, const Table& table) {
  std::set<std::string> names;
  if (db.dialect() == sql::Dialect::kSqlite) {
    sql::Statement info(db, (std::string("PRAGMA table_info(") + table.name + ")").c_str());
    while (info.Step()) names.insert(info.ColumnText(1));
    TSCALE_RETURN_IF_ERROR(info.status());
  } else {
    sql::Statement info(db,
                        "SELECT column_name FROM information_schema.columns "
                        "WHERE table_schema = current_schema() AND table_name = ?");
    info.Bind(1, std::string(table.name));
    while (info.Step()) names.insert(info.ColumnText(0));
    TSCALE_RETURN_IF_ERROR(info.status());
  }
  return names;
}

// FAILED_PRECONDITION unless `db`'s `table` has exactly the columns Tables() describes.
Status CheckColumns(sql::Database& db, const Table& table, const std::string& side) {
  auto actual = ColumnsOf(db, table);
  if (!actual.ok()) return actual.status().Annotated("reading the columns of " + side + " table " + table.name + ": ");
  std::set<std::string> described;
  for (const Column& column : table.columns) described.insert(column.name);
  if (*actual == described) return Status::Ok();
  if (actual->empty()) return Status::FailedPrecondition(side + " has no table " + table.name);
  std::string unknown, missing;
  for (const std::string& name : *actual)
    if (!described.count(name)) unknown += (unknown.empty() ? "" : ", ") + name;
  for (const std::string& name : described)
    if (!actual->count(name)) missing += (missing.empty() ? "" : ", ") + name;
  std::string message = side + " table " + table.name + " does not have the columns the copy knows (schema version " +
                        std::to_string(LatestSchemaVersion()) + "):";
  if (!unknown.empty()) message += " unknown " + unknown + ";";
  if (!missing.empty()) message += " missing " + missing + ";";
  message.pop_back();
  return Status::FailedPrecondition(message + " (update server/store_copy.cc with the schema)");
}

// A table's row count and largest id (0 when empty), as compared on both sides.
struct Tally {
  int64_t rows = 0;
  int64_t max_id = 0;
};

StatusOr<Tally> TallyOf(sql::Database& db, const Table& table) {
  std::string sql = "SELECT COUNT(*)";
  if (table.max_id) sql += std::string(", COALESCE(MAX(") + table.max_id + "), 0)";
  sql += std::string(" FROM ") + table.name;
  sql::Statement count(db, sql.c_str());
  if (!count.Step()) {
    Status failed = count.status().ok() ? Status::Internal("no row") : count.status();
    return failed.Annotated(std::string("counting the rows of ") + table.name + ": ");
  }
  Tally tally;
  tally.rows = count.ColumnInt(0);
  if (table.max_id) tally.max_id = count.ColumnInt(1);
  return tally;
}

std::string Describe(const Table& table, const Tally& tally) {
  std::string text = std::to_string(tally.rows) + " rows";
  if (table.max_id) text += std::string(", largest ") + table.max_id + " " + std::to_string(tally.max_id);
  return text;
}

// Reads every row of `table` from `source` in key order and inserts it into `target` in multi-row batches.
// Returns the number of rows inserted.
StatusOr<int64_t> CopyTable(sql::Database& source, sql::Database& target, const Table& table) {
  const int columns = static_cast<int>(table.columns.size());
  const int batch_rows = std::min(kMaxBatchRows, kMaxBatchParams / columns);
  const std::string select =
      "SELECT " + ColumnList(table) + " FROM " + table.name + " ORDER BY " + std::string(table.order_by);
  sql::Statement read(source, select.c_str());
  std::vector<Value> batch(static_cast<size_t>(batch_rows * columns));
  std::unique_ptr<sql::Statement> full_insert;  // the INSERT of a full batch, built once
  int rows = 0;                                 // rows held in `batch`
  int64_t copied = 0;

  auto flush = [&]() -> Status {
    std::unique_ptr<sql::Statement> partial_insert;
    sql::Statement* insert;
    if (rows == batch_rows) {
      if (!full_insert) full_insert = std::make_unique<sql::Statement>(target, InsertSql(table, rows).c_str());
      insert = full_insert.get();
    } else {
      partial_insert = std::make_unique<sql::Statement>(target, InsertSql(table, rows).c_str());
      insert = partial_insert.get();
    }
    for (int i = 0; i < rows * columns; ++i) {
      const Value& value = batch[static_cast<size_t>(i)];
      const int param = i + 1;
      if (value.null) {
        insert->BindNull(param);
        continue;
      }
      switch (table.columns[static_cast<size_t>(i % columns)].kind) {
        case Kind::kInt:
          insert->Bind(param, value.integer);
          break;
        case Kind::kReal:
          insert->Bind(param, value.real);
          break;
        case Kind::kText:
          insert->Bind(param, value.bytes);
          break;
        case Kind::kBlob:
          insert->BindBlob(param, value.bytes);
          break;
      }
    }
    Status inserted = insert->Run();
    insert->Reset();
    if (!inserted.ok())
      return inserted.Annotated(std::string("inserting into ") + table.name + " the " + std::to_string(rows) +
                                " rows from " + table.columns[0].name + " " + KeyText(table, batch[0]) + ": ");
    copied += target.Changes();  // what PostgreSQL took: the check before COMMIT compares it with the source
    rows = 0;
    return Status::Ok();
  };

  while (read.Step()) {
    for (int c = 0; c < columns; ++c) {
      Value& value = batch[static_cast<size_t>(rows * columns + c)];
      value.null = read.ColumnIsNull(c);
      if (value.null) continue;
      switch (table.columns[static_cast<size_t>(c)].kind) {
        case Kind::kInt:
          value.integer = read.ColumnInt(c);
          break;
        case Kind::kReal:
          value.real = read.ColumnDouble(c);
          break;
        case Kind::kText:
          value.bytes = read.ColumnText(c);
          break;
        case Kind::kBlob:
          value.bytes = read.ColumnBlob(c);
          break;
      }
    }
    if (++rows == batch_rows) TSCALE_RETURN_IF_ERROR(flush());
  }
  if (!read.status().ok()) return read.status().Annotated(std::string("reading source table ") + table.name + ": ");
  if (rows > 0) TSCALE_RETURN_IF_ERROR(flush());
  return copied;
}

// A SQLite read transaction: every read inside it sees one snapshot (the first read's), whatever a server
// writing the file commits meanwhile. Rolled back on destruction (it wrote nothing).
class SqliteReadTransaction {
 public:
  explicit SqliteReadTransaction(sql::Database& db) : db_(db), status_(db.Exec("BEGIN DEFERRED")) {}
  ~SqliteReadTransaction() {
    if (status_.ok()) (void)db_.Exec("ROLLBACK");
  }
  SqliteReadTransaction(const SqliteReadTransaction&) = delete;
  SqliteReadTransaction& operator=(const SqliteReadTransaction&) = delete;
  const Status& status() const { return status_; }

 private:
  sql::Database& db_;
  Status status_;
};

// The source must be an existing tscale database: checked by reading only, so a wrong path creates nothing.
Status CheckSource(const std::string& path) {
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (!std::filesystem::exists(status))
    return Status::NotFound("source database " + path + " does not exist" +
                            (error && error != std::errc::no_such_file_or_directory ? ": " + error.message() : ""));
  if (!std::filesystem::is_regular_file(status))
    return Status::FailedPrecondition("source database " + path + " is not a file");
  sql::Database probe;
  if (Status opened = probe.Open(path); !opened.ok())
    return opened.Annotated("cannot read source database " + path + ": ");
  auto version = SchemaVersion(probe);
  if (!version.ok()) return version.status().Annotated("cannot read source database " + path + ": ");
  if (*version == 0)
    return Status::FailedPrecondition("source " + path + " is not a tscale database (it has no schema version)");
  return Status::Ok();
}

}  // namespace

StatusOr<CopyReport> CopySqliteToPostgresql(const std::string& sqlite_path, const std::string& postgresql_uri,
                                            const CopyOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  if (sqlite_path.empty() || sql::IsPostgresqlUri(sqlite_path))
    return Status::InvalidArgument("the source of a copy must be a SQLite file, not '" + sqlite_path + "'");
  if (!sql::IsPostgresqlUri(postgresql_uri))
    return Status::InvalidArgument("the target of a copy must be a postgresql:// URI, not '" + postgresql_uri + "'");
  TSCALE_RETURN_IF_ERROR(CheckSource(sqlite_path));

  // Connect before touching the source, so an unreachable target changes nothing.
  sql::Database target;
  TSCALE_RETURN_IF_ERROR(target.Open(postgresql_uri));
  // The copy reads the SQLite side between its statements; a large table may keep it away for longer than the
  // server's limit on sessions idle in a transaction.
  TSCALE_RETURN_IF_ERROR(target.Exec("SET idle_in_transaction_session_timeout = 0"));

  // Upgrade the source as a server starting on it would (nothing else: no lease is extended).
  {
    auto upgraded = Store::Open(sqlite_path);
    if (!upgraded.ok())
      return upgraded.status().Annotated("bringing source database " + sqlite_path + " to schema version " +
                                         std::to_string(LatestSchemaVersion()) + ": ");
  }
  sql::Database source;
  TSCALE_RETURN_IF_ERROR(source.Open(sqlite_path));
  sqlite3_busy_timeout(source.handle(), StoreOptions().busy_timeout_ms);

  if (Status migrated = MigrateToLatest(target); !migrated.ok()) return migrated.Annotated("target database: ");
  auto target_version = SchemaVersion(target);
  if (!target_version.ok()) return target_version.status().Annotated("target database: ");
  if (*target_version != LatestSchemaVersion())
    return Status::FailedPrecondition("target database has schema version " + std::to_string(*target_version) +
                                      ", not " + std::to_string(LatestSchemaVersion()));

  // The writer lock first (a coordinator on the target finishes its write), then the source's snapshot.
  sql::WriteTransaction write(target);
  if (!write.status().ok()) return write.status().Annotated("starting the target's write transaction: ");
  SqliteReadTransaction read(source);
  if (!read.status().ok()) return read.status().Annotated("starting a read of source " + sqlite_path + ": ");

  std::vector<Tally> source_tallies;
  for (const Table& table : Tables()) {
    TSCALE_RETURN_IF_ERROR(CheckColumns(source, table, "source " + sqlite_path));
    TSCALE_RETURN_IF_ERROR(CheckColumns(target, table, "target"));
    auto in_target = TallyOf(target, table);
    if (!in_target.ok()) return in_target.status().Annotated("target: ");
    if (in_target->rows > 0)
      return Status::FailedPrecondition(std::string("table ") + table.name + " already has " +
                                        std::to_string(in_target->rows) + (in_target->rows == 1 ? " row" : " rows") +
                                        ": --copy-from needs an empty PostgreSQL database");
    auto in_source = TallyOf(source, table);
    if (!in_source.ok()) return in_source.status().Annotated("source " + sqlite_path + ": ");
    source_tallies.push_back(*in_source);
  }

  CopyReport report;
  for (const Table& table : Tables()) {
    auto copied = CopyTable(source, target, table);
    if (!copied.ok()) return copied.status().Annotated("copying table " + std::string(table.name) + ": ");
    report.tables.push_back({table.name, *copied});
  }

  // Both sides must now agree, table by table, before anything is committed.
  for (size_t i = 0; i < Tables().size(); ++i) {
    const Table& table = Tables()[i];
    auto in_target = TallyOf(target, table);
    if (!in_target.ok()) return in_target.status().Annotated("verifying the copy: ");
    const Tally& in_source = source_tallies[i];
    if (in_target->rows != in_source.rows || in_target->max_id != in_source.max_id ||
        report.tables[i].rows != in_source.rows)
      return Status::Internal(std::string("table ") + table.name + " does not match after the copy: the source has " +
                              Describe(table, in_source) + ", PostgreSQL " + Describe(table, *in_target) + " (" +
                              std::to_string(report.tables[i].rows) +
                              " rows copied); the copy was rolled back: nothing was committed");
  }

  // The old server has stopped, so its workers could not heartbeat meanwhile: like a restart (Store::Open), every
  // lease still live gets one full period from now, or the first reaper on the target would end them all.
  if (options.lease_grace_ms > 0) {
    if (Status extended = store_internal::ExtendLiveLeases(target, NowUnixMs() + options.lease_grace_ms);
        !extended.ok())
      return extended.Annotated("extending the copied live leases: ");
  }

  // Only then the sequences (setval is not transactional: a rolled-back copy should not have moved them).
  for (const Table& table : Tables()) {
    if (!table.identity) continue;
    const std::string id = table.max_id;
    const std::string reset = std::string("SELECT setval(pg_get_serial_sequence('") + table.name + "', '" + id +
                              "'), (SELECT COALESCE(MAX(" + id + "), 0) + 1 FROM " + table.name + "), false)";
    sql::Statement setval(target, reset.c_str());
    if (Status moved = setval.Run(); !moved.ok())
      return moved.Annotated(std::string("moving the id sequence of ") + table.name + " past the copied ids: ");
  }

  // Running coordinators on the target look again at the queue and the event streams.
  if (Status committed = write.Commit(sql::kWorkQueued | sql::kEventsAppended); !committed.ok())
    return committed.Annotated("committing the copy: ");
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

}  // namespace tscale
