// common/file_io against the real filesystem: atomic replacement, the error codes callers branch on, and the
// size cap.
#include "common/file_io.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "support/temp_dir.h"

namespace tscale {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> Names(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(FileIo, WriteReplacesTheFileAndLeavesNoTemporary) {
  testing::TempDir dir;
  const std::string path = dir.File("value");
  std::ofstream(path) << "old contents, longer than the new ones";
  ASSERT_TRUE(WriteFileAtomically(path, "new").ok());
  auto read = ReadWholeFile(path);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(*read, "new");
  EXPECT_EQ(Names(dir.path().string()), std::vector<std::string>{"value"});
}

TEST(FileIo, WriteSyncsTheFileAndItsDirectory) {
  testing::TempDir dir;
  const SyncCounts before = SyncCountsSoFar();
  ASSERT_TRUE(WriteFileAtomically(dir.File("durable"), "x").ok());
  const SyncCounts after = SyncCountsSoFar();
  EXPECT_EQ(after.files, before.files + 1);
  EXPECT_EQ(after.directories, before.directories + 1);
}

TEST(FileIo, WriteAppliesTheModeBeforeTheUmask) {
  testing::TempDir dir;
  const std::string path = dir.File("secret");
  ASSERT_TRUE(WriteFileAtomically(path, "x", 0600).ok());
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

// Readers of a file that is rewritten over and over see one whole version or the other, never a mixture
// or a truncated file.
TEST(FileIo, ConcurrentReadersNeverSeeAPartialFile) {
  testing::TempDir dir;
  const std::string path = dir.File("flip");
  const std::string a(200000, 'a'), b(300000, 'b');
  ASSERT_TRUE(WriteFileAtomically(path, a).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0}, reads{0};
  std::thread reader([&] {
    while (!stop) {
      auto text = ReadWholeFile(path);
      if (!text.ok() || (*text != a && *text != b)) ++torn;
      ++reads;
    }
  });
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(WriteFileAtomically(path, i % 2 ? a : b).ok());
  stop = true;
  reader.join();
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(torn.load(), 0);
}

TEST(FileIo, TwoThreadsWritingOnePathBothSucceed) {
  testing::TempDir dir;
  const std::string path = dir.File("shared");
  std::atomic<int> failures{0};
  auto write_many = [&](char c) {
    for (int i = 0; i < 50; ++i)
      if (!WriteFileAtomically(path, std::string(1000, c)).ok()) ++failures;
  };
  std::thread one(write_many, 'x'), two(write_many, 'y');
  one.join();
  two.join();
  EXPECT_EQ(failures.load(), 0);
  auto text = ReadWholeFile(path);
  ASSERT_TRUE(text.ok());
  EXPECT_TRUE(*text == std::string(1000, 'x') || *text == std::string(1000, 'y'));
  EXPECT_EQ(Names(dir.path().string()), std::vector<std::string>{"shared"});
}

// The temporary name is opened exclusively: a symlink planted there is replaced, not written through.
TEST(FileIo, NeverWritesThroughAPlantedTemporary) {
  testing::TempDir dir;
  const std::string victim = dir.File("victim"), path = dir.File("target");
  std::ofstream(victim) << "keep me";
  // Every temporary name this process can use next (the pid and a sequence number far past this test's).
  for (int i = 0; i < 2000; ++i)
    ASSERT_EQ(symlink(victim.c_str(), (path + ".tmp." + std::to_string(getpid()) + "." + std::to_string(i)).c_str()),
              0);
  ASSERT_TRUE(WriteFileAtomically(path, "new").ok());
  EXPECT_EQ(*ReadWholeFile(victim), "keep me");
  EXPECT_EQ(*ReadWholeFile(path), "new");
  struct stat st {};
  ASSERT_EQ(lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

TEST(FileIo, AMissingFileIsNotFound) {
  testing::TempDir dir;
  auto read = ReadWholeFile(dir.File("absent"));
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), Status::Code::kNotFound);
  EXPECT_NE(read.status().message().find(dir.File("absent")), std::string::npos) << read.status().message();
}

TEST(FileIo, ADirectoryIsUnavailableNamingThePath) {
  testing::TempDir dir;
  auto read = ReadWholeFile(dir.path().string());
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(read.status().message().find(dir.path().string()), std::string::npos) << read.status().message();
}

TEST(FileIo, FilesOverTheCapAreRefused) {
  testing::TempDir dir;
  const std::string path = dir.File("big");
  ASSERT_TRUE(WriteFileAtomically(path, std::string(200000, 'z')).ok());
  auto capped = ReadWholeFile(path, 100000);
  ASSERT_FALSE(capped.ok());
  EXPECT_EQ(capped.status().code(), Status::Code::kResourceExhausted);
  EXPECT_NE(capped.status().message().find(path), std::string::npos);
  auto exact = ReadWholeFile(path, 200000);
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ(exact->size(), 200000u);
}

// Files the kernel reports as empty (/proc) are read to their end all the same.
TEST(FileIo, ReadsProcFiles) {
  auto status = ReadWholeFile("/proc/self/status");
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  EXPECT_NE(status->find("VmSize:"), std::string::npos);
}

// A directory that cannot take the file: UNAVAILABLE naming the path, and nothing left behind. A parent that
// is a regular file fails for root too; a read-only directory only for other users (root ignores modes).
TEST(FileIo, AnUnwritableDirectoryIsUnavailableNamingThePath) {
  testing::TempDir dir;
  std::ofstream(dir.File("plain")) << "not a directory";
  const std::string path = dir.File("plain/port");
  const Status written = WriteFileAtomically(path, "1234\n");
  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.code(), Status::Code::kUnavailable);
  EXPECT_NE(written.message().find(path), std::string::npos) << written.message();

  const Status missing = WriteFileAtomically(dir.File("no/such/dir/file"), "x");
  EXPECT_EQ(missing.code(), Status::Code::kUnavailable);
  EXPECT_NE(missing.message().find(dir.File("no/such/dir/file")), std::string::npos) << missing.message();

  if (geteuid() != 0) {
    ASSERT_EQ(mkdir(dir.File("ro").c_str(), 0500), 0);
    const Status read_only = WriteFileAtomically(dir.File("ro/file"), "x");
    EXPECT_EQ(read_only.code(), Status::Code::kUnavailable);
    EXPECT_NE(read_only.message().find(dir.File("ro/file")), std::string::npos) << read_only.message();
    chmod(dir.File("ro").c_str(), 0700);
  }
  EXPECT_EQ(Names(dir.path().string()), std::vector<std::string>{"plain"});
}

// A rename that fails (the target is a non-empty directory) leaves the old target and no temporary.
TEST(FileIo, AFailedRenameLeavesNoTemporary) {
  testing::TempDir dir;
  const std::string path = dir.File("occupied");
  fs::create_directories(path + "/inside");
  const Status written = WriteFileAtomically(path, "x");
  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.code(), Status::Code::kUnavailable);
  EXPECT_NE(written.message().find(path), std::string::npos) << written.message();
  EXPECT_EQ(Names(dir.path().string()), std::vector<std::string>{"occupied"});
  EXPECT_TRUE(fs::is_directory(path + "/inside"));
}

}  // namespace
}  // namespace tscale
