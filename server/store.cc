#include "server/store.h"

#include <algorithm>

#include "server/migrations.h"
#include "server/postgres_connection.h"
#include "server/sqlite_connection.h"
#include "server/store_internal.h"

namespace tscale {

bool WorkerMatches(const v1::WorkerCapabilities& caps, const v1::Requirements& req) {
  if (req.device_kind() != v1::DEVICE_KIND_UNSPECIFIED && req.device_kind() != caps.device_kind()) return false;
  if (req.min_device_memory_bytes() > 0) {
    int64_t memory = caps.device_kind() == v1::DEVICE_KIND_CPU ? caps.ram_bytes() : caps.device_memory_bytes();
    if (memory < req.min_device_memory_bytes()) return false;
  }
  for (const auto& label : req.labels()) {
    if (std::find(caps.labels().begin(), caps.labels().end(), label) == caps.labels().end()) return false;
  }
  return true;
}

Store::~Store() {
  // Releases the coordinator lock before the connection closes, so a coordinator started right after this one
  // stopped sees it gone (the server would otherwise release it only once it notices the closed connection).
  if (holds_coordinator_lock_) {
    sql::Statement release(db_, "SELECT pg_advisory_unlock_shared(?)");
    (void)release.Bind(1, sql::kCoordinatorLockKey).Run();
  }
}

StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& path, StoreOptions options, int64_t now_ms) {
  std::unique_ptr<Store> store(new Store(options));
  TSCALE_RETURN_IF_ERROR(store->db_.Open(path));
  if (store->db_.dialect() == sql::Dialect::kSqlite) {
    sqlite3_busy_timeout(store->db_.handle(), options.busy_timeout_ms);
    // WAL lets readers run beside the writer; synchronous=FULL makes every acknowledged commit durable
    // across a power loss, not just a process crash. The WAL is checkpointed every 1000 pages (SQLite's
    // default, kept explicit) and, once checkpointed, cut back to 64 MiB: a large submit grows it for the length
    // of its transaction, not for good.
    TSCALE_RETURN_IF_ERROR(
        store->db_.Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                        "PRAGMA foreign_keys=ON; PRAGMA wal_autocheckpoint=1000; "
                        "PRAGMA journal_size_limit=67108864;"));
  }
  TSCALE_RETURN_IF_ERROR(MigrateToLatest(store->db_));
  auto version = SchemaVersion(store->db_);
  if (!version.ok()) return version.status();
  store->schema_version_ = *version;
  // Workers could not heartbeat while no server ran: give every live lease one full period from now. With
  // PostgreSQL, other coordinators may have been serving them all along; then there was no outage, and extending
  // every lease would only keep dead workers' jobs leased (a rolling update restarts coordinators one by one).
  // The coordinator lock is held shared by every serving coordinator (server/postgres_connection.h); SQLite has
  // one coordinator per file, and its driver always answers free.
  auto sole_coordinator = store->db_.connection().SessionLockIsFree(sql::kCoordinatorLockKey);
  if (!sole_coordinator.ok()) return sole_coordinator.status();
  if (now_ms > 0 && *sole_coordinator) {
    sql::WriteTransaction txn(store->db_);
    TSCALE_RETURN_IF_ERROR(txn.status());
    TSCALE_RETURN_IF_ERROR(store_internal::ExtendLiveLeases(store->db_, now_ms + options.lease_ms));
    TSCALE_RETURN_IF_ERROR(txn.Commit());
  }
  // Held for the life of the connection (the server ends it when the process dies, and the driver takes it again
  // after a reconnect): tells the next coordinator to start that this one is serving.
  TSCALE_RETURN_IF_ERROR(store->db_.connection().HoldSharedSessionLock(sql::kCoordinatorLockKey));
  store->holds_coordinator_lock_ = store->db_.dialect() == sql::Dialect::kPostgresql;
  return store;
}

}  // namespace tscale
