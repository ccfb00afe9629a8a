// RunJob in-process and tscale-runner as a real child process.
#include "runner/job_runner.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <tuple>

#include "common/catalog.h"
#include "common/runner_protocol.h"
#include "runner/attention.h"
#include "runner/transformer.h"
#include "support/temp_dir.h"
#include "support/test_paths.h"
#include "worker/child_process.h"

namespace tscale {
namespace {

v1::JobSpec TinyJob(const std::string& model, int seq_len) {
  Catalog catalog;
  EXPECT_TRUE(catalog.LoadDirectory(testing::kTestModelsDir).ok());
  const ModelConfig* config = catalog.Find(model);
  EXPECT_NE(config, nullptr);
  v1::JobSpec job;
  job.set_job_id(1);
  job.set_model_id(config->id);
  job.set_model_config_json(ModelConfigToJson(*config));
  job.set_seq_len(seq_len);
  job.set_batch_size(2);
  auto* m = job.mutable_measurement();
  m->set_warmup_iters(2);
  m->set_min_iters(5);
  m->set_min_time_s(0.05);
  m->set_max_iters(1000);
  m->set_max_time_s(10);
  m->set_threads(1);
  m->set_seed(42);
  return job;
}

// A catalog model shrunk to test size, as a job.
v1::JobSpec ShrunkJob(const std::string& model, int seq_len) {
  Catalog catalog;
  EXPECT_TRUE(catalog.LoadDirectory(testing::kCatalogDir).ok());
  const ModelConfig* found = catalog.Find(model);
  EXPECT_NE(found, nullptr) << model;
  ModelConfig c = found ? *found : ModelConfig{};
  c.hidden = 64;
  c.heads = 4;
  if (c.head_dim > 0) c.head_dim = 16;
  c.ffn = 128;
  c.vocab = 300;
  c.layers = 2;
  if (c.decoder_layers > 0) c.decoder_layers = 2;
  v1::JobSpec job = TinyJob("tiny-gpt2", seq_len);
  job.set_model_id(c.id);
  job.set_model_config_json(ModelConfigToJson(c));
  return job;
}

bool CpuRuns(torch::ScalarType type) {
  try {
    auto a = torch::ones({4, 4}, torch::TensorOptions().dtype(type));
    (void)torch::matmul(a, a).sum().item<float>();
    (void)torch::layer_norm(a, {4}).sum().item<float>();
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

TEST(JobRunner, EncoderDecoderGetsDecoderInputsOfItsOwnLength) {
  for (const char* model : {"microsoft/GODEL-v1_1-base-seq2seq", "facebook/bart-base"}) {
    SCOPED_TRACE(model);
    v1::JobSpec job = ShrunkJob(model, 24);
    job.set_decoder_length(8);
    v1::Result r = RunJob(job);
    ASSERT_EQ(r.outcome(), v1::OUTCOME_OK) << r.message();
    auto config = ParseModelConfig(job.model_config_json());
    ASSERT_TRUE(config.ok());
    EXPECT_EQ(r.parameter_count(), MetaParameterCount(*config));
    EXPECT_GE(r.latency().count(), 5);
  }
}

TEST(JobRunner, DecoderLengthPastTheLimitExceedsContext) {
  v1::JobSpec job = ShrunkJob("facebook/bart-base", 16);
  job.set_decoder_length(1025);  // BART: 1024 usable positions per stack
  v1::Result r = RunJob(job);
  EXPECT_EQ(r.outcome(), v1::OUTCOME_EXCEEDS_CONTEXT) << r.message();
  EXPECT_EQ(r.load_time_ms(), 0);
}

TEST(JobRunner, AttentionImplementationIsPassedToTheModel) {
  v1::JobSpec job = TinyJob("tiny-gpt2", 32);
  job.set_attention(v1::ATTENTION_IMPL_MEMORY_EFFICIENT);
  v1::Result r = RunJob(job);
  EXPECT_EQ(r.outcome(), v1::OUTCOME_OK) << r.message();
  job.set_attention(v1::ATTENTION_IMPL_FUSED);
  r = RunJob(job);
  if (FusedAttentionAvailable()) {
    EXPECT_EQ(r.outcome(), v1::OUTCOME_OK) << r.message();
  } else {
    EXPECT_EQ(r.outcome(), v1::OUTCOME_ERROR);
    EXPECT_NE(r.message().find("fused"), std::string::npos) << r.message();
    EXPECT_EQ(r.load_time_ms(), 0);  // refused before building
  }
}

// bf16/fp16 run where this libtorch's CPU kernels have them, and are a clear error where they do not.
TEST(JobRunner, ReducedPrecisionRunsOrIsAClearError) {
  for (auto [dtype, type, name] : {std::tuple{v1::DTYPE_BF16, torch::kBFloat16, "bf16"},
                                   std::tuple{v1::DTYPE_FP16, torch::kHalf, "fp16"}}) {
    SCOPED_TRACE(name);
    v1::JobSpec job = TinyJob("tiny-bert", 16);
    job.set_dtype(dtype);
    v1::Result r = RunJob(job);
    if (CpuRuns(type)) {
      ASSERT_EQ(r.outcome(), v1::OUTCOME_OK) << r.message();
      EXPECT_EQ(r.environment().dtype(), dtype);
      EXPECT_EQ(r.parameter_count(), 172'480);
    } else {
      EXPECT_EQ(r.outcome(), v1::OUTCOME_ERROR);
      EXPECT_NE(r.message().find(std::string("dtype ") + name + " is not supported"), std::string::npos)
          << r.message();
    }
  }
}

TEST(JobRunner, MeasuresTinyEncoder) {
  v1::Result r = RunJob(TinyJob("tiny-bert", 32));
  ASSERT_EQ(r.outcome(), v1::OUTCOME_OK) << r.message();
  // BERT formula V*d + P*d + T*d + 2d + L(12d^2+13d) + d^2+d with V=1000, P=64, T=2, L=2, d=64.
  EXPECT_EQ(r.parameter_count(), 172'480);
  EXPECT_GE(r.latency().count(), 5);
  EXPECT_EQ(r.samples_ms_size(), r.latency().count());
  EXPECT_EQ(r.warmup_iters(), 2);
  EXPECT_GT(r.latency().median_ms(), 0);
  EXPECT_LE(r.latency().min_ms(), r.latency().median_ms());
  EXPECT_LE(r.latency().median_ms(), r.latency().max_ms());
  EXPECT_NEAR(r.tokens_per_second(), 2 * 32 / (r.latency().median_ms() / 1000), 1e-6 * r.tokens_per_second());
  EXPECT_GT(r.load_time_ms(), 0);
  EXPECT_GT(r.memory().peak_rss_bytes(), r.memory().baseline_rss_bytes());
  EXPECT_GT(r.flops_per_forward(), 0);
  EXPECT_EQ(r.environment().threads(), 1);
  EXPECT_FALSE(r.environment().torch_version().empty());
}

TEST(JobRunner, ExceedsContextBeforeBuilding) {
  v1::Result r = RunJob(TinyJob("tiny-bert", 65));
  EXPECT_EQ(r.outcome(), v1::OUTCOME_EXCEEDS_CONTEXT);
  EXPECT_NE(r.message().find("position limit of 64"), std::string::npos);
  EXPECT_EQ(r.load_time_ms(), 0);  // nothing was built
  EXPECT_EQ(r.samples_ms_size(), 0);
}

TEST(JobRunner, ExtendContextRunsPastTheLimit) {
  v1::JobSpec job = TinyJob("tiny-bert", 80);
  job.set_extend_context(true);
  v1::Result r = RunJob(job);
  EXPECT_EQ(r.outcome(), v1::OUTCOME_OK) << r.message();
}

TEST(JobRunner, BadConfigIsError) {
  v1::JobSpec job = TinyJob("tiny-bert", 16);
  job.set_model_config_json("{\"id\": \"broken\"}");
  v1::Result r = RunJob(job);
  EXPECT_EQ(r.outcome(), v1::OUTCOME_ERROR);
  EXPECT_NE(r.message().find("arch: required field is missing"), std::string::npos) << r.message();
}

TEST(RunnerBinary, WritesResultFileAndExitsZero) {
  testing::TempDir dir;
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(TinyJob("tiny-gpt2", 16), &json).ok());
  std::ofstream(dir.File("job.json")) << json;
  ChildSpec spec;
  spec.program = testing::kRunnerBinary;
  spec.args = {"--job", dir.File("job.json"), "--result", dir.File("result.json")};
  auto exit = RunChild(spec, std::chrono::milliseconds(1000), nullptr);
  ASSERT_TRUE(exit.ok());
  ASSERT_TRUE(exit->exited) << exit->stderr_tail;
  EXPECT_EQ(exit->exit_code, kRunnerExitResultWritten) << exit->stderr_tail;
  std::ifstream in(dir.File("result.json"));
  std::stringstream text;
  text << in.rdbuf();
  v1::Result result;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(text.str(), &result).ok());
  EXPECT_EQ(result.outcome(), v1::OUTCOME_OK);
}

TEST(RunnerBinary, MalformedJobFileExitsBadJob) {
  testing::TempDir dir;
  std::ofstream(dir.File("job.json")) << "{\"seqLen\": \"many\"";
  ChildSpec spec;
  spec.program = testing::kRunnerBinary;
  spec.args = {"--job", dir.File("job.json"), "--result", dir.File("result.json")};
  auto exit = RunChild(spec, std::chrono::milliseconds(1000), nullptr);
  ASSERT_TRUE(exit.ok());
  EXPECT_EQ(exit->exit_code, kRunnerExitBadJob);
  EXPECT_NE(exit->stderr_tail.find("is not a JobSpec"), std::string::npos) << exit->stderr_tail;
  EXPECT_FALSE(std::filesystem::exists(dir.File("result.json")));
}

}  // namespace
}  // namespace tscale
