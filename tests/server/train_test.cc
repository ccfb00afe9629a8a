// The train workload on the coordinator: the planner's train x checkpointing cells and each model's loss by
// architecture, the field-named refusals of settings nothing would read (and of a TorchScript model), an explicit
// loss skipping the models it does not fit, what the store keeps (schema version 6 columns), train wall searches
// apart per checkpointing, and the upgrade of a version-5 database, all on a real SQLite file.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <tuple>

#include "server/migrations.h"
#include "server/store.h"
#include "server/sweep_planner.h"
#include "support/planner_store.h"

namespace tscale {
namespace {

using Cell = std::tuple<std::string, v1::Workload, v1::Checkpointing, v1::TrainLoss, int>;  // model .. seq_len

class TrainPlanTest : public testing::PlannerStoreTest {
 protected:
  void SetUp() override {
    PlannerStoreTest::SetUp();
    // A user model run through a TorchScript module (the coordinator never reads the file).
    ModelConfig scripted = *catalog_.Find("tiny-gpt2");
    scripted.id = "test/scripted-gpt2";
    scripted.aliases = {"scripted-gpt2"};
    scripted.torchscript = "/models/scripted-gpt2.pt";
    ASSERT_TRUE(catalog_.Add(scripted).ok());
  }

  static v1::SweepSpec Training(std::vector<std::string> models, std::vector<int> lengths) {
    v1::SweepSpec spec;
    for (const auto& m : models) spec.add_models(m);
    for (int n : lengths) spec.add_seq_lengths(n);
    spec.add_workloads(v1::WORKLOAD_FORWARD);
    spec.add_workloads(v1::WORKLOAD_TRAIN);
    return spec;
  }

  static std::vector<Cell> Cells(const std::vector<PlannedJob>& jobs) {
    std::vector<Cell> cells;
    for (const auto& job : jobs)
      cells.emplace_back(job.spec.model_id(), job.spec.workload(), job.spec.checkpointing(), job.spec.loss(),
                         job.spec.seq_len());
    return cells;
  }

  static v1::Result Ok() {
    v1::Result r;
    r.set_outcome(v1::OUTCOME_OK);
    r.mutable_latency()->set_median_ms(5);
    return r;
  }
};

TEST_F(TrainPlanTest, TrainCellsMultiplyByCheckpointingAndCarryTheirArchitecturesLoss) {
  v1::SweepSpec spec = Training({"tiny-bert", "tiny-gpt2", "facebook/bart-base"}, {16, 32});
  spec.add_checkpointing(v1::CHECKPOINTING_NONE);
  spec.add_checkpointing(v1::CHECKPOINTING_LAYERS);
  spec.add_checkpointing(v1::CHECKPOINTING_LAYERS);  // a repeat counts once, as a repeated model does
  SkippedCells skipped;
  auto jobs = PlanSweep(spec, catalog_, {}, &skipped);
  ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
  EXPECT_EQ(skipped.cells, 0);
  EXPECT_TRUE(skipped.reasons.empty());
  // Per model: 2 forward cells, then 2 train cells without checkpointing and 2 with (model, workload,
  // checkpointing, length). Forward cells leave both train settings unspecified.
  const auto N = v1::CHECKPOINTING_NONE, L = v1::CHECKPOINTING_LAYERS, U = v1::CHECKPOINTING_UNSPECIFIED;
  const auto F = v1::WORKLOAD_FORWARD, T = v1::WORKLOAD_TRAIN;
  std::vector<Cell> expected;
  for (const auto& [model, loss] :
       {std::pair{"test/tiny-bert", v1::TRAIN_LOSS_MASKED_LM}, std::pair{"test/tiny-gpt2", v1::TRAIN_LOSS_NEXT_TOKEN},
        std::pair{"facebook/bart-base", v1::TRAIN_LOSS_SEQ2SEQ}}) {
    for (int n : {16, 32}) expected.emplace_back(model, F, U, v1::TRAIN_LOSS_UNSPECIFIED, n);
    for (auto c : {N, L})
      for (int n : {16, 32}) expected.emplace_back(model, T, c, loss, n);
  }
  EXPECT_EQ(Cells(*jobs), expected);
  for (const auto& job : *jobs) EXPECT_EQ(job.spec.new_tokens(), 0);

  // No checkpointing given: none, one train cell per length.
  v1::SweepSpec plain = Training({"tiny-gpt2"}, {16});
  auto defaults = PlanSweep(plain, catalog_);
  ASSERT_TRUE(defaults.ok()) << defaults.status().ToString();
  EXPECT_EQ(Cells(*defaults), (std::vector<Cell>{{"test/tiny-gpt2", F, U, v1::TRAIN_LOSS_UNSPECIFIED, 16},
                                                 {"test/tiny-gpt2", T, N, v1::TRAIN_LOSS_NEXT_TOKEN, 16}}));
  // CHECKPOINTING_UNSPECIFIED on the wire is none, like DTYPE_UNSPECIFIED is fp32.
  plain.add_checkpointing(v1::CHECKPOINTING_UNSPECIFIED);
  plain.add_checkpointing(v1::CHECKPOINTING_NONE);
  auto unspecified = PlanSweep(plain, catalog_);
  ASSERT_TRUE(unspecified.ok()) << unspecified.status().ToString();
  EXPECT_EQ(Cells(*unspecified), Cells(*defaults));
  // A TorchScript model still runs forward and decode.
  v1::SweepSpec scripted;
  scripted.add_models("scripted-gpt2");
  scripted.add_seq_lengths(16);
  scripted.add_workloads(v1::WORKLOAD_FORWARD);
  scripted.add_workloads(v1::WORKLOAD_DECODE);
  EXPECT_TRUE(PlanSweep(scripted, catalog_).ok());

  // The size limit names checkpointing as a factor of the train workload only.
  PlannerLimits limits;
  limits.max_jobs = 5;
  auto over = PlanSweep(spec, catalog_, limits);
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.status().message().find("spec: models (3) x workloads (forward + train x checkpointing (2) = 3) x "
                                         "seq_lengths (2) = 18 jobs exceeds the limit of 5"),
            std::string::npos)
      << over.status().message();
}

TEST_F(TrainPlanTest, TrainSettingsWithoutATrainWorkloadUnknownValuesAndTorchScriptAreRefusedNamingTheField) {
  struct Case {
    std::function<void(v1::SweepSpec*)> mutate;
    const char* expected;
  };
  auto forward_only = [](v1::SweepSpec* s) {
    s->clear_workloads();
    s->add_workloads(v1::WORKLOAD_FORWARD);
    s->add_workloads(v1::WORKLOAD_DECODE);
  };
  const std::vector<Case> cases = {
      {[&](v1::SweepSpec* s) {
         forward_only(s);
         s->add_checkpointing(v1::CHECKPOINTING_LAYERS);
       },
       "spec.checkpointing: only used with the train workload"},
      {[&](v1::SweepSpec* s) {
         s->clear_workloads();
         s->add_checkpointing(v1::CHECKPOINTING_NONE);  // no workloads: forward
       },
       "spec.checkpointing: only used with the train workload"},
      {[&](v1::SweepSpec* s) {
         forward_only(s);
         s->set_loss(v1::TRAIN_LOSS_NEXT_TOKEN);
       },
       "spec.loss: only used with the train workload"},
      {[](v1::SweepSpec* s) {
         s->add_checkpointing(v1::CHECKPOINTING_NONE);
         s->add_checkpointing(static_cast<v1::Checkpointing>(7));
       },
       "spec.checkpointing[1]: unknown value 7 (none, layers)"},
      {[](v1::SweepSpec* s) { s->set_loss(static_cast<v1::TrainLoss>(7)); }, "spec.loss: unknown value 7"},
      {[](v1::SweepSpec* s) { s->add_workloads(static_cast<v1::Workload>(9)); },
       "spec.workloads[2]: unknown workload (forward, decode, train)"},
      {[](v1::SweepSpec* s) { s->add_models("scripted-gpt2"); },
       "spec.workloads: train with \"test/scripted-gpt2\" (spec.models[2]): a TorchScript module cannot be "
       "trained: tscale trains models it builds from their config"},
      {[](v1::SweepSpec* s) {
         s->clear_models();
         s->add_models("tiny-gpt2");
         s->clear_workloads();
         s->add_workloads(v1::WORKLOAD_TRAIN);
         s->set_loss(v1::TRAIN_LOSS_SEQ2SEQ);
       },
       "spec.workloads: no cell left to run (test/tiny-gpt2 x train: 2 cells skipped, the seq2seq loss does not "
       "fit a decoder-only model (its loss is next_token))"},
  };
  OpenStore();
  const size_t stored_before = List().size();
  for (const auto& c : cases) {
    SCOPED_TRACE(c.expected);
    v1::SweepSpec spec = Training({"tiny-bert", "tiny-gpt2"}, {16, 32});
    c.mutate(&spec);
    auto jobs = PlanSweep(spec, catalog_);
    ASSERT_FALSE(jobs.ok());
    EXPECT_EQ(jobs.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(jobs.status().message().find(c.expected), std::string::npos) << jobs.status().message();
  }
  EXPECT_EQ(List().size(), stored_before);  // a refused plan reaches no store
}

TEST_F(TrainPlanTest, AnExplicitLossSkipsTheTrainCellsOfModelsItDoesNotFit) {
  v1::SweepSpec spec = Training({"tiny-bert", "tiny-gpt2", "facebook/bart-base"}, {16});
  spec.add_checkpointing(v1::CHECKPOINTING_NONE);
  spec.add_checkpointing(v1::CHECKPOINTING_LAYERS);
  spec.set_loss(v1::TRAIN_LOSS_MASKED_LM);
  SkippedCells skipped;
  auto jobs = PlanSweep(spec, catalog_, {}, &skipped);
  ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
  // Every model's forward cell; train cells for BERT only (masked LM is an encoder's objective).
  std::map<std::pair<std::string, v1::Workload>, int> cells;
  for (const auto& job : *jobs) {
    ++cells[{job.spec.model_id(), job.spec.workload()}];
    if (job.spec.workload() == v1::WORKLOAD_TRAIN) EXPECT_EQ(job.spec.loss(), v1::TRAIN_LOSS_MASKED_LM);
  }
  EXPECT_EQ(cells,
            (std::map<std::pair<std::string, v1::Workload>, int>{{{"test/tiny-bert", v1::WORKLOAD_FORWARD}, 1},
                                                                 {{"test/tiny-bert", v1::WORKLOAD_TRAIN}, 2},
                                                                 {{"test/tiny-gpt2", v1::WORKLOAD_FORWARD}, 1},
                                                                 {{"facebook/bart-base", v1::WORKLOAD_FORWARD}, 1}}));
  EXPECT_EQ(skipped.cells, 4);
  EXPECT_EQ(skipped.reasons,
            (std::vector<std::string>{"test/tiny-gpt2 x train: 2 cells skipped, the masked_lm loss does not fit a "
                                      "decoder-only model (its loss is next_token)",
                                      "facebook/bart-base x train: 2 cells skipped, the masked_lm loss does not fit "
                                      "an encoder-decoder (its loss is seq2seq)"}));
  // The loss that fits is no skip; with decode, the encoder's decode cells and the loss's skips add up.
  spec.set_loss(v1::TRAIN_LOSS_NEXT_TOKEN);
  spec.add_workloads(v1::WORKLOAD_DECODE);
  SkippedCells both;
  auto mixed = PlanSweep(spec, catalog_, {}, &both);
  ASSERT_TRUE(mixed.ok()) << mixed.status().ToString();
  EXPECT_EQ(both.cells, 2 + 2 + 1);  // BERT's and BART's train cells, BERT's decode cell
  ASSERT_EQ(both.reasons.size(), 3u);
  EXPECT_EQ(both.reasons[0],
            "test/tiny-bert x train: 2 cells skipped, the next_token loss does not fit an encoder-only model (its "
            "loss is masked_lm)");
  EXPECT_EQ(both.reasons[1],
            "test/tiny-bert x decode: 1 cells skipped, an encoder-only model does not generate tokens");
  EXPECT_EQ(mixed->size(), 3u + 2 + 1 + 1);  // forward x 3, GPT-2's train x 2, GPT-2's and BART's decode
}

TEST_F(TrainPlanTest, TrainJobsStoreTheirCheckpointingAndLossAndTheWorkerGetsThem) {
  OpenStore();
  v1::SweepSpec spec = Training({"tiny-gpt2"}, {16});
  spec.add_checkpointing(v1::CHECKPOINTING_LAYERS);
  spec.add_checkpointing(v1::CHECKPOINTING_NONE);
  const int64_t sweep = Submit(spec);
  {
    sql::Database db;
    ASSERT_TRUE(db.Open(dir_.File("tscale.db")).ok());
    sql::Statement columns(db, "SELECT workload, checkpointing, loss FROM jobs WHERE sweep_id=? ORDER BY id");
    columns.Bind(1, sweep);
    std::vector<std::tuple<int64_t, int64_t, int64_t>> rows;
    while (columns.Step()) rows.emplace_back(columns.ColumnInt(0), columns.ColumnInt(1), columns.ColumnInt(2));
    EXPECT_EQ(rows, (std::vector<std::tuple<int64_t, int64_t, int64_t>>{
                        {v1::WORKLOAD_FORWARD, 0, 0},
                        {v1::WORKLOAD_TRAIN, v1::CHECKPOINTING_LAYERS, v1::TRAIN_LOSS_NEXT_TOKEN},
                        {v1::WORKLOAD_TRAIN, v1::CHECKPOINTING_NONE, v1::TRAIN_LOSS_NEXT_TOKEN}}));
  }
  EXPECT_EQ(List(v1::WORKLOAD_TRAIN).size(), 2u);
  EXPECT_EQ(List(v1::WORKLOAD_FORWARD).size(), 1u);
  ASSERT_TRUE(store_->ClaimJob("w1", kNow).ok());  // the forward job
  auto train = store_->ClaimJob("w1", kNow);
  ASSERT_TRUE(train.ok() && train->has_value());
  EXPECT_EQ((*train)->job().workload(), v1::WORKLOAD_TRAIN);
  EXPECT_EQ((*train)->job().checkpointing(), v1::CHECKPOINTING_LAYERS);
  EXPECT_EQ((*train)->job().loss(), v1::TRAIN_LOSS_NEXT_TOKEN);
}

// Each checkpointing value is its own search (one probe at a time each), beside the forward one, and every train
// probe keeps its first probe's checkpointing and loss.
TEST_F(TrainPlanTest, TrainWallSearchesRunApartPerCheckpointing) {
  OpenStore();
  v1::SweepSpec spec;
  spec.add_models("tiny-gpt2");
  spec.add_workloads(v1::WORKLOAD_FORWARD);
  spec.add_workloads(v1::WORKLOAD_TRAIN);
  spec.add_checkpointing(v1::CHECKPOINTING_NONE);
  spec.add_checkpointing(v1::CHECKPOINTING_LAYERS);
  spec.set_find_wall(true);
  spec.mutable_wall()->set_start_length(32);
  spec.mutable_wall()->set_max_length(1024);
  spec.mutable_wall()->set_resolution(8);
  Submit(spec);
  ASSERT_EQ(List().size(), 3u);  // one first probe per search

  for (int i = 0; i < 3; ++i) {
    auto lease = store_->ClaimJob("w1", kNow + i);
    ASSERT_TRUE(lease.ok() && lease->has_value());
    auto done = store_->CompleteJob("w1", (*lease)->attempt_id(), Ok(), kNow + i);
    ASSERT_TRUE(done.ok()) << done.status().ToString();
    // Neither of the other searches' queued probes holds this one back.
    EXPECT_TRUE(done->queued_probe) << i;
  }
  std::vector<std::tuple<v1::Workload, v1::Checkpointing, v1::TrainLoss, int>> probes;
  for (const auto& job : List())
    probes.emplace_back(job.spec().workload(), job.spec().checkpointing(), job.spec().loss(), job.spec().seq_len());
  const auto F = v1::WORKLOAD_FORWARD, T = v1::WORKLOAD_TRAIN;
  const auto next = v1::TRAIN_LOSS_NEXT_TOKEN;
  EXPECT_EQ(probes, (std::vector<std::tuple<v1::Workload, v1::Checkpointing, v1::TrainLoss, int>>{
                        {F, v1::CHECKPOINTING_UNSPECIFIED, v1::TRAIN_LOSS_UNSPECIFIED, 32},
                        {T, v1::CHECKPOINTING_NONE, next, 32},
                        {T, v1::CHECKPOINTING_LAYERS, next, 32},
                        {F, v1::CHECKPOINTING_UNSPECIFIED, v1::TRAIN_LOSS_UNSPECIFIED, 64},
                        {T, v1::CHECKPOINTING_NONE, next, 64},
                        {T, v1::CHECKPOINTING_LAYERS, next, 64}}));
  // Without checkpointing the step runs out of memory at 64: that search bisects [32, 64] on its own, and the
  // one with checkpointing (its probe at 64 still queued) is left where it was.
  auto lease = store_->ClaimJob("w1", kNow + 10);  // the forward probe at 64
  ASSERT_TRUE(lease.ok() && lease->has_value());
  lease = store_->ClaimJob("w1", kNow + 10);
  ASSERT_TRUE(lease.ok() && lease->has_value());
  ASSERT_EQ((*lease)->job().checkpointing(), v1::CHECKPOINTING_NONE);
  v1::Result oom;
  oom.set_outcome(v1::OUTCOME_OOM);
  auto done = store_->CompleteJob("w1", (*lease)->attempt_id(), oom, kNow + 11);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_TRUE(done->queued_probe);
  const auto listed = List(v1::WORKLOAD_TRAIN);
  ASSERT_EQ(listed.size(), 5u);
  EXPECT_EQ(listed.back().spec().checkpointing(), v1::CHECKPOINTING_NONE);
  EXPECT_EQ(listed.back().spec().loss(), v1::TRAIN_LOSS_NEXT_TOKEN);
  EXPECT_EQ(listed.back().spec().seq_len(), 48);
  EXPECT_EQ(listed[3].spec().checkpointing(), v1::CHECKPOINTING_LAYERS);
  EXPECT_EQ(listed[3].state(), v1::JOB_STATE_QUEUED);
}

// A database of the released version 5 (tests/data/schema_v5.sql): its jobs read as before, with no train
// settings, and a wall search it had started goes on after the upgrade.
TEST_F(TrainPlanTest, AVersion5DatabaseUpgradesAndItsWallSearchesGoOn) {
  v1::JobSpec probe;  // a decode wall probe, as a version-5 server stored it
  probe.set_model_id("test/tiny-gpt2");
  probe.set_seq_len(32);
  probe.set_batch_size(1);
  probe.set_dtype(v1::DTYPE_FP32);
  probe.set_attention(v1::ATTENTION_IMPL_EAGER);
  probe.set_workload(v1::WORKLOAD_DECODE);
  probe.set_new_tokens(8);
  probe.mutable_wall()->set_start_length(32);
  probe.mutable_wall()->set_max_length(1024);
  probe.mutable_wall()->set_resolution(64);
  {
    sql::Database old_db;
    ASSERT_TRUE(old_db.Open(dir_.File("tscale.db")).ok());
    ASSERT_TRUE(old_db.Exec(testing::ReadSchemaFixture(TSCALE_TEST_SCHEMA_V5)).ok());
    ASSERT_TRUE(old_db.Exec("INSERT INTO sweeps(id, name, spec, created_ms) VALUES(1, 'old', x'', 5)").ok());
    sql::Statement job(old_db,
                       "INSERT INTO jobs(id, sweep_id, model_id, seq_len, batch_size, dtype, attention, spec, state, "
                       "created_ms, updated_ms, requirements, workload, new_tokens) "
                       "VALUES(1, 1, 'test/tiny-gpt2', 32, 1, 1, 1, ?, ?, 5, 5, ?, 2, 8)");
    ASSERT_TRUE(job.BindBlob(1, probe.SerializeAsString())
                    .Bind(2, static_cast<int>(v1::JOB_STATE_QUEUED))
                    .BindBlob(3, probe.requirements().SerializeAsString())
                    .Run()
                    .ok());
  }
  OpenStore();
  EXPECT_EQ(store_->schema_version(), 7);
  EXPECT_EQ(store_->schema_version(), LatestSchemaVersion());
  {
    sql::Database db;
    ASSERT_TRUE(db.Open(dir_.File("tscale.db")).ok());
    sql::Statement columns(db, "SELECT workload, new_tokens, checkpointing, loss FROM jobs");
    ASSERT_TRUE(columns.Step());
    EXPECT_EQ(columns.ColumnInt(0), v1::WORKLOAD_DECODE);
    EXPECT_EQ(columns.ColumnInt(1), 8);
    EXPECT_EQ(columns.ColumnInt(2), 0);
    EXPECT_EQ(columns.ColumnInt(3), 0);
  }
  auto lease = store_->ClaimJob("w1", kNow);
  ASSERT_TRUE(lease.ok() && lease->has_value());
  EXPECT_EQ((*lease)->job().checkpointing(), v1::CHECKPOINTING_UNSPECIFIED);
  auto done = store_->CompleteJob("w1", (*lease)->attempt_id(), Ok(), kNow + 1);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_TRUE(done->queued_probe);
  const auto listed = List();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[1].spec().workload(), v1::WORKLOAD_DECODE);
  EXPECT_EQ(listed[1].spec().new_tokens(), 8);
  EXPECT_EQ(listed[1].spec().seq_len(), 64);
  EXPECT_TRUE(List(v1::WORKLOAD_TRAIN).empty());
}

}  // namespace
}  // namespace tscale
