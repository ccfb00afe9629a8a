#include "server/postgres_session.h"

namespace tscale::sql {

PGconn* ConnectPostgresql(const std::string& uri) {
  const char* keywords[] = {
      "connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "dbname", nullptr};
  const char* values[] = {"10", "1", "30", "10", "3", uri.c_str(), nullptr};
  return PQconnectdbParams(keywords, values, 1);
}

void IgnoreNotice(void*, const char*) {}

}  // namespace tscale::sql
