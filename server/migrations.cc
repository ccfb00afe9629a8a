#include "server/migrations.h"

#include <map>
#include <string>
#include <vector>

#include "server/schema_postgresql_sql.h"  // kPostgresqlSchemaSql: schema_postgresql.sql, embedded at build time
#include "server/schema_sql.h"             // kSchemaSql: schema.sql, embedded at build time
#include "tscale/v1/tscale.pb.h"

namespace tscale {
namespace {

struct UpgradeStep {
  int to_version;
  const char* sql;  // must end by setting PRAGMA user_version = to_version
  // Fills what SQL alone cannot (values inside protobuf blobs); runs after `sql` in the same transaction.
  Status (*backfill)(sql::Database& db) = nullptr;
};

// Version 3 routes claims on jobs.requirements: copy each job's requirements out of its spec blob, so jobs
// queued before the upgrade keep waiting for a matching worker.
Status BackfillJobRequirements(sql::Database& db) {
  // Read everything first: rows are not updated under a statement that is still scanning their table.
  std::vector<std::pair<int64_t, std::string>> keys;
  sql::Statement jobs(db, "SELECT id, spec FROM jobs");
  while (jobs.Step()) {
    v1::JobSpec spec;
    if (!spec.ParseFromString(jobs.ColumnBlob(1)))
      return Status::DataLoss("job " + std::to_string(jobs.ColumnInt(0)) + ": stored spec does not parse");
    keys.emplace_back(jobs.ColumnInt(0), spec.requirements().SerializeAsString());
  }
  TSCALE_RETURN_IF_ERROR(jobs.status());
  sql::Statement update(db, "UPDATE jobs SET requirements=? WHERE id=?");
  for (const auto& [id, requirements] : keys) {
    TSCALE_RETURN_IF_ERROR(update.BindBlob(1, requirements).Bind(2, id).Run());
    update.Reset();
  }
  return Status::Ok();
}

// Version 7 stores each distinct model config once: move every job's model_config_json out of its spec blob
// into model_configs and point the job at it. The blobs are rewritten, so the upgrade frees their copies.
Status MoveModelConfigsOutOfSpecs(sql::Database& db) {
  std::vector<std::pair<int64_t, v1::JobSpec>> specs;
  sql::Statement jobs(db, "SELECT id, spec FROM jobs");
  while (jobs.Step()) {
    v1::JobSpec spec;
    if (!spec.ParseFromString(jobs.ColumnBlob(1)))
      return Status::DataLoss("job " + std::to_string(jobs.ColumnInt(0)) + ": stored spec does not parse");
    if (!spec.model_config_json().empty()) specs.emplace_back(jobs.ColumnInt(0), std::move(spec));
  }
  TSCALE_RETURN_IF_ERROR(jobs.status());
  sql::Statement insert(db, "INSERT INTO model_configs(json) VALUES(?) ON CONFLICT(json) DO NOTHING");
  sql::Statement find(db, "SELECT id FROM model_configs WHERE json=?");
  sql::Statement update(db, "UPDATE jobs SET spec=?, config_id=? WHERE id=?");
  std::map<std::string, int64_t> ids;
  for (auto& [job_id, spec] : specs) {
    auto known = ids.find(spec.model_config_json());
    if (known == ids.end()) {
      TSCALE_RETURN_IF_ERROR(insert.Bind(1, spec.model_config_json()).Run());
      insert.Reset();
      find.Bind(1, spec.model_config_json());
      if (!find.Step()) return find.status().ok() ? Status::Internal("model config vanished") : find.status();
      known = ids.emplace(spec.model_config_json(), find.ColumnInt(0)).first;
      find.Reset();
    }
    const int64_t config_id = known->second;
    spec.clear_model_config_json();
    TSCALE_RETURN_IF_ERROR(update.BindBlob(1, spec.SerializeAsString()).Bind(2, config_id).Bind(3, job_id).Run());
    update.Reset();
  }
  return Status::Ok();
}

// Append-only: step N turns a version N-1 database into version N. Never edit a released step; schema.sql
// must always equal version 1 plus every step (tests/server/migrations_test.cc checks it).
const std::vector<UpgradeStep>& UpgradeSteps() {
  static const std::vector<UpgradeStep> steps = {
      {2,
       "ALTER TABLE workers ADD COLUMN session INTEGER NOT NULL DEFAULT 0;"
       "ALTER TABLE attempts ADD COLUMN worker_session INTEGER NOT NULL DEFAULT 0;"
       "CREATE TABLE events ("
       "  id INTEGER PRIMARY KEY, sweep_id INTEGER NOT NULL, job_id INTEGER NOT NULL,"
       "  attempt_id INTEGER NOT NULL DEFAULT 0, state INTEGER NOT NULL, outcome INTEGER NOT NULL DEFAULT 0,"
       "  detail TEXT NOT NULL DEFAULT '', metric BLOB, unix_ms INTEGER NOT NULL);"
       "CREATE INDEX events_by_sweep ON events(sweep_id, id);"
       "PRAGMA user_version = 2;"},
      {3,
       "ALTER TABLE jobs ADD COLUMN requirements BLOB NOT NULL DEFAULT x'';"
       "CREATE INDEX jobs_by_requirements ON jobs(state, requirements, id);"
       "ALTER TABLE attempts ADD COLUMN metric_events INTEGER NOT NULL DEFAULT 0;"
       "PRAGMA user_version = 3;",
       BackfillJobRequirements},
      {4,
       "ALTER TABLE workers ADD COLUMN instance TEXT NOT NULL DEFAULT '';"
       "PRAGMA user_version = 4;"},
      // Every job before the workload axis was a forward job (WORKLOAD_FORWARD = 1); their spec blobs lack the
      // field, which reads as WORKLOAD_UNSPECIFIED, also forward, so no blob needs rewriting.
      {5,
       "ALTER TABLE jobs ADD COLUMN workload INTEGER NOT NULL DEFAULT 1;"
       "ALTER TABLE jobs ADD COLUMN new_tokens INTEGER NOT NULL DEFAULT 0;"
       "PRAGMA user_version = 5;"},
      // The train workload's settings. No job before it trained, so every older row is checkpointing and loss
      // UNSPECIFIED (0), as forward and decode jobs are planned still; no blob needs rewriting.
      {6,
       "ALTER TABLE jobs ADD COLUMN checkpointing INTEGER NOT NULL DEFAULT 0;"
       "ALTER TABLE jobs ADD COLUMN loss INTEGER NOT NULL DEFAULT 0;"
       "PRAGMA user_version = 6;"},
      {7,
       "CREATE TABLE model_configs (id INTEGER PRIMARY KEY, json TEXT NOT NULL UNIQUE);"
       "ALTER TABLE jobs ADD COLUMN config_id INTEGER REFERENCES model_configs(id);"
       "PRAGMA user_version = 7;",
       MoveModelConfigsOutOfSpecs},
  };
  return steps;
}

}  // namespace

int LatestSchemaVersion() {
  return UpgradeSteps().empty() ? 1 : UpgradeSteps().back().to_version;
}

namespace {

// The first PostgreSQL schema is version 7 (schema_postgresql.sql); no upgrade step has a PostgreSQL text yet.
constexpr int kFirstPostgresqlVersion = 7;

StatusOr<int> PostgresqlSchemaVersion(sql::Database& db) {
  sql::Statement exists(db, "SELECT to_regclass('tscale_schema') IS NOT NULL");
  if (!exists.Step()) return Status::Internal("cannot look for tscale_schema: " + exists.status().message());
  if (exists.ColumnInt(0) == 0) return 0;
  sql::Statement version(db, "SELECT MAX(version) FROM tscale_schema");
  if (!version.Step()) return Status::Internal("cannot read tscale_schema: " + version.status().message());
  return static_cast<int>(version.ColumnInt(0));
}

// Every coordinator on the database may start at once: the writer lock (taken by WriteTransaction) makes one
// of them create or upgrade the schema and the others find it done.
Status MigratePostgresql(sql::Database& db) {
  sql::WriteTransaction txn(db);
  TSCALE_RETURN_IF_ERROR(txn.status());
  auto current = PostgresqlSchemaVersion(db);
  if (!current.ok()) return current.status();
  if (*current > LatestSchemaVersion())
    return Status::FailedPrecondition("database schema version " + std::to_string(*current) +
                                      " is newer than this server understands (" +
                                      std::to_string(LatestSchemaVersion()) + "); upgrade tscale-server");
  if (*current == LatestSchemaVersion()) return Status::Ok();
  // schema_postgresql.sql is always the latest version, as schema.sql is. An older PostgreSQL database would need
  // the upgrade steps' PostgreSQL texts; none exists before the first PostgreSQL version.
  if (*current != 0)
    return Status::Internal("no PostgreSQL upgrade from schema version " + std::to_string(*current) + " (the first " +
                            "PostgreSQL version is " + std::to_string(kFirstPostgresqlVersion) + ")");
  if (Status applied = db.Exec(kPostgresqlSchemaSql); !applied.ok())
    return Status::Internal("applying schema_postgresql.sql failed: " + applied.message());
  return txn.Commit();
}

}  // namespace

StatusOr<int> SchemaVersion(sql::Database& db) {
  if (db.dialect() == sql::Dialect::kPostgresql) return PostgresqlSchemaVersion(db);
  sql::Statement stmt(db, "PRAGMA user_version");
  if (!stmt.Step()) return Status::Internal("cannot read user_version: " + stmt.status().message());
  return static_cast<int>(stmt.ColumnInt(0));
}

Status MigrateToLatest(sql::Database& db) {
  if (db.dialect() == sql::Dialect::kPostgresql) return MigratePostgresql(db);
  auto current = SchemaVersion(db);
  if (!current.ok()) return current.status();
  if (*current > LatestSchemaVersion()) {
    return Status::FailedPrecondition("database schema version " + std::to_string(*current) +
                                      " is newer than this server understands (" +
                                      std::to_string(LatestSchemaVersion()) + "); upgrade tscale-server");
  }
  if (*current == 0) {
    sql::WriteTransaction txn(db);
    TSCALE_RETURN_IF_ERROR(txn.status());
    Status applied = db.Exec(kSchemaSql);
    if (!applied.ok()) return Status::Internal("applying schema.sql failed: " + applied.message());
    return txn.Commit();
  }
  for (const auto& step : UpgradeSteps()) {
    if (step.to_version <= *current) continue;
    sql::WriteTransaction txn(db);
    TSCALE_RETURN_IF_ERROR(txn.status());
    Status applied = db.Exec(step.sql);
    if (applied.ok() && step.backfill) applied = step.backfill(db);
    if (!applied.ok())
      return Status::Internal("upgrade to schema version " + std::to_string(step.to_version) +
                              " failed: " + applied.message());
    TSCALE_RETURN_IF_ERROR(txn.Commit());
  }
  return Status::Ok();
}

}  // namespace tscale
