#include "worker/memory_limit.h"

#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "worker/child_process.h"

namespace tscale {
namespace {

// This host has a hybrid cgroup layout (memory on v1): the v2 path must say so cleanly, not pretend.
// On a host with a delegated cgroup v2 memory controller the detection succeeds instead.
TEST(CgroupV2, DetectionSucceedsOnlyWithAWritableMemoryController) {
  std::ifstream cgroups("/proc/self/cgroup");
  std::string line;
  bool memory_on_v1 = false;
  while (std::getline(cgroups, line)) memory_on_v1 |= line.find(":memory:") != std::string::npos;
  auto detected = CgroupV2::Detect();
  if (memory_on_v1) {
    ASSERT_FALSE(detected.ok());
    EXPECT_EQ(detected.status().code(), Status::Code::kFailedPrecondition);
    EXPECT_FALSE(detected.status().message().empty());
  } else if (!detected.ok()) {
    EXPECT_EQ(detected.status().code(), Status::Code::kFailedPrecondition);
  }
}

// A real child process group that holds ~96 MiB: the watchdog's measure sees it, and sees nothing of an
// empty group.
TEST(ProcessGroupRss, SumsTheGroupsResidentMemory) {
  ChildSpec spec;
  spec.program = "/usr/bin/python3";
  spec.args = {"-c", "import time, sys\nx = bytearray(96 * 1024 * 1024)\nprint('ready', flush=True)\ntime.sleep(30)"};
  spec.env = {"PATH=/usr/bin:/bin"};
  auto child = SpawnChild(spec);
  ASSERT_TRUE(child.ok());
  char buffer[16];
  ASSERT_GT(::read(child->stdout_fd, buffer, sizeof(buffer)), 0);  // allocated
  const int64_t rss = ProcessGroupRssBytes(child->pid);
  KillProcessGroup(child->pid);
  ::close(child->stdout_fd);
  ::close(child->stderr_fd);
  int status = 0;
  ::waitpid(child->pid, &status, 0);
  EXPECT_GT(rss, 96LL << 20);
  EXPECT_LT(rss, 400LL << 20);
  EXPECT_EQ(ProcessGroupRssBytes(child->pid), 0);
}

TEST(MemoryBudget, APeakOverTheLimitIsOomEvenWhenTheWatchdogMissedIt) {
  v1::Result result;
  result.set_outcome(v1::OUTCOME_OK);
  result.mutable_memory()->set_peak_rss_bytes(300LL << 20);
  v1::Result unlimited = result;
  ApplyMemoryBudget(0, &unlimited);
  EXPECT_EQ(unlimited.outcome(), v1::OUTCOME_OK);
  v1::Result within = result;
  ApplyMemoryBudget(300LL << 20, &within);  // at the limit is within it
  EXPECT_EQ(within.outcome(), v1::OUTCOME_OK);
  result.add_invalid_reasons("cv 0.4 above 0.25");
  result.set_outcome(v1::OUTCOME_INVALID);
  ApplyMemoryBudget(256LL << 20, &result);
  EXPECT_EQ(result.outcome(), v1::OUTCOME_OOM);
  EXPECT_EQ(result.invalid_reasons_size(), 0);
  EXPECT_NE(result.message().find("peak RSS 300 MiB went over the memory limit of 256 MiB"), std::string::npos);
  v1::Result crashed;
  crashed.set_outcome(v1::OUTCOME_CRASHED);
  crashed.mutable_memory()->set_peak_rss_bytes(1LL << 30);
  ApplyMemoryBudget(256LL << 20, &crashed);  // a crash stays a crash
  EXPECT_EQ(crashed.outcome(), v1::OUTCOME_CRASHED);
}

}  // namespace
}  // namespace tscale
