// The whole system on loopback: a real tscale-server (SQLite file in a temp dir), a real tscale-worker
// spawning real tscale-runner children, and tscale-client, all as separate processes.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "server/sql.h"
#include "support/cluster.h"
#include "support/safetensors_file.h"
#include "support/temp_dir.h"
#include "support/test_paths.h"
#include "support/test_process.h"
#include "tscale/v1/tscale.grpc.pb.h"
#include "worker/child_process.h"

namespace tscale {
namespace {

using namespace std::chrono_literals;
using testing::TestProcess;

constexpr int64_t kTinyBertParams = 172'480;  // BERT formula at d=64, L=2, V=1000, P=64, T=2
constexpr int64_t kTinyGpt2Params = 172'288;  // GPT-2 formula V*d + P*d + L(12d^2+13d) + 2d, P=128

class EndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<TestProcess>(
        testing::kServerBinary,
        std::vector<std::string>{"--listen", "127.0.0.1:0", "--port-file", dir_.File("port"), "--db",
                                 dir_.File("tscale.db"), "--catalog", testing::kCatalogDir, "--catalog",
                                 testing::kTestModelsDir, "--heartbeat-s", "1", "--lease-s", "10", "--max-cv", "0"},
        dir_.File("server.log"));
    ASSERT_TRUE(server_->started());
    for (int i = 0; i < 300 && !std::filesystem::exists(dir_.File("port")); ++i) std::this_thread::sleep_for(100ms);
    ASSERT_TRUE(std::filesystem::exists(dir_.File("port"))) << server_->Log();
    std::ifstream(dir_.File("port")) >> port_;
    address_ = "127.0.0.1:" + std::to_string(port_);
    stub_ = v1::TscaleService::NewStub(grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));

    worker_ = std::make_unique<TestProcess>(
        testing::kWorkerBinary,
        std::vector<std::string>{"--server", address_, "--runner", testing::kRunnerBinary, "--id", "e2e-worker",
                                 "--threads", "1", "--state-dir", dir_.File("work"), "--claim-wait-s", "1"},
        dir_.File("worker.log"));
    ASSERT_TRUE(worker_->started());
  }

  std::unique_ptr<grpc::ClientContext> Ctx() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + 30s);
    return ctx;
  }

  v1::SweepStatus WaitDone(int64_t sweep_id, std::chrono::seconds limit) {
    v1::SweepStatus status;
    const auto give_up = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < give_up) {
      v1::GetSweepRequest request;
      request.set_sweep_id(sweep_id);
      status.Clear();
      auto ctx = Ctx();
      EXPECT_TRUE(stub_->GetSweep(ctx.get(), request, &status).ok());
      if (status.done()) break;
      std::this_thread::sleep_for(200ms);
    }
    return status;
  }

  testing::TempDir dir_;
  std::unique_ptr<TestProcess> server_, worker_;
  int port_ = 0;
  std::string address_;
  std::unique_ptr<v1::TscaleService::Stub> stub_;
};

TEST_F(EndToEnd, SweepCompletesWithOneTypedResultPerJob) {
  v1::SubmitSweepRequest submit;
  auto* spec = submit.mutable_spec();
  spec->set_name("e2e");
  spec->add_models("tiny-bert");
  spec->add_models("tiny-gpt2");
  for (int n : {16, 32, 64, 100}) spec->add_seq_lengths(n);  // 100 is past tiny-bert's 64 positions
  spec->mutable_measurement()->set_min_time_s(0.05);
  spec->mutable_measurement()->set_min_iters(3);
  v1::SubmitSweepResponse submitted;
  {
    auto ctx = Ctx();
    grpc::Status status = stub_->SubmitSweep(ctx.get(), submit, &submitted);
    ASSERT_TRUE(status.ok()) << status.error_message() << "\n" << server_->Log();
  }
  EXPECT_EQ(submitted.job_count(), 8);

  v1::SweepStatus done = WaitDone(submitted.sweep_id(), 180s);
  ASSERT_TRUE(done.done()) << "server:\n" << server_->Log() << "\nworker:\n" << worker_->Log();
  EXPECT_EQ(done.finished(), 8);
  EXPECT_EQ(done.outcome_counts().at("OUTCOME_OK"), 7);
  EXPECT_EQ(done.outcome_counts().at("OUTCOME_EXCEEDS_CONTEXT"), 1);

  v1::ListResultsRequest list;
  list.set_sweep_id(submitted.sweep_id());
  list.set_include_samples(true);
  v1::ListResultsResponse results;
  {
    auto ctx = Ctx();
    ASSERT_TRUE(stub_->ListResults(ctx.get(), list, &results).ok());
  }
  ASSERT_EQ(results.jobs_size(), 8);
  for (const auto& job : results.jobs()) {
    const auto& spec_ = job.spec();
    const auto& r = job.result();
    SCOPED_TRACE(spec_.model_id() + " @ " + std::to_string(spec_.seq_len()));
    EXPECT_EQ(job.state(), v1::JOB_STATE_FINISHED);
    EXPECT_EQ(job.attempts(), 1);
    EXPECT_EQ(r.job_id(), spec_.job_id());
    EXPECT_EQ(r.worker_id(), "e2e-worker");
    const bool bert = spec_.model_id() == "test/tiny-bert";
    if (bert && spec_.seq_len() == 100) {
      EXPECT_EQ(r.outcome(), v1::OUTCOME_EXCEEDS_CONTEXT);
      EXPECT_NE(r.message().find("position limit of 64"), std::string::npos) << r.message();
      EXPECT_EQ(r.samples_ms_size(), 0);
      continue;
    }
    ASSERT_EQ(r.outcome(), v1::OUTCOME_OK) << r.message() << r.stderr_tail();
    EXPECT_EQ(r.parameter_count(), bert ? kTinyBertParams : kTinyGpt2Params);
    EXPECT_GT(r.load_time_ms(), 0);
    EXPECT_GE(r.latency().count(), 3);
    EXPECT_EQ(r.samples_ms_size(), r.latency().count());
    EXPECT_GT(r.latency().median_ms(), 0);
    EXPECT_NEAR(r.tokens_per_second(), spec_.seq_len() / (r.latency().median_ms() / 1000.0),
                1e-6 * r.tokens_per_second());
    EXPECT_GT(r.memory().peak_rss_bytes(), 50LL << 20);  // libtorch alone is > 100 MB
    EXPECT_LT(r.memory().peak_rss_bytes(), 4LL << 30);
    EXPECT_GT(r.memory().child_maxrss_bytes(), 0);
    EXPECT_EQ(r.environment().threads(), 1);
    EXPECT_FALSE(r.environment().hostname().empty());
  }

  // Exactly one result row per job in the database itself.
  {
    sql::Database db;
    ASSERT_TRUE(db.Open(dir_.File("tscale.db")).ok());
    sql::Statement rows(db, "SELECT COUNT(*), COUNT(DISTINCT job_id) FROM results");
    ASSERT_TRUE(rows.Step());
    EXPECT_EQ(rows.ColumnInt(0), 8);
    EXPECT_EQ(rows.ColumnInt(1), 8);
  }

  // The watch stream replays the sweep from the start: every job's lease, start and finish, and the runner
  // progress the worker streamed while each job ran.
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 30s);
    v1::WatchSweepRequest watch;
    watch.set_sweep_id(submitted.sweep_id());
    auto reader = stub_->WatchSweep(&ctx, watch);
    std::map<v1::JobState, int> by_state;
    int measuring = 0;
    bool ended = false;
    v1::SweepEvent event;
    while (reader->Read(&event)) {
      if (event.end_of_sweep()) ended = true;
      if (event.has_metric()) {
        measuring += event.metric().phase() == "measuring";
      } else if (!event.keepalive() && !event.end_of_sweep()) {
        ++by_state[event.state()];
      }
    }
    EXPECT_TRUE(reader->Finish().ok());
    EXPECT_TRUE(ended);
    EXPECT_EQ(by_state[v1::JOB_STATE_LEASED], 8);
    EXPECT_EQ(by_state[v1::JOB_STATE_FINISHED], 8);
    EXPECT_GE(measuring, 7);  // at least one progress report per measured job
  }

  // The CLI shows the same results as a readable table.
  ChildSpec client;
  client.program = testing::kClientBinary;
  client.args = {"--server", address_, "results", "--sweep", std::to_string(submitted.sweep_id())};
  auto shown = RunChild(client, 1000ms, nullptr);
  ASSERT_TRUE(shown.ok());
  EXPECT_EQ(shown->exit_code, 0) << shown->stderr_tail;
  EXPECT_NE(shown->stdout_tail.find("exceeds_context"), std::string::npos) << shown->stdout_tail;
  EXPECT_NE(shown->stdout_tail.find("test/tiny-gpt2"), std::string::npos);
  EXPECT_NE(shown->stdout_tail.find("median_ms"), std::string::npos);

  // The report: tiny-bert works to 64 tokens and hits its position table at 100; tiny-gpt2 works throughout.
  auto cli = [&](std::vector<std::string> args) {
    ChildSpec spec;
    spec.program = testing::kClientBinary;
    spec.args = {"--server", address_};
    spec.args.insert(spec.args.end(), args.begin(), args.end());
    spec.output_tail_bytes = 1 << 20;
    auto run = RunChild(spec, 1000ms, nullptr);
    EXPECT_TRUE(run.ok());
    return run.ok() ? *run : ChildExit{};
  };
  const std::string sweep_arg = std::to_string(submitted.sweep_id());
  auto report = cli({"report", "--sweep", sweep_arg});
  EXPECT_EQ(report.exit_code, 0) << report.stderr_tail;
  EXPECT_NE(report.stdout_tail.find("Success by sequence length"), std::string::npos) << report.stdout_tail;
  EXPECT_NE(report.stdout_tail.find("100 (context)"), std::string::npos) << report.stdout_tail;
  EXPECT_NE(report.stdout_tail.find("High 0, Medium 0, Low 0, Failed 2"), std::string::npos) << report.stdout_tail;
  // Exported as CSV and reported offline, the figures are the same.
  auto csv = cli({"results", "--sweep", sweep_arg, "--csv"});
  EXPECT_EQ(csv.exit_code, 0) << csv.stderr_tail;
  EXPECT_EQ(std::count(csv.stdout_tail.begin(), csv.stdout_tail.end(), '\n'), 9);  // header + 8 jobs
  std::ofstream(dir_.File("results.csv")) << csv.stdout_tail;
  auto offline = cli({"report", "--from-csv", dir_.File("results.csv")});
  EXPECT_EQ(offline.exit_code, 0) << offline.stderr_tail;
  EXPECT_EQ(offline.stdout_tail, report.stdout_tail);
  // Error paths: one clear line and exit code 2.
  std::ofstream(dir_.File("broken.csv")) << "not,a,results,file\n";
  for (const auto& args : std::vector<std::vector<std::string>>{{"report", "--from-csv", dir_.File("broken.csv")},
                                                                {"report", "--sweep", "999"},
                                                                {"results", "--csv", "--json"}}) {
    auto failed = cli(args);
    EXPECT_EQ(failed.exit_code, 2) << args[0] << " " << args[1] << ": " << failed.stderr_tail;
    EXPECT_EQ(std::count(failed.stderr_tail.begin(), failed.stderr_tail.end(), '\n'), 1) << failed.stderr_tail;
  }

  // Both daemons stop cleanly on SIGTERM.
  int worker_status = worker_->Stop();
  EXPECT_TRUE(WIFEXITED(worker_status) && WEXITSTATUS(worker_status) == 0) << worker_->Log();
  int server_status = server_->Stop();
  EXPECT_TRUE(WIFEXITED(server_status) && WEXITSTATUS(server_status) == 0) << server_->Log();
}

TEST_F(EndToEnd, InvalidSweepIsRejectedAndStoresNothing) {
  v1::SubmitSweepRequest submit;
  submit.mutable_spec()->add_models("tiny-bert");
  submit.mutable_spec()->add_models("no-such-model");
  submit.mutable_spec()->add_seq_lengths(16);
  v1::SubmitSweepResponse response;
  auto ctx = Ctx();
  grpc::Status status = stub_->SubmitSweep(ctx.get(), submit, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("spec.models[1]"), std::string::npos) << status.error_message();

  v1::ListSweepsRequest list;
  v1::ListSweepsResponse sweeps;
  auto ctx2 = Ctx();
  ASSERT_TRUE(stub_->ListSweeps(ctx2.get(), list, &sweeps).ok());
  EXPECT_EQ(sweeps.sweeps_size(), 0);

  // The CLI turns the same rejection into one line and exit code 2.
  ChildSpec client;
  client.program = testing::kClientBinary;
  client.args = {"--server", address_, "submit", "--models", "no-such-model", "--lengths", "16"};
  auto shown = RunChild(client, 1000ms, nullptr);
  ASSERT_TRUE(shown.ok());
  EXPECT_EQ(shown->exit_code, 2);
  EXPECT_NE(shown->stderr_tail.find("unknown model \"no-such-model\""), std::string::npos) << shown->stderr_tail;
}

TEST_F(EndToEnd, MalformedSweepFilesAreRejectedByTheClient) {
  const std::vector<std::pair<std::string, std::string>> files = {
      {"not json", "sweep file"},
      {"{\"models\": [\"tiny-bert\"], \"seqLengths\": [\"long\"]}", "sweep file"},
      {"{\"modelz\": [\"tiny-bert\"]}", "sweep file"},
      {"{\"models\": [\"tiny-bert\"], \"seqLengths\": [0]}", "spec.seq_lengths[0]"},
  };
  int index = 0;
  for (const auto& [text, expected] : files) {
    SCOPED_TRACE(text);
    const std::string path = dir_.File("sweep" + std::to_string(index++) + ".json");
    std::ofstream(path) << text;
    ChildSpec client;
    client.program = testing::kClientBinary;
    client.args = {"--server", address_, "submit", "--file", path};
    auto shown = RunChild(client, 1000ms, nullptr);
    ASSERT_TRUE(shown.ok());
    EXPECT_EQ(shown->exit_code, 2);
    EXPECT_NE(shown->stderr_tail.find(expected), std::string::npos) << shown->stderr_tail;
  }
  v1::ListSweepsResponse sweeps;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->ListSweeps(&ctx, v1::ListSweepsRequest(), &sweeps).ok());
  EXPECT_EQ(sweeps.sweeps_size(), 0);

  // A well-formed file is accepted.
  std::ofstream(dir_.File("good.json"))
      << "{\"name\": \"from-file\", \"models\": [\"tiny-gpt2\"], \"seqLengths\": [8]}";
  ChildSpec client;
  client.program = testing::kClientBinary;
  client.args = {"--server", address_, "submit", "--file", dir_.File("good.json")};
  auto accepted = RunChild(client, 1000ms, nullptr);
  ASSERT_TRUE(accepted.ok());
  EXPECT_EQ(accepted->exit_code, 0) << accepted->stderr_tail;
  EXPECT_NE(accepted->stdout_tail.find("1 jobs"), std::string::npos) << accepted->stdout_tail;
}

// The tscale parameter names and shapes `tscale-runner --parameter-names` lists for an HF config.json.
std::vector<std::pair<std::string, std::vector<int64_t>>> ParameterNames(const std::string& config_path) {
  ChildSpec spec;
  spec.program = testing::kRunnerBinary;
  spec.args = {"--parameter-names", config_path};
  std::vector<std::pair<std::string, std::vector<int64_t>>> names;
  spec.on_stdout_line = [&](const std::string& line) {  // "name [a, b]"
    const size_t open = line.find(" [");
    std::vector<int64_t> shape;
    std::stringstream dims(line.substr(open + 2));
    for (int64_t dim; dims >> dim; dims.ignore(2)) shape.push_back(dim);
    names.emplace_back(line.substr(0, open), shape);
  };
  auto exit = RunChild(spec, 1000ms, nullptr);
  EXPECT_TRUE(exit.ok() && exit->exited && exit->exit_code == 0) << (exit.ok() ? exit->stderr_tail : "");
  return names;
}

// A safetensors file with every listed tensor in F32, all elements `value`; returns the element count.
int64_t WriteConstantSafetensors(const std::string& path,
                                 const std::vector<std::pair<std::string, std::vector<int64_t>>>& tensors,
                                 float value) {
  std::vector<testing::SafetensorsEntry> entries;
  int64_t total = 0;
  for (const auto& [name, shape] : tensors) {
    int64_t numel = 1;
    for (int64_t dim : shape) numel *= dim;
    total += numel;
    std::string bytes;
    for (int64_t i = 0; i < numel; ++i) bytes.append(reinterpret_cast<const char*>(&value), sizeof value);
    entries.push_back({name, "F32", shape, bytes});
  }
  testing::WriteSafetensorsFile(path, entries);
  return total;
}

// A user's model without recompiling, end to end: Hugging Face model directories (config.json plus a
// model.safetensors written under the names the runner lists) given to the coordinator with --catalog, run by
// a worker's runner child with those weights. A truncated weights file ends its job `error`, naming the file.
TEST(UserModels, HuggingFaceDirectoriesWithSafetensorsRunEndToEnd) {
  testing::Cluster cluster;
  const std::string models = cluster.dir().File("user-models");
  const std::string config =
      R"({"model_type": "gpt2", "n_embd": 32, "n_layer": 2, "n_head": 2, "vocab_size": 100, "n_positions": 64})";
  for (const char* name : {"my-gpt2", "broken-gpt2"}) {
    std::filesystem::create_directories(models + "/" + name);
    std::ofstream(models + "/" + name + "/config.json") << config;
  }
  const auto names = ParameterNames(models + "/my-gpt2/config.json");
  ASSERT_GT(names.size(), 10u);
  const int64_t parameters = WriteConstantSafetensors(models + "/my-gpt2/model.safetensors", names, 0.01f);
  WriteConstantSafetensors(models + "/broken-gpt2/model.safetensors", names, 0.01f);
  std::filesystem::resize_file(models + "/broken-gpt2/model.safetensors",
                               std::filesystem::file_size(models + "/broken-gpt2/model.safetensors") - 64);

  ASSERT_TRUE(cluster.StartServer({"--heartbeat-s", "0.5", "--lease-s", "3", "--catalog", models}));
  auto worker = cluster.StartWorker("user-models-worker");
  v1::SweepSpec spec;
  spec.add_models("my-gpt2");
  spec.add_models("broken-gpt2");
  spec.add_seq_lengths(16);
  spec.mutable_measurement()->set_min_time_s(0.05);
  spec.mutable_measurement()->set_min_iters(3);
  const auto jobs = cluster.WaitAllFinished(cluster.Submit(spec), 120s);
  ASSERT_EQ(jobs.jobs_size(), 2) << cluster.Logs();
  std::map<std::string, v1::Result> by_model;
  for (const auto& job : jobs.jobs()) by_model[job.spec().model_id()] = job.result();
  const v1::Result& loaded = by_model["my-gpt2"];
  ASSERT_EQ(loaded.outcome(), v1::OUTCOME_OK) << loaded.message() << cluster.Logs();
  EXPECT_EQ(loaded.parameter_count(), parameters);
  EXPECT_NE(loaded.message().find("weights: " + std::to_string(names.size()) + " tensors from " + models +
                                  "/my-gpt2/model.safetensors (tscale names)"),
            std::string::npos)
      << loaded.message();
  const v1::Result& broken = by_model["broken-gpt2"];
  EXPECT_EQ(broken.outcome(), v1::OUTCOME_ERROR);
  EXPECT_NE(broken.message().find("broken-gpt2/model.safetensors"), std::string::npos) << broken.message();
  EXPECT_NE(broken.message().find("truncated"), std::string::npos) << broken.message();
}

TEST(ClientCli, UnreachableServerIsOneLineAndExitOne) {
  ChildSpec client;
  client.program = testing::kClientBinary;
  client.args = {"--server", "127.0.0.1:1", "--timeout-s", "2", "status"};
  auto shown = RunChild(client, 1000ms, nullptr);
  ASSERT_TRUE(shown.ok());
  EXPECT_EQ(shown->exit_code, 1);
  EXPECT_NE(shown->stderr_tail.find("cannot reach tscale-server at 127.0.0.1:1"), std::string::npos)
      << shown->stderr_tail;
  EXPECT_EQ(std::count(shown->stderr_tail.begin(), shown->stderr_tail.end(), '\n'), 1);
}

}  // namespace
}  // namespace tscale
