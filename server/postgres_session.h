// What the PostgreSQL driver (server/postgres_connection.cc) and its change listener
// (server/postgres_listener.cc) share: how a libpq session is opened (server/postgres_session.cc). Internal to
// the PostgreSQL backend; the one header that brings in libpq.
#pragma once

#include <libpq-fe.h>

#include <string>

namespace tscale::sql {

// Connects to `uri` with defaults the URI may override: give up on an unreachable host after 10 s (a
// coordinator's shutdown must not hang in connect), and TCP keepalives so that a connection whose peer vanished
// without a reset is noticed. The URI is expanded after the defaults, so its own settings win.
PGconn* ConnectPostgresql(const std::string& uri);

// A notice processor that drops the server's notices (WARNING: there is no transaction in progress, ...).
void IgnoreNotice(void*, const char*);

}  // namespace tscale::sql
