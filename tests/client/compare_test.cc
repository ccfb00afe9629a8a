// compare's cell logic on hand-made rows: matching, verdicts, outcome, wall and memory changes, one-sided
// cells, the environment summary, and what --fail-on-regression reads.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "client/compare/compare.h"
#include "client/compare/compare_render.h"

namespace tscale::compare {
namespace {

report::Row Job(const std::string& model, int length, v1::Outcome outcome = v1::OUTCOME_OK) {
  report::Row r;
  r.model_id = model;
  r.seq_len = length;
  r.outcome = outcome;
  r.variant = "fp32/eager";
  r.environment.hostname = "host-a";
  r.environment.torch_version = "1.13.1";
  r.environment.threads = 1;
  r.environment.cpu_cores = 2;
  return r;
}

// An ok job whose samples are `n` draws around `median` with 2 % noise.
report::Row Timed(const std::string& model, int length, double median, int n, uint64_t seed) {
  report::Row r = Job(model, length);
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0, 0.02);
  for (int i = 0; i < n; ++i) r.samples_ms.push_back(median * std::exp(noise(rng)));
  r.median_ms = Median(r.samples_ms);
  r.peak_rss_bytes = 1000 << 20;
  return r;
}

const CellComparison* Find(const Comparison& c, const std::string& model, int length) {
  for (const auto& cell : c.cells)
    if (cell.key.model_id == model && cell.key.seq_len == length) return &cell;
  return nullptr;
}

TEST(Compare, NamesTheSlowerAndTheFasterCellsAndNothingElse) {
  std::vector<report::Row> base = {Timed("a", 256, 10, 20, 1), Timed("b", 256, 10, 20, 2), Timed("c", 256, 10, 20, 3)};
  std::vector<report::Row> head = {Timed("a", 256, 11, 20, 4), Timed("b", 256, 9, 20, 5), Timed("c", 256, 10, 20, 6)};
  const Comparison c = Compare(base, head, Options());
  ASSERT_EQ(c.cells.size(), 3u);
  EXPECT_EQ(Find(c, "a", 256)->speed.verdict, Verdict::kSlower);
  EXPECT_EQ(Find(c, "b", 256)->speed.verdict, Verdict::kFaster);
  EXPECT_EQ(Find(c, "c", 256)->speed.verdict, Verdict::kNoChange);
  const Speed& slower = Find(c, "a", 256)->speed;
  EXPECT_NEAR(slower.ratio, 1.1, 0.03);
  EXPECT_LT(slower.ci.low, slower.ratio);
  EXPECT_GT(slower.ci.high, slower.ratio);
  EXPECT_GT(slower.ci.low, 1.0);  // 20 samples of 2 % noise pin a 10 % change well away from 1
  EXPECT_LT(slower.p_value, 1e-6);
  EXPECT_TRUE(c.HasRegression());
  // Without the slower cell, a faster one is no regression.
  base.erase(base.begin());
  head.erase(head.begin());
  EXPECT_FALSE(Compare(base, head, Options()).HasRegression());
}

TEST(Compare, ASignificantChangeInsideTheThresholdIsNoChange) {
  const Comparison c = Compare({Timed("a", 256, 10, 40, 1)}, {Timed("a", 256, 10.3, 40, 2)}, Options());
  EXPECT_LT(c.cells[0].speed.p_value, 0.05);
  EXPECT_EQ(c.cells[0].speed.verdict, Verdict::kNoChange);
  Options strict;
  strict.threshold = 0.01;
  EXPECT_EQ(Compare({Timed("a", 256, 10, 40, 1)}, {Timed("a", 256, 10.3, 40, 2)}, strict).cells[0].speed.verdict,
            Verdict::kSlower);
}

TEST(Compare, TooFewSamplesIsSaidNotGuessed) {
  // Three samples a side: the exact test's smallest p-value is 0.1, above alpha, however far apart they are.
  const Comparison c = Compare({Timed("a", 256, 10, 3, 1)}, {Timed("a", 256, 20, 3, 2)}, Options());
  EXPECT_EQ(c.cells[0].speed.verdict, Verdict::kTooFewSamples);
  EXPECT_NEAR(c.cells[0].speed.ratio, 2, 0.1);
  EXPECT_FALSE(c.HasRegression());
  // Four a side can reach 0.029 < 0.05.
  EXPECT_EQ(Compare({Timed("a", 256, 10, 4, 1)}, {Timed("a", 256, 20, 4, 2)}, Options()).cells[0].speed.verdict,
            Verdict::kSlower);
}

TEST(Compare, TheSampleCountEdgeWhereTheTestCanFirstDecide) {
  // 1 + 39 samples: the smallest attainable p-value is 2/40 = alpha exactly, and a verdict needs p < alpha.
  EXPECT_EQ(Compare({Timed("a", 256, 10, 1, 1)}, {Timed("a", 256, 20, 39, 2)}, Options()).cells[0].speed.verdict,
            Verdict::kTooFewSamples);
  EXPECT_EQ(Compare({Timed("a", 256, 10, 1, 1)}, {Timed("a", 256, 20, 40, 2)}, Options()).cells[0].speed.verdict,
            Verdict::kSlower);
}

// The verdict itself (not the test alone) over seeded draws of known distributions: lognormal latencies with
// 5 % noise, 20 samples a side.
TEST(Compare, VerdictRatesOnKnownDistributions) {
  Options o;
  o.bootstrap_resamples = 200;  // the verdict does not read the interval; keep the loop quick
  std::mt19937_64 rng(17);
  std::normal_distribution<double> noise(0, 0.05);
  auto draw = [&](double median) {
    report::Row r = Job("a", 256);
    for (int i = 0; i < 20; ++i) r.samples_ms.push_back(median * std::exp(noise(rng)));
    return r;
  };
  const int draws = 400;
  int slower = 0, flagged = 0;
  for (int d = 0; d < draws; ++d) {
    slower += Compare({draw(10)}, {draw(11)}, o).cells[0].speed.verdict == Verdict::kSlower;
    const Verdict same = Compare({draw(10)}, {draw(10)}, o).cells[0].speed.verdict;
    flagged += same == Verdict::kSlower || same == Verdict::kFaster;
  }
  std::printf("10%% slowdown called slower: %.3f; identical called faster or slower: %.4f (%d draws)\n",
              static_cast<double>(slower) / draws, static_cast<double>(flagged) / draws, draws);
  EXPECT_GE(slower, draws * 95 / 100);
  EXPECT_LE(flagged, draws * 5 / 100);  // the test alone flags about alpha; the threshold removes most of those
}

TEST(Compare, OkToInvalidIsAValidityChangeNotSilence) {
  report::Row invalid = Timed("a", 256, 10, 10, 2);
  invalid.outcome = v1::OUTCOME_INVALID;
  const Comparison c = Compare({Timed("a", 256, 10, 10, 1)}, {invalid}, Options());
  EXPECT_EQ(c.cells[0].outcome_change, OutcomeChange::kValidity);
  EXPECT_EQ(c.cells[0].speed.verdict, Verdict::kNotComparable);
  EXPECT_FALSE(c.HasRegression());  // it still ran
}

TEST(Compare, ASweepThatWentFurtherHasNotMovedItsWall) {
  std::vector<report::Row> base, head;
  for (int length : {512, 1024, 2048, 4096}) base.push_back(Timed("a", length, length / 50.0, 5, length));
  for (int length : {512, 1024}) head.push_back(Timed("a", length, length / 50.0, 5, length + 1));
  const Comparison c = Compare(base, head, Options());
  EXPECT_TRUE(c.walls.empty());
  EXPECT_EQ(c.base_only.size(), 2u);
}

TEST(Compare, RowsWithoutSamplesAreTestedOnTheirJobsMedians) {
  report::Row base = Job("a", 256), head = Job("a", 256);
  base.median_ms = 10;
  head.median_ms = 12;
  const Comparison c = Compare({base}, {head}, Options());
  EXPECT_EQ(c.cells[0].speed.base_samples, 1);
  EXPECT_DOUBLE_EQ(c.cells[0].speed.ratio, 1.2);
  EXPECT_EQ(c.cells[0].speed.verdict, Verdict::kTooFewSamples);
}

TEST(Compare, RepetitionsArePooledAndMeasurementSettingsDoNotSplitCells) {
  report::Row base1 = Timed("a", 512, 10, 10, 1), base2 = Timed("a", 512, 10, 10, 2);
  base2.repetition = 1;
  report::Row head = Timed("a", 512, 10, 10, 3);
  head.environment.threads = 2;
  const Comparison c = Compare({base1, base2}, {head}, Options());
  ASSERT_EQ(c.cells.size(), 1u);
  EXPECT_EQ(c.cells[0].base.jobs, 2);
  EXPECT_EQ(c.cells[0].speed.base_samples, 20);
  EXPECT_EQ(c.cells[0].speed.head_samples, 10);
}

TEST(Compare, OtherAxesSplitCellsAndUnmatchedCellsAreListedPerSide) {
  report::Row bf16 = Timed("a", 256, 10, 10, 1);
  bf16.variant = "bf16/eager";
  report::Row decode = Timed("a", 256, 10, 10, 2);
  decode.workload = v1::WORKLOAD_DECODE;
  decode.new_tokens = 16;
  const Comparison c = Compare({Timed("a", 256, 10, 10, 3), bf16}, {Timed("a", 256, 10, 10, 4), decode}, Options());
  ASSERT_EQ(c.cells.size(), 1u);
  ASSERT_EQ(c.base_only.size(), 1u);
  EXPECT_EQ(c.base_only[0].variant, "bf16/eager");
  ASSERT_EQ(c.head_only.size(), 1u);
  EXPECT_EQ(CellName(c.head_only[0]), "a decode 256 b1 fp32/eager new=16");
}

TEST(Compare, OutcomeChangesAreClassified) {
  report::Row oom = Job("a", 1024, v1::OUTCOME_OOM), timeout = Job("b", 1024, v1::OUTCOME_TIMEOUT);
  report::Row context = Job("c", 2048, v1::OUTCOME_EXCEEDS_CONTEXT);
  context.context_limit = 1024;
  report::Row extended = Timed("c", 2048, 10, 10, 9);
  extended.extend_context = true;
  extended.context_limit = 1024;
  report::Row cancelled = Job("d", 1024, v1::OUTCOME_CANCELLED);
  const Comparison c = Compare({Timed("a", 1024, 10, 10, 1), context, Timed("d", 1024, 10, 10, 2)},
                               {oom, timeout, extended, cancelled}, Options());
  // b is on head only; a, c, d are matched.
  EXPECT_EQ(Find(c, "a", 1024)->outcome_change, OutcomeChange::kRegressed);
  EXPECT_EQ(Find(c, "a", 1024)->speed.verdict, Verdict::kNotComparable);
  EXPECT_EQ(Find(c, "c", 2048)->outcome_change, OutcomeChange::kFixed);
  EXPECT_EQ(Find(c, "c", 2048)->setting_change, "--extend-context on head only");
  EXPECT_EQ(Find(c, "d", 1024)->outcome_change, OutcomeChange::kUnknown);  // cancelled says nothing
  EXPECT_TRUE(c.HasRegression());

  const Comparison causes = Compare({oom}, {Job("a", 1024, v1::OUTCOME_TIMEOUT)}, Options());
  EXPECT_EQ(causes.cells[0].outcome_change, OutcomeChange::kCauseChanged);
  EXPECT_FALSE(causes.HasRegression());  // it failed before too
  report::Row longer = context;
  longer.context_limit = 4096;
  longer.outcome = v1::OUTCOME_OK;
  EXPECT_EQ(Compare({context}, {longer}, Options()).cells[0].setting_change, "context limit 1024 -> 4096");
}

TEST(Compare, WallChangesAreListedPerSeries) {
  std::vector<report::Row> base = {Timed("a", 512, 10, 5, 1), Timed("a", 1024, 20, 5, 2),
                                   Job("a", 2048, v1::OUTCOME_OOM), Timed("b", 512, 10, 5, 3),
                                   Job("b", 1024, v1::OUTCOME_OOM)};
  std::vector<report::Row> head = {Timed("a", 512, 10, 5, 4),  Timed("a", 1024, 20, 5, 5),
                                   Timed("a", 2048, 40, 5, 6), Job("a", 4096, v1::OUTCOME_TIMEOUT),
                                   Timed("b", 512, 10, 5, 7),  Job("b", 1024, v1::OUTCOME_OOM)};
  const Comparison c = Compare(base, head, Options());
  ASSERT_EQ(c.walls.size(), 1u);  // b's wall is where it was
  const WallChange& w = c.walls[0];
  EXPECT_EQ(w.series.model_id, "a");
  EXPECT_EQ(w.base.max_working, 1024);
  EXPECT_EQ(w.base.first_failing, 2048);
  EXPECT_EQ(w.base.cause, v1::OUTCOME_OOM);
  EXPECT_EQ(w.head.max_working, 2048);
  EXPECT_EQ(w.head.first_failing, 4096);
  EXPECT_EQ(w.head.cause, v1::OUTCOME_TIMEOUT);
  EXPECT_EQ(c.head_only.size(), 1u);  // a at 4096
}

TEST(Compare, PeakMemoryChangesBeyondTheThreshold) {
  report::Row base = Timed("a", 256, 10, 10, 1), grew = Timed("a", 256, 10, 10, 2);
  grew.peak_rss_bytes = base.peak_rss_bytes / 100 * 120;
  report::Row same = Timed("a", 256, 10, 10, 3);
  same.peak_rss_bytes = base.peak_rss_bytes / 100 * 105;
  const Comparison c = Compare({base}, {grew}, Options());
  EXPECT_NEAR(c.cells[0].memory_ratio, 1.2, 1e-6);
  EXPECT_TRUE(c.cells[0].memory_changed);
  EXPECT_FALSE(Compare({base}, {same}, Options()).cells[0].memory_changed);
}

TEST(Compare, TheEnvironmentsDifferencesComeFirst) {
  report::Row base = Timed("a", 256, 10, 10, 1), head = Timed("a", 256, 10, 10, 2);
  head.environment.threads = 2;
  const Comparison c = Compare({base}, {head}, Options());
  ASSERT_FALSE(c.environment.empty());
  EXPECT_EQ(c.environment[0].name, "threads");
  EXPECT_TRUE(c.environment[0].differs);
  EXPECT_EQ(c.environment[0].base, std::vector<std::string>{"1"});
  EXPECT_EQ(c.environment[0].head, std::vector<std::string>{"2"});
  for (size_t i = 1; i < c.environment.size(); ++i) EXPECT_FALSE(c.environment[i].differs) << c.environment[i].name;
  const auto host = std::find_if(c.environment.begin(), c.environment.end(),
                                 [](const EnvironmentField& f) { return f.name == "host"; });
  ASSERT_NE(host, c.environment.end());
  EXPECT_EQ(host->base, std::vector<std::string>{"host-a"});
}

TEST(Compare, IntervalsDoNotDependOnWhichOtherCellsAreCompared) {
  const std::vector<report::Row> base = {Timed("a", 256, 10, 20, 1), Timed("b", 256, 10, 20, 2)};
  const std::vector<report::Row> head = {Timed("a", 256, 11, 20, 3), Timed("b", 256, 10, 20, 4)};
  const Comparison both = Compare(base, head, Options());
  const Comparison one = Compare({base[1]}, {head[1]}, Options());
  EXPECT_EQ(Find(both, "b", 256)->speed.ci.low, one.cells[0].speed.ci.low);
  EXPECT_EQ(Find(both, "b", 256)->speed.ci.high, one.cells[0].speed.ci.high);
}

TEST(Compare, DecodeCellsSayWhetherTheFirstTokenOrTheStepsMoved) {
  auto decode = [](double ttft, double tpot, uint64_t seed) {
    report::Row r = Timed("a", 256, ttft + 15 * tpot, 10, seed);
    r.workload = v1::WORKLOAD_DECODE;
    r.new_tokens = 16;
    r.ttft_ms = ttft;
    r.tpot_ms = tpot;
    return r;
  };
  report::Row base2 = decode(12, 2, 2);
  base2.repetition = 1;
  const Comparison c = Compare({decode(10, 2, 1), base2}, {decode(10, 3, 3)}, Options());
  ASSERT_EQ(c.cells.size(), 1u);
  EXPECT_DOUBLE_EQ(c.cells[0].base.ttft_ms, 11);  // the median of the two jobs' 10 and 12
  EXPECT_DOUBLE_EQ(c.cells[0].base.tpot_ms, 2);
  EXPECT_DOUBLE_EQ(c.cells[0].head.tpot_ms, 3);
  const std::string text = RenderCompareText(c);
  const size_t decode_table = text.find("Decode: time to first token");
  ASSERT_NE(decode_table, std::string::npos) << text;
  EXPECT_NE(text.find("1.500", decode_table), std::string::npos) << text;  // TPOT 2 -> 3 ms
  // A forward-only comparison has no such table.
  EXPECT_EQ(
      RenderCompareText(Compare({Timed("a", 256, 10, 10, 1)}, {Timed("a", 256, 10, 10, 2)}, Options())).find("Decode:"),
      std::string::npos);
}

TEST(Compare, OptionsOutOfRangeAreNamed) {
  Options o;
  EXPECT_TRUE(ValidateOptions(o).ok());
  o.threshold = 5;  // 5 meant as percent
  EXPECT_NE(ValidateOptions(o).message().find("--threshold"), std::string::npos);
  o = Options();
  o.alpha = 0;
  EXPECT_NE(ValidateOptions(o).message().find("--alpha"), std::string::npos);
  o = Options();
  o.bootstrap_resamples = 10;
  EXPECT_NE(ValidateOptions(o).message().find("--resamples"), std::string::npos);
}

}  // namespace
}  // namespace tscale::compare
