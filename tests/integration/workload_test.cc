// The workload axis through the whole coordinator: tscale-client submit --workload/--new-tokens against a real
// tscale-server process (SQLite file, gRPC on loopback), the submit answer naming the skipped cells, field-named
// refusals, and the results (table, CSV, JSON) and report of decode results that a simulated worker stored.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "support/coordinator_calls.h"
#include "support/server_fixture.h"
#include "support/server_process.h"
#include "support/temp_dir.h"
#include "support/test_process.h"
#include "tscale/v1/tscale.grpc.pb.h"

namespace tscale {
namespace {

class WorkloadCoordinatorTest : public testing::ServerFixture {
 protected:
  int CountSweeps() {
    v1::ListSweepsResponse sweeps;
    EXPECT_TRUE(client_->ListSweeps(testing::CallContext().get(), v1::ListSweepsRequest(), &sweeps).ok());
    return sweeps.sweeps_size();
  }

  // Plays a worker: claims every queued job and completes it, decode jobs with decode statistics.
  void RunEveryJob() {
    CompleteEveryJob([](const v1::JobSpec& job) {
      v1::Result result;
      v1::Result* r = &result;
      r->set_outcome(v1::OUTCOME_OK);
      r->mutable_latency()->set_median_ms(40);
      r->mutable_latency()->set_count(5);
      r->set_tokens_per_second(400);
      for (double sample : {39.5, 40.0, 40.5}) r->add_samples_ms(sample);
      r->mutable_environment()->set_hostname("sim-host");
      r->mutable_environment()->set_device_kind(v1::DEVICE_KIND_CPU);
      r->mutable_environment()->set_cpu_cores(4);
      if (job.workload() == v1::WORKLOAD_DECODE) {
        v1::DecodeStats* d = r->mutable_decode();
        d->set_new_tokens(job.new_tokens());
        d->mutable_ttft()->set_median_ms(12.5);
        d->mutable_tpot()->set_median_ms(1.25);
        d->set_decode_tokens_per_second(800);
        d->set_kv_cache_bytes(3 << 20);
        d->add_ttft_samples_ms(12.5);
        d->add_step_ms(1.25);
        d->add_step_positions(job.seq_len());
      }
      return result;
    });
  }
};

TEST_F(WorkloadCoordinatorTest, SubmitSaysWhatWasSkippedAndResultsShowDecodeFigures) {
  auto submitted = Cli({"submit", "--models", "tiny-bert,tiny-gpt2", "--lengths", "16,32", "--workload",
                        "forward,decode", "--new-tokens", "8"});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.output << server_->Log();
  EXPECT_NE(submitted.output.find("sweep 1 submitted: 6 jobs, 2 cells skipped:\n  test/tiny-bert x decode: 2 cells "
                                  "skipped, an encoder-only model does not generate tokens"),
            std::string::npos)
      << submitted.output;

  // The answer on the wire, and the jobs as stored.
  v1::SweepSpec spec;
  spec.add_models("tiny-bert");
  spec.add_models("tiny-gpt2");
  spec.add_seq_lengths(16);
  spec.add_workloads(v1::WORKLOAD_DECODE);
  v1::SubmitSweepRequest request;
  *request.mutable_spec() = spec;
  v1::SubmitSweepResponse response;
  ASSERT_TRUE(client_->SubmitSweep(testing::CallContext().get(), request, &response).ok());
  EXPECT_EQ(response.job_count(), 1);
  EXPECT_EQ(response.skipped_cells(), 1);
  ASSERT_EQ(response.skipped_reasons_size(), 1);
  EXPECT_NE(response.skipped_reasons(0).find("test/tiny-bert x decode"), std::string::npos);
  v1::ListResultsRequest decode_jobs;
  decode_jobs.set_sweep_id(1);
  decode_jobs.set_workload(v1::WORKLOAD_DECODE);
  v1::ListResultsResponse listed;
  ASSERT_TRUE(client_->ListResults(testing::CallContext().get(), decode_jobs, &listed).ok());
  ASSERT_EQ(listed.jobs_size(), 2);
  for (const auto& job : listed.jobs()) {
    EXPECT_EQ(job.spec().model_id(), "test/tiny-gpt2");
    EXPECT_EQ(job.spec().new_tokens(), 8);
  }

  // Refusals name the flag or the field, and store nothing.
  request.mutable_spec()->set_new_tokens(5000);
  grpc::Status refused = client_->SubmitSweep(testing::CallContext().get(), request, &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(refused.error_message().find("spec.new_tokens: 5000 is not in 1..4096"), std::string::npos)
      << refused.error_message();
  const std::vector<std::pair<std::vector<std::string>, std::string>> usage = {
      {{"tiny-gpt2", "--workload", "generate"}, "--workload: unknown workload \"generate\" (forward, decode, train)"},
      {{"tiny-gpt2", "--workload", "decode", "--new-tokens", "0"}, "--new-tokens: 0 is not a number of tokens >= 1"},
      {{"tiny-gpt2", "--workload", "decode", "--new-tokens", "5000"}, "spec.new_tokens: 5000 is not in 1..4096"},
      {{"tiny-gpt2", "--new-tokens", "8"}, "spec.new_tokens: only used with the decode workload"},
      {{"tiny-bert", "--workload", "decode"}, "spec.workloads: no cell left to run"},
  };
  for (const auto& [flags, expected] : usage) {
    std::vector<std::string> args = {"submit", "--lengths", "16", "--models"};  // the model, then the flags
    args.insert(args.end(), flags.begin(), flags.end());
    auto run = Cli(args);
    EXPECT_EQ(run.exit_code, 2) << run.output;
    EXPECT_NE(run.output.find(expected), std::string::npos) << run.output;
  }
  EXPECT_EQ(CountSweeps(), 2);

  RunEveryJob();
  auto table = Cli({"results", "--sweep", "1"});
  ASSERT_EQ(table.exit_code, 0) << table.output;
  for (const char* text : {"workload", "ttft_ms", "tpot_ms", "dec_tok/s", "kv_MiB", " forward ", " decode ", " 12.5 ",
                           " 1.25 ", " 800.0 "})
    EXPECT_NE(table.output.find(text), std::string::npos) << text << " in\n" << table.output;

  auto csv = Cli({"results", "--sweep", "1", "--workload", "decode", "--csv"});
  ASSERT_EQ(csv.exit_code, 0) << csv.output;
  EXPECT_NE(csv.output.find(",workload,new_tokens,ttft_median_ms,tpot_median_ms,decode_tokens_per_s,kv_cache_bytes,"),
            std::string::npos)
      << csv.output;
  EXPECT_EQ(std::count(csv.output.begin(), csv.output.end(), '\n'), 3) << csv.output;  // the header, two jobs
  EXPECT_NE(csv.output.find(",decode,8,12.5,1.25,800,3145728,"), std::string::npos) << csv.output;
  // The latency samples (asked for without the decode steps: latency_samples_only), where the job ran, and its
  // context settings: no --extend-context, tiny-gpt2's limit of 128 positions.
  EXPECT_NE(csv.output.find(",attention_flops_share,samples_ms,hostname,"), std::string::npos) << csv.output;
  EXPECT_NE(csv.output.find(",39.5 40 40.5,sim-host,,,4,cpu,"), std::string::npos) << csv.output;
  EXPECT_NE(csv.output.find(",0,128\n"), std::string::npos) << csv.output;

  auto json = Cli({"results", "--sweep", "1", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.output;
  for (const char* text : {"\"workload\": \"WORKLOAD_DECODE\"", "\"workload\": \"WORKLOAD_FORWARD\"", "\"ttft\"",
                           "\"ttftSamplesMs\"", "\"kvCacheBytes\""})
    EXPECT_NE(json.output.find(text), std::string::npos) << text << " in\n" << json.output;

  auto report = Cli({"report", "--sweep", "1"});
  ASSERT_EQ(report.exit_code, 0) << report.output;
  EXPECT_NE(report.output.find("Success by sequence length"), std::string::npos) << report.output;
  EXPECT_NE(report.output.find("Decode by model and prompt length"), std::string::npos) << report.output;
}

}  // namespace
}  // namespace tscale
