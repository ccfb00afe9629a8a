// A linear-time model through the whole system: a forward,decode sweep over tiny-mamba and tiny-gpt2 at two
// lengths, submitted to a real tscale-server and run by a real tscale-worker and its tscale-runner children.
// Every Mamba result names the fused CPU scan in its environment, counts the analytic parameters, and its decode
// state is the same bytes at both depths while the transformer's KV cache grows with the context.
#include <gtest/gtest.h>

#include "common/model_config.h"
#include "support/cluster.h"

namespace tscale {
namespace {

using namespace std::chrono_literals;

TEST(LinearTimeEndToEnd, TinyMambaSweepRunsWithAConstantDecodeState) {
  testing::Cluster cluster;
  ASSERT_TRUE(cluster.StartServer());
  auto worker = cluster.StartWorker("mamba-worker");
  v1::SubmitSweepRequest submit;
  auto* spec = submit.mutable_spec();
  spec->add_models("tiny-mamba");
  spec->add_models("tiny-gpt2");
  spec->add_seq_lengths(16);
  spec->add_seq_lengths(96);
  spec->add_workloads(v1::WORKLOAD_FORWARD);
  spec->add_workloads(v1::WORKLOAD_DECODE);
  spec->set_new_tokens(8);
  spec->mutable_measurement()->set_min_time_s(0.05);
  spec->mutable_measurement()->set_min_iters(3);
  v1::SubmitSweepResponse submitted;
  grpc::Status status = cluster.stub().SubmitSweep(cluster.Ctx().get(), submit, &submitted);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(submitted.job_count(), 8);

  auto jobs = cluster.WaitAllFinished(submitted.sweep_id(), 240s);
  ASSERT_EQ(testing::Cluster::Finished(jobs), 8) << cluster.Logs();
  std::map<std::string, std::set<int64_t>> state_bytes;  // model -> decode cache bytes seen at the two depths
  for (const auto& job : jobs.jobs()) {
    const auto& r = job.result();
    const std::string& model = job.spec().model_id();
    SCOPED_TRACE(model + " " + std::to_string(job.spec().seq_len()));
    ASSERT_EQ(r.outcome(), v1::OUTCOME_OK) << r.message() << r.stderr_tail();
    auto config = ParseModelConfig(job.spec().model_config_json());
    ASSERT_TRUE(config.ok());
    EXPECT_EQ(r.parameter_count(), AnalyticParameterCount(*config));
    EXPECT_GT(r.latency().median_ms(), 0);
    if (model == "test/tiny-mamba") {
      EXPECT_EQ(r.environment().sequence_kernel(), "fused CPU selective scan");
    } else {
      EXPECT_EQ(r.environment().sequence_kernel(), "");
    }
    if (job.spec().workload() != v1::WORKLOAD_DECODE) continue;
    const int64_t depth = job.spec().seq_len() + 8;
    EXPECT_EQ(r.decode().kv_cache_bytes(), KvCacheBytes(*config, 1, depth, 4));
    EXPECT_GT(r.decode().tpot().median_ms(), 0);
    state_bytes[model].insert(r.decode().kv_cache_bytes());
  }
  EXPECT_EQ(state_bytes["test/tiny-mamba"].size(), 1u);  // flat in the depth
  // 2 layers x 128 channels x (4 conv inputs + 16 state) x 4 bytes.
  EXPECT_EQ(*state_bytes["test/tiny-mamba"].begin(), 2 * 128 * (4 + 16) * 4);
  EXPECT_EQ(state_bytes["test/tiny-gpt2"].size(), 2u);  // the KV cache grows with it
}

}  // namespace
}  // namespace tscale
