// A small tscale deployment for end-to-end tests: one real tscale-server (SQLite file in a temp dir) and
// any number of real tscale-worker processes spawning real runners, plus the client calls tests need.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "server/sql.h"
#include "support/server_process.h"
#include "support/sweep_specs.h"
#include "support/temp_dir.h"
#include "tscale/v1/tscale.grpc.pb.h"

namespace tscale::testing {

class Cluster {
 public:
  // (Re)starts the server on `port` (0 = any) with the test catalogs, `extra` flags and the same database.
  bool StartServer(std::vector<std::string> extra = {"--heartbeat-s", "0.5", "--lease-s", "3"}, int port = 0) {
    extra.push_back("--catalog");
    extra.push_back(kMisbehaveDir);
    server_ = std::make_unique<ServerProcess>(dir_.path().string(), dir_.File("tscale.db"), extra, port,
                                              "server-" + std::to_string(++server_starts_) + ".log");
    if (!server_->started()) return false;
    stub_ = v1::TscaleService::NewStub(grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
    return true;
  }

  std::unique_ptr<TestProcess> StartWorker(const std::string& id, std::vector<std::string> extra = {},
                                           const std::string& runner = kRunnerBinary) {
    std::vector<std::string> args = {"--server", server_->address(), "--runner",   runner,           "--id",
                                     id,         "--state-dir",      StateDir(id), "--claim-wait-s", "0.5"};
    // Defaults a test may override: one thread per job, and no device probe (it costs a libtorch start-up).
    for (const auto& [flag, value] : {std::pair<const char*, const char*>{"--threads", "1"}, {"--device", "cpu"}})
      if (std::find(extra.begin(), extra.end(), flag) == extra.end()) extra.insert(extra.end(), {flag, value});
    args.insert(args.end(), extra.begin(), extra.end());
    auto worker = std::make_unique<TestProcess>(kWorkerBinary, args, dir_.File(id + ".log"));
    EXPECT_TRUE(worker->started());
    return worker;
  }
  std::string StateDir(const std::string& worker_id) const { return dir_.File("state-" + worker_id); }

  std::unique_ptr<grpc::ClientContext> Ctx() const {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return ctx;
  }

  int64_t Submit(const v1::SweepSpec& spec) {
    v1::SubmitSweepRequest submit;
    *submit.mutable_spec() = spec;
    v1::SubmitSweepResponse response;
    grpc::Status status = stub_->SubmitSweep(Ctx().get(), submit, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.sweep_id();
  }

  // TinyGridSpec and LongJobsSpec (support/sweep_specs.h), submitted.
  int64_t SubmitTiny(int lengths, double min_time_s) { return Submit(TinyGridSpec(lengths, min_time_s)); }
  int64_t SubmitLong(int jobs, double seconds) { return Submit(LongJobsSpec(jobs, seconds)); }

  v1::ListResultsResponse Jobs(int64_t sweep) {
    v1::ListResultsRequest request;
    request.set_sweep_id(sweep);
    v1::ListResultsResponse response;
    grpc::Status status = stub_->ListResults(Ctx().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  // Polls until `done(jobs)` or the limit; returns the last listing.
  v1::ListResultsResponse WaitUntil(int64_t sweep, std::chrono::seconds limit,
                                    const std::function<bool(const v1::ListResultsResponse&)>& done) {
    const auto give_up = std::chrono::steady_clock::now() + limit;
    v1::ListResultsResponse jobs;
    while (std::chrono::steady_clock::now() < give_up) {
      jobs = Jobs(sweep);
      if (done(jobs)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return jobs;
  }
  v1::ListResultsResponse WaitAllFinished(int64_t sweep, std::chrono::seconds limit) {
    return WaitUntil(sweep, limit, [](const auto& jobs) { return Finished(jobs) == jobs.jobs_size(); });
  }
  // The id of a job in state RUNNING, once there is one (0 if none within the limit).
  int64_t WaitRunning(int64_t sweep, std::chrono::seconds limit) {
    int64_t running = 0;
    WaitUntil(sweep, limit, [&](const auto& jobs) {
      for (const auto& job : jobs.jobs())
        if (job.state() == v1::JOB_STATE_RUNNING) running = job.spec().job_id();
      return running != 0;
    });
    return running;
  }

  static int Finished(const v1::ListResultsResponse& jobs) {
    int n = 0;
    for (const auto& job : jobs.jobs()) n += job.state() == v1::JOB_STATE_FINISHED;
    return n;
  }

  // Exactly one result row per job, read from the database file itself.
  void ExpectOneResultPerJob(int expected_jobs) const {
    sql::Database db;
    ASSERT_TRUE(db.Open(dir_.File("tscale.db")).ok());
    sql::Statement rows(db,
                        "SELECT (SELECT COUNT(*) FROM jobs), (SELECT COUNT(*) FROM results), "
                        "(SELECT COUNT(DISTINCT job_id) FROM results)");
    ASSERT_TRUE(rows.Step());
    EXPECT_EQ(rows.ColumnInt(0), expected_jobs);
    EXPECT_EQ(rows.ColumnInt(1), expected_jobs);
    EXPECT_EQ(rows.ColumnInt(2), expected_jobs);
  }

  // Every process log of this cluster, for failure messages.
  std::string Logs() const {
    std::string all;
    for (const auto& entry : std::filesystem::directory_iterator(dir_.path()))
      if (entry.path().extension() == ".log")
        all += "==== " + entry.path().filename().string() + "\n" + TestProcess::ReadFile(entry.path().string());
    return all;
  }

  const TempDir& dir() const { return dir_; }
  ServerProcess& server() { return *server_; }
  v1::TscaleService::Stub& stub() { return *stub_; }

 private:
  TempDir dir_;
  int server_starts_ = 0;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<v1::TscaleService::Stub> stub_;
};

}  // namespace tscale::testing
