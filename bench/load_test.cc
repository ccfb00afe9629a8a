// Coordinator load test: real tscale-server processes (loopback gRPC) serving N simulated workers, on each backend
// named by --backends: `sqlite` (one coordinator, a SQLite file with WAL and synchronous=FULL), `pg1` and `pg2`
// (one and two coordinators on one throwaway PostgreSQL 15 server, fsync and synchronous_commit on; the simulated
// workers are spread round-robin over the coordinators). Each simulated worker is a thread with its own gRPC channel
// that registers, claims, "runs" the job with a SimulatedRunner (a sleep of a random few milliseconds; no
// libtorch), and completes it. Checks that no job is lost or duplicated and reports completions/s and claim
// latency percentiles.
//
//   tscale_load_test --server-binary build/server/tscale-server --jobs 10000 --workers 50
//   tscale_load_test --jobs 10000 --workers 50 --backends sqlite,pg1,pg2 --rounds 2   (side by side, the order
//                                                                                   reversed every other round)
//
// Every figure comes with the two things that decide it on a given disk: the disk's fsync rate where the
// database lives (measured before and after the run, as dd with oflag=dsync would), and how many writes shared
// each commit (the server's group-commit counters). --fsync-delay-ms reproduces a slow disk: it sets the
// server's test-only TSCALE_TEST_FSYNC_DELAY_MS, which adds that delay to every fsync of the database. And with
// the CPU each part spends per completion (coordinators, PostgreSQL, this process; bench/process_cpu.h), so a
// figure says whether the machine or the design bounds it.
//
// Exit 0 when every run has exactly one result per job; 1 otherwise; 77 when a PostgreSQL run was asked for and no
// PostgreSQL server is installed.
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
#include <vector>

#include "bench/process_cpu.h"
#include "common/latency_stats.h"
#include "server/sql.h"
#include "support/postgres_server.h"
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

struct Backend {
  std::string name;  // sqlite, pg1, pg2
  bool postgresql = false;
  int coordinators = 1;
};

struct Options {
  std::string server_binary;
  int jobs = 0, workers = 0;
  double fsync_delay_ms = 0;
};

struct Figures {
  std::string backend;
  double submit_s = 0, elapsed_s = 0, per_second = 0, fsync_before = 0, fsync_after = 0;
  tscale::LatencySummary claim, empty, complete;
  int completed = 0, errors = 0;
  int64_t lost = 0, duplicated = 0, extra_attempts = 0, result_rows = 0, writes = 0, commits = 0, max_group = 0;
  // CPU seconds over the completion phase: the coordinators, the PostgreSQL server (postmaster and children), this
  // process (the simulated workers and their gRPC).
  double cpu_coordinators_s = 0, cpu_postgres_s = 0, cpu_load_test_s = 0;
  bool counted = false, correct = false;
};

// One run: a fresh database, the coordinators, the sweep, the simulated workers until it is done, then the ground
// truth from the database itself. Empty `error` when it ran.
Figures RunOnce(const Backend& backend, const Options& options, std::string* error) {
  Figures f;
  f.backend = backend.name;
  tscale::testing::TempDir dir;
  std::unique_ptr<tscale::testing::PostgresServer> postgres;
  std::string target = dir.File("load.db");
  if (backend.postgresql) {
    auto started = tscale::testing::PostgresServer::Start("load");
    if (!started.ok()) {
      *error = "PostgreSQL did not start: " + started.status().ToString();
      return f;
    }
    postgres = std::move(started).value();
    target = postgres->uri();
  }
  f.fsync_before = FsyncRate(dir.path().string());
  std::vector<std::unique_ptr<tscale::testing::ServerProcess>> servers;
  for (int c = 0; c < backend.coordinators; ++c) {
    const std::string home = dir.File("coordinator-" + std::to_string(c));
    std::filesystem::create_directories(home);
    servers.push_back(std::make_unique<tscale::testing::ServerProcess>(
        home, target, std::vector<std::string>{"--log-level", "warn", "--lease-s", "60"}, 0, "server.log",
        options.server_binary));
    if (!servers.back()->started()) {
      *error = "coordinator " + std::to_string(c) + " did not start:\n" + servers.back()->Log();
      return f;
    }
  }
  std::vector<std::unique_ptr<v1::TscaleService::Stub>> clients;
  for (const auto& server : servers)
    clients.push_back(
        v1::TscaleService::NewStub(grpc::CreateChannel(server->address(), grpc::InsecureChannelCredentials())));

  // jobs = lengths x 10 repetitions of one tiny model.
  v1::SubmitSweepRequest submit;
  submit.mutable_spec()->add_models("tiny-bert");
  for (int n = 1; n <= options.jobs / 10; ++n) submit.mutable_spec()->add_seq_lengths(n);
  submit.mutable_spec()->set_repetitions(10);
  v1::SubmitSweepResponse submitted;
  grpc::ClientContext submit_ctx;
  const auto submit_start = Clock::now();
  grpc::Status status = clients[0]->SubmitSweep(&submit_ctx, submit, &submitted);
  f.submit_s = std::chrono::duration<double>(Clock::now() - submit_start).count();
  if (!status.ok() || submitted.job_count() != options.jobs) {
    *error = "submit failed: " + status.error_message();
    return f;
  }

  auto sum_writes = [&](int64_t* writes, int64_t* commits, int64_t* max_group) {
    for (auto& client : clients) {
      v1::ServerStatus counters;
      if (!ServerWrites(*client, &counters)) return false;
      *writes += counters.store_writes();
      *commits += counters.store_commits();
      *max_group = std::max<int64_t>(*max_group, counters.store_max_group());
    }
    return true;
  };
  int64_t writes_before = 0, commits_before = 0, unused = 0;
  const bool have_writes = sum_writes(&writes_before, &commits_before, &unused);
  auto cpu_seconds = [&](double* coordinators, double* postgresql, double* load_test) {
    for (const auto& server : servers) *coordinators += tscale::bench::ProcessCpuSeconds(server->process().pid());
    if (postgres) *postgresql = tscale::bench::ProcessAndChildrenCpuSeconds(postgres->pid());
    *load_test = tscale::bench::ProcessCpuSeconds(getpid());
  };
  double cpu_coordinators_before = 0, cpu_postgres_before = 0, cpu_load_test_before = 0;
  cpu_seconds(&cpu_coordinators_before, &cpu_postgres_before, &cpu_load_test_before);
  std::atomic<bool> stop{false};
  std::vector<WorkerStats> stats(static_cast<size_t>(options.workers));
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int i = 0; i < options.workers; ++i)
    threads.emplace_back(RunSimulatedWorker, servers[static_cast<size_t>(i) % servers.size()]->address(), i,
                         std::cref(stop), &stats[static_cast<size_t>(i)]);

  // Watch progress until the sweep is done (or 10 minutes pass).
  while (true) {
    std::this_thread::sleep_for(100ms);
    grpc::ClientContext ctx;
    v1::GetSweepRequest request;
    request.set_sweep_id(submitted.sweep_id());
    v1::SweepStatus sweep;
    if (clients[0]->GetSweep(&ctx, request, &sweep).ok() && sweep.done()) break;
    if (Clock::now() - start > 10min) {
      std::cerr << "gave up after 10 minutes\n";
      break;
    }
  }
  f.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
  stop = true;
  for (auto& t : threads) t.join();
  cpu_seconds(&f.cpu_coordinators_s, &f.cpu_postgres_s, &f.cpu_load_test_s);
  f.cpu_coordinators_s -= cpu_coordinators_before;
  f.cpu_postgres_s -= cpu_postgres_before;
  f.cpu_load_test_s -= cpu_load_test_before;
  int64_t writes_after = 0, commits_after = 0;
  const bool have_writes_after = have_writes && sum_writes(&writes_after, &commits_after, &f.max_group);
  f.fsync_after = FsyncRate(dir.path().string());
  f.writes = writes_after - writes_before;
  f.commits = commits_after - commits_before;
  f.counted = have_writes_after && f.commits > 0;  // an older server reports no counters

  std::vector<double> claims, empty_claims, completes;
  int duplicates = 0;
  for (const auto& s : stats) {
    claims.insert(claims.end(), s.claim_ms.begin(), s.claim_ms.end());
    empty_claims.insert(empty_claims.end(), s.empty_claim_ms.begin(), s.empty_claim_ms.end());
    completes.insert(completes.end(), s.complete_ms.begin(), s.complete_ms.end());
    f.completed += s.completed;
    duplicates += s.duplicates;
    f.errors += s.errors;
  }

  // Ground truth from the database: exactly one result per job, one attempt per job.
  tscale::sql::Database db;
  int64_t job_rows = 0, distinct_results = 0;
  if (db.Open(target).ok()) {
    tscale::sql::Statement q(db,
                             "SELECT (SELECT COUNT(*) FROM jobs), (SELECT COUNT(*) FROM results), "
                             "(SELECT COUNT(DISTINCT job_id) FROM results), "
                             "(SELECT COALESCE(SUM(attempts - 1), 0) FROM jobs)");
    if (q.Step()) {
      job_rows = q.ColumnInt(0);
      f.result_rows = q.ColumnInt(1);
      distinct_results = q.ColumnInt(2);
      f.extra_attempts = q.ColumnInt(3);
    }
  }
  f.lost = job_rows - distinct_results;
  f.duplicated = f.result_rows - distinct_results + duplicates;
  f.claim = tscale::Summarize(claims);
  f.empty = tscale::Summarize(empty_claims);
  f.complete = tscale::Summarize(completes);
  f.per_second = f.completed / f.elapsed_s;
  f.correct = f.lost == 0 && f.duplicated == 0 && f.result_rows == options.jobs && f.errors == 0;
  return f;
}

void Print(const Figures& f, const Options& options) {
  std::cout << "== " << f.backend << ": disk fsync " << static_cast<int>(f.fsync_before) << "/s before, "
            << static_cast<int>(f.fsync_after) << "/s after; test fsync delay " << options.fsync_delay_ms
            << " ms; writes per commit ";
  if (f.counted)
    std::cout << "mean " << static_cast<double>(f.writes) / static_cast<double>(f.commits) << ", max " << f.max_group
              << " (" << f.writes << " writes, " << f.commits << " commits)";
  else
    std::cout << "not reported by this server";
  std::cout << "\njobs " << options.jobs << ", simulated workers " << options.workers << ", submit " << f.submit_s
            << " s\n"
            << "completed " << f.completed << " in " << f.elapsed_s << " s: " << f.per_second << " completions/s\n"
            << "claim latency (with a job) ms: p50 " << f.claim.median << ", p90 " << f.claim.p90 << ", p99 "
            << f.claim.p99 << ", max " << f.claim.max << " (n=" << f.claim.count << ")\n"
            << "empty claims: " << f.empty.count << "; complete latency ms: p50 " << f.complete.median << ", p99 "
            << f.complete.p99 << "\n"
            << "database: " << f.result_rows << " results, lost " << f.lost << ", duplicated " << f.duplicated
            << ", extra attempts " << f.extra_attempts << ", rpc errors " << f.errors << "\n";
  if (f.completed > 0) {
    // What bounds the rate when the machine is the limit: every core busy at this CPU cost per completion.
    const double per_job_ms = 1000.0 / f.completed;
    const double total_ms = (f.cpu_coordinators_s + f.cpu_postgres_s + f.cpu_load_test_s) * per_job_ms;
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    std::cout << "cpu ms per completion: coordinators " << f.cpu_coordinators_s * per_job_ms << ", postgresql "
              << f.cpu_postgres_s * per_job_ms << ", load test " << f.cpu_load_test_s * per_job_ms << ", total "
              << total_ms << "; busy cores " << total_ms * f.per_second / 1000.0 << " of " << cores
              << "; all cores busy at this cost: " << (total_ms > 0 ? cores * 1000.0 / total_ms : 0)
              << " completions/s\n";
  }
}

std::string Json(const Figures& f, const Options& options) {
  std::ostringstream out;
  out << "{\"backend\": \"" << f.backend << "\", \"jobs\": " << options.jobs << ", \"workers\": " << options.workers
      << ", \"completions_per_s\": " << f.per_second << ", \"claim_p50_ms\": " << f.claim.median
      << ", \"claim_p99_ms\": " << f.claim.p99 << ", \"complete_p50_ms\": " << f.complete.median
      << ", \"complete_p99_ms\": " << f.complete.p99 << ", \"lost\": " << f.lost << ", \"duplicated\": " << f.duplicated
      << ", \"fsync_per_s_before\": " << f.fsync_before << ", \"fsync_per_s_after\": " << f.fsync_after
      << ", \"fsync_delay_ms\": " << options.fsync_delay_ms << ", \"writes_per_commit_mean\": "
      << (f.counted ? static_cast<double>(f.writes) / static_cast<double>(f.commits) : 0)
      << ", \"writes_per_commit_max\": " << f.max_group << ", \"cpu_s_coordinators\": " << f.cpu_coordinators_s
      << ", \"cpu_s_postgresql\": " << f.cpu_postgres_s << ", \"cpu_s_load_test\": " << f.cpu_load_test_s << "}";
  return out.str();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tscale coordinator load test (simulated workers, real servers)"};
  Options options;
  options.server_binary = tscale::testing::kServerBinary;
  options.jobs = 10'000;
  options.workers = 50;
  std::string json_out, backends_list = "sqlite", label;
  int rounds = 1;
  app.add_option("--server-binary", options.server_binary, "tscale-server to start")->capture_default_str();
  app.add_option("--jobs", options.jobs, "jobs in the sweep (a multiple of 10)")->capture_default_str();
  app.add_option("--workers", options.workers, "simulated workers")->capture_default_str();
  app.add_option("--backends", backends_list,
                 "comma-separated runs: sqlite, pg1 (one coordinator on PostgreSQL), pg2 (two coordinators on one "
                 "PostgreSQL database)")
      ->capture_default_str();
  app.add_option("--rounds", rounds, "run the backends this many times, reversing their order every other round")
      ->capture_default_str()
      ->check(CLI::Range(1, 20));
  app.add_option("--json", json_out, "also write the figures to this file (a JSON array, one object per run)");
  app.add_option("--fsync-delay-ms", options.fsync_delay_ms,
                 "TEST ONLY: make every fsync of the SQLite database this much slower (a slow disk)")
      ->check(CLI::Range(0.0, 1000.0));
  app.add_option("--label", label, "names this run in the output (e.g. the build)");
  CLI11_PARSE(app, argc, argv);
  if (options.jobs % 10 != 0 || options.jobs < 10 || options.jobs > 10'000 || options.workers < 1 ||
      options.workers > 500) {
    std::cerr << "--jobs must be a multiple of 10 in 10..10000; --workers in 1..500\n";
    return 2;
  }
  std::vector<Backend> backends;
  std::stringstream names(backends_list);
  for (std::string name; std::getline(names, name, ',');) {
    if (name == "sqlite")
      backends.push_back({name, false, 1});
    else if (name == "pg1" || name == "pg2")
      backends.push_back({name, true, name == "pg1" ? 1 : 2});
    else {
      std::cerr << "--backends: unknown backend \"" << name << "\" (sqlite, pg1, pg2)\n";
      return 2;
    }
  }
  if (backends.empty()) {
    std::cerr << "--backends names no backend\n";
    return 2;
  }
  const bool wants_postgresql =
      std::any_of(backends.begin(), backends.end(), [](const Backend& b) { return b.postgresql; });
  if (wants_postgresql && !tscale::testing::PostgresAvailable()) {
    // 77: ctest's skip code for load_test_postgresql_smoke (the libtorch 2.x root has libpq, not the server).
    std::cerr << "--backends pg1/pg2: SKIPPED: " << tscale::testing::PostgresUnavailableMessage() << "\n";
    return 77;
  }
  if (options.fsync_delay_ms > 0)
    setenv("TSCALE_TEST_FSYNC_DELAY_MS", std::to_string(options.fsync_delay_ms).c_str(), 1);

  if (!label.empty()) std::cout << "run: " << label << "\n";
  std::vector<Figures> runs;
  bool all_correct = true;
  for (int round = 0; round < rounds; ++round) {
    std::vector<Backend> order = backends;
    if (round % 2 == 1) std::reverse(order.begin(), order.end());
    for (const Backend& backend : order) {
      std::string error;
      Figures figures = RunOnce(backend, options, &error);
      if (!error.empty()) {
        std::cerr << backend.name << ": " << error << "\n";
        return 1;
      }
      Print(figures, options);
      all_correct = all_correct && figures.correct;
      runs.push_back(std::move(figures));
    }
  }
  if (runs.size() > 1) {
    std::cout << "\nbackend  completions/s  claim p50 ms  claim p99 ms  lost  duplicated\n";
    for (const Figures& f : runs)
      std::cout << f.backend << std::string(9 - std::min<size_t>(8, f.backend.size()), ' ') << f.per_second << "  "
                << f.claim.median << "  " << f.claim.p99 << "  " << f.lost << "  " << f.duplicated << "\n";
  }
  if (!json_out.empty()) {
    std::ofstream out(json_out);
    out << "[";
    for (size_t i = 0; i < runs.size(); ++i) out << (i ? ",\n " : "") << Json(runs[i], options);
    out << "]\n";
  }
  std::cout << (all_correct ? "PASS" : "FAIL") << ": zero lost and zero duplicated results required\n";
  return all_correct ? 0 : 1;
}
