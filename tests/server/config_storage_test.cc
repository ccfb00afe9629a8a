// Each distinct model config is stored once (schema version 7, table model_configs) and jobs name it: a sweep's
// jobs cost their settings, not copies of their model's config, yet every listing and lease still carries exactly
// the config the job was submitted with. A version-6 database, whose specs hold their configs, upgrades to that.
#include <gtest/gtest.h>

#include "server/migrations.h"
#include "support/planner_store.h"

namespace tscale {
namespace {

class ConfigStorageTest : public testing::PlannerStoreTest {
 protected:
  int64_t Count(const std::string& sql_text) {
    sql::Database db;
    EXPECT_TRUE(db.Open(dir_.File("tscale.db")).ok());
    sql::Statement count(db, sql_text.c_str());
    EXPECT_TRUE(count.Step());
    return count.ColumnInt(0);
  }
  v1::SweepSpec TwoModels(int repetitions) {
    v1::SweepSpec spec;
    spec.add_models("tiny-gpt2");
    spec.add_models("tiny-bert");
    for (int length : {8, 16, 32}) spec.add_seq_lengths(length);
    spec.set_repetitions(repetitions);
    return spec;
  }
};

TEST_F(ConfigStorageTest, ASweepStoresEachConfigOnceAndEveryReadCarriesIt) {
  OpenStore();
  auto planned = PlanSweep(TwoModels(5), catalog_);
  ASSERT_TRUE(planned.ok());
  std::map<std::string, std::string> submitted;  // model -> the config JSON the planner put in its specs
  for (const auto& job : *planned) submitted[job.spec.model_id()] = job.spec.model_config_json();
  ASSERT_EQ(submitted.size(), 2u);
  ASSERT_TRUE(store_->CreateSweep(TwoModels(5), *planned, kNow).ok());
  // A second sweep over the same models adds jobs, not configs.
  Submit(TwoModels(1));

  EXPECT_EQ(Count("SELECT COUNT(*) FROM jobs"), 36);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM model_configs"), 2);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM jobs WHERE config_id IS NULL"), 0);
  // The blobs no longer hold a config: every one is far smaller than the smallest config.
  const int64_t smallest_config = std::min(submitted.begin()->second.size(), submitted.rbegin()->second.size());
  EXPECT_LT(Count("SELECT MAX(LENGTH(spec)) FROM jobs"), smallest_config / 4);

  for (const auto& view : List()) EXPECT_EQ(view.spec().model_config_json(), submitted[view.spec().model_id()]);
  auto lease = store_->ClaimJob("w1", kNow);
  ASSERT_TRUE(lease.ok() && lease->has_value());
  EXPECT_EQ((*lease)->job().model_config_json(), submitted[(*lease)->job().model_id()]);
}

TEST_F(ConfigStorageTest, WallProbesReferenceTheirSearchsConfig) {
  OpenStore();
  v1::SweepSpec spec;
  spec.add_models("tiny-gpt2");
  spec.set_find_wall(true);
  spec.mutable_wall()->set_start_length(16);
  spec.mutable_wall()->set_max_length(64);
  spec.mutable_wall()->set_resolution(16);
  ASSERT_GT(Submit(spec), 0);
  auto lease = store_->ClaimJob("w1", kNow);
  ASSERT_TRUE(lease.ok() && lease->has_value());
  const std::string config = (*lease)->job().model_config_json();
  ASSERT_FALSE(config.empty());
  v1::Result ok;
  ok.set_outcome(v1::OUTCOME_OK);
  ok.set_job_id((*lease)->job().job_id());
  ASSERT_TRUE(store_->CompleteJob("w1", (*lease)->attempt_id(), ok, kNow).ok());
  auto next = store_->ClaimJob("w1", kNow);  // the next probe, created in the completing transaction
  ASSERT_TRUE(next.ok() && next->has_value());
  EXPECT_GT((*next)->job().seq_len(), 16);
  EXPECT_EQ((*next)->job().model_config_json(), config);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM model_configs"), 1);
}

TEST_F(ConfigStorageTest, AVersion6DatabaseMovesItsConfigsOutOfTheSpecs) {
  auto planned = PlanSweep(TwoModels(2), catalog_);
  ASSERT_TRUE(planned.ok());
  std::map<int64_t, std::string> config_of;  // job id -> its config, as a version-6 server stored it
  {
    sql::Database old_db;
    ASSERT_TRUE(old_db.Open(dir_.File("tscale.db")).ok());
    ASSERT_TRUE(old_db.Exec(testing::ReadSchemaFixture(TSCALE_TEST_SCHEMA_V6)).ok());
    ASSERT_TRUE(old_db.Exec("INSERT INTO sweeps(id, name, spec, created_ms) VALUES(1, 'old', x'', 5)").ok());
    sql::Statement job(old_db,
                       "INSERT INTO jobs(id, sweep_id, model_id, seq_len, batch_size, dtype, attention, spec, state, "
                       "created_ms, updated_ms, requirements) VALUES(?, 1, ?, ?, 1, 1, 1, ?, ?, 5, 5, ?)");
    int64_t id = 0;
    std::vector<PlannedJob> jobs = *planned;
    for (auto& p : jobs) {
      p.spec.set_sweep_id(1);
      ASSERT_TRUE(job.Bind(1, ++id)
                      .Bind(2, p.spec.model_id())
                      .Bind(3, p.spec.seq_len())
                      .BindBlob(4, p.spec.SerializeAsString())
                      .Bind(5, static_cast<int>(v1::JOB_STATE_QUEUED))
                      .BindBlob(6, p.spec.requirements().SerializeAsString())
                      .Run()
                      .ok());
      job.Reset();
      config_of[id] = p.spec.model_config_json();
    }
  }
  OpenStore();
  EXPECT_EQ(store_->schema_version(), LatestSchemaVersion());
  EXPECT_EQ(Count("SELECT COUNT(*) FROM model_configs"), 2);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM jobs WHERE config_id IS NULL"), 0);
  const auto views = List();
  ASSERT_EQ(views.size(), config_of.size());
  for (const auto& view : views) EXPECT_EQ(view.spec().model_config_json(), config_of[view.spec().job_id()]);
  sql::Database db;
  ASSERT_TRUE(db.Open(dir_.File("tscale.db")).ok());
  sql::Statement blobs(db, "SELECT spec FROM jobs");
  while (blobs.Step()) {
    v1::JobSpec stored;
    ASSERT_TRUE(stored.ParseFromString(blobs.ColumnBlob(0)));
    EXPECT_TRUE(stored.model_config_json().empty());
  }
}

}  // namespace
}  // namespace tscale
