#include "worker/outbox.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "common/file_io.h"
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

// A result counts as written only once it is on disk for good: Put takes the durable path (the result file and
// the outbox directory fsynced, through WriteFileAtomically) and the file is whole when Put returns. Power
// loss itself cannot be staged in a test; what the fsyncs buy is the kernel's promise.
TEST(Outbox, PutSyncsTheResultAndTheDirectoryBeforeItReturns) {
  testing::TempDir dir;
  Outbox outbox(dir.File("outbox"));
  ASSERT_TRUE(outbox.Open().ok());
  v1::Result result;
  result.set_outcome(v1::OUTCOME_OK);
  result.set_stderr_tail(std::string(100000, 'e'));  // several pages: a partial write would show
  const SyncCounts before = SyncCountsSoFar();
  ASSERT_TRUE(outbox.Put(3, result).ok());
  const SyncCounts after = SyncCountsSoFar();
  EXPECT_EQ(after.files, before.files + 1);
  EXPECT_EQ(after.directories, before.directories + 1);
  auto bytes = ReadWholeFile(dir.File("outbox/attempt-3.result"));
  ASSERT_TRUE(bytes.ok());
  v1::Result stored;
  ASSERT_TRUE(stored.ParseFromString(*bytes));
  EXPECT_EQ(stored.stderr_tail().size(), 100000u);
  struct stat st {};
  ASSERT_EQ(stat(dir.File("outbox/attempt-3.result").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u);  // delivered with the worker's token: nobody else reads or writes it
  ASSERT_EQ(stat(dir.File("outbox").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u);
}

// A write a crash interrupted leaves a temporary file, never a partial result: it is not delivered, and the
// next start removes it.
TEST(Outbox, OpenRemovesTemporariesOfInterruptedWrites) {
  testing::TempDir dir;
  ASSERT_TRUE(std::filesystem::create_directories(dir.File("outbox")));
  std::ofstream(dir.File("outbox/attempt-4.result.tmp.999.0")) << "half";
  std::ofstream(dir.File("outbox/notes.txt")) << "not ours";
  Outbox outbox(dir.File("outbox"));
  ASSERT_TRUE(outbox.Open().ok());
  EXPECT_FALSE(std::filesystem::exists(dir.File("outbox/attempt-4.result.tmp.999.0")));
  EXPECT_TRUE(std::filesystem::exists(dir.File("outbox/notes.txt")));
  EXPECT_TRUE(outbox.Pending().empty());
}

// An outbox that cannot be written reports it, naming the path: the worker then logs the result as lost.
TEST(Outbox, AFailedPutNamesThePath) {
  testing::TempDir dir;
  Outbox outbox(dir.File("outbox"));
  ASSERT_TRUE(outbox.Open().ok());
  std::filesystem::create_directories(dir.File("outbox/attempt-8.result/occupied"));  // the name is taken
  const Status put = outbox.Put(8, v1::Result());
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.code(), Status::Code::kUnavailable);
  EXPECT_NE(put.message().find(dir.File("outbox/attempt-8.result")), std::string::npos) << put.message();
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
