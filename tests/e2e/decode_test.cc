// The decode workload through the whole system: a forward,decode sweep over tiny-bert and tiny-gpt2 submitted
// to a real tscale-server, run by a real tscale-worker and its tscale-runner children. The encoder's decode
// cells are skipped and said so; every decode result carries TTFT, TPOT and exactly the analytic KV-cache bytes.
#include <gtest/gtest.h>

#include "common/model_config.h"
#include "support/cluster.h"

namespace tscale {
namespace {

using namespace std::chrono_literals;

TEST(DecodeEndToEnd, ForwardAndDecodeSweepSkipsEncoderCellsAndStoresExactCacheBytes) {
  testing::Cluster cluster;
  ASSERT_TRUE(cluster.StartServer());
  auto worker = cluster.StartWorker("decode-worker");
  v1::SubmitSweepRequest submit;
  auto* spec = submit.mutable_spec();
  spec->add_models("tiny-bert");
  spec->add_models("tiny-gpt2");
  spec->add_seq_lengths(16);
  spec->add_seq_lengths(32);
  spec->add_workloads(v1::WORKLOAD_FORWARD);
  spec->add_workloads(v1::WORKLOAD_DECODE);
  spec->set_new_tokens(8);
  spec->mutable_measurement()->set_min_time_s(0.05);
  spec->mutable_measurement()->set_min_iters(3);
  v1::SubmitSweepResponse submitted;
  grpc::Status status = cluster.stub().SubmitSweep(cluster.Ctx().get(), submit, &submitted);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(submitted.job_count(), 6);  // bert forward x 2, gpt2 forward x 2, gpt2 decode x 2
  EXPECT_EQ(submitted.skipped_cells(), 2);
  ASSERT_EQ(submitted.skipped_reasons_size(), 1);
  EXPECT_NE(submitted.skipped_reasons(0).find("encoder-only"), std::string::npos) << submitted.skipped_reasons(0);

  auto jobs = cluster.WaitAllFinished(submitted.sweep_id(), 240s);
  ASSERT_EQ(testing::Cluster::Finished(jobs), 6) << cluster.Logs();
  int decoded = 0;
  for (const auto& job : jobs.jobs()) {
    const auto& r = job.result();
    SCOPED_TRACE(job.spec().model_id() + " " + std::to_string(job.spec().seq_len()));
    ASSERT_EQ(r.outcome(), v1::OUTCOME_OK) << r.message() << r.stderr_tail();
    if (job.spec().workload() != v1::WORKLOAD_DECODE) {
      EXPECT_FALSE(r.has_decode());
      continue;
    }
    ++decoded;
    EXPECT_EQ(job.spec().model_id(), "test/tiny-gpt2");
    EXPECT_EQ(job.spec().new_tokens(), 8);
    auto config = ParseModelConfig(job.spec().model_config_json());
    ASSERT_TRUE(config.ok());
    const auto& d = r.decode();
    EXPECT_EQ(d.kv_cache_bytes(), KvCacheBytes(*config, 1, job.spec().seq_len() + 8, 4));
    EXPECT_GT(d.ttft().median_ms(), 0);
    EXPECT_GT(d.tpot().median_ms(), 0);
    EXPECT_EQ(d.tpot().count(), d.ttft().count() * 7);
    EXPECT_GT(d.decode_tokens_per_second(), 0);
  }
  EXPECT_EQ(decoded, 2);
}

}  // namespace
}  // namespace tscale
