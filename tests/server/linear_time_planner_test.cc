// The planner and linear-time models (ModelConfig::linear_time: Mamba blocks, linear attention): the attention
// implementation axis changes nothing for them, so each runs the first implementation asked for, once, and the
// other implementations' cells are counted and named as skipped; transformers keep the whole axis.
#include <gtest/gtest.h>

#include <map>
#include <tuple>

#include "common/catalog.h"
#include "server/sweep_planner.h"
#include "support/test_paths.h"

namespace tscale {
namespace {

// Built here rather than read from the catalog, so the test says exactly what a linear-time config is.
constexpr char kMamba[] = R"({"id": "test/planner-mamba", "category": "Test", "arch": "decoder", "block": "mamba",
  "layers": 2, "hidden": 64, "heads": 0, "ffn": 0, "vocab": 1000, "position": "none", "norm": "rmsnorm",
  "norm_placement": "pre", "final_norm": true, "bias": false, "ssm_state": 4, "ssm_conv": 4, "ssm_expand": 2})";
constexpr char kLinearAttention[] = R"({"id": "test/planner-linear-attention", "category": "Test", "arch": "decoder",
  "attention_kind": "linear", "layers": 2, "hidden": 64, "heads": 4, "ffn": 256, "vocab": 1000,
  "position": "learned", "position_rows": 128, "max_input_tokens": 128, "norm": "layernorm",
  "norm_placement": "pre", "final_norm": true, "activation": "gelu_tanh"})";

class LinearTimePlannerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(catalog_.LoadDirectory(testing::kTestModelsDir).ok());
    for (const char* json : {kMamba, kLinearAttention}) {
      auto config = ParseModelConfig(json);
      ASSERT_TRUE(config.ok()) << config.status().ToString();
      ASSERT_TRUE(config->linear_time());
      ASSERT_TRUE(catalog_.Add(*config).ok());
    }
  }

  static v1::SweepSpec Spec(std::vector<std::string> models, std::vector<v1::AttentionImpl> attention) {
    v1::SweepSpec spec;
    for (const auto& m : models) spec.add_models(m);
    for (int n : {16, 32}) spec.add_seq_lengths(n);
    spec.add_workloads(v1::WORKLOAD_FORWARD);
    spec.add_workloads(v1::WORKLOAD_DECODE);
    for (auto a : attention) spec.add_attention(a);
    return spec;
  }

  // Jobs per (model, attention implementation).
  static std::map<std::pair<std::string, v1::AttentionImpl>, int> ByImpl(const std::vector<PlannedJob>& jobs) {
    std::map<std::pair<std::string, v1::AttentionImpl>, int> out;
    for (const auto& job : jobs) ++out[{job.spec.model_id(), job.spec.attention()}];
    return out;
  }

  Catalog catalog_;
};

TEST_F(LinearTimePlannerTest, ALinearTimeModelRunsTheFirstImplementationOnceAndTheOthersAreSkippedAndNamed) {
  const auto spec = Spec({"test/planner-mamba", "test/tiny-gpt2", "test/planner-linear-attention"},
                         {v1::ATTENTION_IMPL_EAGER, v1::ATTENTION_IMPL_MEMORY_EFFICIENT, v1::ATTENTION_IMPL_FUSED});
  SkippedCells skipped;
  auto jobs = PlanSweep(spec, catalog_, {}, &skipped);
  ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
  // GPT-2: 2 lengths x 2 workloads x 3 implementations; each linear-time model: 2 x 2 x 1.
  EXPECT_EQ(jobs->size(), 12u + 4 + 4);
  using Key = std::pair<std::string, v1::AttentionImpl>;
  EXPECT_EQ(ByImpl(*jobs), (std::map<Key, int>{{{"test/planner-mamba", v1::ATTENTION_IMPL_EAGER}, 4},
                                               {{"test/tiny-gpt2", v1::ATTENTION_IMPL_EAGER}, 4},
                                               {{"test/tiny-gpt2", v1::ATTENTION_IMPL_MEMORY_EFFICIENT}, 4},
                                               {{"test/tiny-gpt2", v1::ATTENTION_IMPL_FUSED}, 4},
                                               {{"test/planner-linear-attention", v1::ATTENTION_IMPL_EAGER}, 4}}));
  // Both workloads of a linear-time model still run: only the attention axis collapses.
  int mamba_decode = 0;
  for (const auto& job : *jobs)
    mamba_decode += job.spec.model_id() == "test/planner-mamba" && job.spec.workload() == v1::WORKLOAD_DECODE;
  EXPECT_EQ(mamba_decode, 2);
  // 2 x 2 x 2 cells of memory_efficient and fused per linear-time model, named in the order the models were.
  EXPECT_EQ(skipped.cells, 16);
  ASSERT_EQ(skipped.reasons.size(), 2u);
  EXPECT_EQ(skipped.reasons[0],
            "test/planner-mamba has no softmax attention: one cell for all attention implementations (eager runs; 8 "
            "cells of memory_efficient, fused skipped)");
  EXPECT_EQ(skipped.reasons[1].rfind("test/planner-linear-attention has no softmax attention", 0), 0u)
      << skipped.reasons[1];
}

TEST_F(LinearTimePlannerTest, TheFirstImplementationAskedForIsTheOneThatRuns) {
  auto jobs = PlanSweep(Spec({"test/planner-mamba"}, {v1::ATTENTION_IMPL_MEMORY_EFFICIENT, v1::ATTENTION_IMPL_EAGER}),
                        catalog_);
  ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
  ASSERT_EQ(jobs->size(), 4u);
  for (const auto& job : *jobs) EXPECT_EQ(job.spec.attention(), v1::ATTENTION_IMPL_MEMORY_EFFICIENT);
}

TEST_F(LinearTimePlannerTest, OneImplementationSkipsNothingAndATransformerKeepsTheAxis) {
  SkippedCells skipped;
  auto one =
      PlanSweep(Spec({"test/planner-mamba", "test/tiny-gpt2"}, {v1::ATTENTION_IMPL_FUSED}), catalog_, {}, &skipped);
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ(one->size(), 8u);
  EXPECT_EQ(skipped.cells, 0);
  EXPECT_TRUE(skipped.reasons.empty());
  // No attention axis at all: the default, eager, for both.
  auto none = PlanSweep(Spec({"test/planner-mamba"}, {}), catalog_, {}, &skipped);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->size(), 4u);
  EXPECT_EQ(skipped.cells, 0);
}

TEST_F(LinearTimePlannerTest, CellsAlreadySkippedForAnotherReasonAreNotCountedTwice) {
  // masked_lm does not fit a decoder: Mamba's train cells go for the loss (2 lengths x 2 implementations), and
  // the collapse counts only the forward cells that would have run (2 lengths x 1 other implementation).
  v1::SweepSpec spec = Spec({"test/planner-mamba"}, {v1::ATTENTION_IMPL_EAGER, v1::ATTENTION_IMPL_FUSED});
  spec.clear_workloads();
  spec.add_workloads(v1::WORKLOAD_FORWARD);
  spec.add_workloads(v1::WORKLOAD_TRAIN);
  spec.set_loss(v1::TRAIN_LOSS_MASKED_LM);
  SkippedCells skipped;
  auto jobs = PlanSweep(spec, catalog_, {}, &skipped);
  ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
  EXPECT_EQ(jobs->size(), 2u);
  EXPECT_EQ(skipped.cells, 4 + 2);
  ASSERT_EQ(skipped.reasons.size(), 2u);
  EXPECT_NE(skipped.reasons[0].find("x train: 4 cells skipped"), std::string::npos) << skipped.reasons[0];
  EXPECT_NE(skipped.reasons[1].find("(eager runs; 2 cells of fused skipped)"), std::string::npos) << skipped.reasons[1];
}

TEST_F(LinearTimePlannerTest, AWallSearchOfALinearTimeModelStartsOncePerCellNotPerImplementation) {
  v1::SweepSpec spec;
  spec.add_models("test/planner-mamba");
  spec.add_models("test/tiny-gpt2");
  spec.set_find_wall(true);
  spec.add_attention(v1::ATTENTION_IMPL_EAGER);
  spec.add_attention(v1::ATTENTION_IMPL_MEMORY_EFFICIENT);
  auto jobs = PlanSweep(spec, catalog_);
  ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
  using Key = std::pair<std::string, v1::AttentionImpl>;
  EXPECT_EQ(ByImpl(*jobs), (std::map<Key, int>{{{"test/planner-mamba", v1::ATTENTION_IMPL_EAGER}, 1},
                                               {{"test/tiny-gpt2", v1::ATTENTION_IMPL_EAGER}, 1},
                                               {{"test/tiny-gpt2", v1::ATTENTION_IMPL_MEMORY_EFFICIENT}, 1}}));
}

}  // namespace
}  // namespace tscale
