#include "worker/outbox.h"

#include <gtest/gtest.h>

#include <fstream>

#include "support/temp_dir.h"

namespace tscale {
namespace {

TEST(Outbox, KeepsResultsUntilRemovedAndAcrossReopen) {
  testing::TempDir dir;
  const std::string path = dir.File("outbox");
  {
    Outbox outbox(path);
    ASSERT_TRUE(outbox.Open().ok());
    v1::Result a, b;
    a.set_outcome(v1::OUTCOME_OK);
    a.mutable_latency()->set_median_ms(3.5);
    b.set_outcome(v1::OUTCOME_OOM);
    ASSERT_TRUE(outbox.Put(12, a).ok());
    ASSERT_TRUE(outbox.Put(7, b).ok());
  }
  Outbox reopened(path);  // a new worker process on the same state directory
  ASSERT_TRUE(reopened.Open().ok());
  auto pending = reopened.Pending();
  ASSERT_EQ(pending.size(), 2u);
  EXPECT_EQ(pending[0].first, 7);  // oldest attempt first
  EXPECT_EQ(pending[0].second.outcome(), v1::OUTCOME_OOM);
  EXPECT_DOUBLE_EQ(pending[1].second.latency().median_ms(), 3.5);
  reopened.Remove(7);
  ASSERT_EQ(reopened.Pending().size(), 1u);
  EXPECT_EQ(reopened.Pending()[0].first, 12);
}

TEST(Outbox, SkipsCorruptFilesAndIgnoresStrangers) {
  testing::TempDir dir;
  Outbox outbox(dir.File("outbox"));
  ASSERT_TRUE(outbox.Open().ok());
  std::ofstream(dir.File("outbox/attempt-5.result")) << "\xff\xff\xff not a protobuf";
  std::ofstream(dir.File("outbox/attempt-x.result")) << "";
  std::ofstream(dir.File("outbox/notes.txt")) << "hello";
  std::ofstream(dir.File("outbox/attempt-9.result.tmp")) << "half-written";
  int skipped = 0;
  EXPECT_TRUE(outbox.Pending(&skipped).empty());
  EXPECT_EQ(skipped, 2);
}

// A delivery asked for while a round runs (a result stored after that round listed the outbox) is not
// dropped: exactly one more round follows, however many asked meanwhile.
TEST(DeliveryRounds, ARequestDuringARoundStartsAnotherWhenItEnds) {
  DeliveryRounds rounds;
  EXPECT_FALSE(rounds.running());
  ASSERT_TRUE(rounds.Request());  // idle: start now
  EXPECT_TRUE(rounds.running());
  EXPECT_FALSE(rounds.Request());  // running: remembered, not started beside it
  EXPECT_FALSE(rounds.Request());
  ASSERT_TRUE(rounds.Finish());  // the remembered requests: one more round
  EXPECT_FALSE(rounds.running());
  ASSERT_TRUE(rounds.Request());
  EXPECT_FALSE(rounds.Finish());  // nothing asked meanwhile: done
  EXPECT_FALSE(rounds.running());
}

}  // namespace
}  // namespace tscale
