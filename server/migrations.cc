#include "server/migrations.h"

#include <string>
#include <vector>

#include "server/schema_sql.h"  // kSchemaSql: schema.sql, embedded at build time

namespace tscale {
namespace {

struct Migration {
  int to_version;
  const char* sql;  // must end by setting PRAGMA user_version = to_version
};

// Append-only. Version 1 is the whole schema.sql; never edit a step once released.
const std::vector<Migration>& Migrations() {
  static const std::vector<Migration> steps = {
      {1, kSchemaSql},
  };
  return steps;
}

}  // namespace

int LatestSchemaVersion() {
  return Migrations().back().to_version;
}

StatusOr<int> SchemaVersion(sql::Database& db) {
  sql::Statement stmt(db, "PRAGMA user_version");
  if (!stmt.Step()) return Status::Internal("cannot read user_version: " + stmt.status().message());
  return static_cast<int>(stmt.ColumnInt(0));
}

Status MigrateToLatest(sql::Database& db) {
  auto current = SchemaVersion(db);
  if (!current.ok()) return current.status();
  if (*current > LatestSchemaVersion()) {
    return Status::FailedPrecondition("database schema version " + std::to_string(*current) +
                                      " is newer than this server understands (" +
                                      std::to_string(LatestSchemaVersion()) + "); upgrade tscale-server");
  }
  for (const auto& step : Migrations()) {
    if (step.to_version <= *current) continue;
    sql::WriteTransaction txn(db);
    TSCALE_RETURN_IF_ERROR(txn.status());
    Status applied = db.Exec(step.sql);
    if (!applied.ok())
      return Status::Internal("migration to schema version " + std::to_string(step.to_version) +
                              " failed: " + applied.message());
    TSCALE_RETURN_IF_ERROR(txn.Commit());
  }
  return Status::Ok();
}

}  // namespace tscale
