// The train workload through RunJob, as a worker's runner runs it: the step trains, its FLOPs are 3 (4 with
// checkpointing) times the forward's, the memory breakdown's parts are the tensors' sizes and add up against what
// the RSS measured, checkpointing saves activation memory, bf16 trains in mixed precision, and what cannot be
// trained is a clear error.
#include <gtest/gtest.h>

#include <cmath>

#include "common/model_config.h"
#include "common/training_analytics.h"
#include "runner/job_runner.h"
#include "support/runner_jobs.h"

namespace tscale {
namespace {

using testing::ShrunkJob;

v1::JobSpec Train(v1::JobSpec job, v1::Checkpointing checkpointing = v1::CHECKPOINTING_NONE) {
  job.set_workload(v1::WORKLOAD_TRAIN);
  job.set_checkpointing(checkpointing);
  job.set_batch_size(1);
  job.mutable_measurement()->set_min_iters(3);
  job.mutable_measurement()->set_warmup_iters(1);
  job.mutable_measurement()->set_min_time_s(0);
  return job;
}

ModelConfig ConfigOf(const v1::JobSpec& job) {
  auto config = ParseModelConfig(job.model_config_json());
  EXPECT_TRUE(config.ok());
  return config.ok() ? *config : ModelConfig{};
}

// A GPT-2 shape big enough that its state (about 40 MB) and activations stand out of the RSS noise.
v1::JobSpec MediumGpt2(int seq_len, v1::Checkpointing checkpointing = v1::CHECKPOINTING_NONE) {
  v1::JobSpec job = Train(ShrunkJob("openai-community/gpt2", seq_len), checkpointing);
  ModelConfig c = ConfigOf(job);
  c.hidden = 256;
  c.heads = 4;
  c.ffn = 1024;
  c.layers = 4;
  c.vocab = 8000;
  job.set_model_config_json(ModelConfigToJson(c));
  return job;
}

TEST(TrainJob, TrainsAndCountsItsWork) {
  for (const char* model : {"openai-community/gpt2", "google-bert/bert-base-uncased", "facebook/bart-base"}) {
    SCOPED_TRACE(model);
    const v1::JobSpec job = Train(ShrunkJob(model, 16));
    const v1::Result r = RunJob(job);
    ASSERT_EQ(r.outcome(), v1::OUTCOME_OK) << r.message();
    const auto& t = r.train();
    const ModelConfig c = ConfigOf(job);
    EXPECT_EQ(t.losses_size(), r.warmup_iters() + r.samples_ms_size());
    for (double loss : t.losses()) EXPECT_TRUE(std::isfinite(loss) && loss > 0) << loss;
    TrainShape shape;
    shape.seq_len = 16;
    EXPECT_DOUBLE_EQ(r.flops_per_forward(), TrainStepFlops(c, shape));
    EXPECT_DOUBLE_EQ(r.flops_per_forward(), 3 * TrainForwardFlops(c, shape));
    EXPECT_NEAR(r.tokens_per_second(), 16 / (r.latency().median_ms() / 1000), 1e-6);
    EXPECT_EQ(t.trainable_parameter_count(), TrainableParameterCount(c));
    EXPECT_EQ(t.parameter_bytes(), 4 * t.trainable_parameter_count());
    EXPECT_EQ(t.gradient_bytes(), t.parameter_bytes());
    EXPECT_EQ(t.optimizer_state_bytes(), 2 * t.parameter_bytes());  // exp_avg and exp_avg_sq
    EXPECT_GT(t.attention_flops_share(), 0);
    EXPECT_GT(t.torchtitan_flops_per_step(), 0);
    EXPECT_GT(r.peak_flops_fraction(), 0);
  }
}

// The parts are computed from the tensors; the RSS is measured. After AdamW's state is allocated the RSS grew by
// the state's bytes (within 10 % + 8 MiB: allocator slack and libtorch's own growth), and the activations are what
// the peak holds beyond it, which the analytic count predicts within a factor of 2.
TEST(TrainJob, TheMemoryBreakdownAddsUpToTheMeasuredPeak) {
  const v1::JobSpec job = MediumGpt2(512);
  const v1::Result r = RunJob(job);
  ASSERT_EQ(r.outcome(), v1::OUTCOME_OK) << r.message();
  const auto& t = r.train();
  const double state = static_cast<double>(t.parameter_bytes() + t.gradient_bytes() + t.optimizer_state_bytes());
  EXPECT_NEAR(static_cast<double>(t.measured_state_bytes()), state, 0.10 * state + 8.0 * (1 << 20))
      << "measured " << t.measured_state_bytes() << " computed " << state;
  const double peak = static_cast<double>(r.memory().peak_rss_bytes() - r.memory().baseline_rss_bytes());
  EXPECT_GE(peak, static_cast<double>(t.measured_state_bytes()));  // the state is held through every step
  EXPECT_GT(t.activation_bytes(), 0);
  const double ratio = static_cast<double>(t.activation_bytes()) / t.analytic_activation_bytes();
  EXPECT_GT(ratio, 0.5) << t.activation_bytes() << " vs analytic " << t.analytic_activation_bytes();
  EXPECT_LT(ratio, 2.0) << t.activation_bytes() << " vs analytic " << t.analytic_activation_bytes();
}

TEST(TrainJob, CheckpointingSavesActivationMemoryForASecondForwardOfTheBlocks) {
  const v1::Result plain = RunJob(MediumGpt2(512));
  const v1::Result kept = RunJob(MediumGpt2(512, v1::CHECKPOINTING_LAYERS));
  ASSERT_EQ(plain.outcome(), v1::OUTCOME_OK) << plain.message();
  ASSERT_EQ(kept.outcome(), v1::OUTCOME_OK) << kept.message();
  EXPECT_EQ(kept.train().checkpointing(), v1::CHECKPOINTING_LAYERS);
  EXPECT_DOUBLE_EQ(kept.flops_per_forward(),
                   plain.flops_per_forward() + ForwardFlops(ConfigOf(MediumGpt2(512)), 1, 512));
  EXPECT_LT(kept.train().analytic_activation_bytes(), plain.train().analytic_activation_bytes());
  EXPECT_LT(kept.train().activation_bytes(), plain.train().activation_bytes())
      << "checkpointed " << kept.train().activation_bytes() << " plain " << plain.train().activation_bytes();
}

TEST(TrainJob, Bf16TrainsInMixedPrecisionOverFp32State) {
  v1::JobSpec job = Train(ShrunkJob("openai-community/gpt2", 16));
  const v1::Result fp32 = RunJob(job);
  job.set_dtype(v1::DTYPE_BF16);
  const v1::Result r = RunJob(job);
  ASSERT_EQ(r.outcome(), v1::OUTCOME_OK) << r.message();
  ASSERT_EQ(fp32.outcome(), v1::OUTCOME_OK) << fp32.message();
  // The same weights, batch and dropout draws: only bf16 products (autocast really on) change the first loss.
  EXPECT_NE(r.train().losses(0), fp32.train().losses(0));
  EXPECT_NEAR(r.train().losses(0), fp32.train().losses(0), 0.05);
  EXPECT_EQ(r.environment().dtype(), v1::DTYPE_BF16);
  EXPECT_TRUE(r.train().mixed_precision());
  EXPECT_EQ(r.train().parameter_bytes(), 4 * r.train().trainable_parameter_count());  // fp32 master weights
  for (double loss : r.train().losses()) EXPECT_TRUE(std::isfinite(loss)) << loss;
}

TEST(TrainJob, WhatCannotBeTrainedIsAClearError) {
  v1::JobSpec fp16 = Train(ShrunkJob("openai-community/gpt2", 16));
  fp16.set_dtype(v1::DTYPE_FP16);
  v1::JobSpec memory_efficient = Train(ShrunkJob("openai-community/gpt2", 16));
  memory_efficient.set_attention(v1::ATTENTION_IMPL_MEMORY_EFFICIENT);
  v1::JobSpec wrong_loss = Train(ShrunkJob("google-bert/bert-base-uncased", 16));
  wrong_loss.set_loss(v1::TRAIN_LOSS_NEXT_TOKEN);
  for (const auto& [job, expected] : {std::pair{fp16, "training in fp16 needs loss scaling"},
                                      {memory_efficient, "attention memory_efficient: has no backward pass"},
                                      {wrong_loss, "loss: next_token does not fit"}}) {
    SCOPED_TRACE(expected);
    const v1::Result r = RunJob(job);
    EXPECT_EQ(r.outcome(), v1::OUTCOME_ERROR);
    EXPECT_NE(r.message().find(expected), std::string::npos) << r.message();
    EXPECT_EQ(r.samples_ms_size(), 0);
  }
}

}  // namespace
}  // namespace tscale
