// Brings a database to the schema this server understands. An empty database gets schema.sql (the whole
// current schema; schema_postgresql.sql for PostgreSQL); an older one gets the pending upgrade steps, each in its
// own exclusive transaction. A database from a newer server is refused, never rewritten.
#pragma once

#include "common/status.h"
#include "server/sql.h"

namespace tscale {

// The schema version this build writes (the user_version schema.sql sets).
int LatestSchemaVersion();

// FAILED_PRECONDITION when the database is newer than this build.
Status MigrateToLatest(sql::Database& db);

// The schema version of an open database (SQLite: PRAGMA user_version; PostgreSQL: tscale_schema); 0 when empty.
StatusOr<int> SchemaVersion(sql::Database& db);

}  // namespace tscale
