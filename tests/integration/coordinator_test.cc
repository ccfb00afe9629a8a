// tscale-server as a real process on loopback with a real SQLite file. The test itself plays the clients
// and, where a job's lifecycle is needed, a simulated worker (real gRPC calls, no runner).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <set>
#include <thread>

#include "common/grpc_channel.h"
#include "health.grpc.pb.h"
#include "reflection.grpc.pb.h"
#include "support/coordinator_calls.h"
#include "support/server_process.h"
#include "support/temp_dir.h"
#include "tscale/v1/tscale.grpc.pb.h"

namespace tscale {
namespace {

using namespace std::chrono_literals;

constexpr const char* kClientToken = "client-secret-8f2a";
constexpr const char* kWorkerToken = "worker-secret-51c9";

class CoordinatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(dir_.File("client.token")) << kClientToken << "\n";
    std::ofstream(dir_.File("worker.token")) << kWorkerToken << "\n";
    server_ = std::make_unique<testing::ServerProcess>(
        dir_.path().string(), dir_.File("tscale.db"),
        std::vector<std::string>{"--client-token-file", dir_.File("client.token"), "--worker-token-file",
                                 dir_.File("worker.token"), "--heartbeat-s", "1", "--lease-s", "5"});
    ASSERT_TRUE(server_->started()) << server_->Log();
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    client_ = v1::TscaleService::NewStub(channel_);
    worker_ = v1::WorkerService::NewStub(channel_);
  }

  static std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token) { return testing::CallContext(token); }

  v1::SweepSpec TinySweep() {
    v1::SweepSpec spec;
    spec.add_models("tiny-bert");
    spec.add_seq_lengths(16);
    return spec;
  }

  int64_t Submit(const v1::SweepSpec& spec) { return testing::SubmitSweep(*client_, spec, kClientToken); }

  // A simulated worker: registers and claims through the real WorkerService.
  v1::Lease RegisterAndClaim(const std::string& worker_id) {
    return testing::RegisterAndClaim(*worker_, worker_id, kWorkerToken);
  }

  int CountSweeps() {
    v1::ListSweepsResponse sweeps;
    EXPECT_TRUE(client_->ListSweeps(Ctx(kClientToken).get(), v1::ListSweepsRequest(), &sweeps).ok());
    return sweeps.sweeps_size();
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::ServerProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::TscaleService::Stub> client_;
  std::unique_ptr<v1::WorkerService::Stub> worker_;
};

TEST_F(CoordinatorTest, TokensSeparateClientsFromWorkers) {
  v1::SubmitSweepRequest submit;
  *submit.mutable_spec() = TinySweep();
  v1::SubmitSweepResponse submitted;
  EXPECT_EQ(client_->SubmitSweep(Ctx("").get(), submit, &submitted).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(client_->SubmitSweep(Ctx("guess").get(), submit, &submitted).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(client_->SubmitSweep(Ctx(kWorkerToken).get(), submit, &submitted).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(CountSweeps(), 0);
  EXPECT_TRUE(client_->SubmitSweep(Ctx(kClientToken).get(), submit, &submitted).ok());

  v1::RegisterWorkerRequest reg;
  reg.set_worker_id("w");
  reg.mutable_capabilities()->set_device_kind(v1::DEVICE_KIND_CPU);
  v1::RegisterWorkerResponse registered;
  EXPECT_EQ(worker_->RegisterWorker(Ctx(kClientToken).get(), reg, &registered).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::ClaimJobRequest claim;
  claim.set_worker_id("w");
  v1::ClaimJobResponse claimed;
  EXPECT_EQ(worker_->ClaimJob(Ctx(kClientToken).get(), claim, &claimed).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(worker_->ClaimJob(Ctx("").get(), claim, &claimed).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(worker_->RegisterWorker(Ctx(kWorkerToken).get(), reg, &registered).ok());
  // Secrets never reach the log.
  const std::string log = server_->Log();
  EXPECT_EQ(log.find(kClientToken), std::string::npos);
  EXPECT_EQ(log.find(kWorkerToken), std::string::npos);
}

TEST_F(CoordinatorTest, HealthAndReflectionAreServed) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::health::v1::HealthCheckResponse healthy;
  grpc::ClientContext health_ctx;
  ASSERT_TRUE(health->Check(&health_ctx, grpc::health::v1::HealthCheckRequest(), &healthy).ok());
  EXPECT_EQ(healthy.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  auto reflection = grpc::reflection::v1alpha::ServerReflection::NewStub(channel_);
  grpc::ClientContext ctx;
  auto stream = reflection->ServerReflectionInfo(&ctx);
  grpc::reflection::v1alpha::ServerReflectionRequest request;
  request.set_list_services("");
  ASSERT_TRUE(stream->Write(request));
  stream->WritesDone();
  grpc::reflection::v1alpha::ServerReflectionResponse response;
  ASSERT_TRUE(stream->Read(&response));
  std::set<std::string> services;
  for (const auto& s : response.list_services_response().service()) services.insert(s.name());
  EXPECT_TRUE(services.count("tscale.v1.TscaleService"));
  EXPECT_TRUE(services.count("tscale.v1.WorkerService"));
  EXPECT_TRUE(services.count("grpc.health.v1.Health"));
  EXPECT_TRUE(stream->Finish().ok());
}

// Every kind of bad sweep is refused with INVALID_ARGUMENT naming the field, and nothing is stored.
TEST_F(CoordinatorTest, BadSweepsAreRejectedAndStoreNothing) {
  std::vector<std::pair<std::function<void(v1::SweepSpec*)>, std::string>> cases = {
      {[](v1::SweepSpec* s) { s->clear_models(); }, "spec.models"},
      {[](v1::SweepSpec* s) { s->add_models("gpt-17"); }, "spec.models[1]"},
      {[](v1::SweepSpec* s) { s->clear_seq_lengths(); }, "spec.seq_lengths"},
      {[](v1::SweepSpec* s) { s->set_seq_lengths(0, 0); }, "spec.seq_lengths[0]"},
      {[](v1::SweepSpec* s) { s->set_seq_lengths(0, -1); }, "spec.seq_lengths[0]"},
      {[](v1::SweepSpec* s) { s->set_seq_lengths(0, 2'000'000'000); }, "spec.seq_lengths[0]"},
      {[](v1::SweepSpec* s) { s->add_batch_sizes(-3); }, "spec.batch_sizes[0]"},
      {[](v1::SweepSpec* s) { s->add_batch_sizes(1 << 20); }, "spec.batch_sizes[0]"},
      {[](v1::SweepSpec* s) { s->set_repetitions(5000); }, "spec.repetitions"},
      {[](v1::SweepSpec* s) { s->mutable_measurement()->set_timeout_s(-1); }, "spec.measurement.timeout_s"},
      {[](v1::SweepSpec* s) { s->mutable_requirements()->set_min_device_memory_bytes(-1); },
       "spec.requirements.min_device_memory_bytes"},
      {[](v1::SweepSpec* s) {
         for (int i = 0; i < 65; ++i) s->mutable_requirements()->add_labels("l" + std::to_string(i));
       },
       "spec.requirements.labels: at most 64"},
      {[](v1::SweepSpec* s) { s->mutable_requirements()->add_labels(std::string(129, 'l')); },
       "spec.requirements.labels[0]"},
      {[](v1::SweepSpec* s) { s->mutable_requirements()->add_labels(""); }, "spec.requirements.labels[0]"},
      {[](v1::SweepSpec* s) {
         for (int i = 0; i < 65; ++i) (*s->mutable_labels())["t" + std::to_string(i)] = "v";
       },
       "spec.labels: at most 64"},
      {[](v1::SweepSpec* s) {
         for (int i = 2; i < 1000; ++i) s->add_seq_lengths(i);
         s->set_repetitions(200);
       },
       "exceeds the limit of"},
  };
  for (const auto& [mutate, field] : cases) {
    SCOPED_TRACE(field);
    v1::SweepSpec spec = TinySweep();
    mutate(&spec);
    v1::SubmitSweepRequest request;
    *request.mutable_spec() = spec;
    v1::SubmitSweepResponse response;
    grpc::Status status = client_->SubmitSweep(Ctx(kClientToken).get(), request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(status.error_message().find(field), std::string::npos) << status.error_message();
  }
  EXPECT_EQ(CountSweeps(), 0);
  std::cout << "invalid sweep requests tried: " << cases.size() << "\n";
}

// Values reach SQL only as bound parameters: hostile text is stored verbatim and the schema is untouched.
TEST_F(CoordinatorTest, HostileStringsAreStoredVerbatim) {
  const std::string hostile = "x'); DROP TABLE jobs; --\" OR 1=1 /*";
  v1::SweepSpec spec = TinySweep();
  spec.set_name(hostile);
  (*spec.mutable_labels())["owner"] = hostile;
  const int64_t sweep = Submit(spec);
  v1::GetSweepRequest get;
  get.set_sweep_id(sweep);
  v1::SweepStatus status;
  ASSERT_TRUE(client_->GetSweep(Ctx(kClientToken).get(), get, &status).ok());
  EXPECT_EQ(status.name(), hostile);
  EXPECT_EQ(status.total_jobs(), 1);
  v1::ListResultsRequest list;
  list.set_model_id(hostile);  // as a filter too
  v1::ListResultsResponse none;
  ASSERT_TRUE(client_->ListResults(Ctx(kClientToken).get(), list, &none).ok());
  EXPECT_EQ(none.jobs_size(), 0);
  EXPECT_EQ(CountSweeps(), 1);
}

// Messages above the server's 16 MiB receive limit are refused before any handler runs.
TEST_F(CoordinatorTest, OversizedMessagesAreRefused) {
  v1::SweepSpec spec = TinySweep();
  spec.set_name(std::string(17 << 20, 'n'));
  v1::SubmitSweepRequest request;
  *request.mutable_spec() = spec;
  v1::SubmitSweepResponse response;
  EXPECT_EQ(client_->SubmitSweep(Ctx(kClientToken).get(), request, &response).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(CountSweeps(), 0);
}

TEST_F(CoordinatorTest, WatchDeliversEveryChangeInOrderAndResumes) {
  const int64_t sweep = Submit(TinySweep());
  v1::Lease lease = RegisterAndClaim("sim-worker");

  // Heartbeat, a progress report on the metrics stream, and completion.
  v1::HeartbeatRequest hb;
  hb.set_worker_id("sim-worker");
  hb.add_attempt_ids(lease.attempt_id());
  v1::HeartbeatResponse hb_response;
  ASSERT_TRUE(worker_->Heartbeat(Ctx(kWorkerToken).get(), hb, &hb_response).ok());
  EXPECT_EQ(hb_response.revoked_attempt_ids_size(), 0);
  {
    auto ctx = Ctx(kWorkerToken);
    ctx->AddMetadata("tscale-worker-id", "sim-worker");
    v1::ReportMetricsResponse accepted;
    auto metrics = worker_->ReportMetrics(ctx.get(), &accepted);
    v1::MetricEvent event;
    event.set_attempt_id(lease.attempt_id());
    event.set_phase("measuring");
    event.set_iterations_done(2);
    ASSERT_TRUE(metrics->Write(event));
    metrics->WritesDone();
    ASSERT_TRUE(metrics->Finish().ok());
    EXPECT_EQ(accepted.accepted(), 1);
  }

  // First watcher reads the three events so far, then goes away.
  int64_t cursor = 0;
  {
    auto ctx = Ctx(kClientToken);
    v1::WatchSweepRequest request;
    request.set_sweep_id(sweep);
    auto reader = client_->WatchSweep(ctx.get(), request);
    std::vector<v1::SweepEvent> seen;
    v1::SweepEvent event;
    while (seen.size() < 3 && reader->Read(&event)) seen.push_back(event);
    ASSERT_EQ(seen.size(), 3u);
    EXPECT_EQ(seen[0].state(), v1::JOB_STATE_LEASED);
    EXPECT_EQ(seen[1].state(), v1::JOB_STATE_RUNNING);
    EXPECT_EQ(seen[2].metric().iterations_done(), 2);
    cursor = seen[2].event_id();
    ctx->TryCancel();
  }

  v1::CompleteJobRequest complete;
  complete.set_worker_id("sim-worker");
  complete.set_attempt_id(lease.attempt_id());
  complete.mutable_result()->set_outcome(v1::OUTCOME_OK);
  v1::CompleteJobResponse completed;
  ASSERT_TRUE(worker_->CompleteJob(Ctx(kWorkerToken).get(), complete, &completed).ok());

  // The second watcher resumes after the cursor: exactly the finish event, then the end of the sweep.
  auto ctx = Ctx(kClientToken);
  v1::WatchSweepRequest request;
  request.set_sweep_id(sweep);
  request.set_after_event_id(cursor);
  auto reader = client_->WatchSweep(ctx.get(), request);
  std::vector<v1::SweepEvent> rest;
  v1::SweepEvent event;
  while (reader->Read(&event)) rest.push_back(event);
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_GT(rest[0].event_id(), cursor);
  EXPECT_EQ(rest[0].state(), v1::JOB_STATE_FINISHED);
  EXPECT_EQ(rest[0].outcome(), v1::OUTCOME_OK);
  EXPECT_TRUE(rest[1].end_of_sweep());
}

TEST_F(CoordinatorTest, WatchSendsKeepalivesWhileNothingHappens) {
  const int64_t sweep = Submit(TinySweep());
  auto ctx = Ctx(kClientToken);
  v1::WatchSweepRequest request;
  request.set_sweep_id(sweep);
  request.set_keepalive_s(0.1);
  auto reader = client_->WatchSweep(ctx.get(), request);
  int keepalives = 0;
  v1::SweepEvent event;
  while (keepalives < 3 && reader->Read(&event)) keepalives += event.keepalive() ? 1 : 0;
  EXPECT_EQ(keepalives, 3);
  ctx->TryCancel();
}

// The event signal is shared by all sweeps: a watch of an idle sweep on a busy server must still get
// keepalives, by its own clock. Here heartbeats (each wakes every watcher) arrive far faster than the keepalive.
TEST_F(CoordinatorTest, WatchOfAnIdleSweepGetsKeepalivesWhileTheServerIsBusy) {
  const int64_t sweep = Submit(TinySweep());
  v1::RegisterWorkerRequest reg;
  reg.set_worker_id("busy");
  reg.mutable_capabilities()->set_device_kind(v1::DEVICE_KIND_CPU);
  v1::RegisterWorkerResponse registered;
  ASSERT_TRUE(worker_->RegisterWorker(Ctx(kWorkerToken).get(), reg, &registered).ok());
  std::atomic<bool> stop{false}, busy_over{false};
  std::thread busy([&] {
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (!stop && std::chrono::steady_clock::now() < until) {
      v1::HeartbeatRequest hb;
      hb.set_worker_id("busy");
      v1::HeartbeatResponse response;
      worker_->Heartbeat(Ctx(kWorkerToken).get(), hb, &response);
      std::this_thread::sleep_for(10ms);
    }
    busy_over = true;
  });

  auto ctx = Ctx(kClientToken);
  v1::WatchSweepRequest request;
  request.set_sweep_id(sweep);
  request.set_keepalive_s(0.3);
  auto reader = client_->WatchSweep(ctx.get(), request);
  int keepalives_while_busy = 0;
  v1::SweepEvent event;
  while (keepalives_while_busy < 3 && reader->Read(&event)) {
    if (!event.keepalive()) continue;
    if (busy_over) break;
    ++keepalives_while_busy;
  }
  stop = true;
  busy.join();
  ctx->TryCancel();
  EXPECT_EQ(keepalives_while_busy, 3);
}

// A cancelled running job's attempt is revoked: the heartbeat answers OK and lists it, its completion is
// ABORTED (not a duplicate of the cancel), and the stored result stays `cancelled`.
TEST_F(CoordinatorTest, CompletionOfACancelledAttemptIsAborted) {
  const int64_t sweep = Submit(TinySweep());
  v1::Lease lease = RegisterAndClaim("sim-worker");
  v1::CancelRequest cancel;
  cancel.set_sweep_id(sweep);
  v1::CancelResponse cancelled;
  ASSERT_TRUE(client_->Cancel(Ctx(kClientToken).get(), cancel, &cancelled).ok());
  EXPECT_EQ(cancelled.cancelled_jobs(), 1);

  v1::HeartbeatRequest hb;
  hb.set_worker_id("sim-worker");
  hb.add_attempt_ids(lease.attempt_id());
  v1::HeartbeatResponse hb_response;
  ASSERT_TRUE(worker_->Heartbeat(Ctx(kWorkerToken).get(), hb, &hb_response).ok());
  ASSERT_EQ(hb_response.revoked_attempt_ids_size(), 1);
  EXPECT_EQ(hb_response.revoked_attempt_ids(0), lease.attempt_id());

  v1::CompleteJobRequest complete;
  complete.set_worker_id("sim-worker");
  complete.set_attempt_id(lease.attempt_id());
  complete.mutable_result()->set_outcome(v1::OUTCOME_OK);
  v1::CompleteJobResponse completed;
  EXPECT_EQ(worker_->CompleteJob(Ctx(kWorkerToken).get(), complete, &completed).error_code(),
            grpc::StatusCode::ABORTED);
  v1::ListResultsRequest list;
  list.set_sweep_id(sweep);
  v1::ListResultsResponse results;
  ASSERT_TRUE(client_->ListResults(Ctx(kClientToken).get(), list, &results).ok());
  ASSERT_EQ(results.jobs_size(), 1);
  EXPECT_EQ(results.jobs(0).result().outcome(), v1::OUTCOME_CANCELLED);
}

// limit 0 is a page of 1000, not everything; above 10000 is refused; the cursor leads through the rest.
TEST_F(CoordinatorTest, ListResultsIsPagedAndBounded) {
  v1::SweepSpec spec = TinySweep();
  spec.clear_seq_lengths();
  for (int n = 1; n <= 600; ++n) spec.add_seq_lengths(n);
  spec.add_batch_sizes(1);
  spec.add_batch_sizes(2);
  const int64_t sweep = Submit(spec);

  v1::ListResultsRequest list;
  list.set_sweep_id(sweep);
  list.set_limit(10'001);
  v1::ListResultsResponse refused;
  grpc::Status too_many = client_->ListResults(Ctx(kClientToken).get(), list, &refused);
  EXPECT_EQ(too_many.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(too_many.error_message().rfind("limit", 0), 0u) << too_many.error_message();

  list.set_limit(0);
  std::vector<int> pages;
  std::set<int64_t> seen;
  do {
    v1::ListResultsResponse page;
    ASSERT_TRUE(client_->ListResults(Ctx(kClientToken).get(), list, &page).ok());
    pages.push_back(page.jobs_size());
    for (const auto& job : page.jobs()) seen.insert(job.spec().job_id());
    list.set_after_job_id(page.next_after_job_id());
  } while (list.after_job_id() != 0 && pages.size() < 5);
  EXPECT_EQ(pages, (std::vector<int>{1000, 200}));
  EXPECT_EQ(seen.size(), 1200u);
}

TEST_F(CoordinatorTest, StaleFencingTokenIsAborted) {
  Submit(TinySweep());
  v1::Lease lease = RegisterAndClaim("sim-worker");
  // The worker restarts (registers again): the attempt it held is no longer live.
  v1::RegisterWorkerRequest reg;
  reg.set_worker_id("sim-worker");
  reg.mutable_capabilities()->set_device_kind(v1::DEVICE_KIND_CPU);
  v1::RegisterWorkerResponse registered;
  ASSERT_TRUE(worker_->RegisterWorker(Ctx(kWorkerToken).get(), reg, &registered).ok());

  v1::CompleteJobRequest complete;
  complete.set_worker_id("sim-worker");
  complete.set_attempt_id(lease.attempt_id());
  complete.mutable_result()->set_outcome(v1::OUTCOME_OK);
  v1::CompleteJobResponse completed;
  EXPECT_EQ(worker_->CompleteJob(Ctx(kWorkerToken).get(), complete, &completed).error_code(),
            grpc::StatusCode::ABORTED);
  auto ctx = Ctx(kWorkerToken);
  ctx->AddMetadata("tscale-worker-id", "sim-worker");
  v1::ReportMetricsResponse accepted;
  auto metrics = worker_->ReportMetrics(ctx.get(), &accepted);
  v1::MetricEvent event;
  event.set_attempt_id(lease.attempt_id());
  metrics->Write(event);
  metrics->WritesDone();
  EXPECT_EQ(metrics->Finish().error_code(), grpc::StatusCode::ABORTED);
}

TEST_F(CoordinatorTest, ShutdownDoesNotHangOnOpenStreams) {
  const int64_t sweep = Submit(TinySweep());
  auto ctx = Ctx(kClientToken);
  v1::WatchSweepRequest request;
  request.set_sweep_id(sweep);
  auto reader = client_->WatchSweep(ctx.get(), request);
  v1::SweepEvent event;
  std::thread drain([&] {
    while (reader->Read(&event)) {
    }
  });
  std::this_thread::sleep_for(300ms);
  const auto start = std::chrono::steady_clock::now();
  int status = server_->process().Stop(std::chrono::milliseconds(15000));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  drain.join();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << server_->Log();
  // Well under the 5 s shutdown deadline: the watch returns at once, and the server does not wait for this
  // client, which stops reading its connection once the status arrives, to acknowledge the GOAWAY (its channel
  // would only read it on its 5 s backup poll). Generous for a loaded machine; the old wait was 5 s.
  EXPECT_LT(seconds, 2.0);
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
}

// A worker's progress stream ends only when the worker ends it, and an idle connection never acknowledges the
// GOAWAY until its client reads again: neither holds shutdown up (the deadline is for calls that end by
// themselves). A unary call in progress still gets its time (here none is).
TEST_F(CoordinatorTest, ShutdownDoesNotWaitForProgressStreamsOrIdleConnections) {
  Submit(TinySweep());
  v1::Lease lease = RegisterAndClaim("sim-worker");
  auto ctx = Ctx(kWorkerToken);
  ctx->AddMetadata("tscale-worker-id", "sim-worker");
  v1::ReportMetricsResponse accepted;
  auto metrics = worker_->ReportMetrics(ctx.get(), &accepted);
  v1::MetricEvent event;
  event.set_attempt_id(lease.attempt_id());
  event.set_phase("measuring");
  ASSERT_TRUE(metrics->Write(event));
  // A second client whose connection is idle when the server stops.
  auto idle_channel = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
  auto idle = v1::TscaleService::NewStub(idle_channel);
  v1::ServerStatus server_status;
  ASSERT_TRUE(idle->GetServerStatus(Ctx(kClientToken).get(), v1::ServerStatusRequest(), &server_status).ok());
  std::this_thread::sleep_for(300ms);

  const auto start = std::chrono::steady_clock::now();
  int status = server_->process().Stop(std::chrono::milliseconds(15000));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << server_->Log();
  EXPECT_LT(seconds, 2.0);
  metrics->WritesDone();
  EXPECT_FALSE(metrics->Finish().ok());  // cut off: progress is best effort, the job runs on
}

TEST(CoordinatorTls, ServesTlsWithAGeneratedCertificate) {
  testing::TempDir dir;
  const std::string cert = dir.File("cert.pem"), key = dir.File("key.pem");
  const std::string openssl =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
      "-addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout " +
      key + " -out " + cert + " 2>/dev/null";
  ASSERT_EQ(std::system(openssl.c_str()), 0) << "openssl is needed to generate the test certificate";
  testing::ServerProcess server(dir.path().string(), dir.File("tscale.db"), {"--tls-cert", cert, "--tls-key", key});
  ASSERT_TRUE(server.started()) << server.Log();

  auto tls_channel = MakeChannel({server.address(), cert, ""});
  ASSERT_TRUE(tls_channel.ok());
  auto secure = v1::TscaleService::NewStub(*tls_channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  v1::ServerStatus status;
  grpc::Status ok = secure->GetServerStatus(&ctx, v1::ServerStatusRequest(), &status);
  ASSERT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_EQ(status.schema_version(), 7);

  auto plain = v1::TscaleService::NewStub(grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext plain_ctx;
  plain_ctx.set_deadline(std::chrono::system_clock::now() + 3s);
  EXPECT_FALSE(plain->GetServerStatus(&plain_ctx, v1::ServerStatusRequest(), &status).ok());
}

TEST(CoordinatorBind, RefusesNonLoopbackWithoutSecurity) {
  testing::TempDir dir;
  // The server refuses before binding: no traffic leaves loopback.
  for (const std::vector<std::string>& extra : {std::vector<std::string>{"--listen", "0.0.0.0:0"},
                                                std::vector<std::string>{"--listen", "0.0.0.0:0", "--allow-remote"}}) {
    std::vector<std::string> args = {"--db", dir.File("x.db"), "--catalog", testing::kCatalogDir};
    args.insert(args.end(), extra.begin(), extra.end());
    testing::TestProcess server(testing::kServerBinary, args, dir.File("bind.log"));
    std::optional<int> status;
    for (int i = 0; i < 200 && !(status = server.Poll()); ++i) std::this_thread::sleep_for(50ms);
    ASSERT_TRUE(status.has_value()) << "server kept running: " << server.Log();
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 2) << server.Log();
    EXPECT_NE(server.Log().find("refusing to listen on 0.0.0.0:0"), std::string::npos) << server.Log();
  }
}

}  // namespace
}  // namespace tscale

namespace tscale {
namespace {

// A wall search's next probe is created by the previous probe's completion. A worker's claim is usually already
// waiting by then (it claims as soon as its runner exits, while the result is still being delivered); the probe
// used to wait for that claim's next periodic retry, up to a second per probe.
TEST_F(CoordinatorTest, WallFinderProbeWakesAWaitingClaim) {
  v1::SweepSpec spec;
  spec.add_models("tiny-bert");
  spec.set_find_wall(true);
  spec.mutable_wall()->set_start_length(8);
  spec.mutable_wall()->set_max_length(64);
  spec.mutable_wall()->set_resolution(8);
  Submit(spec);
  const v1::Lease first = RegisterAndClaim("prober");
  ASSERT_GT(first.attempt_id(), 0);

  std::atomic<bool> got_probe{false};
  std::chrono::steady_clock::time_point claimed_at;
  std::thread waiting([&] {
    v1::ClaimJobRequest claim;
    claim.set_worker_id("prober");
    claim.set_wait_s(5);
    v1::ClaimJobResponse response;
    const bool ok = worker_->ClaimJob(Ctx(kWorkerToken).get(), claim, &response).ok();
    claimed_at = std::chrono::steady_clock::now();
    got_probe = ok && response.has_job() && response.lease().job().seq_len() == 16;
  });
  std::this_thread::sleep_for(300ms);  // the claim is waiting: nothing is claimable yet

  v1::CompleteJobRequest complete;
  complete.set_worker_id("prober");
  complete.set_attempt_id(first.attempt_id());
  complete.mutable_result()->set_outcome(v1::OUTCOME_OK);
  v1::CompleteJobResponse completed;
  const auto completing = std::chrono::steady_clock::now();
  ASSERT_TRUE(worker_->CompleteJob(Ctx(kWorkerToken).get(), complete, &completed).ok());
  waiting.join();
  const double gap_ms = std::chrono::duration<double, std::milli>(claimed_at - completing).count();
  std::cout << "probe gap (completion sent -> next probe claimed): " << gap_ms << " ms\n";
  EXPECT_TRUE(got_probe);
  EXPECT_LT(gap_ms, 300) << "the waiting claim was not woken by the new probe";
}

}  // namespace
}  // namespace tscale

namespace tscale {
namespace {

// Two tscale-worker processes with one worker id (the default id is the hostname, so two daemons on one host
// collide) used to end each other's attempts at every registration. The second is now refused: it says so and
// exits with its own code, while the first goes on working. A restart of the first (same state directory, so
// the same instance id) is still a restart.
TEST_F(CoordinatorTest, SecondWorkerWithTheSameIdExitsWhileTheFirstKeepsWorking) {
  auto start_worker = [&](const std::string& state, const std::string& log) {
    std::vector<std::string> args = {
        "--server",     server_->address(),       "--id", "dup",       "--state-dir", dir_.File(state), "--runner",
        "/bin/true",    "--claim-wait-s",         "0.5",  "--threads", "1",           "--device",       "cpu",
        "--token-file", dir_.File("worker.token")};
    return std::make_unique<testing::TestProcess>(testing::kWorkerBinary, args, dir_.File(log));
  };
  auto first = start_worker("state-a", "first.log");
  auto registered = [&](const std::string& log) {
    return testing::TestProcess::ReadFile(dir_.File(log)).find("registered with") != std::string::npos;
  };
  for (int i = 0; i < 200 && !registered("first.log"); ++i) std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(registered("first.log")) << first->Log();

  auto second = start_worker("state-b", "second.log");
  std::optional<int> exit_status;
  for (int i = 0; i < 300 && !(exit_status = second->Poll()); ++i) std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(exit_status.has_value()) << "the second worker kept running:\n" << second->Log();
  ASSERT_TRUE(WIFEXITED(*exit_status));
  EXPECT_EQ(WEXITSTATUS(*exit_status), 3) << second->Log();
  EXPECT_NE(second->Log().find("worker id dup is already in use by another live worker"), std::string::npos)
      << second->Log();
  EXPECT_NE(second->Log().find("another live worker process holds it"), std::string::npos) << second->Log();

  // The first still runs and still completes jobs under its session.
  EXPECT_FALSE(first->Poll().has_value()) << first->Log();
  const int64_t sweep = Submit(TinySweep());
  v1::ListResultsResponse results;
  for (int i = 0; i < 200; ++i) {
    v1::ListResultsRequest list;
    list.set_sweep_id(sweep);
    results.Clear();
    ASSERT_TRUE(client_->ListResults(Ctx(kClientToken).get(), list, &results).ok());
    if (results.jobs_size() == 1 && results.jobs(0).state() == v1::JOB_STATE_FINISHED) break;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(results.jobs_size(), 1);
  EXPECT_EQ(results.jobs(0).state(), v1::JOB_STATE_FINISHED) << first->Log();
  EXPECT_EQ(results.jobs(0).result().worker_id(), "dup");
  EXPECT_EQ(results.jobs(0).attempts(), 1) << "no attempt was ended by the second worker";

  // The first worker restarting (kill -9, same state directory) registers again at once.
  first->Kill();
  auto restarted = start_worker("state-a", "restarted.log");
  for (int i = 0; i < 200 && !registered("restarted.log"); ++i) std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(registered("restarted.log")) << restarted->Log();
  EXPECT_FALSE(restarted->Poll().has_value());
}

}  // namespace
}  // namespace tscale
