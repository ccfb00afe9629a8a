#include "server/sweep_planner.h"

#include <gtest/gtest.h>

#include "support/test_paths.h"

namespace tscale {
namespace {

class SweepPlannerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(catalog_.LoadDirectory(testing::kTestModelsDir).ok()); }

  v1::SweepSpec Valid() {
    v1::SweepSpec spec;
    spec.add_models("tiny-bert");
    spec.add_models("test/tiny-gpt2");
    spec.add_seq_lengths(16);
    spec.add_seq_lengths(32);
    return spec;
  }
  Catalog catalog_;
};

TEST_F(SweepPlannerTest, ExpandsCrossProductWithDefaults) {
  v1::SweepSpec spec = Valid();
  spec.add_batch_sizes(1);
  spec.add_batch_sizes(4);
  spec.set_repetitions(2);
  auto jobs = PlanSweep(spec, catalog_);
  ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
  ASSERT_EQ(jobs->size(), 2u * 2 * 2 * 2);
  const auto& first = (*jobs)[0];
  EXPECT_EQ(first.spec.model_id(), "test/tiny-bert");  // alias resolved to the canonical id
  EXPECT_EQ(first.category, "Test");
  EXPECT_EQ(first.spec.dtype(), v1::DTYPE_FP32);
  EXPECT_EQ(first.spec.attention(), v1::ATTENTION_IMPL_EAGER);
  EXPECT_EQ(first.spec.measurement().warmup_iters(), DefaultMeasurement().warmup_iters());
  EXPECT_EQ(first.spec.measurement().min_iters(), DefaultMeasurement().min_iters());
  EXPECT_FALSE(first.spec.model_config_json().empty());
}

TEST_F(SweepPlannerTest, DuplicateModelNamesCountOnce) {
  v1::SweepSpec spec = Valid();
  spec.add_models("test/tiny-bert");  // same model as the alias "tiny-bert"
  auto jobs = PlanSweep(spec, catalog_);
  ASSERT_TRUE(jobs.ok());
  EXPECT_EQ(jobs->size(), 4u);
}

TEST_F(SweepPlannerTest, BadInputNamesTheField) {
  struct Case {
    std::function<void(v1::SweepSpec*)> mutate;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {[](v1::SweepSpec* s) { s->clear_models(); }, "spec.models: at least one model"},
      {[](v1::SweepSpec* s) { s->add_models("gpt-17"); }, "spec.models[2]: unknown model \"gpt-17\""},
      {[](v1::SweepSpec* s) { s->clear_seq_lengths(); }, "spec.seq_lengths: at least one"},
      {[](v1::SweepSpec* s) { s->add_seq_lengths(0); }, "spec.seq_lengths[2]: 0 is not in"},
      {[](v1::SweepSpec* s) { s->add_seq_lengths(-5); }, "spec.seq_lengths[2]: -5 is not in"},
      {[](v1::SweepSpec* s) { s->add_seq_lengths(1 << 30); }, "spec.seq_lengths[2]"},
      {[](v1::SweepSpec* s) { s->add_batch_sizes(0); }, "spec.batch_sizes[0]"},
      {[](v1::SweepSpec* s) { s->add_batch_sizes(100000); }, "spec.batch_sizes[0]"},
      {[](v1::SweepSpec* s) { s->set_repetitions(-1); }, "spec.repetitions"},
      {[](v1::SweepSpec* s) { s->add_dtypes(static_cast<v1::DType>(42)); }, "spec.dtypes[0]"},
      {[](v1::SweepSpec* s) { s->mutable_measurement()->set_min_time_s(-1); }, "spec.measurement.min_time_s"},
      {[](v1::SweepSpec* s) { s->mutable_measurement()->set_threads(5000); }, "spec.measurement.threads"},
      {[](v1::SweepSpec* s) {
         s->mutable_measurement()->set_min_iters(10);
         s->mutable_measurement()->set_max_iters(5);
       },
       "spec.measurement.max_iters: must be >= min_iters"},
      {[](v1::SweepSpec* s) { s->set_find_wall(true); }, "spec.seq_lengths: not used with find_wall"},
      {[](v1::SweepSpec* s) { s->mutable_wall()->set_resolution(8); }, "spec.wall: only used with find_wall"},
      {[](v1::SweepSpec* s) {
         s->clear_seq_lengths();
         s->set_find_wall(true);
         s->mutable_wall()->set_start_length(4096);
         s->mutable_wall()->set_max_length(1024);
       },
       "spec.wall.start_length: 4096 is not in 1..1024"},
      {[](v1::SweepSpec* s) {
         s->clear_seq_lengths();
         s->set_find_wall(true);
         s->mutable_wall()->set_resolution(-3);
       },
       "spec.wall.resolution"},
      {[](v1::SweepSpec* s) {
         s->clear_seq_lengths();
         s->set_find_wall(true);
         s->mutable_wall()->set_max_length(1 << 30);
       },
       "spec.wall.max_length"},
      {[](v1::SweepSpec* s) {
         for (int i = 0; i < 990; ++i) s->add_seq_lengths(1 + i);  // 992 lengths x 2 models x 100
         s->set_repetitions(100);
       },
       "spec: models (2) x seq_lengths (992) x repetitions (100) = 198400 jobs exceeds the limit of 100000"},
      {[](v1::SweepSpec* s) { s->mutable_measurement()->set_max_time_s(1e300); }, "spec.measurement.max_time_s"},
      {[](v1::SweepSpec* s) { s->mutable_measurement()->set_max_cv(-2); }, "spec.measurement.max_cv"},
      {[](v1::SweepSpec* s) {
         s->mutable_measurement()->set_min_time_s(20);
         s->mutable_measurement()->set_timeout_s(20);
       },
       "spec.measurement.timeout_s: 20 s must be longer than warmup_min_s + min_time_s (20 s)"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].expected);
    v1::SweepSpec spec = Valid();
    cases[i].mutate(&spec);
    auto jobs = PlanSweep(spec, catalog_);
    ASSERT_FALSE(jobs.ok());
    EXPECT_EQ(jobs.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(jobs.status().message().find(cases[i].expected), std::string::npos) << jobs.status().message();
  }
}

TEST_F(SweepPlannerTest, AWallSearchStartsOneProbePerCellWithResolvedSettings) {
  v1::SweepSpec spec = Valid();
  spec.clear_seq_lengths();
  spec.set_find_wall(true);
  spec.set_repetitions(2);
  spec.mutable_wall()->set_resolution(32);
  auto jobs = PlanSweep(spec, catalog_);
  ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
  ASSERT_EQ(jobs->size(), 4u);  // 2 models x 2 repetitions, each at the start length
  for (const auto& job : *jobs) {
    EXPECT_EQ(job.spec.seq_len(), 128);
    EXPECT_EQ(job.spec.wall().start_length(), 128);
    EXPECT_EQ(job.spec.wall().max_length(), PlannerLimits().max_seq_len);
    EXPECT_EQ(job.spec.wall().resolution(), 32);
  }
  // A plain sweep's jobs carry no wall settings.
  auto plain = PlanSweep(Valid(), catalog_);
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE((*plain)[0].spec.has_wall());
}

TEST_F(SweepPlannerTest, TheSweepSizeErrorNamesEveryAxisThatMultiplies) {
  v1::SweepSpec spec = Valid();  // 2 models x 2 lengths
  spec.set_repetitions(5);
  spec.add_batch_sizes(1);
  spec.add_batch_sizes(2);
  PlannerLimits limits;
  limits.max_jobs = 39;
  auto jobs = PlanSweep(spec, catalog_, limits);
  ASSERT_FALSE(jobs.ok());
  EXPECT_EQ(jobs.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(jobs.status().message(),
            "spec: models (2) x seq_lengths (2) x batch_sizes (2) x repetitions (5) = 40 jobs exceeds the limit of 39 "
            "jobs per sweep");
  limits.max_jobs = 40;
  EXPECT_TRUE(PlanSweep(spec, catalog_, limits).ok());
}

TEST_F(SweepPlannerTest, MaxCvZeroIsTheServerDefaultAndMinusOneIsOff) {
  PlannerLimits limits;
  limits.default_max_cv = 0.25;
  auto resolved = [&](double sweep_max_cv, const PlannerLimits& l) {
    v1::SweepSpec spec = Valid();
    spec.mutable_measurement()->set_max_cv(sweep_max_cv);
    auto jobs = PlanSweep(spec, catalog_, l);
    EXPECT_TRUE(jobs.ok()) << jobs.status().ToString();
    return jobs.ok() ? (*jobs)[0].spec.measurement().max_cv() : 0.0;
  };
  EXPECT_EQ(resolved(0, limits), 0.25);
  EXPECT_EQ(resolved(0.5, limits), 0.5);
  EXPECT_EQ(resolved(-1, limits), -1);  // the sweep turns the check off although the server has one
  limits.default_max_cv = 0;            // tscale-server --max-cv 0: no check by default
  EXPECT_EQ(resolved(0, limits), -1);   // jobs say "off" one way only
  EXPECT_EQ(resolved(0.3, limits), 0.3);
}

}  // namespace
}  // namespace tscale
