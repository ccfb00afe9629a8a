// The worker's state directory: a private per-user default, and a refusal of any directory another user
// could write to (issue: a predictable /tmp path let another local user plant results).
#include "worker/state_dir.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "support/temp_dir.h"

namespace tscale {
namespace {

EnvLookup Env(std::map<std::string, std::string> values) {
  return [values = std::move(values)](const char* name) -> const char* {
    auto it = values.find(name);
    return it == values.end() ? nullptr : it->second.c_str();
  };
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST(DefaultStateDir, PrefersSystemdThenXdgThenHome) {
  const std::map<std::string, std::string> all = {
      {"STATE_DIRECTORY", "/var/lib/tscale-worker"}, {"XDG_STATE_HOME", "/home/u/.state"}, {"HOME", "/home/u"}};
  EXPECT_EQ(*DefaultStateDir("w1", Env(all)), "/var/lib/tscale-worker/worker-w1");
  auto no_systemd = all;
  no_systemd.erase("STATE_DIRECTORY");
  EXPECT_EQ(*DefaultStateDir("w1", Env(no_systemd)), "/home/u/.state/tscale/worker-w1");
  EXPECT_EQ(*DefaultStateDir("w1", Env({{"HOME", "/home/u/"}})), "/home/u/.local/state/tscale/worker-w1");
}

TEST(DefaultStateDir, NeverATempDirectory) {
  const std::string tmp = std::filesystem::temp_directory_path().string();
  for (const auto& env :
       {Env({{"HOME", "/home/u"}}), Env({{"XDG_STATE_HOME", "/x"}}), Env({{"STATE_DIRECTORY", "/s"}})})
    EXPECT_EQ(DefaultStateDir("w1", env)->rfind(tmp, 0), std::string::npos);
}

TEST(DefaultStateDir, TakesTheFirstOfSeveralSystemdDirectories) {
  EXPECT_EQ(*DefaultStateDir("w", Env({{"STATE_DIRECTORY", "/var/lib/a:/var/lib/b"}})), "/var/lib/a/worker-w");
}

TEST(DefaultStateDir, IgnoresRelativeValuesAndFailsWithoutAnyBase) {
  EXPECT_EQ(*DefaultStateDir("w", Env({{"STATE_DIRECTORY", "rel"}, {"XDG_STATE_HOME", "rel"}, {"HOME", "/h"}})),
            "/h/.local/state/tscale/worker-w");
  auto none = DefaultStateDir("w", Env({}));
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(none.status().message().find("--state-dir"), std::string::npos) << none.status().message();
}

TEST(DefaultStateDir, AWorkerIdCannotLeaveTheBase) {
  const auto env = Env({{"HOME", "/h"}});
  EXPECT_EQ(*DefaultStateDir("../../etc", env), "/h/.local/state/tscale/worker-.._.._etc");
  EXPECT_EQ(*DefaultStateDir("a/b c", env), "/h/.local/state/tscale/worker-a_b_c");
  EXPECT_EQ(*DefaultStateDir("", env), "/h/.local/state/tscale/worker-_");
}

TEST(PrepareStateDir, CreatesMissingDirectoriesPrivate) {
  testing::TempDir dir;
  const std::string state = dir.File("xdg/tscale/worker-w1");
  ASSERT_TRUE(PrepareStateDir(state).ok());
  EXPECT_EQ(ModeOf(dir.File("xdg")), 0700u);
  EXPECT_EQ(ModeOf(dir.File("xdg/tscale")), 0700u);
  EXPECT_EQ(ModeOf(state), 0700u);
  EXPECT_TRUE(PrepareStateDir(state).ok());  // and accepts it again at the next start
}

TEST(PrepareStateDir, AcceptsAnExistingDirectoryOnlyItsOwnerMayWrite) {
  testing::TempDir dir;
  const std::string state = dir.File("state");
  ASSERT_EQ(mkdir(state.c_str(), 0755), 0);
  ASSERT_EQ(chmod(state.c_str(), 0755), 0);
  EXPECT_TRUE(PrepareStateDir(state).ok());
  EXPECT_EQ(ModeOf(state), 0755u);  // checked, not changed
}

TEST(PrepareStateDir, RefusesAGroupOrWorldWritableDirectory) {
  testing::TempDir dir;
  for (mode_t mode : {0777, 0770, 0702, 01777}) {
    SCOPED_TRACE(mode);
    const std::string state = dir.File("state-" + std::to_string(mode));
    ASSERT_EQ(mkdir(state.c_str(), 0700), 0);
    ASSERT_EQ(chmod(state.c_str(), mode), 0);
    const Status prepared = PrepareStateDir(state);
    ASSERT_FALSE(prepared.ok());
    EXPECT_EQ(prepared.code(), Status::Code::kPermissionDenied);
    EXPECT_NE(prepared.message().find(state), std::string::npos) << prepared.message();
    EXPECT_NE(prepared.message().find("writable"), std::string::npos) << prepared.message();
    EXPECT_EQ(ModeOf(state), mode);  // never silently repaired
  }
}

// Root can hand a directory to another uid; other users cannot, so the case is exercised where tests run as root.
TEST(PrepareStateDir, RefusesADirectoryOwnedByAnotherUser) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to create a directory owned by someone else";
  testing::TempDir dir;
  const std::string state = dir.File("planted");
  ASSERT_EQ(mkdir(state.c_str(), 0700), 0);
  ASSERT_EQ(chown(state.c_str(), 65534, 65534), 0);
  const Status prepared = PrepareStateDir(state);
  ASSERT_FALSE(prepared.ok());
  EXPECT_EQ(prepared.code(), Status::Code::kPermissionDenied);
  EXPECT_NE(prepared.message().find("owned by uid 65534"), std::string::npos) << prepared.message();
}

TEST(PrepareStateDir, RefusesAFile) {
  testing::TempDir dir;
  const std::string file = dir.File("file");
  std::ofstream(file) << "x";
  const Status prepared = PrepareStateDir(file);
  ASSERT_FALSE(prepared.ok());
  EXPECT_NE(prepared.message().find(file), std::string::npos) << prepared.message();
}

}  // namespace
}  // namespace tscale
