// tscale-client as a user drives it, against a real coordinator and worker: a length range, tags, --wait,
// the HTML report, the Python gRPC example, and the usage errors that must stop before anything is stored.
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "server/sqlite.h"
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
  };
  for (const auto& c : cases) {
    auto run = Cli(c.args);
    EXPECT_EQ(run.exit_code, 2) << c.args[1] << ": " << run.stderr_tail;
    EXPECT_NE(run.stderr_tail.find(c.names), std::string::npos) << run.stderr_tail;
    EXPECT_EQ(std::count(run.stderr_tail.begin(), run.stderr_tail.end(), '\n'), 1) << run.stderr_tail;
  }
  EXPECT_TRUE(StoredSweeps().empty());
}

}  // namespace
}  // namespace tscale
