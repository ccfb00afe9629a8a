// JobExecution on a real event loop with real children (/bin/sh), reaped the way the worker reaps them.
#include "worker/job_execution.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <optional>
#include <thread>

#include "support/temp_dir.h"

namespace tscale {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;

class JobExecutionTest : public ::testing::Test {
 protected:
  // Starts `script` under /bin/sh and runs the loop until it is done (or `limit` passes); returns the exit.
  std::optional<ChildExit> Run(const std::string& script, ExecutionOptions options = {},
                               milliseconds limit = milliseconds(20000)) {
    options.spec.program = "/bin/sh";
    options.spec.args = {"-c", script};
    options.spec.env = {"PATH=/usr/bin:/bin"};
    std::optional<ChildExit> done;
    auto started = JobExecution::Start(io_, std::move(options), [&](ChildExit exit) {
      done = std::move(exit);
      io_.stop();
    });
    if (!started.ok()) {
      ADD_FAILURE() << started.status().ToString();
      return std::nullopt;
    }
    execution_ = *started;
    // As Worker::ReapChildren: peek at each exited child, let its execution kill the group and reap it.
    WaitForChildren();
    asio::steady_timer guard(io_, limit);
    guard.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) io_.stop();
    });
    io_.run();
    return done;
  }

  void WaitForChildren() {
    signals_.async_wait([this](const boost::system::error_code& ec, int) {
      if (ec) return;
      for (pid_t pid; (pid = PeekExitedChild()) > 0;) {
        if (pid != execution_->pid()) break;
        execution_->ReapExited();
      }
      WaitForChildren();
    });
  }

  static bool Alive(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string ignored, state;
    return (stat >> ignored >> ignored >> state) && state != "Z";
  }

  asio::io_context io_;
  asio::signal_set signals_{io_, SIGCHLD};
  std::shared_ptr<JobExecution> execution_;
};

// The runner exits while a grandchild still holds its stdout and stderr: killing the group as the runner is
// reaped ends the job now, instead of leaving the pipes (and the job) open forever.
TEST_F(JobExecutionTest, LeaderExitKillsTheGroupBeforeItIsReaped) {
  testing::TempDir dir;
  const std::string pid_file = dir.File("grandchild.pid");
  auto exit = Run("sleep 300 & echo $! > " + pid_file + "; exit 3");
  ASSERT_TRUE(exit.has_value()) << "the job never finished: the grandchild kept its pipes open";
  EXPECT_TRUE(exit->exited);
  EXPECT_EQ(exit->exit_code, 3);
  EXPECT_EQ(exit->killed_by_us, KillReason::kNone);
  EXPECT_LT(exit->wall_s, 10.0);
  std::ifstream in(pid_file);
  pid_t grandchild = 0;
  in >> grandchild;
  ASSERT_GT(grandchild, 0);
  for (int i = 0; i < 100 && Alive(grandchild); ++i) std::this_thread::sleep_for(milliseconds(20));
  EXPECT_FALSE(Alive(grandchild)) << "grandchild " << grandchild << " outlived its runner";
  // Killing after the reap must not signal anything: the pid may be someone else's by now.
  execution_->Kill(KillReason::kRevoked, "");
}

TEST_F(JobExecutionTest, DeadlineKillsTheGroup) {
  ExecutionOptions options;
  options.spec.deadline = milliseconds(300);
  auto exit = Run("sleep 300 & sleep 300", options);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->killed_by_us, KillReason::kDeadline);
  EXPECT_EQ(exit->signal, SIGKILL);
}

// Without a limit to enforce, the group is sampled once a second (only for the peak-RSS fallback), not
// every 100 ms: a child that lives half a second is never sampled. With a limit it is, many times.
TEST_F(JobExecutionTest, WatchdogSamplesRarelyWithoutALimit) {
  auto unlimited = Run("sleep 0.5");
  ASSERT_TRUE(unlimited.has_value());
  EXPECT_EQ(execution_->peak_group_rss_bytes(), 0);

  io_.restart();
  ExecutionOptions limited;
  limited.memory_limit_bytes = 1LL << 30;
  auto exit = Run("sleep 0.5", limited);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->killed_by_us, KillReason::kNone);
  EXPECT_GT(execution_->peak_group_rss_bytes(), 0);
}

}  // namespace
}  // namespace tscale
