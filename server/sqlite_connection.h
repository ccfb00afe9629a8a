// The SQLite backend of server/sql.h: the embedded, default store of one coordinator.
#pragma once

#include <sqlite3.h>

#include <memory>
#include <string>

#include "server/sql.h"

namespace tscale::sql {

// Opens (creating) the SQLite database file at `path`, with extended result codes.
StatusOr<std::unique_ptr<Connection>> OpenSqlite(const std::string& path);

// The SQLite handle of a connection OpenSqlite made; null for any other connection.
sqlite3* SqliteHandle(const Connection& connection);

}  // namespace tscale::sql
