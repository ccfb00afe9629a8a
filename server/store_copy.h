// Moving a coordinator from SQLite to PostgreSQL: the engine of `tscale-server --copy-from OLD.db --db
// postgresql://...`. Every row of every store table is copied with its id, so job ids, attempt ids (fencing
// tokens) and event ids (watch cursors) mean the same after the move, and a worker or watcher that knew the old
// server goes on against the new one.
//
// The copy is one PostgreSQL write transaction (server/sql.h's WriteTransaction: it holds the writer lock, so
// no coordinator already on the target writes meanwhile) over one SQLite read transaction (a consistent snapshot,
// even while a server still writes the file). Tables go in foreign-key order, in multi-row INSERT batches; before
// COMMIT each table's row count and largest id are compared on both sides, and any difference rolls the whole
// copy back. The identity sequences are then moved past the copied ids, so new rows do not collide with them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace tscale {

struct CopiedTable {
  std::string name;
  int64_t rows = 0;
};

struct CopyReport {
  std::vector<CopiedTable> tables;  // in copy (foreign-key) order
  double seconds = 0;               // the whole copy, opening both databases included
};

// Copies every row of a SQLite database (sweeps, model_configs, jobs, workers, attempts, results, samples,
// events) into an empty PostgreSQL database, keeping ids, then verifies each table's row count (and max id) on
// both sides before committing: a mismatch rolls the whole copy back. The source is first brought to the latest
// schema (Store::Open on it, as tscale-server would on start) and read in one read transaction (a consistent
// snapshot even if a server is still writing it); the target gets the schema when it has none.
//
// Errors: NOT_FOUND when the source file does not exist (nothing is created, on either side);
// FAILED_PRECONDITION when it is not a tscale database, or when the target already holds any row (naming the
// table); otherwise the failing step's status, annotated with the table (and ids) it was copying.
struct CopyOptions {
  // Live leases are extended to at least this long past the end of the copy (the old server is stopped, so its
  // workers could not heartbeat): the coordinators' --lease-s. 0 leaves them as copied.
  int64_t lease_grace_ms = 0;
};
StatusOr<CopyReport> CopySqliteToPostgresql(const std::string& sqlite_path, const std::string& postgresql_uri,
                                            const CopyOptions& options = {});

}  // namespace tscale
