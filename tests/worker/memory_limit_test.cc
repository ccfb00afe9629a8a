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

}  // namespace
}  // namespace tscale
