// The decode workload through RunJob, as a worker's runner runs it: a greedy generation with the KV cache per
// timed step, its TTFT and per-step latencies kept for the timed generations only, the cache's bytes equal to
// the analytic count, and the models that cannot decode refused clearly.
#include <gtest/gtest.h>

#include "common/file_io.h"
#include "common/model_config.h"
#include "runner/bandwidth_probe.h"
#include "runner/job_runner.h"
#include "support/runner_jobs.h"
#include "support/temp_dir.h"

namespace tscale {
namespace {

using testing::ShrunkJob;
using testing::TinyJob;

v1::JobSpec Decode(v1::JobSpec job, int new_tokens) {
  job.set_workload(v1::WORKLOAD_DECODE);
  job.set_new_tokens(new_tokens);
  return job;
}

ModelConfig ConfigOf(const v1::JobSpec& job) {
  auto config = ParseModelConfig(job.model_config_json());
  EXPECT_TRUE(config.ok());
  return config.ok() ? *config : ModelConfig{};
}

TEST(DecodeJob, RecordsTtftAndEveryStepOfTheTimedGenerations) {
  for (const char* model : {"openai-community/gpt2", "mistralai/Mistral-7B-v0.1", "facebook/bart-base"}) {
    SCOPED_TRACE(model);
    const v1::JobSpec job = Decode(ShrunkJob(model, 12), 5);
    const v1::Result result = RunJob(job);
    ASSERT_EQ(result.outcome(), v1::OUTCOME_OK) << result.message();
    const auto& d = result.decode();
    const int generations = result.samples_ms_size();
    ASSERT_GE(generations, 5);  // min_iters
    EXPECT_EQ(d.new_tokens(), 5);
    EXPECT_EQ(d.ttft_samples_ms_size(), generations);  // the warm-up's are dropped
    EXPECT_EQ(d.step_ms_size(), generations * 4);
    ASSERT_EQ(d.step_positions_size(), d.step_ms_size());
    const ModelConfig config = ConfigOf(job);
    const bool seq2seq = config.arch == ArchKind::kEncoderDecoder;
    const int first = seq2seq ? 1 : 12;  // the fed token of step 1 sits after the prompt (or the start token)
    EXPECT_EQ(d.step_positions(0), first);
    EXPECT_EQ(d.step_positions(3), first + 3);
    EXPECT_EQ(d.step_positions(4), first);  // the next generation starts again
    EXPECT_GT(d.ttft().median_ms(), 0);
    EXPECT_GT(d.tpot().median_ms(), 0);
    EXPECT_EQ(d.tpot().count(), generations * 4);
    EXPECT_NEAR(d.decode_tokens_per_second(), 2 / (d.tpot().median_ms() / 1000), 1e-6);  // batch 2
    EXPECT_EQ(d.kv_cache_bytes(), KvCacheBytes(config, 2, (seq2seq ? 1 : 12) + 5, 4, seq2seq ? 12 : 0));
    EXPECT_EQ(d.head_parameter_count(), HeadParameterCount(config));
    EXPECT_GT(d.bytes_per_step(), 0);
    EXPECT_GT(d.achieved_bytes_per_second(), 0);
    // The generation as a whole is what the shared loop timed: longer than its first token.
    EXPECT_GT(result.latency().median_ms(), d.ttft().median_ms());
    EXPECT_EQ(result.parameter_count(), AnalyticParameterCount(config));  // the base model, the head apart
    EXPECT_GT(result.environment().memory_bandwidth_bytes_per_s(), 0);    // what the step is checked against
    EXPECT_GT(result.environment().memory_probe_bytes(), 0);
  }
}

TEST(DecodeJob, PromptPlusNewTokensPastThePositionLimitExceedsContext) {
  v1::JobSpec job = Decode(ShrunkJob("openai-community/gpt2", 1000), 30);  // 1030 > 1024 positions
  v1::Result result = RunJob(job);
  EXPECT_EQ(result.outcome(), v1::OUTCOME_EXCEEDS_CONTEXT) << result.message();
  EXPECT_NE(result.message().find("1030"), std::string::npos) << result.message();
  job.set_extend_context(true);
  job.set_seq_len(1010);
  job.set_new_tokens(20);
  job.mutable_measurement()->set_min_iters(1);
  job.mutable_measurement()->set_warmup_iters(0);
  EXPECT_EQ(RunJob(job).outcome(), v1::OUTCOME_OK);
}

TEST(DecodeJob, EncodersAndTorchScriptCannotDecode) {
  v1::Result encoder = RunJob(Decode(TinyJob("tiny-bert", 16), 4));
  EXPECT_EQ(encoder.outcome(), v1::OUTCOME_ERROR);
  EXPECT_NE(encoder.message().find("encoder-only"), std::string::npos) << encoder.message();
  v1::Result zero = RunJob(Decode(TinyJob("tiny-gpt2", 16), 0));
  EXPECT_EQ(zero.outcome(), v1::OUTCOME_ERROR);
  EXPECT_NE(zero.message().find("new_tokens"), std::string::npos) << zero.message();
}

TEST(MemoryBandwidth, TheTriadMeasuresItsWorkingSetAndIsCachedOrConfigured) {
  const torch::Device cpu(torch::kCPU);
  const MemoryBandwidth small = ProbeMemoryBandwidth(cpu, int64_t{8} << 20, 3);
  EXPECT_EQ(small.working_set_bytes, 3 * (int64_t{8} << 20));
  EXPECT_GT(small.bytes_per_second, 1e8);  // any machine moves more than 100 MB/s
  testing::TempDir dir;
  const MemoryBandwidth first = CachedMemoryBandwidth(cpu, 1, dir.path().string());
  ASSERT_GT(first.bytes_per_second, 0);
  const MemoryBandwidth again = CachedMemoryBandwidth(cpu, 1, dir.path().string());
  EXPECT_EQ(again.bytes_per_second, first.bytes_per_second);  // read back, not probed again
  EXPECT_EQ(again.working_set_bytes, first.working_set_bytes);
  setenv("TSCALE_MEMORY_BANDWIDTH", "5e10", 1);
  const MemoryBandwidth configured = CachedMemoryBandwidth(cpu, 1, dir.path().string());
  unsetenv("TSCALE_MEMORY_BANDWIDTH");
  EXPECT_EQ(configured.bytes_per_second, 5e10);
  EXPECT_EQ(configured.working_set_bytes, 0);
}

}  // namespace
}  // namespace tscale
