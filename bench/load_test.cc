// Coordinator load test: a real tscale-server process (loopback gRPC, SQLite file with WAL and
// synchronous=FULL) serving N simulated workers. Each simulated worker is a thread with its own gRPC channel
// that registers, claims, "runs" the job with a SimulatedRunner (a sleep of a random few milliseconds; no
// libtorch), and completes it. Checks that no job is lost or duplicated and reports completions/s and claim
// latency percentiles.
//
//   tscale_load_test --server-binary build/server/tscale-server --jobs 10000 --workers 50
//
// Every figure comes with the two things that decide it on a given disk: the disk's fsync rate where the
// database lives (measured before and after the run, as dd with oflag=dsync would), and how many writes shared
// each commit (the server's group-commit counters). --fsync-delay-ms reproduces a slow disk: it sets the
// server's test-only TSCALE_TEST_FSYNC_DELAY_MS, which adds that delay to every fsync of the database.
//
// Exit 0 when every job has exactly one result; 1 otherwise.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "common/latency_stats.h"
#include "server/sqlite.h"
#include "support/server_process.h"
#include "support/temp_dir.h"
#include "tscale/v1/tscale.grpc.pb.h"

namespace {

using namespace std::chrono_literals;
namespace v1 = tscale::v1;
using Clock = std::chrono::steady_clock;

struct WorkerStats {
  std::vector<double> claim_ms;        // claims that returned a job
  std::vector<double> empty_claim_ms;  // claims that returned none
  std::vector<double> complete_ms;
  int completed = 0, duplicates = 0, errors = 0;
};

// Stands in for tscale-runner: the load test measures the coordinator, not libtorch.
class SimulatedRunner {
 public:
  explicit SimulatedRunner(uint64_t seed) : rng_(seed) {}
  v1::Result Run(const v1::JobSpec& job) {
    const int ms = std::uniform_int_distribution<int>(1, 5)(rng_);
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    v1::Result result;
    result.set_outcome(v1::OUTCOME_OK);
    result.mutable_latency()->set_median_ms(ms);
    result.mutable_latency()->set_count(1);
    result.add_samples_ms(ms);
    result.set_tokens_per_second(job.seq_len() * 1000.0 / ms);
    return result;
  }

 private:
  std::mt19937_64 rng_;
};

void RunSimulatedWorker(const std::string& address, int index, const std::atomic<bool>& stop, WorkerStats* stats) {
  auto stub = v1::WorkerService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  const std::string id = "sim-worker-" + std::to_string(index);
  auto deadline = [] { return std::chrono::system_clock::now() + 30s; };
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline());
    v1::RegisterWorkerRequest request;
    request.set_worker_id(id);
    request.mutable_capabilities()->set_device_kind(v1::DEVICE_KIND_CPU);
    v1::RegisterWorkerResponse response;
    if (!stub->RegisterWorker(&ctx, request, &response).ok()) {
      ++stats->errors;
      return;
    }
  }
  SimulatedRunner runner(static_cast<uint64_t>(index) + 1);
  while (!stop) {
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline());
    v1::ClaimJobRequest claim;
    claim.set_worker_id(id);
    claim.set_wait_s(0.2);
    v1::ClaimJobResponse lease;
    const auto start = Clock::now();
    grpc::Status status = stub->ClaimJob(&ctx, claim, &lease);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    if (!status.ok()) {
      ++stats->errors;
      continue;
    }
    if (!lease.has_job()) {
      stats->empty_claim_ms.push_back(ms);
      continue;
    }
    stats->claim_ms.push_back(ms);
    v1::CompleteJobRequest complete;
    complete.set_worker_id(id);
    complete.set_attempt_id(lease.lease().attempt_id());
    *complete.mutable_result() = runner.Run(lease.lease().job());
    v1::CompleteJobResponse done;
    grpc::ClientContext complete_ctx;
    complete_ctx.set_deadline(deadline());
    const auto complete_start = Clock::now();
    grpc::Status completed = stub->CompleteJob(&complete_ctx, complete, &done);
    stats->complete_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - complete_start).count());
    if (!completed.ok()) {
      ++stats->errors;
    } else {
      ++stats->completed;
      stats->duplicates += done.duplicate();
    }
  }
}

// Synchronous 4 KiB writes per second in `dir` (like dd bs=4k count=N oflag=dsync): what one commit costs.
double FsyncRate(const std::string& dir, int writes = 300) {
  const std::string path = dir + "/fsync-probe";
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_DSYNC, 0600);
  if (fd < 0) return 0;
  std::string block(4096, 'x');
  const auto start = Clock::now();
  int done = 0;
  for (; done < writes; ++done)
    if (write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size())) break;
  const double s = std::chrono::duration<double>(Clock::now() - start).count();
  close(fd);
  unlink(path.c_str());
  return s > 0 ? done / s : 0;
}

bool ServerWrites(v1::TscaleService::Stub& client, v1::ServerStatus* out) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  return client.GetServerStatus(&ctx, v1::ServerStatusRequest(), out).ok();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tscale coordinator load test (simulated workers, real server)"};
  std::string server_binary = tscale::testing::kServerBinary;
  int jobs = 10'000, workers = 50;
  std::string json_out;
  app.add_option("--server-binary", server_binary, "tscale-server to start")->capture_default_str();
  app.add_option("--jobs", jobs, "jobs in the sweep (a multiple of 10)")->capture_default_str();
  app.add_option("--workers", workers, "simulated workers")->capture_default_str();
  app.add_option("--json", json_out, "also write the figures to this file");
  double fsync_delay_ms = 0;
  app.add_option("--fsync-delay-ms", fsync_delay_ms,
                 "TEST ONLY: make every fsync of the server's database this much slower (a slow disk)")
      ->check(CLI::Range(0.0, 1000.0));
  std::string label;
  app.add_option("--label", label, "names this run in the output (e.g. the build)");
  CLI11_PARSE(app, argc, argv);
  if (jobs % 10 != 0 || jobs < 10 || jobs > 10'000 || workers < 1 || workers > 500) {
    std::cerr << "--jobs must be a multiple of 10 in 10..10000; --workers in 1..500\n";
    return 2;
  }

  tscale::testing::TempDir dir;
  if (fsync_delay_ms > 0) setenv("TSCALE_TEST_FSYNC_DELAY_MS", std::to_string(fsync_delay_ms).c_str(), 1);
  const double fsync_before = FsyncRate(dir.path().string());
  tscale::testing::ServerProcess server(dir.path().string(), dir.File("load.db"),
                                        {"--log-level", "warn", "--lease-s", "60"});
  if (!server.started()) {
    std::cerr << "server did not start:\n" << server.Log();
    return 1;
  }
  auto client = v1::TscaleService::NewStub(grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials()));

  // jobs = lengths x 10 repetitions of one tiny model.
  v1::SubmitSweepRequest submit;
  submit.mutable_spec()->add_models("tiny-bert");
  for (int n = 1; n <= jobs / 10; ++n) submit.mutable_spec()->add_seq_lengths(n);
  submit.mutable_spec()->set_repetitions(10);
  v1::SubmitSweepResponse submitted;
  grpc::ClientContext submit_ctx;
  const auto submit_start = Clock::now();
  grpc::Status status = client->SubmitSweep(&submit_ctx, submit, &submitted);
  const double submit_s = std::chrono::duration<double>(Clock::now() - submit_start).count();
  if (!status.ok() || submitted.job_count() != jobs) {
    std::cerr << "submit failed: " << status.error_message() << "\n";
    return 1;
  }

  v1::ServerStatus writes_before, writes_after;
  const bool have_writes = ServerWrites(*client, &writes_before);
  std::atomic<bool> stop{false};
  std::vector<WorkerStats> stats(static_cast<size_t>(workers));
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int i = 0; i < workers; ++i)
    threads.emplace_back(RunSimulatedWorker, server.address(), i, std::cref(stop), &stats[static_cast<size_t>(i)]);

  // Watch progress until the sweep is done (or 10 minutes pass).
  double elapsed_s = 0;
  while (true) {
    std::this_thread::sleep_for(100ms);
    grpc::ClientContext ctx;
    v1::GetSweepRequest request;
    request.set_sweep_id(submitted.sweep_id());
    v1::SweepStatus sweep;
    if (client->GetSweep(&ctx, request, &sweep).ok() && sweep.done()) break;
    if (Clock::now() - start > 10min) {
      std::cerr << "gave up after 10 minutes\n";
      break;
    }
  }
  elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
  stop = true;
  for (auto& t : threads) t.join();
  const bool have_writes_after = have_writes && ServerWrites(*client, &writes_after);
  const double fsync_after = FsyncRate(dir.path().string());
  const int64_t run_writes = writes_after.store_writes() - writes_before.store_writes();
  const int64_t run_commits = writes_after.store_commits() - writes_before.store_commits();
  const bool counted = have_writes_after && run_commits > 0;  // an older server reports no counters
  const double writes_per_commit = counted ? static_cast<double>(run_writes) / static_cast<double>(run_commits) : 0;

  std::vector<double> claims, empty_claims, completes;
  int completed = 0, duplicates = 0, errors = 0;
  for (const auto& s : stats) {
    claims.insert(claims.end(), s.claim_ms.begin(), s.claim_ms.end());
    empty_claims.insert(empty_claims.end(), s.empty_claim_ms.begin(), s.empty_claim_ms.end());
    completes.insert(completes.end(), s.complete_ms.begin(), s.complete_ms.end());
    completed += s.completed;
    duplicates += s.duplicates;
    errors += s.errors;
  }

  // Ground truth from the database file: exactly one result per job, one attempt per job.
  tscale::sql::Database db;
  int64_t job_rows = 0, result_rows = 0, distinct_results = 0, extra_attempts = 0;
  if (db.Open(dir.File("load.db")).ok()) {
    tscale::sql::Statement q(db,
                             "SELECT (SELECT COUNT(*) FROM jobs), (SELECT COUNT(*) FROM results), "
                             "(SELECT COUNT(DISTINCT job_id) FROM results), "
                             "(SELECT COALESCE(SUM(attempts - 1), 0) FROM jobs)");
    if (q.Step()) {
      job_rows = q.ColumnInt(0);
      result_rows = q.ColumnInt(1);
      distinct_results = q.ColumnInt(2);
      extra_attempts = q.ColumnInt(3);
    }
  }
  const int64_t lost = job_rows - distinct_results;
  const int64_t duplicated = result_rows - distinct_results + duplicates;

  const auto claim = tscale::Summarize(claims);
  const auto empty = tscale::Summarize(empty_claims);
  const auto complete = tscale::Summarize(completes);
  const double per_second = completed / elapsed_s;
  std::ostringstream conditions;
  conditions << "disk fsync " << static_cast<int>(fsync_before) << "/s before, " << static_cast<int>(fsync_after)
             << "/s after; test fsync delay " << fsync_delay_ms << " ms; writes per commit ";
  if (counted)
    conditions << "mean " << writes_per_commit << ", max " << writes_after.store_max_group() << " (" << run_writes
               << " writes, " << run_commits << " commits)";
  else
    conditions << "not reported by this server";
  if (!label.empty()) std::cout << "run: " << label << "\n";
  std::cout << conditions.str() << "\n";
  std::cout << "jobs " << jobs << ", simulated workers " << workers << ", submit " << submit_s << " s\n"
            << "completed " << completed << " in " << elapsed_s << " s: " << per_second << " completions/s\n"
            << "claim latency (with a job) ms: p50 " << claim.median << ", p90 " << claim.p90 << ", p99 " << claim.p99
            << ", max " << claim.max << " (n=" << claim.count << ")\n"
            << "empty claims: " << empty.count << "; complete latency ms: p50 " << complete.median << ", p99 "
            << complete.p99 << "\n"
            << "database: " << job_rows << " jobs, " << result_rows << " results, lost " << lost << ", duplicated "
            << duplicated << ", extra attempts " << extra_attempts << ", rpc errors " << errors << "\n";
  if (!json_out.empty()) {
    std::ofstream(json_out) << "{\"jobs\": " << jobs << ", \"workers\": " << workers
                            << ", \"completions_per_s\": " << per_second << ", \"claim_p50_ms\": " << claim.median
                            << ", \"claim_p99_ms\": " << claim.p99 << ", \"complete_p50_ms\": " << complete.median
                            << ", \"complete_p99_ms\": " << complete.p99 << ", \"lost\": " << lost
                            << ", \"duplicated\": " << duplicated << ", \"fsync_per_s_before\": " << fsync_before
                            << ", \"fsync_per_s_after\": " << fsync_after << ", \"fsync_delay_ms\": " << fsync_delay_ms
                            << ", \"writes_per_commit_mean\": " << writes_per_commit
                            << ", \"writes_per_commit_max\": " << writes_after.store_max_group() << "}\n";
  }
  const bool correct = lost == 0 && duplicated == 0 && result_rows == jobs && errors == 0;
  std::cout << (correct ? "PASS" : "FAIL") << ": zero lost and zero duplicated results required\n";
  return correct ? 0 : 1;
}
