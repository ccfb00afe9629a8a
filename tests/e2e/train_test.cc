// The train workload through the whole system: a forward,train sweep over tiny-bert and tiny-gpt2, with and
// without checkpointing, submitted to a real tscale-server and run by a real tscale-worker and its
// tscale-runner children. Every train result carries its breakdown and its step FLOPs, the checkpointed one's above
// the plain one's (by the blocks' forward), and the losses and forward results carry none of it.
#include <gtest/gtest.h>

#include <map>
#include <tuple>

#include "support/cluster.h"

namespace tscale {
namespace {

using namespace std::chrono_literals;

TEST(TrainEndToEnd, ForwardAndTrainSweepRunsEveryCellWithItsBreakdown) {
  testing::Cluster cluster;
  ASSERT_TRUE(cluster.StartServer());
  auto worker = cluster.StartWorker("train-worker");
  v1::SubmitSweepRequest submit;
  auto* spec = submit.mutable_spec();
  spec->add_models("tiny-bert");
  spec->add_models("tiny-gpt2");
  spec->add_seq_lengths(32);
  spec->add_workloads(v1::WORKLOAD_FORWARD);
  spec->add_workloads(v1::WORKLOAD_TRAIN);
  spec->add_checkpointing(v1::CHECKPOINTING_NONE);
  spec->add_checkpointing(v1::CHECKPOINTING_LAYERS);
  spec->mutable_measurement()->set_min_time_s(0.05);
  spec->mutable_measurement()->set_min_iters(3);
  v1::SubmitSweepResponse submitted;
  grpc::Status status = cluster.stub().SubmitSweep(cluster.Ctx().get(), submit, &submitted);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(submitted.job_count(), 6);  // per model: forward, train, train with checkpointing
  EXPECT_EQ(submitted.skipped_cells(), 0);

  auto jobs = cluster.WaitAllFinished(submitted.sweep_id(), 240s);
  ASSERT_EQ(testing::Cluster::Finished(jobs), 6) << cluster.Logs();
  std::map<std::tuple<std::string, v1::Checkpointing>, double> step_flops;
  for (const auto& job : jobs.jobs()) {
    const auto& r = job.result();
    SCOPED_TRACE(job.spec().model_id() + " " + v1::Workload_Name(job.spec().workload()));
    ASSERT_EQ(r.outcome(), v1::OUTCOME_OK) << r.message() << r.stderr_tail();
    if (job.spec().workload() != v1::WORKLOAD_TRAIN) {
      EXPECT_FALSE(r.has_train());
      continue;
    }
    const auto& t = r.train();
    EXPECT_EQ(t.checkpointing(), job.spec().checkpointing());
    EXPECT_EQ(t.loss(),
              job.spec().model_id() == "test/tiny-bert" ? v1::TRAIN_LOSS_MASKED_LM : v1::TRAIN_LOSS_NEXT_TOKEN);
    EXPECT_EQ(t.losses_size(), 0);  // like the samples, only with include_samples
    EXPECT_GE(r.latency().count(), 3);
    EXPECT_EQ(t.gradient_bytes(), t.parameter_bytes());
    EXPECT_EQ(t.optimizer_state_bytes(), 2 * t.parameter_bytes());
    EXPECT_GT(t.analytic_activation_bytes(), 0);
    EXPECT_GT(r.tokens_per_second(), 0);
    step_flops[{job.spec().model_id(), job.spec().checkpointing()}] = r.flops_per_forward();
  }
  ASSERT_EQ(step_flops.size(), 4u);
  // With samples, each train result's losses come too: one per step run, warm-up included.
  v1::ListResultsRequest list;
  list.set_sweep_id(submitted.sweep_id());
  list.set_workload(v1::WORKLOAD_TRAIN);
  list.set_include_samples(true);
  v1::ListResultsResponse listed;
  ASSERT_TRUE(cluster.stub().ListResults(cluster.Ctx().get(), list, &listed).ok());
  ASSERT_EQ(listed.jobs_size(), 4);
  for (const auto& job : listed.jobs())
    EXPECT_EQ(job.result().train().losses_size(), job.result().warmup_iters() + job.result().samples_ms_size());
  for (const char* model : {"test/tiny-bert", "test/tiny-gpt2"}) {
    SCOPED_TRACE(model);
    const double plain = step_flops[{model, v1::CHECKPOINTING_NONE}];
    const double checkpointed = step_flops[{model, v1::CHECKPOINTING_LAYERS}];
    EXPECT_GT(checkpointed, plain);  // the blocks' forward once more, the head not
    EXPECT_LT(checkpointed, plain * 4 / 3);
  }
}

}  // namespace
}  // namespace tscale
