// RunChild with real child processes (/bin/sh), no fakes.
#include "worker/child_process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/temp_dir.h"

namespace tscale {
namespace {

using std::chrono::milliseconds;

ChildSpec Shell(const std::string& script, milliseconds deadline = milliseconds(0)) {
  ChildSpec spec;
  spec.program = "/bin/sh";
  spec.args = {"-c", script};
  spec.env = {"PATH=/usr/bin:/bin"};
  spec.deadline = deadline;
  return spec;
}

// A killed grandchild is reparented and stays a zombie until whatever reaps orphans here gets to it (a
// container's init may take its time): a zombie counts as dead.
bool ProcessAlive(pid_t pid) {
#ifdef __linux__
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string ignored, state;
  return (stat >> ignored >> ignored >> state) && state != "Z";
#else
  return kill(pid, 0) == 0;
#endif
}

TEST(ChildProcess, ReportsExitCodeAndOutput) {
  auto exit = RunChild(Shell("echo out; echo err >&2; exit 7"), milliseconds(1000), nullptr);
  ASSERT_TRUE(exit.ok());
  EXPECT_TRUE(exit->exited);
  EXPECT_EQ(exit->exit_code, 7);
  EXPECT_EQ(exit->stdout_tail, "out\n");
  EXPECT_EQ(exit->stderr_tail, "err\n");
  EXPECT_EQ(exit->killed_by_us, KillReason::kNone);
}

TEST(ChildProcess, ReportsTerminatingSignal) {
  auto exit = RunChild(Shell("kill -SEGV $$"), milliseconds(1000), nullptr);
  ASSERT_TRUE(exit.ok());
  EXPECT_FALSE(exit->exited);
  EXPECT_EQ(exit->signal, SIGSEGV);
}

TEST(ChildProcess, EnvironmentIsExactlyWhatWasGiven) {
  setenv("TSCALE_SECRET_TOKEN", "hunter2", 1);
  auto exit = RunChild(Shell("env"), milliseconds(1000), nullptr);
  unsetenv("TSCALE_SECRET_TOKEN");
  ASSERT_TRUE(exit.ok());
  EXPECT_EQ(exit->stdout_tail.find("hunter2"), std::string::npos);
  EXPECT_NE(exit->stdout_tail.find("PATH=/usr/bin:/bin"), std::string::npos);
}

TEST(ChildProcess, DeadlineKillsTheWholeGroup) {
  testing::TempDir dir;
  const std::string pid_file = dir.File("grandchild.pid");
  // The shell starts a grandchild that would outlive it, records its pid, then hangs.
  auto exit = RunChild(Shell("sleep 300 & echo $! > " + pid_file + "; sleep 300", milliseconds(500)), milliseconds(100),
                       nullptr);
  ASSERT_TRUE(exit.ok());
  EXPECT_EQ(exit->killed_by_us, KillReason::kDeadline);
  EXPECT_FALSE(exit->exited);
  EXPECT_EQ(exit->signal, SIGKILL);
  EXPECT_LT(exit->wall_s, 5.0);
  std::ifstream in(pid_file);
  pid_t grandchild = 0;
  in >> grandchild;
  ASSERT_GT(grandchild, 0);
  // The grandchild was reparented; give init a moment to reap it.
  for (int i = 0; i < 100 && ProcessAlive(grandchild); ++i) std::this_thread::sleep_for(milliseconds(20));
  EXPECT_FALSE(ProcessAlive(grandchild)) << "grandchild " << grandchild << " survived the group kill";
}

// The runner exits at once, leaving a grandchild behind that no longer holds its pipes: the group is
// killed as the runner is reaped, so nothing of the job outlives it.
TEST(ChildProcess, ExitingLeaderTakesItsGroupWithIt) {
  testing::TempDir dir;
  const std::string pid_file = dir.File("grandchild.pid");
  auto exit = RunChild(Shell("sleep 300 </dev/null >/dev/null 2>&1 & echo $! > " + pid_file + "; exit 3"),
                       milliseconds(100), nullptr);
  ASSERT_TRUE(exit.ok());
  EXPECT_TRUE(exit->exited);
  EXPECT_EQ(exit->exit_code, 3);
  std::ifstream in(pid_file);
  pid_t grandchild = 0;
  in >> grandchild;
  ASSERT_GT(grandchild, 0);
  for (int i = 0; i < 100 && ProcessAlive(grandchild); ++i) std::this_thread::sleep_for(milliseconds(20));
  EXPECT_FALSE(ProcessAlive(grandchild)) << "grandchild " << grandchild << " outlived its runner";
}

TEST(ChildProcess, ChildSeesOnlyItsStdio) {
  int leaked[2];
  ASSERT_EQ(pipe(leaked), 0);  // no O_CLOEXEC: only the spawn's own closing keeps it from the child
  auto exit = RunChild(Shell("ls /proc/self/fd"), milliseconds(1000), nullptr);
  close(leaked[0]);
  close(leaked[1]);
  ASSERT_TRUE(exit.ok());
  // ls itself opens the directory it lists: one descriptor beyond 0, 1 and 2, no more.
  int listed = 0;
  std::istringstream fds(exit->stdout_tail);
  for (std::string fd; fds >> fd;) ++listed;
  EXPECT_EQ(listed, 4) << exit->stdout_tail;
}

#if defined(__linux__)
TEST(ChildProcess, MarkDescriptorsCloseOnExecCoversInheritedOnes) {
  int leaked[2];
  ASSERT_EQ(pipe(leaked), 0);
  ASSERT_EQ(fcntl(leaked[0], F_GETFD) & FD_CLOEXEC, 0);
  MarkDescriptorsCloseOnExec();
  EXPECT_NE(fcntl(leaked[0], F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_NE(fcntl(leaked[1], F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_EQ(fcntl(STDERR_FILENO, F_GETFD) & FD_CLOEXEC, 0);  // stdio is left alone
  close(leaked[0]);
  close(leaked[1]);
}
#endif

TEST(ChildProcess, TickReturningFalseRevokes) {
  int ticks = 0;
  auto exit = RunChild(Shell("sleep 300"), milliseconds(50), [&] { return ++ticks < 3; });
  ASSERT_TRUE(exit.ok());
  EXPECT_EQ(exit->killed_by_us, KillReason::kRevoked);
  EXPECT_EQ(ticks, 3);
}

TEST(ChildProcess, StderrTailIsBounded) {
  ChildSpec spec = Shell("i=0; while [ $i -lt 2000 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxx >&2; i=$((i+1)); done");
  spec.output_tail_bytes = 4096;
  auto exit = RunChild(spec, milliseconds(1000), nullptr);
  ASSERT_TRUE(exit.ok());
  EXPECT_EQ(exit->stderr_tail.size(), 4096u);
  EXPECT_NE(exit->stderr_tail.find("line-1999-"), std::string::npos);  // the end is kept
  EXPECT_EQ(exit->stderr_tail.find("line-0-"), std::string::npos);
}

TEST(ChildProcess, MissingProgramIsAnError) {
  ChildSpec spec;
  spec.program = "/nonexistent/tscale-runner";
  auto exit = RunChild(spec, milliseconds(100), nullptr);
  // posix_spawn reports exec failure either as an error or as exit code 127, depending on the libc.
  if (exit.ok()) {
    EXPECT_TRUE(exit->exited);
    EXPECT_EQ(exit->exit_code, 127);
  } else {
    EXPECT_EQ(exit.status().code(), Status::Code::kUnavailable);
  }
}

TEST(TailBuffer, KeepsLastBytes) {
  TailBuffer tail(5);
  tail.Append("abc", 3);
  EXPECT_FALSE(tail.truncated());
  tail.Append("defgh", 5);
  EXPECT_EQ(tail.str(), "defgh");
  EXPECT_TRUE(tail.truncated());
}

}  // namespace
}  // namespace tscale
