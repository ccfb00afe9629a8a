// Chaos: a sweep of 200 fast jobs across 3 workers while workers and the coordinator are killed with SIGKILL
// at random and restarted. Bounded in time and count, loopback only. At the end: every job has exactly one
// result, no result the coordinator ever acknowledged was lost or changed, no runner is left running, and the
// database passes PRAGMA integrity_check.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "support/cluster.h"
#include "support/processes.h"

namespace tscale {
namespace {

using namespace std::chrono_literals;

TEST(Chaos, KillsOfWorkersAndCoordinatorLoseNothing) {
  testing::Cluster cluster;
  // Generous caps: this test is about not losing or duplicating results, not about giving up on jobs.
  const std::vector<std::string> server_flags = {"--heartbeat-s",  "0.5", "--lease-s",          "2",
                                                 "--max-attempts", "50",  "--quarantine-after", "50"};
  ASSERT_TRUE(cluster.StartServer(server_flags)) << cluster.Logs();
  const int port = cluster.server().port();

  v1::SweepSpec spec;
  spec.add_models("tiny-bert");
  spec.add_models("tiny-gpt2");
  for (int n = 1; n <= 20; ++n) spec.add_seq_lengths(n);
  spec.set_repetitions(5);  // 2 x 20 x 5 = 200 jobs
  spec.mutable_measurement()->set_min_time_s(0.001);
  spec.mutable_measurement()->set_min_iters(1);
  spec.mutable_measurement()->set_warmup_iters(1);
  const int64_t sweep = cluster.Submit(spec);

  const std::vector<std::string> ids = {"c1", "c2", "c3"};
  std::map<std::string, std::unique_ptr<testing::TestProcess>> workers;
  for (const auto& id : ids) workers[id] = cluster.StartWorker(id, {"--slots", "2"});

  std::mt19937 rng(20261122);
  std::map<int64_t, int64_t> acknowledged;  // job id -> attempt id of its result, once seen
  int worker_kills = 0, server_kills = 0, lost_acks = 0, changed_acks = 0;
  const auto give_up = std::chrono::steady_clock::now() + 300s;
  int finished = 0;
  while (std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(300, 1200)(rng)));
    v1::ListResultsRequest request;
    request.set_sweep_id(sweep);
    v1::ListResultsResponse jobs;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    if (cluster.stub().ListResults(&ctx, request, &jobs).ok()) {
      finished = testing::Cluster::Finished(jobs);
      std::map<int64_t, int64_t> now;
      for (const auto& job : jobs.jobs())
        if (job.state() == v1::JOB_STATE_FINISHED) now[job.spec().job_id()] = job.result().attempt_id();
      for (const auto& [job, attempt] : acknowledged) {
        auto it = now.find(job);
        if (it == now.end())
          ++lost_acks;
        else if (it->second != attempt)
          ++changed_acks;
      }
      for (const auto& entry : now) acknowledged.insert(entry);
      if (finished == jobs.jobs_size()) break;
    }
    if (worker_kills + server_kills >= 14) continue;  // enough chaos: let the sweep finish
    // Every third kill is the coordinator's; the others hit a random worker.
    if ((worker_kills + server_kills) % 3 == 2) {
      cluster.server().process().Kill();
      ++server_kills;
      std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(200, 1500)(rng)));
      ASSERT_TRUE(cluster.StartServer(server_flags, port)) << cluster.Logs();
    } else {
      const std::string& victim = ids[std::uniform_int_distribution<size_t>(0, ids.size() - 1)(rng)];
      workers[victim]->Kill();
      ++worker_kills;
      workers[victim] = cluster.StartWorker(victim, {"--slots", "2"});
    }
  }
  ASSERT_EQ(finished, 200) << cluster.Logs().substr(0, 20000);
  for (auto& [id, worker] : workers) worker->Stop();

  // Requeues: leases handed out beyond the first per job.
  int64_t requeues = 0;
  {
    sql::Database db;
    ASSERT_TRUE(db.Open(cluster.dir().File("tscale.db")).ok());
    sql::Statement extra(db, "SELECT COALESCE(SUM(attempts - 1), 0) FROM jobs");
    ASSERT_TRUE(extra.Step());
    requeues = extra.ColumnInt(0);
    sql::Statement integrity(db, "PRAGMA integrity_check");
    ASSERT_TRUE(integrity.Step());
    EXPECT_EQ(integrity.ColumnText(0), "ok");
  }
  cluster.ExpectOneResultPerJob(200);
  EXPECT_EQ(lost_acks, 0);
  EXPECT_EQ(changed_acks, 0);
  for (const auto& id : ids) EXPECT_TRUE(testing::FindProcesses({"--job", cluster.StateDir(id)}).empty()) << id;
  std::cout << "chaos: 200 jobs, " << worker_kills << " worker kills, " << server_kills << " coordinator kills, "
            << requeues << " requeues, " << acknowledged.size() << " acknowledged results all kept\n";
  EXPECT_GE(worker_kills, 5);
  EXPECT_GE(server_kills, 3);
}

}  // namespace
}  // namespace tscale
