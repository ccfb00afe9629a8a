// Brings a database to the schema this server understands. An empty database gets schema.sql (the whole
// current schema); an older one gets the pending upgrade steps, each in its own IMMEDIATE transaction.
// A database from a newer server is refused, never rewritten.
#pragma once

#include "common/status.h"
#include "server/sqlite.h"

namespace tscale {

// The schema version this build writes (the user_version schema.sql sets).
int LatestSchemaVersion();

// FAILED_PRECONDITION when the database is newer than this build.
Status MigrateToLatest(sql::Database& db);

// PRAGMA user_version of an open database.
StatusOr<int> SchemaVersion(sql::Database& db);

}  // namespace tscale
