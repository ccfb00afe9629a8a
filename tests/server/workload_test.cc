// The workload axis on the coordinator: the planner's cross product (encoder-only models have no decode cells,
// counted and named), the bounds on new_tokens, what the store keeps (schema version 5 columns, the listing's
// workload filter, decode statistics, decode samples only on request), decode wall searches apart from forward
// ones, and the upgrade of a version-4 database, all on a real SQLite file.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <tuple>

#include "server/migrations.h"
#include "server/request_validation.h"
#include "server/store.h"
#include "server/sweep_planner.h"
#include "support/planner_store.h"

namespace tscale {
namespace {

class WorkloadTest : public testing::PlannerStoreTest {
 protected:
  static v1::SweepSpec Decoding(std::vector<std::string> models, std::vector<int> lengths) {
    v1::SweepSpec spec;
    for (const auto& m : models) spec.add_models(m);
    for (int n : lengths) spec.add_seq_lengths(n);
    spec.add_workloads(v1::WORKLOAD_FORWARD);
    spec.add_workloads(v1::WORKLOAD_DECODE);
    return spec;
  }

  static v1::Result DecodeResult() {
    v1::Result r;
    r.set_outcome(v1::OUTCOME_OK);
    r.mutable_latency()->set_median_ms(50);
    for (double s : {49.0, 50.0, 51.0}) r.add_samples_ms(s);
    v1::DecodeStats* d = r.mutable_decode();
    d->set_new_tokens(3);
    d->mutable_ttft()->set_median_ms(12.5);
    d->mutable_tpot()->set_median_ms(1.25);
    d->set_decode_tokens_per_second(800);
    d->set_kv_cache_bytes(3 << 20);
    for (double s : {12.0, 12.5, 13.0}) d->add_ttft_samples_ms(s);
    for (int i = 0; i < 6; ++i) {
      d->add_step_ms(1.25);
      d->add_step_positions(16 + i % 2);
    }
    return r;
  }
};

TEST_F(WorkloadTest, EncoderOnlyModelsHaveNoDecodeCellsAndTheSkipIsCountedAndNamed) {
  v1::SweepSpec spec = Decoding({"tiny-bert", "tiny-gpt2", "facebook/bart-base"}, {16, 32});
  spec.add_batch_sizes(1);
  spec.add_batch_sizes(2);
  spec.set_new_tokens(8);
  SkippedCells skipped;
  auto jobs = PlanSweep(spec, catalog_, {}, &skipped);
  ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
  // BERT: forward only (4 cells); GPT-2 (a decoder) and BART (an encoder-decoder): forward and decode.
  EXPECT_EQ(jobs->size(), 4u + 8 + 8);
  EXPECT_EQ(skipped.cells, 4);
  ASSERT_EQ(skipped.reasons.size(), 1u);
  EXPECT_EQ(skipped.reasons[0],
            "test/tiny-bert x decode: 4 cells skipped, an encoder-only model does not generate tokens");
  std::map<std::pair<std::string, v1::Workload>, int> cells;
  for (const auto& job : *jobs) {
    ++cells[{job.spec.model_id(), job.spec.workload()}];
    // Forward jobs carry no new_tokens; decode jobs the sweep's.
    EXPECT_EQ(job.spec.new_tokens(), job.spec.workload() == v1::WORKLOAD_DECODE ? 8 : 0);
  }
  EXPECT_EQ(cells,
            (std::map<std::pair<std::string, v1::Workload>, int>{{{"test/tiny-bert", v1::WORKLOAD_FORWARD}, 4},
                                                                 {{"test/tiny-gpt2", v1::WORKLOAD_FORWARD}, 4},
                                                                 {{"test/tiny-gpt2", v1::WORKLOAD_DECODE}, 4},
                                                                 {{"facebook/bart-base", v1::WORKLOAD_FORWARD}, 4},
                                                                 {{"facebook/bart-base", v1::WORKLOAD_DECODE}, 4}}));
  // Stable order: a model's forward cells, then its decode cells.
  EXPECT_EQ((*jobs)[4].spec.model_id(), "test/tiny-gpt2");
  EXPECT_EQ((*jobs)[4].spec.workload(), v1::WORKLOAD_FORWARD);
  EXPECT_EQ((*jobs)[8].spec.workload(), v1::WORKLOAD_DECODE);

  // Defaults: no workloads = forward (explicitly, like dtype fp32), nothing skipped; decode without new_tokens
  // generates 128 tokens.
  v1::SweepSpec plain;
  plain.add_models("tiny-bert");
  plain.add_seq_lengths(16);
  SkippedCells none;
  auto forward = PlanSweep(plain, catalog_, {}, &none);
  ASSERT_TRUE(forward.ok());
  EXPECT_EQ((*forward)[0].spec.workload(), v1::WORKLOAD_FORWARD);
  EXPECT_EQ(none.cells, 0);
  EXPECT_TRUE(none.reasons.empty());
  auto decode = PlanSweep(Decoding({"tiny-gpt2"}, {16}), catalog_);
  ASSERT_TRUE(decode.ok());
  EXPECT_EQ(decode->back().spec.new_tokens(), kDefaultNewTokens);
  EXPECT_EQ(kDefaultNewTokens, 128);
}

TEST_F(WorkloadTest, NewTokensAndWorkloadsAreBoundedNamingTheField) {
  struct Case {
    std::function<void(v1::SweepSpec*)> mutate;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {[](v1::SweepSpec* s) { s->set_new_tokens(-1); }, "spec.new_tokens: -1 is not in 1..4096"},
      {[](v1::SweepSpec* s) { s->set_new_tokens(4097); }, "spec.new_tokens: 4097 is not in 1..4096"},
      {[](v1::SweepSpec* s) {
         s->clear_workloads();
         s->set_new_tokens(8);
       },
       "spec.new_tokens: only used with the decode workload"},
      {[](v1::SweepSpec* s) { s->add_workloads(static_cast<v1::Workload>(7)); },
       "spec.workloads[2]: unknown workload (forward, decode, train)"},
      {[](v1::SweepSpec* s) {
         s->clear_models();
         s->add_models("tiny-bert");
         s->clear_workloads();
         s->add_workloads(v1::WORKLOAD_DECODE);
       },
       "spec.workloads: no cell left to run (test/tiny-bert x decode: 2 cells skipped"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.expected);
    v1::SweepSpec spec = Decoding({"tiny-bert", "tiny-gpt2"}, {16, 32});
    c.mutate(&spec);
    auto jobs = PlanSweep(spec, catalog_);
    ASSERT_FALSE(jobs.ok());
    EXPECT_EQ(jobs.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(jobs.status().message().find(c.expected), std::string::npos) << jobs.status().message();
  }
  v1::SweepSpec most = Decoding({"tiny-gpt2"}, {16});
  most.set_new_tokens(kMaxNewTokens);
  EXPECT_TRUE(PlanSweep(most, catalog_).ok());

  // The size limit counts the jobs planned: the product of the axes, less the skipped cells, both named.
  PlannerLimits limits;
  limits.max_jobs = 5;
  auto over = PlanSweep(Decoding({"tiny-bert", "tiny-gpt2"}, {16, 32}), catalog_, limits);
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.status().message().find(
                "spec: models (2) x workloads (2) x seq_lengths (2) - 2 skipped = 6 jobs exceeds the limit of 5"),
            std::string::npos)
      << over.status().message();
  limits.max_jobs = 6;
  EXPECT_TRUE(PlanSweep(Decoding({"tiny-bert", "tiny-gpt2"}, {16, 32}), catalog_, limits).ok());

  v1::ListResultsRequest list;
  list.set_workload(static_cast<v1::Workload>(9));
  Status bad = ValidateListResults(list);
  EXPECT_EQ(bad.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(bad.message().find("workload"), std::string::npos) << bad.message();
}

TEST_F(WorkloadTest, JobsStoreTheirWorkloadAndDecodeResultsKeepTheirStatistics) {
  OpenStore();
  v1::SweepSpec spec = Decoding({"tiny-gpt2"}, {16});
  spec.set_new_tokens(3);
  const int64_t sweep = Submit(spec);
  {
    sql::Database db;
    ASSERT_TRUE(db.Open(dir_.File("tscale.db")).ok());
    sql::Statement columns(db, "SELECT workload, new_tokens FROM jobs WHERE sweep_id=? ORDER BY id");
    columns.Bind(1, sweep);
    std::vector<std::pair<int64_t, int64_t>> rows;
    while (columns.Step()) rows.emplace_back(columns.ColumnInt(0), columns.ColumnInt(1));
    EXPECT_EQ(rows, (std::vector<std::pair<int64_t, int64_t>>{{v1::WORKLOAD_FORWARD, 0}, {v1::WORKLOAD_DECODE, 3}}));
  }
  ASSERT_EQ(List(v1::WORKLOAD_DECODE).size(), 1u);
  ASSERT_EQ(List(v1::WORKLOAD_FORWARD).size(), 1u);
  EXPECT_EQ(List().size(), 2u);

  // Claims go oldest first: the forward job, then the decode one, which carries its workload to the worker.
  auto forward = store_->ClaimJob("w1", kNow);
  ASSERT_TRUE(forward.ok() && forward->has_value());
  EXPECT_EQ((*forward)->job().workload(), v1::WORKLOAD_FORWARD);
  auto decode = store_->ClaimJob("w1", kNow);
  ASSERT_TRUE(decode.ok() && decode->has_value());
  EXPECT_EQ((*decode)->job().workload(), v1::WORKLOAD_DECODE);
  EXPECT_EQ((*decode)->job().new_tokens(), 3);
  v1::CompleteJobRequest complete;
  complete.set_worker_id("w1");
  complete.set_attempt_id((*decode)->attempt_id());
  *complete.mutable_result() = DecodeResult();
  ASSERT_TRUE(ValidateComplete(complete).ok());
  ASSERT_TRUE(store_->CompleteJob("w1", (*decode)->attempt_id(), DecodeResult(), kNow).ok());

  // The statistics are listed always; the per-generation and per-step samples only with the samples.
  auto listed = List(v1::WORKLOAD_DECODE);
  ASSERT_EQ(listed.size(), 1u);
  const auto& d = listed[0].result().decode();
  EXPECT_DOUBLE_EQ(d.ttft().median_ms(), 12.5);
  EXPECT_DOUBLE_EQ(d.tpot().median_ms(), 1.25);
  EXPECT_DOUBLE_EQ(d.decode_tokens_per_second(), 800);
  EXPECT_EQ(d.kv_cache_bytes(), 3 << 20);
  EXPECT_EQ(d.ttft_samples_ms_size(), 0);
  EXPECT_EQ(d.step_ms_size(), 0);
  EXPECT_EQ(d.step_positions_size(), 0);
  auto with_samples = List(v1::WORKLOAD_DECODE, /*samples=*/true);
  ASSERT_EQ(with_samples.size(), 1u);
  EXPECT_EQ(with_samples[0].result().decode().ttft_samples_ms_size(), 3);
  EXPECT_EQ(with_samples[0].result().decode().step_ms_size(), 6);
  EXPECT_EQ(with_samples[0].result().decode().step_positions(1), 17);
  EXPECT_EQ(with_samples[0].result().samples_ms_size(), 3);

  // Decode samples are latencies, held to the same rules as samples_ms.
  complete.mutable_result()->mutable_decode()->set_step_ms(2, std::nan(""));
  Status bad = ValidateComplete(complete);
  EXPECT_NE(bad.message().find("result.decode.step_ms: must be finite"), std::string::npos) << bad.message();
}

// ListResultsRequest.latency_samples_only: with the samples, only samples_ms is listed (the decode samples and the
// train losses are left out, as without the samples), and the page's sample budget counts only what is listed, so
// a page holds more decode jobs.
TEST_F(WorkloadTest, LatencySamplesOnlyListsSamplesMsAloneAndThePageBudgetCountsWhatIsListed) {
  OpenStore();
  v1::SweepSpec spec;
  spec.add_models("tiny-gpt2");
  for (int n : {16, 32, 48, 64}) spec.add_seq_lengths(n);
  spec.add_workloads(v1::WORKLOAD_DECODE);
  spec.add_workloads(v1::WORKLOAD_TRAIN);
  spec.set_new_tokens(3);
  ASSERT_NE(Submit(spec), 0);
  // Decode jobs store 3 + 3 + 6 samples (DecodeResult), train jobs 3 samples and 5 losses.
  for (int i = 0; i < 8; ++i) {
    auto lease = store_->ClaimJob("w1", kNow);
    ASSERT_TRUE(lease.ok() && lease->has_value());
    v1::Result result = DecodeResult();
    if ((*lease)->job().workload() == v1::WORKLOAD_TRAIN) {
      result.clear_decode();
      for (double loss : {2.5, 2.4, 2.3, 2.2, 2.1}) result.mutable_train()->add_losses(loss);
      result.mutable_train()->set_parameter_bytes(4096);
    }
    ASSERT_TRUE(store_->CompleteJob("w1", (*lease)->attempt_id(), result, kNow).ok());
  }
  auto list = [&](bool samples, bool latency_only, v1::Workload workload = v1::WORKLOAD_UNSPECIFIED,
                  int64_t max_samples = ResultFilter().max_samples) {
    ResultFilter filter;
    filter.include_samples = samples;
    filter.latency_samples_only = latency_only;
    filter.workload = workload;
    filter.max_samples = max_samples;
    auto page = store_->ListJobs(filter);
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    return page.ok() ? *page : JobPage();
  };
  const JobPage latency = list(true, true);
  ASSERT_EQ(latency.jobs.size(), 8u);
  int decode_jobs = 0;
  for (const auto& job : latency.jobs) {
    SCOPED_TRACE(job.spec().job_id());
    const v1::Result& r = job.result();
    ASSERT_EQ(r.samples_ms_size(), 3);
    EXPECT_DOUBLE_EQ(r.samples_ms(2), 51);
    EXPECT_EQ(r.decode().ttft_samples_ms_size(), 0);
    EXPECT_EQ(r.decode().step_ms_size(), 0);
    EXPECT_EQ(r.decode().step_positions_size(), 0);
    EXPECT_EQ(r.train().losses_size(), 0);
    if (job.spec().workload() == v1::WORKLOAD_DECODE) {
      ++decode_jobs;
      EXPECT_DOUBLE_EQ(r.decode().ttft().median_ms(), 12.5);  // the statistics stay
      EXPECT_EQ(r.decode().kv_cache_bytes(), 3 << 20);
    } else {
      EXPECT_EQ(r.train().parameter_bytes(), 4096);
    }
  }
  EXPECT_EQ(decode_jobs, 4);
  // Every sample, as before; and without include_samples the flag changes nothing.
  for (const auto& job : list(true, false).jobs) {
    const v1::Result& r = job.result();
    EXPECT_EQ(r.samples_ms_size(), 3);
    EXPECT_EQ(r.decode().step_ms_size() + r.train().losses_size(), r.has_decode() ? 6 : 5);
  }
  const JobPage plain = list(false, false), flagged = list(false, true);
  ASSERT_EQ(flagged.jobs.size(), plain.jobs.size());
  for (size_t i = 0; i < plain.jobs.size(); ++i) {
    EXPECT_EQ(flagged.jobs[i].SerializeAsString(), plain.jobs[i].SerializeAsString());
    EXPECT_EQ(flagged.jobs[i].result().samples_ms_size(), 0);
  }
  // A budget of 24 samples: two decode jobs of 12 fill it; with the latency samples only (3 each) all four fit.
  const JobPage full = list(true, false, v1::WORKLOAD_DECODE, 24);
  ASSERT_EQ(full.jobs.size(), 2u);
  EXPECT_EQ(full.next_after_job_id, full.jobs[1].spec().job_id());
  const JobPage lean = list(true, true, v1::WORKLOAD_DECODE, 24);
  EXPECT_EQ(lean.jobs.size(), 4u);
  EXPECT_EQ(lean.next_after_job_id, 0);
}

// A decode search is its own search: a forward probe does not wait for the decode probe of the same model and
// variant (one probe at a time per search), and every decode probe is a decode job with the sweep's new_tokens.
TEST_F(WorkloadTest, ADecodeWallSearchRunsApartFromTheForwardOne) {
  OpenStore();
  v1::SweepSpec spec;
  spec.add_models("tiny-gpt2");
  spec.add_workloads(v1::WORKLOAD_FORWARD);
  spec.add_workloads(v1::WORKLOAD_DECODE);
  spec.set_new_tokens(16);
  spec.set_find_wall(true);
  spec.mutable_wall()->set_start_length(32);
  spec.mutable_wall()->set_max_length(1024);
  const int64_t sweep = Submit(spec);
  ASSERT_GT(sweep, 0);
  ASSERT_EQ(List().size(), 2u);  // one first probe per search

  auto first = store_->ClaimJob("w1", kNow);
  ASSERT_TRUE(first.ok() && first->has_value());
  ASSERT_EQ((*first)->job().workload(), v1::WORKLOAD_FORWARD);
  v1::Result ok;
  ok.set_outcome(v1::OUTCOME_OK);
  ok.mutable_latency()->set_median_ms(1);
  auto done = store_->CompleteJob("w1", (*first)->attempt_id(), ok, kNow + 1);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_TRUE(done->queued_probe);  // the decode probe, still queued, does not hold the forward search back

  auto decode = store_->ClaimJob("w1", kNow + 2);
  ASSERT_TRUE(decode.ok() && decode->has_value());
  ASSERT_EQ((*decode)->job().workload(), v1::WORKLOAD_DECODE);
  EXPECT_EQ((*decode)->job().seq_len(), 32);
  v1::Result decoded = DecodeResult();
  ASSERT_TRUE(store_->CompleteJob("w1", (*decode)->attempt_id(), decoded, kNow + 3).ok());

  std::vector<std::tuple<v1::Workload, int, int>> probes;  // workload, length, new_tokens
  for (const auto& job : List())
    probes.emplace_back(job.spec().workload(), job.spec().seq_len(), job.spec().new_tokens());
  EXPECT_EQ(probes, (std::vector<std::tuple<v1::Workload, int, int>>{{v1::WORKLOAD_FORWARD, 32, 0},
                                                                     {v1::WORKLOAD_DECODE, 32, 16},
                                                                     {v1::WORKLOAD_FORWARD, 64, 0},
                                                                     {v1::WORKLOAD_DECODE, 64, 16}}));
}

// A database of the released version 4 (tests/data/schema_v4.sql): every job is kept and reads as forward, in
// the listing, its filter and the routing of its queued jobs.
TEST_F(WorkloadTest, AVersion4DatabaseUpgradesWithEveryJobForward) {
  {
    sql::Database old_db;
    ASSERT_TRUE(old_db.Open(dir_.File("tscale.db")).ok());
    ASSERT_TRUE(old_db.Exec(testing::ReadSchemaFixture(TSCALE_TEST_SCHEMA_V4)).ok());
    ASSERT_TRUE(old_db.Exec("INSERT INTO sweeps(id, name, spec, created_ms) VALUES(1, 'old', x'', 5)").ok());
    v1::JobSpec spec;  // as a version-4 server stored it: no workload field
    spec.set_model_id("m");
    spec.set_seq_len(16);
    spec.set_batch_size(1);
    sql::Statement job(old_db,
                       "INSERT INTO jobs(id, sweep_id, model_id, seq_len, batch_size, dtype, attention, spec, state, "
                       "created_ms, updated_ms, requirements) VALUES(?, 1, 'm', 16, 1, 1, 1, ?, ?, 5, 5, ?)");
    for (auto [id, state] : {std::pair{1, v1::JOB_STATE_FINISHED}, std::pair{2, v1::JOB_STATE_QUEUED}}) {
      ASSERT_TRUE(job.Bind(1, id)
                      .BindBlob(2, spec.SerializeAsString())
                      .Bind(3, static_cast<int>(state))
                      .BindBlob(4, spec.requirements().SerializeAsString())
                      .Run()
                      .ok());
      job.Reset();
    }
    v1::Result result;
    result.set_outcome(v1::OUTCOME_OK);
    result.mutable_latency()->set_median_ms(7);
    sql::Statement stored(old_db,
                          "INSERT INTO results(job_id, attempt_id, outcome, median_ms, result, finished_ms) "
                          "VALUES(1, 1, ?, 7, ?, 6)");
    ASSERT_TRUE(stored.Bind(1, static_cast<int>(v1::OUTCOME_OK)).BindBlob(2, result.SerializeAsString()).Run().ok());
  }
  OpenStore();
  EXPECT_EQ(store_->schema_version(), LatestSchemaVersion());
  {
    sql::Database db;
    ASSERT_TRUE(db.Open(dir_.File("tscale.db")).ok());
    sql::Statement columns(db, "SELECT COUNT(*), MIN(workload), MAX(workload), MAX(new_tokens) FROM jobs");
    ASSERT_TRUE(columns.Step());
    EXPECT_EQ(columns.ColumnInt(0), 2);
    EXPECT_EQ(columns.ColumnInt(1), v1::WORKLOAD_FORWARD);
    EXPECT_EQ(columns.ColumnInt(2), v1::WORKLOAD_FORWARD);
    EXPECT_EQ(columns.ColumnInt(3), 0);
  }
  auto all = List();
  ASSERT_EQ(all.size(), 2u);
  for (const auto& job : all) EXPECT_EQ(job.spec().workload(), v1::WORKLOAD_FORWARD);
  EXPECT_DOUBLE_EQ(all[0].result().latency().median_ms(), 7);
  EXPECT_EQ(List(v1::WORKLOAD_FORWARD).size(), 2u);
  EXPECT_TRUE(List(v1::WORKLOAD_DECODE).empty());
  auto lease = store_->ClaimJob("w1", kNow);
  ASSERT_TRUE(lease.ok() && lease->has_value());
  EXPECT_EQ((*lease)->job().job_id(), 2);
}

}  // namespace
}  // namespace tscale
