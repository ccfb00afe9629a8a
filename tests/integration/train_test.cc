// The train workload through the whole coordinator: tscale-client submit --workload train --checkpointing/--loss
// against a real tscale-server process (SQLite file, gRPC on loopback), the submit answer naming the cells an
// explicit loss skips, field-named refusals that store nothing, the wall finder's train searches (one per
// checkpointing value) and the results table's checkpointing column, from results a simulated worker stored.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <tuple>

#include "support/server_fixture.h"
#include "support/test_paths.h"
#include "tscale/v1/tscale.grpc.pb.h"

namespace tscale {
namespace {

class TrainCoordinatorTest : public testing::ServerFixture {
 protected:
  // The fixture's server, with one more catalog directory holding a user model run through a TorchScript module
  // (tiny-gpt2's architecture; the coordinator never reads the module file).
  void SetUp() override {
    const std::string user_models = dir_.File("user-models");
    std::filesystem::create_directories(user_models);
    std::ifstream in(std::string(testing::kTestModelsDir) + "/tiny-gpt2.json");
    std::stringstream text;
    text << in.rdbuf();
    std::string config = text.str();
    const std::string id = "\"id\": \"test/tiny-gpt2\"", aliases = "\"aliases\": [\"tiny-gpt2\"]";
    ASSERT_NE(config.find(id), std::string::npos);
    ASSERT_NE(config.find(aliases), std::string::npos);
    config.replace(config.find(id), id.size(), "\"id\": \"user/scripted-gpt2\", \"torchscript\": \"scripted.pt\"");
    config.replace(config.find(aliases), aliases.size(), "\"aliases\": [\"scripted-gpt2\"]");
    std::ofstream(user_models + "/scripted-gpt2.json") << config;
    server_ = std::make_unique<testing::ServerProcess>(dir_.path().string(), dir_.File("tscale.db"),
                                                       std::vector<std::string>{"--catalog", user_models});
    ASSERT_TRUE(server_->started()) << server_->Log();
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    client_ = v1::TscaleService::NewStub(channel_);
    worker_ = v1::WorkerService::NewStub(channel_);
  }

  int CountSweeps() {
    v1::ListSweepsResponse sweeps;
    EXPECT_TRUE(client_->ListSweeps(testing::CallContext().get(), v1::ListSweepsRequest(), &sweeps).ok());
    return sweeps.sweeps_size();
  }

  std::vector<v1::JobView> Jobs(int64_t sweep_id, v1::Workload workload = v1::WORKLOAD_UNSPECIFIED) {
    v1::ListResultsRequest request;
    request.set_sweep_id(sweep_id);
    request.set_workload(workload);
    v1::ListResultsResponse listed;
    grpc::Status status = client_->ListResults(testing::CallContext().get(), request, &listed);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return {listed.jobs().begin(), listed.jobs().end()};
  }

  // Plays a worker: every job works; train jobs report their step's statistics.
  void RunEveryJob() {
    CompleteEveryJob([](const v1::JobSpec& job) {
      v1::Result r;
      r.set_outcome(v1::OUTCOME_OK);
      r.mutable_latency()->set_median_ms(job.seq_len());
      r.mutable_latency()->set_count(5);
      r.set_tokens_per_second(1000);
      if (job.workload() == v1::WORKLOAD_TRAIN) {
        v1::TrainStats* t = r.mutable_train();
        t->set_loss(job.loss());
        t->set_checkpointing(job.checkpointing());
        for (double loss : {6.9, 6.8, 6.7}) t->add_losses(loss);
      }
      return r;
    });
  }
};

TEST_F(TrainCoordinatorTest, SubmitPlansTrainCellsPerCheckpointingAndRefusalsStoreNothing) {
  auto submitted = Cli({"submit", "--models", "tiny-bert,tiny-gpt2", "--lengths", "16,32", "--workload",
                        "forward,train", "--checkpointing", "none,layers"});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.output << server_->Log();
  EXPECT_NE(submitted.output.find("sweep 1 submitted: 12 jobs\n"), std::string::npos) << submitted.output;
  // The train jobs as stored and listed: each model's loss, both checkpointing values at both lengths.
  std::map<std::tuple<std::string, v1::Checkpointing, v1::TrainLoss>, int> train;
  for (const auto& job : Jobs(1, v1::WORKLOAD_TRAIN))
    ++train[{job.spec().model_id(), job.spec().checkpointing(), job.spec().loss()}];
  EXPECT_EQ(train, (std::map<std::tuple<std::string, v1::Checkpointing, v1::TrainLoss>, int>{
                       {{"test/tiny-bert", v1::CHECKPOINTING_NONE, v1::TRAIN_LOSS_MASKED_LM}, 2},
                       {{"test/tiny-bert", v1::CHECKPOINTING_LAYERS, v1::TRAIN_LOSS_MASKED_LM}, 2},
                       {{"test/tiny-gpt2", v1::CHECKPOINTING_NONE, v1::TRAIN_LOSS_NEXT_TOKEN}, 2},
                       {{"test/tiny-gpt2", v1::CHECKPOINTING_LAYERS, v1::TRAIN_LOSS_NEXT_TOKEN}, 2}}));
  for (const auto& job : Jobs(1, v1::WORKLOAD_FORWARD)) {
    EXPECT_EQ(job.spec().checkpointing(), v1::CHECKPOINTING_UNSPECIFIED);
    EXPECT_EQ(job.spec().loss(), v1::TRAIN_LOSS_UNSPECIFIED);
  }
  EXPECT_EQ(Jobs(1).size(), 12u);

  // An explicit loss skips the models it does not fit, and the answer says so.
  auto masked = Cli(
      {"submit", "--models", "tiny-bert,tiny-gpt2", "--lengths", "16", "--workload", "train", "--loss", "masked-lm"});
  ASSERT_EQ(masked.exit_code, 0) << masked.output;
  EXPECT_NE(masked.output.find("sweep 2 submitted: 1 jobs, 1 cells skipped:\n  test/tiny-gpt2 x train: 1 cells "
                               "skipped, the masked_lm loss does not fit a decoder-only model (its loss is "
                               "next_token)"),
            std::string::npos)
      << masked.output;
  const auto kept = Jobs(2);
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].spec().model_id(), "test/tiny-bert");
  EXPECT_EQ(kept[0].spec().loss(), v1::TRAIN_LOSS_MASKED_LM);
  EXPECT_EQ(kept[0].spec().checkpointing(), v1::CHECKPOINTING_NONE);

  // Refusals on the wire: INVALID_ARGUMENT naming the field.
  struct Case {
    std::function<void(v1::SweepSpec*)> mutate;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {[](v1::SweepSpec* s) { s->add_checkpointing(v1::CHECKPOINTING_LAYERS); },
       "spec.checkpointing: only used with the train workload"},
      {[](v1::SweepSpec* s) { s->set_loss(v1::TRAIN_LOSS_NEXT_TOKEN); },
       "spec.loss: only used with the train workload"},
      {[](v1::SweepSpec* s) {
         s->add_workloads(v1::WORKLOAD_TRAIN);
         s->add_checkpointing(static_cast<v1::Checkpointing>(7));
       },
       "spec.checkpointing[0]: unknown value 7"},
      {[](v1::SweepSpec* s) {
         s->add_workloads(v1::WORKLOAD_TRAIN);
         s->set_loss(static_cast<v1::TrainLoss>(7));
       },
       "spec.loss: unknown value 7"},
      {[](v1::SweepSpec* s) {
         s->add_workloads(v1::WORKLOAD_TRAIN);
         s->add_models("scripted-gpt2");
       },
       "spec.workloads: train with \"user/scripted-gpt2\" (spec.models[1]): a TorchScript module cannot be trained: "
       "tscale trains models it builds from their config"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.expected);
    v1::SubmitSweepRequest request;
    request.mutable_spec()->add_models("tiny-gpt2");
    request.mutable_spec()->add_seq_lengths(16);
    c.mutate(request.mutable_spec());
    v1::SubmitSweepResponse response;
    grpc::Status refused = client_->SubmitSweep(testing::CallContext().get(), request, &response);
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(refused.error_message().find(c.expected), std::string::npos) << refused.error_message();
  }
  // From the command line: a usage error (exit 2) naming the flag, or the coordinator's field.
  const std::vector<std::pair<std::vector<std::string>, std::string>> usage = {
      {{"tiny-gpt2", "--workload", "train", "--checkpointing", "none,sometimes"},
       "--checkpointing: unknown value \"sometimes\" (none, layers)"},
      {{"tiny-gpt2", "--workload", "train", "--loss", "l2"},
       "--loss: unknown loss \"l2\" (auto, next-token, masked-lm, seq2seq)"},
      {{"tiny-gpt2", "--workload", "fit"}, "--workload: unknown workload \"fit\" (forward, decode, train)"},
      {{"tiny-gpt2", "--checkpointing", "layers"}, "spec.checkpointing: only used with the train workload"},
      {{"tiny-gpt2", "--workload", "forward,decode", "--loss", "next-token"},
       "spec.loss: only used with the train workload"},
      {{"scripted-gpt2", "--workload", "train"}, "spec.workloads: train with \"user/scripted-gpt2\" (spec.models[0])"},
      {{"tiny-gpt2", "--workload", "train", "--loss", "seq2seq"},
       "spec.workloads: no cell left to run (test/tiny-gpt2 x train: 1 cells skipped, the seq2seq loss"},
  };
  for (const auto& [flags, expected] : usage) {
    SCOPED_TRACE(expected);
    std::vector<std::string> args = {"submit", "--lengths", "16", "--models"};  // the model, then the flags
    args.insert(args.end(), flags.begin(), flags.end());
    auto run = Cli(args);
    EXPECT_EQ(run.exit_code, 2) << run.output;
    EXPECT_NE(run.output.find(expected), std::string::npos) << run.output;
  }
  auto filter = Cli({"results", "--workload", "fit"});
  EXPECT_EQ(filter.exit_code, 2) << filter.output;
  EXPECT_NE(filter.output.find("--workload: unknown workload \"fit\" (forward, decode, train)"), std::string::npos)
      << filter.output;
  // Nothing of any refused sweep was stored. A TorchScript model still runs forward.
  EXPECT_EQ(CountSweeps(), 2);
  EXPECT_EQ(Jobs(0).size(), 13u);
  auto forward = Cli({"submit", "--models", "scripted-gpt2", "--lengths", "16"});
  EXPECT_EQ(forward.exit_code, 0) << forward.output;
}

// `--find-wall --workload train --checkpointing none,layers`: a search per checkpointing value, each probe a train
// job keeping its search's checkpointing and the model's loss; `results --workload train` lists them and shows
// the checkpointing of every row.
TEST_F(TrainCoordinatorTest, TheWallFinderSearchesEachCheckpointingApart) {
  auto submitted = Cli({"submit", "--models", "tiny-gpt2", "--find-wall", "--workload", "train", "--checkpointing",
                        "none,layers", "--wall-start", "16", "--wall-max", "64"});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.output << server_->Log();
  EXPECT_NE(submitted.output.find("sweep 1 submitted: 2 jobs\n"), std::string::npos) << submitted.output;
  RunEveryJob();

  // Every probe works, so each search grows 16, 32, 64 (the maximum) on its own.
  std::map<v1::Checkpointing, std::vector<int>> lengths;
  for (const auto& job : Jobs(1)) {
    EXPECT_EQ(job.spec().workload(), v1::WORKLOAD_TRAIN);
    EXPECT_EQ(job.spec().loss(), v1::TRAIN_LOSS_NEXT_TOKEN);
    EXPECT_EQ(job.state(), v1::JOB_STATE_FINISHED);
    EXPECT_EQ(job.result().train().checkpointing(), job.spec().checkpointing());
    lengths[job.spec().checkpointing()].push_back(job.spec().seq_len());
  }
  EXPECT_EQ(lengths, (std::map<v1::Checkpointing, std::vector<int>>{{v1::CHECKPOINTING_NONE, {16, 32, 64}},
                                                                    {v1::CHECKPOINTING_LAYERS, {16, 32, 64}}}));
  v1::GetSweepRequest get;
  get.set_sweep_id(1);
  v1::SweepStatus status;
  ASSERT_TRUE(client_->GetSweep(testing::CallContext().get(), get, &status).ok());
  EXPECT_TRUE(status.done());

  auto table = Cli({"results", "--sweep", "1", "--workload", "train"});
  ASSERT_EQ(table.exit_code, 0) << table.output;
  const std::string header = table.output.substr(0, table.output.find('\n'));
  EXPECT_NE(header.find(" ckpt "), std::string::npos) << table.output;
  int none = 0, layers = 0;
  std::istringstream lines(table.output.substr(0, table.output.find("\n\n")));  // the jobs, not the walls after
  for (std::string line; std::getline(lines, line);) {
    if (line.find(" train ") == std::string::npos) continue;
    none += line.find(" none ") != std::string::npos;
    layers += line.find(" layers ") != std::string::npos;
  }
  EXPECT_EQ(none, 3) << table.output;
  EXPECT_EQ(layers, 3) << table.output;
  auto forward = Cli({"results", "--sweep", "1", "--workload", "forward"});
  ASSERT_EQ(forward.exit_code, 0) << forward.output;
  EXPECT_EQ(forward.output.find(" train "), std::string::npos) << forward.output;
}

}  // namespace
}  // namespace tscale
