// The worker's containment and resilience, end to end with real processes: children that blow their memory
// limit, crash, hang, fail or flood are each classified correctly and the same worker then runs a normal job;
// a real libtorch job over its memory limit ends `oom`; results survive coordinator outages and worker
// restarts; SIGTERM drains; slots run jobs side by side without more threads than cores; the runner inherits
// no descriptor and leaves no orphan; a runner that cannot be spawned, or a job file that cannot be written,
// costs attempts, never an `error`. Then the files the daemons trust at start-up (the worker's state
// directory, the server's port file) and the runner's address-space cap at 32 threads.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <google/protobuf/util/json_util.h>

#include <fstream>

#include "common/file_io.h"
#include "common/host_info.h"
#include "common/runner_protocol.h"
#include "support/cluster.h"
#include "support/processes.h"
#include "support/temp_dir.h"
#include "support/test_paths.h"
#include "support/test_process.h"
#include "worker/child_process.h"
#include "worker/memory_limit.h"

namespace tscale {
namespace {

using namespace std::chrono_literals;

class WorkerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(cluster_.StartServer()) << cluster_.Logs(); }

  // Sends SIGTERM once the worker is running a job of `sweep`; expects a clean exit within `limit`.
  // Returns the id of the job that was running.
  int64_t SigtermWhileRunning(testing::TestProcess& worker, int64_t sweep, std::chrono::seconds limit) {
    const int64_t running = cluster_.WaitRunning(sweep, 60s);
    EXPECT_NE(running, 0) << cluster_.Logs();
    kill(worker.pid(), SIGTERM);
    const auto give_up = std::chrono::steady_clock::now() + limit;
    std::optional<int> status;
    while (!(status = worker.Poll()) && std::chrono::steady_clock::now() < give_up) std::this_thread::sleep_for(50ms);
    EXPECT_TRUE(status.has_value()) << "worker still running: " << cluster_.Logs();
    if (status) EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << cluster_.Logs();
    return running;
  }

  // One misbehave/exit7 job (it would end `error` if its runner ever ran) must end `lost` after the
  // coordinator's 3 attempts, each an infrastructure failure, while `worker` keeps serving.
  void ExpectLostAsInfrastructure(testing::TestProcess& worker) {
    v1::SweepSpec spec;
    spec.add_models("misbehave/exit7");
    spec.add_seq_lengths(8);
    auto jobs = cluster_.WaitAllFinished(cluster_.Submit(spec), 90s);
    ASSERT_EQ(testing::Cluster::Finished(jobs), 1) << cluster_.Logs();
    const auto& job = jobs.jobs(0);
    EXPECT_EQ(job.result().outcome(), v1::OUTCOME_LOST) << job.result().message() << cluster_.Logs();
    EXPECT_EQ(job.attempts(), 3);
    EXPECT_NE(cluster_.Logs().find("infrastructure failure"), std::string::npos) << cluster_.Logs();
    EXPECT_FALSE(worker.Poll().has_value()) << "the worker must keep serving: " << cluster_.Logs();
  }

  // Submits one job of misbehaving model `model` (e.g. "misbehave/fds") and returns it once finished.
  v1::JobView RunOne(const std::string& model, double timeout_s = 60) {
    v1::SweepSpec spec;
    spec.add_models(model);
    spec.add_seq_lengths(8);
    spec.mutable_measurement()->set_timeout_s(timeout_s);
    auto jobs = cluster_.WaitAllFinished(cluster_.Submit(spec), std::chrono::seconds(static_cast<int>(timeout_s) + 60));
    EXPECT_EQ(testing::Cluster::Finished(jobs), 1) << cluster_.Logs();
    return jobs.jobs_size() > 0 ? jobs.jobs(0) : v1::JobView();
  }

  // The pid the orphan modes of the misbehaving runner record for their grandchild (0 if none).
  pid_t OrphanPid(const std::string& worker_id) {
    std::ifstream in(cluster_.StateDir(worker_id) + "/orphan.pid");
    pid_t pid = 0;
    in >> pid;
    return pid;
  }

  // Whether `pid` has ended: gone, or a zombie waiting for whatever reaps orphans here.
  static bool Ended(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string ignored, state;
    if (!(stat >> ignored >> ignored >> state)) return true;
    return state == "Z";
  }
  static bool EndsSoon(pid_t pid) {
    for (int i = 0; i < 100 && !Ended(pid); ++i) std::this_thread::sleep_for(20ms);
    return Ended(pid);
  }

  testing::Cluster cluster_;
};

TEST_F(WorkerTest, EveryWayAChildCanEndIsClassifiedAndTheWorkerCarriesOn) {
  auto worker = cluster_.StartWorker("w1", {"--memory-limit", "256M"}, testing::kMisbehavingRunner);
  v1::SweepSpec spec;
  // Jobs run in id order: each misbehaviour, then a normal job on the same worker.
  for (const char* m : {"misbehave/alloc", "misbehave/segv", "misbehave/abort", "misbehave/hang", "misbehave/exit7",
                        "misbehave/flood", "tiny-bert"})
    spec.add_models(m);
  spec.add_seq_lengths(16);
  spec.mutable_measurement()->set_timeout_s(3);
  spec.mutable_measurement()->set_min_time_s(0.05);
  const int64_t sweep = cluster_.Submit(spec);
  auto jobs = cluster_.WaitAllFinished(sweep, 120s);
  ASSERT_EQ(testing::Cluster::Finished(jobs), 7) << cluster_.Logs();

  std::map<std::string, v1::Result> by_model;
  for (const auto& job : jobs.jobs()) by_model[job.spec().model_id()] = job.result();
  const auto& alloc = by_model["misbehave/alloc"];
  EXPECT_EQ(alloc.outcome(), v1::OUTCOME_OOM) << alloc.message();
  EXPECT_NE(alloc.message().find("RSS watchdog"), std::string::npos) << alloc.message();
  EXPECT_EQ(by_model["misbehave/segv"].outcome(), v1::OUTCOME_CRASHED);
  EXPECT_EQ(by_model["misbehave/segv"].signal_name(), "SIGSEGV");
  EXPECT_EQ(by_model["misbehave/abort"].outcome(), v1::OUTCOME_CRASHED);
  EXPECT_EQ(by_model["misbehave/abort"].signal_name(), "SIGABRT");
  EXPECT_EQ(by_model["misbehave/hang"].outcome(), v1::OUTCOME_TIMEOUT);
  EXPECT_GE(by_model["misbehave/hang"].wall_time_s(), 3.0);
  EXPECT_LT(by_model["misbehave/hang"].wall_time_s(), 10.0);
  const auto& exit7 = by_model["misbehave/exit7"];
  EXPECT_EQ(exit7.outcome(), v1::OUTCOME_ERROR);
  EXPECT_EQ(exit7.exit_code(), 7);
  EXPECT_NE(exit7.message().find("simulated failure"), std::string::npos) << exit7.message();
  const auto& flood = by_model["misbehave/flood"];
  EXPECT_EQ(flood.outcome(), v1::OUTCOME_ERROR);
  EXPECT_LE(flood.stderr_tail().size(), 16u * 1024);  // 8 MiB written, the tail kept bounded
  EXPECT_GE(flood.stderr_tail().size(), 8u * 1024);
  EXPECT_NE(flood.stderr_tail().find("END-OF-FLOOD"), std::string::npos);
  EXPECT_EQ(by_model["test/tiny-bert"].outcome(), v1::OUTCOME_OK) << by_model["test/tiny-bert"].message();
  for (const auto& [model, result] : by_model) {
    SCOPED_TRACE(model);
    EXPECT_EQ(result.worker_id(), "w1");
    EXPECT_GT(result.memory().child_maxrss_bytes(), 0);  // wait4 rusage, normalised to bytes
  }
  EXPECT_GE(alloc.memory().child_maxrss_bytes(), 200LL << 20);
  EXPECT_TRUE(testing::FindProcesses({"--job", cluster_.StateDir("w1")}).empty());
}

TEST_F(WorkerTest, RealLibtorchJobOverItsMemoryLimitEndsOom) {
  auto worker = cluster_.StartWorker("w1");
  v1::SweepSpec spec;
  spec.add_models("tiny-bert");
  spec.add_seq_lengths(8192);  // eager scores: 4 heads x 8192^2 floats = 1 GiB per layer
  spec.set_extend_context(true);
  spec.mutable_measurement()->set_memory_limit_bytes(512LL << 20);  // the per-job field
  const int64_t sweep = cluster_.Submit(spec);
  auto jobs = cluster_.WaitAllFinished(sweep, 120s);
  ASSERT_EQ(testing::Cluster::Finished(jobs), 1) << cluster_.Logs();
  const auto& result = jobs.jobs(0).result();
  EXPECT_EQ(result.outcome(), v1::OUTCOME_OOM) << result.message() << result.stderr_tail();
  std::cout << "libtorch over its limit: " << result.message() << "\n";
}

TEST_F(WorkerTest, ResultFinishedDuringAnOutageSurvivesAWorkerRestart) {
  auto worker = cluster_.StartWorker("w1");
  const int64_t sweep = cluster_.SubmitLong(2, 2.0);
  const int64_t running = cluster_.WaitRunning(sweep, 60s);  // the job whose result the outage catches
  ASSERT_NE(running, 0) << cluster_.Logs();
  const int port = cluster_.server().port();
  cluster_.server().process().Kill();  // the coordinator is gone while the job finishes

  // Wait until the finished result sits in the worker's outbox, then stop the worker (it drains: no
  // coordinator to deliver to, so the result stays on disk).
  const std::string outbox = cluster_.StateDir("w1") + "/outbox";
  bool stored = false;
  for (int i = 0; i < 200 && !stored; ++i) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(outbox, ec))
      stored |= entry.path().extension() == ".result";
    if (!stored) std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(stored) << cluster_.Logs();
  worker->Stop(std::chrono::milliseconds(30000));
  EXPECT_FALSE(std::filesystem::is_empty(outbox));

  // Coordinator back on the same database; a new worker process with the same id and state directory
  // delivers the result from the outbox before it registers, then finishes the sweep.
  ASSERT_TRUE(cluster_.StartServer({"--heartbeat-s", "0.5", "--lease-s", "3"}, port)) << cluster_.Logs();
  auto restarted = cluster_.StartWorker("w1");
  auto jobs = cluster_.WaitAllFinished(sweep, 120s);
  ASSERT_EQ(testing::Cluster::Finished(jobs), 2) << cluster_.Logs();
  bool seen_running = false;
  for (const auto& job : jobs.jobs()) {
    EXPECT_EQ(job.result().outcome(), v1::OUTCOME_OK) << job.result().message();
    if (job.spec().job_id() != running) continue;
    seen_running = true;
    // Its result, from the outbox, was accepted for the attempt that ran it: not re-run after the restart.
    EXPECT_EQ(job.attempts(), 1) << cluster_.Logs();
    EXPECT_EQ(job.result().worker_id(), "w1");
  }
  EXPECT_TRUE(seen_running);
  cluster_.ExpectOneResultPerJob(2);
  // The coordinator stores a result before the worker hears the reply and removes the file: wait for that.
  bool drained = false;
  for (int i = 0; i < 200 && !drained; ++i) {
    drained = std::filesystem::is_empty(outbox);
    if (!drained) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(drained) << cluster_.Logs();
}

TEST_F(WorkerTest, SigtermFinishesTheRunningJobAndClaimsNoMore) {
  auto worker = cluster_.StartWorker("w1");
  const int64_t sweep = cluster_.SubmitLong(4, 1.5);
  const int64_t running = SigtermWhileRunning(*worker, sweep, 60s);
  auto jobs = cluster_.Jobs(sweep);
  int finished = 0;
  for (const auto& job : jobs.jobs()) {
    if (job.spec().job_id() == running) EXPECT_EQ(job.result().outcome(), v1::OUTCOME_OK);
    finished += job.state() == v1::JOB_STATE_FINISHED;
  }
  EXPECT_EQ(finished, 1);  // only the job in hand: no new claim after SIGTERM
}

TEST_F(WorkerTest, DrainDeadlineReleasesTheLease) {
  auto worker = cluster_.StartWorker("w1", {"--drain-timeout-s", "0.5"});
  const int64_t sweep = cluster_.SubmitLong(1, 600.0);
  SigtermWhileRunning(*worker, sweep, 30s);
  EXPECT_TRUE(testing::FindProcesses({"--job", cluster_.StateDir("w1")}).empty());
  // Given back at once, not left to expire, and not counted as a failed attempt.
  const v1::ListResultsResponse requeued = cluster_.Jobs(sweep);
  for (const auto& job : requeued.jobs()) {
    EXPECT_EQ(job.state(), v1::JOB_STATE_QUEUED);
    EXPECT_EQ(job.attempts(), 0);
  }
}

TEST_F(WorkerTest, SlotsRunJobsSideBySideWithoutOversubscribing) {
  auto worker = cluster_.StartWorker("w1", {"--slots", "2", "--threads", "0"});
  const int64_t sweep = cluster_.SubmitLong(4, 1.0);
  // Count live runner processes: the coordinator's RUNNING lags by a result delivery, the processes do not.
  size_t most_runners = 0;
  auto jobs = cluster_.WaitUntil(sweep, 120s, [&](const auto& listing) {
    most_runners = std::max(most_runners, testing::FindProcesses({"--job", cluster_.StateDir("w1")}).size());
    return testing::Cluster::Finished(listing) == listing.jobs_size();
  });
  ASSERT_EQ(testing::Cluster::Finished(jobs), 4) << cluster_.Logs();
  EXPECT_EQ(most_runners, 2u);
  const int cores = UsableCpuCores();  // the CPUs this process (and so the worker) may run on
  for (const auto& job : jobs.jobs()) EXPECT_EQ(job.result().environment().threads(), std::max(1, cores / 2));
}

TEST_F(WorkerTest, AJobsThreadsAreCappedAtTheWorkersShareOfTheCores) {
  auto worker = cluster_.StartWorker("w1", {"--slots", "1"});
  v1::SweepSpec spec;
  spec.add_models("tiny-bert");
  spec.add_seq_lengths(8);
  spec.mutable_measurement()->set_threads(1000);  // far more than this host has
  spec.mutable_measurement()->set_min_time_s(0.05);
  auto jobs = cluster_.WaitAllFinished(cluster_.Submit(spec), 120s);
  ASSERT_EQ(testing::Cluster::Finished(jobs), 1) << cluster_.Logs();
  const auto& result = jobs.jobs(0).result();
  ASSERT_EQ(result.outcome(), v1::OUTCOME_OK) << result.message();
  EXPECT_EQ(result.environment().threads(), UsableCpuCores());  // the effective count, as the runner used it
}

// Nothing the worker holds reaches the runner but its stdio: not its gRPC connection, and not a descriptor
// the worker itself inherited without close-on-exec (here one from this test, standing in for a careless
// parent or library).
TEST_F(WorkerTest, RunnerInheritsNoDescriptors) {
  int leaked[2] = {-1, -1};
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, leaked), 0);  // no SOCK_CLOEXEC, on purpose
  auto worker = cluster_.StartWorker("w1", {}, testing::kMisbehavingRunner);
  close(leaked[0]);
  close(leaked[1]);
  const v1::JobView job = RunOne("misbehave/fds");
  const v1::Result& result = job.result();
  EXPECT_EQ(result.exit_code(), 8) << result.message();
  EXPECT_NE(result.message().find("fds: 0 descriptors beyond stdio"), std::string::npos) << result.message() << "\n"
                                                                                         << result.stderr_tail();
  EXPECT_EQ(result.stderr_tail().find("inherited fd"), std::string::npos) << result.stderr_tail();
}

TEST_F(WorkerTest, NoOrphanOutlivesATimedOutJob) {
  auto worker = cluster_.StartWorker("w1", {}, testing::kMisbehavingRunner);
  const v1::JobView job = RunOne("misbehave/orphan", 2);
  EXPECT_EQ(job.result().outcome(), v1::OUTCOME_TIMEOUT) << job.result().message();
  const pid_t grandchild = OrphanPid("w1");
  ASSERT_GT(grandchild, 0) << cluster_.Logs();
  EXPECT_TRUE(EndsSoon(grandchild)) << "grandchild " << grandchild << " outlived its timed-out job";
}

// The runner exits while a grandchild it started lives on, holding the runner's stdout and stderr: the
// worker kills the group when it sees the runner exit, so the job ends at once (the pipes close) and
// nothing is left behind.
TEST_F(WorkerTest, NoOrphanOutlivesARunnerThatExits) {
  auto worker = cluster_.StartWorker("w1", {}, testing::kMisbehavingRunner);
  const v1::JobView job = RunOne("misbehave/orphan-exit", 60);
  const v1::Result& result = job.result();
  EXPECT_EQ(result.outcome(), v1::OUTCOME_ERROR) << result.message();
  EXPECT_EQ(result.exit_code(), 5) << result.message();
  EXPECT_LT(result.wall_time_s(), 30.0);  // not held open by the grandchild's pipes until the deadline
  const pid_t grandchild = OrphanPid("w1");
  ASSERT_GT(grandchild, 0) << cluster_.Logs();
  EXPECT_TRUE(EndsSoon(grandchild)) << "grandchild " << grandchild << " outlived its runner";
  // The same worker carries on.
  EXPECT_EQ(RunOne("misbehave/exit7").result().exit_code(), 7) << cluster_.Logs();
}

// A runner the worker cannot start is an infrastructure failure (SPEC section 1): it never becomes the
// job's `error`; the attempts count, and past the coordinator's cap (3 here) the job ends `lost`.
TEST_F(WorkerTest, SpawnFailureEndsLostNotError) {
  const std::string runner = cluster_.dir().File("not-a-runner");
  std::ofstream(runner) << "this file is executable but no program\n";
  ASSERT_EQ(chmod(runner.c_str(), 0755), 0);
  auto worker = cluster_.StartWorker("w1", {}, runner);
  ExpectLostAsInfrastructure(*worker);
}

// A job file the worker cannot write (here: each attempt's job.json path is taken by a directory, as a full or
// read-only disk would refuse it) is the host's failure like a failed spawn: never the job's `error`.
TEST_F(WorkerTest, AJobFileThatCannotBeWrittenEndsLostNotError) {
  const std::string attempts = cluster_.StateDir("w1") + "/attempts";
  for (int id = 1; id <= 50; ++id)
    std::filesystem::create_directories(attempts + "/attempt-" + std::to_string(id) + "/job.json/occupied");
  ASSERT_EQ(chmod(cluster_.StateDir("w1").c_str(), 0700), 0);
  auto worker = cluster_.StartWorker("w1", {}, testing::kMisbehavingRunner);
  ExpectLostAsInfrastructure(*worker);
  EXPECT_NE(cluster_.Logs().find("job file: cannot rename"), std::string::npos) << cluster_.Logs();
}

// The runner is started without the coordinator's credentials: a worker token in the worker's environment
// or file never reaches the child's environment.
TEST_F(WorkerTest, RunnerNeverSeesTheWorkersToken) {
  setenv("TSCALE_SECRET_PROBE", "inherited-by-the-worker", 1);
  setenv("TSCALE_WORKER_TOKEN", "worker-token-3c1e", 1);  // the worker reads its token from here
  auto worker = cluster_.StartWorker("w1", {}, testing::kMisbehavingRunner);
  unsetenv("TSCALE_SECRET_PROBE");
  unsetenv("TSCALE_WORKER_TOKEN");
  v1::SweepSpec spec;
  spec.add_models("misbehave/env");
  spec.add_seq_lengths(8);
  auto jobs = cluster_.WaitAllFinished(cluster_.Submit(spec), 60s);
  ASSERT_EQ(testing::Cluster::Finished(jobs), 1) << cluster_.Logs();
  const std::string env = jobs.jobs(0).result().stderr_tail();
  EXPECT_NE(env.find("TSCALE_WORKER_PID="), std::string::npos) << env;  // the dump is real
  EXPECT_EQ(env.find("TSCALE_SECRET_PROBE"), std::string::npos) << env;
  EXPECT_EQ(env.find("TOKEN"), std::string::npos) << env;
  EXPECT_EQ(env.find("worker-token-3c1e"), std::string::npos) << env;
  EXPECT_EQ(cluster_.Logs().find("worker-token-3c1e"), std::string::npos);  // nor any log
}

TEST_F(WorkerTest, AdvertisesDetectedCapabilities) {
  auto worker = cluster_.StartWorker("w1", {"--device", "auto", "--label", "lab-a", "--label", "fast-disk"});
  v1::ListWorkersResponse workers;
  for (int i = 0; i < 100 && workers.workers_size() == 0; ++i) {
    workers.Clear();
    ASSERT_TRUE(cluster_.stub().ListWorkers(cluster_.Ctx().get(), v1::ListWorkersRequest(), &workers).ok());
    if (workers.workers_size() == 0) std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(workers.workers_size(), 1) << cluster_.Logs();
  const auto& caps = workers.workers(0).capabilities();
  EXPECT_EQ(caps.device_kind(), v1::DEVICE_KIND_CPU);  // what the runner's libtorch reports here
  EXPECT_FALSE(caps.cpu_model().empty());
  EXPECT_EQ(caps.cpu_cores(), UsableCpuCores());
  EXPECT_GT(caps.ram_bytes(), 1LL << 30);
  EXPECT_GT(caps.device_memory_bytes(), 1LL << 30);
  EXPECT_NE(caps.os().find("Linux"), std::string::npos);
  EXPECT_EQ(std::vector<std::string>(caps.labels().begin(), caps.labels().end()),
            (std::vector<std::string>{"lab-a", "fast-disk"}));
}

// ---- Files the daemons trust at start-up: the worker's state directory, the server's port file ----

// Waits up to `limit` for `process` to exit; its wait status, or nullopt if it still runs.
std::optional<int> ExitWithin(testing::TestProcess& process, std::chrono::seconds limit) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  std::optional<int> status;
  while (!(status = process.Poll()) && std::chrono::steady_clock::now() < give_up) std::this_thread::sleep_for(50ms);
  return status;
}

std::vector<std::string> WorkerArgs(std::vector<std::string> extra) {
  // No coordinator listens on port 1: these tests end before a worker would need one.
  std::vector<std::string> args = {"--server", "127.0.0.1:1", "--runner", testing::kRunnerBinary, "--device", "cpu"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

TEST(DaemonStartup, WorkerRefusesAStateDirectoryOthersCanWrite) {
  testing::TempDir dir;
  const std::string state = dir.File("shared-state");
  ASSERT_EQ(mkdir(state.c_str(), 0700), 0);
  ASSERT_EQ(chmod(state.c_str(), 0777), 0);  // as a directory another user made first in /tmp would be
  testing::TestProcess worker(testing::kWorkerBinary, WorkerArgs({"--id", "w1", "--state-dir", state}),
                              dir.File("worker.log"));
  const auto status = ExitWithin(worker, 30s);
  ASSERT_TRUE(status.has_value()) << "the worker accepted a world-writable state directory: " << worker.Log();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 2) << worker.Log();
  EXPECT_NE(worker.Log().find(state), std::string::npos) << worker.Log();
  EXPECT_NE(worker.Log().find("writable"), std::string::npos) << worker.Log();
  EXPECT_TRUE(std::filesystem::is_empty(state));  // nothing read or written there
}

// Without --state-dir the worker uses a private per-user directory, never a predictable one in /tmp.
TEST(DaemonStartup, WorkerDefaultsToAPrivateDirectoryUnderXdgStateHome) {
  testing::TempDir dir;
  setenv("XDG_STATE_HOME", dir.File("xdg").c_str(), 1);
  unsetenv("STATE_DIRECTORY");
  testing::TestProcess worker(testing::kWorkerBinary, WorkerArgs({"--id", "w-default"}), dir.File("worker.log"));
  unsetenv("XDG_STATE_HOME");
  const std::string state = dir.File("xdg/tscale/worker-w-default");
  for (int i = 0; i < 200 && !std::filesystem::exists(state + "/outbox"); ++i) std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(std::filesystem::exists(state + "/outbox")) << worker.Log();
  struct stat st {};
  ASSERT_EQ(stat(state.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(st.st_uid, geteuid());
  EXPECT_NE(worker.Log().find("state directory " + state), std::string::npos) << worker.Log();
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::temp_directory_path() / "tscale-worker-w-default"));
  EXPECT_FALSE(worker.Poll().has_value()) << worker.Log();
}

// Two daemons with one id on one host share the default state directory, and with it the instance id the
// coordinator tells daemons apart by: the second is refused on the host, by the directory's lock, with the
// same exit code the coordinator's ALREADY_EXISTS gives, and the first keeps running.
TEST(DaemonStartup, ASecondWorkerWithTheSameIdOnOneHostExitsThree) {
  testing::TempDir dir;
  setenv("XDG_STATE_HOME", dir.File("xdg").c_str(), 1);
  unsetenv("STATE_DIRECTORY");
  testing::TestProcess first(testing::kWorkerBinary, WorkerArgs({"--id", "twin"}), dir.File("first.log"));
  const std::string state = dir.File("xdg/tscale/worker-twin");
  for (int i = 0; i < 200 && !std::filesystem::exists(state + "/outbox"); ++i) std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(std::filesystem::exists(state + "/outbox")) << first.Log();
  testing::TestProcess second(testing::kWorkerBinary, WorkerArgs({"--id", "twin"}), dir.File("second.log"));
  unsetenv("XDG_STATE_HOME");
  const auto status = ExitWithin(second, 30s);
  ASSERT_TRUE(status.has_value()) << "the second daemon kept running: " << second.Log();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 3) << second.Log();
  EXPECT_NE(second.Log().find("in use by another tscale-worker on this host"), std::string::npos) << second.Log();
  EXPECT_FALSE(first.Poll().has_value()) << first.Log();
}

// A port file that cannot be written ends start-up: whoever waits for it would otherwise wait forever.
TEST(DaemonStartup, ServerWithAnUnwritablePortFileExitsNamingIt) {
  testing::TempDir dir;
  std::ofstream(dir.File("plain")) << "a file, so nothing can be created below it (even by root)";
  const std::string port_file = dir.File("plain/port");
  testing::TestProcess server(testing::kServerBinary,
                              {"--listen", "127.0.0.1:0", "--port-file", port_file, "--db", dir.File("tscale.db"),
                               "--catalog", testing::kTestModelsDir},
                              dir.File("server.log"));
  const auto status = ExitWithin(server, 30s);
  ASSERT_TRUE(status.has_value()) << "the server kept running without its port file: " << server.Log();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0) << server.Log();
  EXPECT_NE(server.Log().find("--port-file"), std::string::npos) << server.Log();
  EXPECT_NE(server.Log().find(port_file), std::string::npos) << server.Log();
}

// ---- --idle-exit-s: a worker in a batch allocation (deploy/slurm/) leaves when there is nothing to do ----

// With no job queued the worker exits 0 once the idle period has passed: not before it, and within it plus one
// long poll (0.5 s here) and some slack for this loaded host.
TEST_F(WorkerTest, IdleExitStopsAWorkerWithNothingToDoWithCodeZero) {
  const auto started = std::chrono::steady_clock::now();
  auto worker = cluster_.StartWorker("idle", {"--idle-exit-s", "2"});
  const auto status = ExitWithin(*worker, 30s);
  const double elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  ASSERT_TRUE(status.has_value()) << "the idle worker kept running: " << cluster_.Logs();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << cluster_.Logs();
  EXPECT_GE(elapsed_s, 2.0);
  EXPECT_LE(elapsed_s, 12.0);
  EXPECT_NE(worker->Log().find("registered with"), std::string::npos) << worker->Log();
  EXPECT_NE(worker->Log().find("no job for 2 s (--idle-exit-s): stopping"), std::string::npos) << worker->Log();
}

// A job that runs longer than the idle period is not cut short: the countdown stops while a job runs and
// starts again when it ends, so the worker delivers the result and leaves about one idle period later.
TEST_F(WorkerTest, IdleExitWaitsForTheRunningJobAndCountsFromItsEnd) {
  const int64_t sweep = cluster_.SubmitLong(1, 3.0);
  auto worker = cluster_.StartWorker("busy", {"--idle-exit-s", "1"});
  const auto status = ExitWithin(*worker, 90s);
  const int64_t exited_ms = NowUnixMs();
  ASSERT_TRUE(status.has_value()) << "the worker kept running: " << cluster_.Logs();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << cluster_.Logs();
  const v1::ListResultsResponse jobs = cluster_.Jobs(sweep);
  ASSERT_EQ(jobs.jobs_size(), 1);
  EXPECT_EQ(jobs.jobs(0).state(), v1::JOB_STATE_FINISHED) << cluster_.Logs();
  EXPECT_EQ(jobs.jobs(0).result().outcome(), v1::OUTCOME_OK) << jobs.jobs(0).result().message();
  EXPECT_GE(jobs.jobs(0).result().finished_unix_ms() - jobs.jobs(0).result().started_unix_ms(), 3000);
  EXPECT_GE(exited_ms - jobs.jobs(0).result().finished_unix_ms(), 900) << "left before the idle period after the job";
}

// A worker that never reached its coordinator within the idle period has failed, and says so with exit 1:
// exit 0 would tell a batch array that there was simply nothing to do.
TEST(DaemonStartup, IdleExitWithoutACoordinatorExitsOne) {
  testing::TempDir dir;
  testing::TestProcess worker(testing::kWorkerBinary,
                              WorkerArgs({"--id", "alone", "--state-dir", dir.File("state"), "--idle-exit-s", "1"}),
                              dir.File("worker.log"));
  const auto status = ExitWithin(worker, 30s);
  ASSERT_TRUE(status.has_value()) << "the worker kept running: " << worker.Log();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1) << worker.Log();
  EXPECT_NE(worker.Log().find("not registered with 127.0.0.1:1 for 1 s"), std::string::npos) << worker.Log();
}

// A coordinator that goes away during the idle period is no "nothing to do" either: the worker, registered and
// idle, cannot claim for the rest of the period and exits 1, without retrying for ever.
TEST_F(WorkerTest, IdleExitWithTheCoordinatorGoneExitsOne) {
  auto worker = cluster_.StartWorker("orphan", {"--idle-exit-s", "3"});
  const auto registered = std::chrono::steady_clock::now() + 20s;
  while (worker->Log().find("registered with") == std::string::npos && std::chrono::steady_clock::now() < registered)
    std::this_thread::sleep_for(50ms);
  ASSERT_NE(worker->Log().find("registered with"), std::string::npos) << worker->Log();
  cluster_.server().process().Stop();
  const auto status = ExitWithin(*worker, 60s);
  ASSERT_TRUE(status.has_value()) << "the worker kept running: " << worker->Log();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1) << worker->Log();
  EXPECT_NE(worker->Log().find("cannot reach"), std::string::npos) << worker->Log();
}

// ---- The runner's address-space cap at many threads ----

// At 32 threads the runner's thread pools map gigabytes they never touch (OpenBLAS: a 128 MiB GEMM buffer
// per thread). A job peaking at 90 % of its memory limit must still end `ok`: before the cap counted those
// pools, it failed its first threaded matmul (and OpenBLAS, retrying the allocation, hung to the deadline).
// Run directly, because a worker on this host would cap the job's threads at its cores.
TEST(RunnerAddressSpace, AJobPeakingAt90PercentOfItsLimitEndsOkAt32Threads) {
  testing::TempDir dir;
  v1::JobSpec job;
  job.set_job_id(1);
  job.set_model_id("test/tiny-bert");
  auto config = ReadWholeFile(std::string(testing::kTestModelsDir) + "/tiny-bert.json");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  job.set_model_config_json(*config);
  job.set_seq_len(16);
  job.set_batch_size(1);
  auto* m = job.mutable_measurement();
  m->set_warmup_iters(2);
  m->set_min_iters(5);
  m->set_min_time_s(0.2);
  m->set_max_iters(1000);
  m->set_max_time_s(10);
  m->set_threads(32);
  m->set_seed(1);
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(job, &json).ok());
  ASSERT_TRUE(WriteFileAtomically(dir.File("job.json"), json).ok());

  // As the worker runs it (OMP_NUM_THREADS from the job's threads), with or without a limit.
  auto run = [&](int64_t limit, std::string* stderr_tail) {
    ChildSpec spec;
    spec.program = testing::kRunnerBinary;
    spec.args = {"--job", dir.File("job.json"), "--result", dir.File("result.json")};
    spec.env = {"PATH=/usr/bin:/bin", "OMP_NUM_THREADS=32"};
    if (limit > 0) spec.env.push_back("TSCALE_MEMORY_LIMIT_BYTES=" + std::to_string(limit));
    spec.deadline = std::chrono::seconds(90);  // the old cap hung here rather than failing
    std::filesystem::remove(dir.File("result.json"));
    v1::Result result;
    auto exit = RunChild(spec, std::chrono::milliseconds(200), nullptr);
    EXPECT_TRUE(exit.ok());
    if (!exit.ok()) return result;
    *stderr_tail = exit->stderr_tail;
    EXPECT_TRUE(exit->exited && exit->exit_code == kRunnerExitResultWritten)
        << "exited " << exit->exited << " code " << exit->exit_code << " signal " << exit->signal << "\n"
        << exit->stderr_tail;
    auto text = ReadWholeFile(dir.File("result.json"));
    if (text.ok()) EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(*text, &result).ok());
    return result;
  };
  std::string stderr_tail;
  const v1::Result free_run = run(0, &stderr_tail);
  ASSERT_EQ(free_run.outcome(), v1::OUTCOME_OK)
      << free_run.message() << (free_run.invalid_reasons_size() > 0 ? free_run.invalid_reasons(0) : "") << stderr_tail;
  EXPECT_EQ(free_run.environment().threads(), 32);
  const int64_t peak = free_run.memory().peak_rss_bytes();
  ASSERT_GT(peak, 0);

  const int64_t limit = static_cast<int64_t>(static_cast<double>(peak) / 0.9);
  v1::Result limited = run(limit, &stderr_tail);
  EXPECT_NE(stderr_tail.find("address space capped"), std::string::npos) << stderr_tail;  // the cap was set
  ASSERT_EQ(limited.outcome(), v1::OUTCOME_OK) << limited.message() << "\n" << stderr_tail;
  EXPECT_EQ(limited.environment().threads(), 32);
  ApplyMemoryBudget(limit, &limited);  // what the worker does with the runner's peak
  EXPECT_EQ(limited.outcome(), v1::OUTCOME_OK)
      << "peak " << (limited.memory().peak_rss_bytes() >> 20) << " MiB, limit " << (limit >> 20) << " MiB";
  std::cout << "32 threads: peak RSS " << (peak >> 20) << " MiB unlimited, "
            << (limited.memory().peak_rss_bytes() >> 20) << " MiB under a " << (limit >> 20) << " MiB limit; "
            << stderr_tail;
}

}  // namespace
}  // namespace tscale
