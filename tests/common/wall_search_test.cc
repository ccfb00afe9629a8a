// The wall finder's search, driven against simulated models whose wall is known, and its prediction.
#include "common/wall_search.h"

#include <gtest/gtest.h>

#include <functional>
#include <set>

namespace tscale::wall {
namespace {

// Runs a whole search against `outcome_at` (the model), as the coordinator would: one probe at a time.
std::vector<Probe> Search(const Settings& s, const std::function<v1::Outcome(int)>& outcome_at, int limit = 100) {
  std::vector<Probe> probes;
  for (int i = 0; i < limit; ++i) {
    const Step step = NextProbe(probes, s);
    if (step.kind != StepKind::kProbe) break;
    Probe p;
    p.seq_len = step.seq_len;
    p.finished = true;
    p.outcome = outcome_at(step.seq_len);
    p.peak_rss_bytes = p.outcome == v1::OUTCOME_OK ? int64_t{step.seq_len} << 20 : 0;
    probes.push_back(p);
  }
  return probes;
}

TEST(WallSearch, GrowsThenBisectsToTheResolution) {
  const Settings s{128, 65536, 64};
  auto probes = Search(s, [](int len) { return len <= 3000 ? v1::OUTCOME_OK : v1::OUTCOME_OOM; });
  std::vector<int> lengths;
  for (const auto& p : probes) lengths.push_back(p.seq_len);
  // Doubling 128 .. 4096 (the first failure), then halving the bracket [2048, 4096] on the 64 grid.
  ASSERT_GE(lengths.size(), 6u);
  EXPECT_EQ(std::vector<int>(lengths.begin(), lengths.begin() + 6),
            (std::vector<int>{128, 256, 512, 1024, 2048, 4096}));
  EXPECT_EQ(lengths[6], 3072);
  const Answer a = Summarize(probes, s);
  EXPECT_TRUE(a.converged);
  EXPECT_LE(a.max_working_length, 3000);
  EXPECT_GT(a.first_failing_length, 3000);
  EXPECT_LE(a.first_failing_length - a.max_working_length, 64);
  EXPECT_EQ(a.max_working_length % 64, 0);
  EXPECT_EQ(a.cause, v1::OUTCOME_OOM);
  EXPECT_EQ(a.peak_at_max_working, int64_t{a.max_working_length} << 20);
  // Never the same length twice.
  EXPECT_EQ(std::set<int>(lengths.begin(), lengths.end()).size(), lengths.size());
}

TEST(WallSearch, EveryWallBetweenOneAndTheMaxIsFoundWithinTheResolution) {
  const Settings s{128, 16384, 64};
  for (int wall = 1; wall <= 16384; wall += 37) {
    auto probes = Search(s, [&](int len) { return len <= wall ? v1::OUTCOME_OK : v1::OUTCOME_TIMEOUT; });
    const Answer a = Summarize(probes, s);
    ASSERT_TRUE(a.converged) << wall;
    EXPECT_LE(a.max_working_length, wall);
    if (a.first_failing_length != 0) {
      EXPECT_GT(a.first_failing_length, wall);
      EXPECT_LE(a.first_failing_length - a.max_working_length, s.resolution) << wall;
    } else {
      EXPECT_EQ(a.max_working_length, s.max);  // never failed: the search stopped at the max
    }
    EXPECT_LE(a.probes, 20) << wall;  // log2(max / start) growth + log2(max / resolution) bisection
  }
}

TEST(WallSearch, AContextLimitIsACauseAndAStartThatFailsBisectsDown) {
  const Settings s{1024, 65536, 64};
  auto probes = Search(s, [](int len) { return len <= 512 ? v1::OUTCOME_OK : v1::OUTCOME_EXCEEDS_CONTEXT; });
  const Answer a = Summarize(probes, s);
  EXPECT_TRUE(a.converged);
  EXPECT_EQ(a.max_working_length, 512);
  EXPECT_EQ(a.first_failing_length, 576);
  EXPECT_EQ(a.cause, v1::OUTCOME_EXCEEDS_CONTEXT);

  auto nothing = Search(s, [](int) { return v1::OUTCOME_CRASHED; });
  const Answer none = Summarize(nothing, s);
  EXPECT_TRUE(none.converged);
  EXPECT_EQ(none.max_working_length, 0);
  EXPECT_LE(none.first_failing_length, 64);
  EXPECT_EQ(none.cause, v1::OUTCOME_CRASHED);
}

TEST(WallSearch, WaitsForARunningProbeAndStopsOnCancelOrLost) {
  const Settings s;
  std::vector<Probe> probes = {{128, true, v1::OUTCOME_OK, 1}, {256, false}};
  EXPECT_EQ(NextProbe(probes, s).kind, StepKind::kWait);
  EXPECT_FALSE(Summarize(probes, s).converged);
  probes[1] = {256, true, v1::OUTCOME_CANCELLED, 0};
  EXPECT_EQ(NextProbe(probes, s).kind, StepKind::kDone);
  EXPECT_EQ(Summarize(probes, s).stopped, "cancelled");
  EXPECT_EQ(Summarize(probes, s).max_working_length, 128);
  probes[1].outcome = v1::OUTCOME_LOST;
  EXPECT_EQ(Summarize(probes, s).stopped, "lost");
  EXPECT_EQ(NextProbe({}, s).seq_len, 128);
}

TEST(WallSearch, InvalidCountsAsWorkingAndAFlakyLongerOkDoesNotMoveTheBracket) {
  const Settings s{128, 65536, 64};
  std::vector<Probe> probes = {{128, true, v1::OUTCOME_INVALID, 5},
                               {256, true, v1::OUTCOME_OK, 6},
                               {512, true, v1::OUTCOME_TIMEOUT, 0},
                               {1024, true, v1::OUTCOME_OK, 9}};
  const Answer a = Summarize(probes, s);
  EXPECT_EQ(a.max_working_length, 256);
  EXPECT_EQ(a.first_failing_length, 512);
  EXPECT_EQ(NextProbe(probes, s).seq_len, 384);
}

TEST(WallPrediction, RecoversTheLengthWhereAQuadraticCurveMeetsTheMemory) {
  // peak = 200 MiB + 0.05 MiB * L + 1e-5 MiB * L^2 reaches 1000 MiB where 1e-5 L^2 + 0.05 L = 800:
  // L = (-0.05 + sqrt(0.0025 + 0.032)) / 2e-5 = 6787.1.
  auto peak = [](int len) {
    return static_cast<int64_t>((200 + 0.05 * len + 1e-5 * len * static_cast<double>(len)) * (1 << 20));
  };
  std::vector<std::pair<int, int64_t>> ok;
  for (int len : {128, 256, 512, 1024, 2048, 4096}) ok.emplace_back(len, peak(len));
  auto predicted = PredictWall(ok, int64_t{1000} << 20);
  ASSERT_TRUE(predicted.has_value());
  EXPECT_NEAR(*predicted, 6788, 2);
  // Linear with two lengths: 100 MiB + 1 MiB per 10 tokens reaches 300 MiB at 2000.
  auto linear = PredictWall({{100, int64_t{110} << 20}, {1000, int64_t{200} << 20}}, int64_t{300} << 20);
  ASSERT_TRUE(linear.has_value());
  EXPECT_NEAR(*linear, 2000, 1);
  EXPECT_FALSE(PredictWall({{128, 1 << 20}}, 1 << 30).has_value());                           // one length
  EXPECT_FALSE(PredictWall({{128, 5 << 20}, {256, 5 << 20}}, int64_t{1} << 30).has_value());  // flat: never
}

}  // namespace
}  // namespace tscale::wall
