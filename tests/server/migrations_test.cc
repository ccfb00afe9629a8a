// Upgrading a version-1 database (the released schema, tests/data/schema_v1.sql) must keep its data and
// give exactly the schema that schema.sql creates for a fresh database.
#include "server/migrations.h"

#include <gtest/gtest.h>

#include <map>

#include "server/store.h"
#include "support/planner_store.h"
#include "support/temp_dir.h"

namespace tscale {
namespace {

// table -> "name type notnull default pk" of every column, plus the index names.
std::map<std::string, std::string> DescribeSchema(sql::Database& db) {
  std::map<std::string, std::string> out;
  sql::Statement objects(db,
                         "SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' "
                         "ORDER BY name");
  std::vector<std::pair<std::string, std::string>> tables;
  while (objects.Step()) {
    if (objects.ColumnText(0) == "table") tables.emplace_back(objects.ColumnText(1), "");
    if (objects.ColumnText(0) == "index") out["index " + objects.ColumnText(1)] = objects.ColumnText(2);
  }
  for (const auto& [table, unused] : tables) {
    sql::Statement columns(
        db, ("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info('" + table + "') ORDER BY name")
                .c_str());
    std::string description;
    while (columns.Step())
      description += columns.ColumnText(0) + " " + columns.ColumnText(1) + " " + columns.ColumnText(2) + " " +
                     columns.ColumnText(3) + " " + columns.ColumnText(4) + "; ";
    out["table " + table] = description;
  }
  return out;
}

// Opens dir's old.db through the store (which upgrades it) and a fresh fresh.db, and checks the upgraded schema is
// exactly the fresh one.
void ExpectUpgradesToTheFreshSchema(const testing::TempDir& dir) {
  auto upgraded = Store::Open(dir.File("old.db"));
  ASSERT_TRUE(upgraded.ok()) << upgraded.status().ToString();
  EXPECT_EQ((*upgraded)->schema_version(), LatestSchemaVersion());
  upgraded->reset();
  auto fresh = Store::Open(dir.File("fresh.db"));
  ASSERT_TRUE(fresh.ok());
  fresh->reset();
  sql::Database old_db, fresh_db;
  ASSERT_TRUE(old_db.Open(dir.File("old.db")).ok());
  ASSERT_TRUE(fresh_db.Open(dir.File("fresh.db")).ok());
  EXPECT_EQ(DescribeSchema(old_db), DescribeSchema(fresh_db));
}

TEST(Migrations, UpgradedVersion1EqualsFreshSchemaAndKeepsData) {
  testing::TempDir dir;
  {
    sql::Database old_db;
    ASSERT_TRUE(old_db.Open(dir.File("old.db")).ok());
    ASSERT_TRUE(old_db.Exec(testing::ReadSchemaFixture(TSCALE_TEST_SCHEMA_V1)).ok());
    ASSERT_TRUE(old_db
                    .Exec("INSERT INTO sweeps(id, name, spec, created_ms) VALUES(1, 'kept', x'', 5);"
                          "INSERT INTO workers(id, capabilities, registered_ms, last_seen_ms) VALUES('w', x'', 1, 2);")
                    .ok());
  }
  ExpectUpgradesToTheFreshSchema(dir);
  sql::Database old_db;
  ASSERT_TRUE(old_db.Open(dir.File("old.db")).ok());
  sql::Statement kept(old_db, "SELECT name FROM sweeps WHERE id=1");
  ASSERT_TRUE(kept.Step());
  EXPECT_EQ(kept.ColumnText(0), "kept");
  sql::Statement session(old_db, "SELECT session FROM workers WHERE id='w'");
  ASSERT_TRUE(session.Step());
  EXPECT_EQ(session.ColumnInt(0), 0);
}

// Every released schema kept in tests/data upgrades, step by step from its version, to exactly the schema a fresh
// database gets (version 6 added jobs.checkpointing and jobs.loss to version 5's, for the train workload;
// version 7 the model_configs table and jobs.config_id).
TEST(Migrations, EveryReleasedSchemaUpgradesToTheFreshOne) {
  for (const auto& [version, fixture] : {std::pair{1, TSCALE_TEST_SCHEMA_V1}, std::pair{4, TSCALE_TEST_SCHEMA_V4},
                                         std::pair{5, TSCALE_TEST_SCHEMA_V5}, std::pair{6, TSCALE_TEST_SCHEMA_V6}}) {
    SCOPED_TRACE(fixture);
    testing::TempDir dir;
    {
      sql::Database old_db;
      ASSERT_TRUE(old_db.Open(dir.File("old.db")).ok());
      ASSERT_TRUE(old_db.Exec(testing::ReadSchemaFixture(fixture)).ok());
      ASSERT_EQ(*SchemaVersion(old_db), version);
    }
    ExpectUpgradesToTheFreshSchema(dir);
  }
  EXPECT_EQ(LatestSchemaVersion(), 7);
}

// Version 3 routes on jobs.requirements: the upgrade copies it out of every stored spec, so a job queued before
// the upgrade still waits for a worker that can run it.
TEST(Migrations, UpgradeCopiesJobRequirementsSoQueuedJobsKeepTheirRouting) {
  testing::TempDir dir;
  {
    sql::Database old_db;
    ASSERT_TRUE(old_db.Open(dir.File("old.db")).ok());
    ASSERT_TRUE(old_db.Exec(testing::ReadSchemaFixture(TSCALE_TEST_SCHEMA_V1)).ok());
    ASSERT_TRUE(old_db.Exec("INSERT INTO sweeps(id, name, spec, created_ms) VALUES(1, 'old', x'', 5)").ok());
    v1::JobSpec spec;
    spec.set_model_id("m");
    spec.set_seq_len(16);
    spec.set_batch_size(1);
    spec.mutable_requirements()->set_device_kind(v1::DEVICE_KIND_CUDA);
    sql::Statement job(old_db,
                       "INSERT INTO jobs(id, sweep_id, model_id, seq_len, batch_size, dtype, attention, spec, state, "
                       "created_ms, updated_ms) VALUES(1, 1, 'm', 16, 1, 0, 0, ?, ?, 5, 5)");
    ASSERT_TRUE(job.BindBlob(1, spec.SerializeAsString()).Bind(2, static_cast<int>(v1::JOB_STATE_QUEUED)).Run().ok());
  }
  auto upgraded = Store::Open(dir.File("old.db"));
  ASSERT_TRUE(upgraded.ok()) << upgraded.status().ToString();
  Store& store = **upgraded;
  v1::WorkerCapabilities cpu;
  cpu.set_device_kind(v1::DEVICE_KIND_CPU);
  ASSERT_TRUE(store.RegisterWorker("cpu", cpu, 10).ok());
  auto none = store.ClaimJob("cpu", 10);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_FALSE(none->has_value());
  v1::WorkerCapabilities gpu;
  gpu.set_device_kind(v1::DEVICE_KIND_CUDA);
  ASSERT_TRUE(store.RegisterWorker("gpu", gpu, 10).ok());
  auto lease = store.ClaimJob("gpu", 10);
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  ASSERT_TRUE(lease->has_value());
  EXPECT_EQ((*lease)->job().job_id(), 1);
}

}  // namespace
}  // namespace tscale
