// tscale-client as a user drives it, against a real coordinator and worker: a length range, tags, --wait,
// the HTML report, the Python gRPC example, and the usage errors that must stop before anything is stored.
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "server/sql.h"
#include "support/cluster.h"
#include "worker/child_process.h"

namespace tscale {
namespace {

using namespace std::chrono_literals;

class ClientEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(cluster_.StartServer()) << cluster_.Logs(); }

  ChildExit Cli(std::vector<std::string> args) {
    ChildSpec spec;
    spec.program = testing::kClientBinary;
    spec.args = {"--server", cluster_.server().address()};
    spec.args.insert(spec.args.end(), args.begin(), args.end());
    spec.output_tail_bytes = 1 << 20;
    spec.deadline = 180s;
    auto run = RunChild(spec, 1000ms, nullptr);
    EXPECT_TRUE(run.ok());
    return run.ok() ? *run : ChildExit{};
  }

  // The sweep specs as stored, read from the database file itself.
  std::vector<v1::SweepSpec> StoredSweeps() {
    sql::Database db;
    EXPECT_TRUE(db.Open(cluster_.dir().File("tscale.db")).ok());
    sql::Statement rows(db, "SELECT spec FROM sweeps ORDER BY id");
    std::vector<v1::SweepSpec> specs;
    while (rows.Step()) {
      specs.emplace_back();
      EXPECT_TRUE(specs.back().ParseFromString(rows.ColumnBlob(0)));
    }
    return specs;
  }

  testing::Cluster cluster_;
};

TEST_F(ClientEndToEnd, RangeSweepThenHtmlReportAndThePythonExample) {
  auto worker = cluster_.StartWorker("w1");
  auto submitted = Cli({"submit", "--models", "tiny-bert,tiny-gpt2", "--lengths", "16..128", "--min-time-s", "0.05",
                        "--min-iters", "3", "--tag", "owner=ci", "--wait", "--wait-max-s", "150"});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.stderr_tail << cluster_.Logs();
  // 16, 32, 64, 128 for both models.
  ASSERT_NE(submitted.stdout_tail.find("sweep 1 submitted: 8 jobs"), std::string::npos) << submitted.stdout_tail;
  auto sweeps = StoredSweeps();
  ASSERT_EQ(sweeps.size(), 1u);
  EXPECT_EQ(sweeps[0].labels().at("owner"), "ci");
  EXPECT_EQ(sweeps[0].seq_lengths_size(), 4);

  const std::string html_path = cluster_.dir().File("report.html");
  auto report = Cli({"report", "--sweep", "1", "--html", html_path});
  ASSERT_EQ(report.exit_code, 0) << report.stderr_tail;
  EXPECT_NE(report.stdout_tail.find("Peak memory by category and length"), std::string::npos);
  std::ifstream in(html_path);
  std::stringstream html;
  html << in.rdbuf();
  // tiny-bert's 64-row position table: at 128 one model works and one hits its context limit.
  EXPECT_NE(html.str().find("data-bar=\"128\" data-layer=\"ok\" data-value=\"1\""), std::string::npos);
  EXPECT_NE(html.str().find("data-bar=\"128\" data-layer=\"context\" data-value=\"1\""), std::string::npos);
  EXPECT_NE(html.str().find("<td>test/tiny-gpt2</td>"), std::string::npos);
  EXPECT_NE(html.str().find("sweep 1: 8 finished jobs, 2 distinct models, 4 lengths"), std::string::npos);

  // results --json is the API's own message: it parses back into exactly what ListResults returns.
  auto json = Cli({"results", "--sweep", "1", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.stderr_tail;
  v1::ListResultsResponse from_json;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json.stdout_tail, &from_json).ok()) << json.stdout_tail;
  v1::ListResultsRequest list;
  list.set_sweep_id(1);
  list.set_include_samples(true);
  v1::ListResultsResponse direct;
  ASSERT_TRUE(cluster_.stub().ListResults(cluster_.Ctx().get(), list, &direct).ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(from_json, direct));
  EXPECT_GT(from_json.jobs(0).result().samples_ms_size(), 0);  // raw samples included

  // The same results from Python, over gRPC, with Debian's python3-grpcio.
  const auto script =
      std::filesystem::path(testing::kCatalogDir).parent_path() / "examples" / "python" / "list_results.py";
  ChildSpec python;
  python.program = "/usr/bin/python3";
  python.args = {script.string(), "--server", cluster_.server().address(), "--sweep", "1", "--csv"};
  python.env = {"PATH=/usr/bin:/bin"};
  python.deadline = 60s;
  auto listed = RunChild(python, 1000ms, nullptr);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->exit_code, 0) << listed->stderr_tail;
  std::istringstream lines(listed->stdout_tail);
  std::string line;
  int rows = 0, ok = 0, context = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("job,", 0) == 0) continue;
    ++rows;
    ok += line.find(",finished,ok,") != std::string::npos;
    context += line.find("test/tiny-bert,128,finished,exceeds_context,") != std::string::npos;
  }
  EXPECT_EQ(rows, 8) << listed->stdout_tail;
  EXPECT_EQ(ok, 7) << listed->stdout_tail;
  EXPECT_EQ(context, 1) << listed->stdout_tail;

  // A sweep id that does not exist is NOT_FOUND (not an empty list): exit 2, like tscale-client.
  python.args = {script.string(), "--server", cluster_.server().address(), "--sweep", "99"};
  auto missing = RunChild(python, 1000ms, nullptr);
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->exit_code, 2) << missing->stdout_tail << missing->stderr_tail;
  EXPECT_NE(missing->stderr_tail.find("NOT_FOUND: sweep 99 does not exist"), std::string::npos) << missing->stderr_tail;

  // No server there: one line on stderr and exit 1, like tscale-client.
  python.args = {script.string(), "--server", "127.0.0.1:1", "--sweep", "1"};
  auto unreachable = RunChild(python, 1000ms, nullptr);
  ASSERT_TRUE(unreachable.ok());
  EXPECT_EQ(unreachable->exit_code, 1) << unreachable->stdout_tail << unreachable->stderr_tail;
  EXPECT_NE(unreachable->stderr_tail.find("UNAVAILABLE"), std::string::npos) << unreachable->stderr_tail;
}

TEST_F(ClientEndToEnd, UsageErrorsNameTheFlagAndStoreNothing) {
  struct Case {
    std::vector<std::string> args;
    std::string names;
  };
  const std::vector<Case> cases = {
      {{"submit", "--models", "tiny-bert", "--lengths", "0"}, "--lengths"},
      {{"submit", "--models", "tiny-bert", "--lengths", "512..128"}, "runs backwards"},
      {{"submit", "--preset", "fastest"}, "--preset"},
      {{"submit", "--models", "category:No Such Category", "--lengths", "16"}, "No Such Category"},
      {{"submit", "--category", "Nope", "--lengths", "16"}, "\"Nope\""},
      {{"submit", "--models", "tiny-bert", "--lengths", "16", "--device", "tpu"}, "--device"},
      {{"submit", "--models", "tiny-bert", "--lengths", "16", "--min-device-memory", "lots"}, "--min-device-memory"},
      {{"submit", "--models", "tiny-bert", "--lengths", "16", "--tag", "novalue"}, "--tag"},
      {{"submit", "--models", "no-such-model", "--lengths", "16"}, "no-such-model"},
      {{"report", "--sweep", "1", "--html", "/nonexistent-dir/r.html"}, "sweep 1 does not exist"},
      {{"results", "--sweep", "42"}, "sweep 42 does not exist"},
      {{"submit", "--models", "tiny-bert", "--wall-start", "64"}, "need --find-wall"},
      {{"submit", "--models", "tiny-bert", "--find-wall", "--lengths", "16"}, "not used with find_wall"},
      // Flags CLI11 refuses exit 2 too (not its 104-114), naming the flag.
      {{"status", "--bogus"}, "--bogus"},
      {{"submit", "--models", "tiny-bert", "--lengths", "16", "--results"}, "--results requires --wait"},
      {{"submit", "--models", "tiny-bert", "--lengths", "16", "--wait-max-s", "5"}, "--wait-max-s requires --wait"},
      {{"submit", "--models", "tiny-bert", "--lengths", "16", "--repetitions", "0"}, "--repetitions"},
      {{"submit", "--models", "tiny-bert", "--lengths", "16", "--max-cv", "noisy"}, "--max-cv"},
      {{"--timeout-s", "0", "status"}, "--timeout-s: must be a number of seconds above 0"},
      {{"status", "--timeout-s", "-1"}, "--timeout-s: must be a number of seconds above 0"},
      {{"models", "--category", "Nope"}, "no catalog model has category \"Nope\" (known: "},
      // The coordinator's bounds on measurement settings, reached from the command line.
      {{"submit", "--models", "tiny-bert", "--lengths", "16", "--min-time-s", "1e300"}, "spec.measurement.min_time_s"},
  };
  for (const auto& c : cases) {
    auto run = Cli(c.args);
    EXPECT_EQ(run.exit_code, 2) << c.args[1] << ": " << run.stderr_tail;
    EXPECT_NE(run.stderr_tail.find(c.names), std::string::npos) << run.stderr_tail;
    EXPECT_EQ(std::count(run.stderr_tail.begin(), run.stderr_tail.end(), '\n'), 1) << run.stderr_tail;
  }
  EXPECT_TRUE(StoredSweeps().empty());
}

// The connection flags work after the subcommand too.
TEST_F(ClientEndToEnd, GlobalFlagsMayFollowTheSubcommand) {
  ChildSpec spec;
  spec.program = testing::kClientBinary;
  spec.args = {"status", "--server", cluster_.server().address(), "--timeout-s", "5"};
  spec.deadline = 60s;
  auto run = RunChild(spec, 1000ms, nullptr);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->exit_code, 0) << run->stderr_tail;
}

// Exit 2 for a bad flag in every binary, and --log-level names in any case (a typo is refused, naming the
// valid levels, instead of silently turning logging off).
TEST_F(ClientEndToEnd, EveryBinaryExitsTwoOnABadFlagAndReadsLogLevelsInAnyCase) {
  auto run = [](const std::string& program, std::vector<std::string> args) {
    ChildSpec spec;
    spec.program = program;
    spec.args = std::move(args);
    spec.deadline = 60s;
    auto exit = RunChild(spec, 1000ms, nullptr);
    EXPECT_TRUE(exit.ok());
    return exit.ok() ? *exit : ChildExit{};
  };
  struct Case {
    std::string program;
    std::vector<std::string> args;
    std::string names;
  };
  const std::vector<Case> refused = {
      {testing::kServerBinary, {"--bogus"}, "--bogus"},
      {testing::kServerBinary, {"--lease-s", "soon"}, "--lease-s"},
      {testing::kServerBinary, {"--log-level", "INFOO"}, "trace, debug, info, warn, error, critical, off"},
      {testing::kServerBinary, {"--max-cv", "-1"}, "--max-cv"},
      {testing::kWorkerBinary, {"--bogus"}, "--bogus"},
      {testing::kWorkerBinary, {"--log-level", "verbose"}, "trace, debug, info, warn, error, critical, off"},
      {testing::kRunnerBinary, {"--bogus"}, "--bogus"},
      {testing::kClientBinary, {"--log-level", "info", "status"}, "--log-level"},  // the client has no logging
  };
  for (const auto& c : refused) {
    auto exit = run(c.program, c.args);
    EXPECT_TRUE(exit.exited && exit.exit_code == 2) << c.program << " " << c.args[0] << ": " << exit.exit_code;
    EXPECT_NE((exit.stdout_tail + exit.stderr_tail).find(c.names), std::string::npos)
        << exit.stdout_tail << exit.stderr_tail;
  }
  // Upper-case levels are honoured: an error the daemon refuses to start on is logged, not swallowed.
  auto server = run(testing::kServerBinary, {"--log-level", "WARN", "--listen", "0.0.0.0:0"});
  EXPECT_EQ(server.exit_code, 2);
  EXPECT_NE((server.stdout_tail + server.stderr_tail).find("refusing to listen"), std::string::npos)
      << server.stdout_tail << server.stderr_tail;
  auto worker = run(testing::kWorkerBinary, {"--log-level", "Error", "--runner", "/nonexistent/tscale-runner"});
  EXPECT_EQ(worker.exit_code, 2);
  EXPECT_NE((worker.stdout_tail + worker.stderr_tail).find("--runner"), std::string::npos)
      << worker.stdout_tail << worker.stderr_tail;
}

// `report` on a sweep still running reports what has finished, says how much is missing, and exits 0.
TEST_F(ClientEndToEnd, ReportOnARunningSweepCoversWhatHasFinished) {
  auto submitted = Cli({"submit", "--models", "tiny-bert", "--lengths", "16,32"});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.stderr_tail;
  auto nothing_yet = Cli({"report", "--sweep", "1"});
  EXPECT_EQ(nothing_yet.exit_code, 0) << nothing_yet.stderr_tail;
  EXPECT_NE(nothing_yet.stdout_tail.find("sweep 1 is still running: none of its 2 matching jobs has finished yet"),
            std::string::npos)
      << nothing_yet.stdout_tail;

  // A simulated worker finishes one of the two jobs.
  auto worker =
      v1::WorkerService::NewStub(grpc::CreateChannel(cluster_.server().address(), grpc::InsecureChannelCredentials()));
  v1::RegisterWorkerRequest reg;
  reg.set_worker_id("sim");
  reg.mutable_capabilities()->set_device_kind(v1::DEVICE_KIND_CPU);
  v1::RegisterWorkerResponse registered;
  ASSERT_TRUE(worker->RegisterWorker(cluster_.Ctx().get(), reg, &registered).ok());
  v1::ClaimJobRequest claim;
  claim.set_worker_id("sim");
  v1::ClaimJobResponse claimed;
  ASSERT_TRUE(worker->ClaimJob(cluster_.Ctx().get(), claim, &claimed).ok());
  ASSERT_TRUE(claimed.has_job());
  v1::CompleteJobRequest complete;
  complete.set_worker_id("sim");
  complete.set_attempt_id(claimed.lease().attempt_id());
  complete.mutable_result()->set_outcome(v1::OUTCOME_EXCEEDS_CONTEXT);
  complete.mutable_result()->set_message("too long");
  v1::CompleteJobResponse completed;
  ASSERT_TRUE(worker->CompleteJob(cluster_.Ctx().get(), complete, &completed).ok());

  auto partial = Cli({"report", "--sweep", "1"});
  EXPECT_EQ(partial.exit_code, 0) << partial.stderr_tail;
  EXPECT_NE(partial.stdout_tail.find(
                "sweep 1 is still running: 1 of 2 matching jobs have no result yet; these tables cover the 1 that "
                "finished"),
            std::string::npos)
      << partial.stdout_tail;
  EXPECT_NE(partial.stdout_tail.find("Peak memory by category and length"), std::string::npos) << partial.stdout_tail;
  // status shows the outcome by its short name, whatever the wire's map key.
  auto status = Cli({"status", "--sweep", "1"});
  EXPECT_EQ(status.exit_code, 0);
  EXPECT_NE(status.stdout_tail.find("[exceeds_context=1]"), std::string::npos) << status.stdout_tail;
}

// submit --wait rides out a coordinator restart as watch does, instead of giving up on the first outage.
TEST_F(ClientEndToEnd, WaitRidesOutACoordinatorRestart) {
  const int port = cluster_.server().port();
  const std::string log = cluster_.dir().File("client-wait.log");
  testing::TestProcess client(
      testing::kClientBinary,
      {"--server", cluster_.server().address(), "--timeout-s", "5", "submit", "--models", "tiny-bert", "--lengths",
       "16", "--min-time-s", "0.05", "--min-iters", "3", "--wait", "--wait-max-s", "150"},
      log);
  ASSERT_TRUE(client.started());
  for (int i = 0; i < 100 && testing::TestProcess::ReadFile(log).find("0/1 finished") == std::string::npos; ++i)
    std::this_thread::sleep_for(100ms);
  ASSERT_NE(testing::TestProcess::ReadFile(log).find("0/1 finished"), std::string::npos)
      << testing::TestProcess::ReadFile(log);
  cluster_.server().process().Stop();
  std::this_thread::sleep_for(2s);  // several polls find nobody there
  ASSERT_FALSE(client.Poll().has_value()) << testing::TestProcess::ReadFile(log);
  ASSERT_TRUE(cluster_.StartServer({"--heartbeat-s", "0.5", "--lease-s", "3"}, port)) << cluster_.Logs();
  auto worker = cluster_.StartWorker("w1");
  std::optional<int> exit;
  for (int i = 0; i < 1500 && !(exit = client.Poll()); ++i) std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(exit.has_value()) << testing::TestProcess::ReadFile(log);
  EXPECT_TRUE(WIFEXITED(*exit) && WEXITSTATUS(*exit) == 0) << testing::TestProcess::ReadFile(log) << cluster_.Logs();
  const std::string output = testing::TestProcess::ReadFile(log);
  EXPECT_NE(output.find("wait for sweep 1 interrupted"), std::string::npos) << output;
  EXPECT_NE(output.find("1/1 finished"), std::string::npos) << output;
}

}  // namespace
}  // namespace tscale
