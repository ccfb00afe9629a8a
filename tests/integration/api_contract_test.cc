// The API as a client that has only the .proto meets it (proto/tscale/v1/tscale.proto): tscale-server as a real
// process on loopback, driven over real gRPC by the test acting as client and as a simulated worker. Each test
// checks one promise the proto's comments make.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <vector>

#include "health.grpc.pb.h"
#include "support/coordinator_calls.h"
#include "support/server_process.h"
#include "support/temp_dir.h"
#include "tscale/v1/tscale.grpc.pb.h"

namespace tscale {
namespace {

using namespace std::chrono_literals;

class ApiContractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<testing::ServerProcess>(
        dir_.path().string(), dir_.File("tscale.db"), std::vector<std::string>{"--heartbeat-s", "1", "--lease-s", "5"});
    ASSERT_TRUE(server_->started()) << server_->Log();
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    client_ = v1::TscaleService::NewStub(channel_);
    worker_ = v1::WorkerService::NewStub(channel_);
  }

  static std::unique_ptr<grpc::ClientContext> Ctx() { return testing::CallContext(); }

  int64_t SubmitOne() {
    v1::SweepSpec spec;
    spec.add_models("tiny-bert");
    spec.add_seq_lengths(16);
    return testing::SubmitSweep(*client_, spec);
  }

  v1::Lease RegisterAndClaim(const std::string& worker_id) { return testing::RegisterAndClaim(*worker_, worker_id); }

  void Complete(const std::string& worker_id, int64_t attempt_id) {
    v1::CompleteJobRequest complete;
    complete.set_worker_id(worker_id);
    complete.set_attempt_id(attempt_id);
    complete.mutable_result()->set_outcome(v1::OUTCOME_OK);
    v1::CompleteJobResponse completed;
    grpc::Status status = worker_->CompleteJob(Ctx().get(), complete, &completed);
    EXPECT_TRUE(status.ok()) << status.error_message();
  }

  // Every event of a finished sweep, the synthetic end-of-sweep one included.
  std::vector<v1::SweepEvent> WatchToEnd(int64_t sweep_id, int64_t after = 0) {
    v1::WatchSweepRequest request;
    request.set_sweep_id(sweep_id);
    request.set_after_event_id(after);
    auto ctx = Ctx();
    auto reader = client_->WatchSweep(ctx.get(), request);
    std::vector<v1::SweepEvent> events;
    v1::SweepEvent event;
    while (reader->Read(&event)) events.push_back(event);
    EXPECT_TRUE(reader->Finish().ok());
    return events;
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::ServerProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::TscaleService::Stub> client_;
  std::unique_ptr<v1::WorkerService::Stub> worker_;
};

TEST_F(ApiContractTest, HealthAnswersForEachServiceByName) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  for (const char* service : {"", "tscale.v1.TscaleService", "tscale.v1.WorkerService"}) {
    SCOPED_TRACE(service);
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    grpc::ClientContext ctx;
    grpc::Status status = health->Check(&ctx, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  }
  grpc::health::v1::HealthCheckRequest unknown;
  unknown.set_service("tscale.v1.NoSuchService");
  grpc::health::v1::HealthCheckResponse response;
  grpc::ClientContext ctx;
  EXPECT_EQ(health->Check(&ctx, unknown, &response).error_code(), grpc::StatusCode::NOT_FOUND);
}

// A job that finishes before its first heartbeat still shows every transition, in order.
TEST_F(ApiContractTest, AFastJobEmitsLeasedRunningFinishedInOrder) {
  const int64_t sweep = SubmitOne();
  const v1::Lease lease = RegisterAndClaim("fast");
  Complete("fast", lease.attempt_id());

  const auto events = WatchToEnd(sweep);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].state(), v1::JOB_STATE_LEASED);
  EXPECT_EQ(events[1].state(), v1::JOB_STATE_RUNNING);
  EXPECT_FALSE(events[1].has_metric());
  EXPECT_EQ(events[2].state(), v1::JOB_STATE_FINISHED);
  EXPECT_EQ(events[2].outcome(), v1::OUTCOME_OK);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(events[i].job_id(), lease.job().job_id());
    EXPECT_EQ(events[i].attempt_id(), lease.attempt_id());
    if (i > 0) EXPECT_GT(events[i].event_id(), events[i - 1].event_id());
  }
  // The synthetic end: no job, no state, the cursor of the last stored event.
  const v1::SweepEvent& end = events[3];
  EXPECT_TRUE(end.end_of_sweep());
  EXPECT_FALSE(end.keepalive());
  EXPECT_EQ(end.job_id(), 0);
  EXPECT_EQ(end.attempt_id(), 0);
  EXPECT_EQ(end.state(), v1::JOB_STATE_UNSPECIFIED);
  EXPECT_EQ(end.outcome(), v1::OUTCOME_UNSPECIFIED);
  EXPECT_EQ(end.event_id(), events[2].event_id());
  EXPECT_GT(end.unix_ms(), 0);

  // Watching from the end again: nothing stored is left, so only the end, carrying the request's cursor.
  const auto again = WatchToEnd(sweep, events[2].event_id());
  ASSERT_EQ(again.size(), 1u);
  EXPECT_TRUE(again[0].end_of_sweep());
  EXPECT_EQ(again[0].event_id(), events[2].event_id());
}

// A progress report that arrives before any heartbeat follows the RUNNING transition, never precedes it.
TEST_F(ApiContractTest, AProgressReportBeforeTheFirstHeartbeatComesAfterRunning) {
  const int64_t sweep = SubmitOne();
  const v1::Lease lease = RegisterAndClaim("eager");
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("tscale-worker-id", "eager");
    v1::ReportMetricsResponse accepted;
    auto metrics = worker_->ReportMetrics(&ctx, &accepted);
    v1::MetricEvent metric;
    metric.set_attempt_id(lease.attempt_id());
    metric.set_phase("loading");
    ASSERT_TRUE(metrics->Write(metric));
    metrics->WritesDone();
    ASSERT_TRUE(metrics->Finish().ok());
  }
  v1::HeartbeatRequest heartbeat;
  heartbeat.set_worker_id("eager");
  heartbeat.add_attempt_ids(lease.attempt_id());
  v1::HeartbeatResponse beat;
  ASSERT_TRUE(worker_->Heartbeat(Ctx().get(), heartbeat, &beat).ok());
  Complete("eager", lease.attempt_id());

  const auto events = WatchToEnd(sweep);
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[0].state(), v1::JOB_STATE_LEASED);
  EXPECT_EQ(events[1].state(), v1::JOB_STATE_RUNNING);
  EXPECT_FALSE(events[1].has_metric());
  EXPECT_TRUE(events[2].has_metric());  // the heartbeat after it added no second RUNNING transition
  EXPECT_EQ(events[2].metric().phase(), "loading");
  EXPECT_EQ(events[3].state(), v1::JOB_STATE_FINISHED);
  EXPECT_TRUE(events[4].end_of_sweep());
}

// One spelling of outcomes and states on the wire: the enum value names, also as map keys.
TEST_F(ApiContractTest, CountsAreKeyedByEnumValueNames) {
  const int64_t sweep = SubmitOne();
  Complete("counted", RegisterAndClaim("counted").attempt_id());
  v1::GetSweepRequest get;
  get.set_sweep_id(sweep);
  v1::SweepStatus status;
  ASSERT_TRUE(client_->GetSweep(Ctx().get(), get, &status).ok());
  ASSERT_EQ(status.outcome_counts_size(), 1);
  EXPECT_EQ(status.outcome_counts().begin()->first, v1::Outcome_Name(v1::OUTCOME_OK));
  EXPECT_EQ(status.outcome_counts().at("OUTCOME_OK"), 1);

  v1::ServerStatus server;
  ASSERT_TRUE(client_->GetServerStatus(Ctx().get(), v1::ServerStatusRequest(), &server).ok());
  EXPECT_EQ(server.jobs_by_state().at("JOB_STATE_FINISHED"), 1);
}

TEST_F(ApiContractTest, MaxCvHasAnExplicitOffAndBounds) {
  auto submit = [&](double max_cv) {
    v1::SubmitSweepRequest request;
    request.mutable_spec()->add_models("tiny-bert");
    request.mutable_spec()->add_seq_lengths(16);
    request.mutable_spec()->mutable_measurement()->set_max_cv(max_cv);
    v1::SubmitSweepResponse response;
    grpc::Status status = client_->SubmitSweep(Ctx().get(), request, &response);
    return std::make_pair(status, response.sweep_id());
  };
  auto job_max_cv = [&](int64_t sweep) {
    v1::ListResultsRequest list;
    list.set_sweep_id(sweep);
    v1::ListResultsResponse jobs;
    EXPECT_TRUE(client_->ListResults(Ctx().get(), list, &jobs).ok());
    return jobs.jobs_size() == 1 ? jobs.jobs(0).spec().measurement().max_cv() : 0.0;
  };
  auto [off, off_sweep] = submit(-1);
  ASSERT_TRUE(off.ok()) << off.error_message();
  EXPECT_EQ(job_max_cv(off_sweep), -1);
  auto [set, set_sweep] = submit(0.5);
  ASSERT_TRUE(set.ok()) << set.error_message();
  EXPECT_EQ(job_max_cv(set_sweep), 0.5);
  for (double bad : {-0.5, 11.0, 1e300}) {
    auto [refused, unused] = submit(bad);
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
    EXPECT_NE(refused.error_message().find("spec.measurement.max_cv"), std::string::npos) << refused.error_message();
  }
}

// ListResultsRequest.latency_samples_only: with include_samples, only Result.samples_ms is listed, and the page's
// budget (1,000,000 samples) counts what is sent. Two decode jobs of 600,000 steps each: every sample takes a page
// each; the latency samples only fit one page, without the step arrays or TTFT samples.
TEST_F(ApiContractTest, LatencySamplesOnlyListsSamplesMsAndThePageBudgetCountsWhatIsSent) {
  v1::SweepSpec spec;
  spec.add_models("tiny-gpt2");
  spec.add_seq_lengths(16);
  spec.add_seq_lengths(32);
  spec.add_workloads(v1::WORKLOAD_DECODE);
  spec.set_new_tokens(3);
  const int64_t sweep = testing::SubmitSweep(*client_, spec);
  ASSERT_GT(sweep, 0);
  // A channel that accepts what tscale-client's and tscale-worker's do (common/grpc_channel.cc): a page of every
  // sample is ~5 MB, and so is the completion's answer, which holds the stored result.
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  auto channel = grpc::CreateCustomChannel(server_->address(), grpc::InsecureChannelCredentials(), args);
  auto client = v1::TscaleService::NewStub(channel);
  auto worker = v1::WorkerService::NewStub(channel);
  constexpr int kSteps = 600'000;
  for (int job = 0; job < 2; ++job) {
    v1::Lease lease;
    if (job == 0) {
      lease = testing::RegisterAndClaim(*worker, "decoder");
    } else {
      v1::ClaimJobRequest claim;
      claim.set_worker_id("decoder");
      claim.set_wait_s(5);
      v1::ClaimJobResponse claimed;
      ASSERT_TRUE(worker->ClaimJob(Ctx().get(), claim, &claimed).ok());
      ASSERT_TRUE(claimed.has_job());
      lease = claimed.lease();
    }
    v1::CompleteJobRequest complete;
    complete.set_worker_id("decoder");
    complete.set_attempt_id(lease.attempt_id());
    v1::Result* r = complete.mutable_result();
    r->set_outcome(v1::OUTCOME_OK);
    r->mutable_latency()->set_median_ms(50);
    for (double sample : {49.0, 50.0, 51.0}) r->add_samples_ms(sample);
    v1::DecodeStats* d = r->mutable_decode();
    d->set_new_tokens(3);
    d->mutable_tpot()->set_median_ms(1.25);
    for (double sample : {12.0, 12.5, 13.0}) d->add_ttft_samples_ms(sample);
    for (int i = 0; i < kSteps; ++i) {
      d->add_step_ms(1.25);
      d->add_step_positions(16 + i % 2);
    }
    v1::CompleteJobResponse completed;
    grpc::Status status = worker->CompleteJob(Ctx().get(), complete, &completed);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  auto list = [&](bool latency_only) {
    v1::ListResultsRequest request;
    request.set_sweep_id(sweep);
    request.set_include_samples(true);
    request.set_latency_samples_only(latency_only);
    v1::ListResultsResponse page;
    grpc::Status status = client->ListResults(Ctx().get(), request, &page);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return page;
  };
  const v1::ListResultsResponse every = list(false);
  ASSERT_EQ(every.jobs_size(), 1);  // 600,006 samples; the second job would take the page past 1,000,000
  EXPECT_EQ(every.next_after_job_id(), every.jobs(0).spec().job_id());
  EXPECT_EQ(every.jobs(0).result().decode().step_ms_size(), kSteps);
  EXPECT_EQ(every.jobs(0).result().decode().ttft_samples_ms_size(), 3);
  const v1::ListResultsResponse lean = list(true);
  ASSERT_EQ(lean.jobs_size(), 2);
  EXPECT_EQ(lean.next_after_job_id(), 0);
  for (const auto& job : lean.jobs()) {
    SCOPED_TRACE(job.spec().job_id());
    ASSERT_EQ(job.result().samples_ms_size(), 3);
    EXPECT_EQ(job.result().samples_ms(0), 49);
    EXPECT_EQ(job.result().decode().step_ms_size(), 0);
    EXPECT_EQ(job.result().decode().step_positions_size(), 0);
    EXPECT_EQ(job.result().decode().ttft_samples_ms_size(), 0);
    EXPECT_EQ(job.result().decode().tpot().median_ms(), 1.25);
  }
  EXPECT_LT(lean.ByteSizeLong(), 4096u);
}

}  // namespace
}  // namespace tscale
