// Brings a database to the schema this server understands. Version 1 is schema.sql; each later version
// is one migration step. A database from a newer server is refused, never rewritten.
#pragma once

#include "common/status.h"
#include "server/sqlite.h"

namespace tscale {

// The schema version this build writes.
int LatestSchemaVersion();

// Applies schema.sql to an empty database, or the pending migrations to an older one, each step in its
// own IMMEDIATE transaction. FAILED_PRECONDITION when the database is newer than this build.
Status MigrateToLatest(sql::Database& db);

// PRAGMA user_version of an open database.
StatusOr<int> SchemaVersion(sql::Database& db);

}  // namespace tscale
