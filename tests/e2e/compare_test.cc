// compare end to end: two sweeps on a real cluster (server, worker, runner children) that differ only in the
// runner's threads, 1 and 2. `tscale-client compare` names the two-thread sweep faster and the thread count as
// the environments' difference; the same comparison from two `results --csv` exports (raw samples carried) gives
// the same verdicts offline; with the sides swapped, --fail-on-regression exits 4. This binary runs alone
// (RUN_SERIAL): a thread speed-up is only visible on otherwise idle cores.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <thread>

#include "support/client_cli.h"
#include "support/cluster.h"

namespace tscale {
namespace {

using namespace std::chrono_literals;

// Wide enough that its matmuls split well over two threads, small enough for a few seconds a sweep.
constexpr const char* kModel = R"({
  "id": "test/compare-gpt2", "aliases": ["compare-gpt2"], "category": "Test", "family": "gpt2",
  "notes": "A GPT-2-shaped decoder for the compare end-to-end test.", "arch": "decoder",
  "layers": 2, "hidden": 384, "heads": 6, "ffn": 1536, "vocab": 1000, "position": "learned",
  "position_rows": 256, "position_offset": 0, "max_input_tokens": 256, "type_vocab": 0, "norm": "layernorm",
  "norm_eps": 1e-5, "norm_placement": "pre", "embedding_norm": false, "final_norm": true,
  "activation": "gelu_tanh", "bias": true, "pooler": false})";

int64_t SubmitWithThreads(testing::Cluster& cluster, int threads) {
  v1::SweepSpec spec;
  spec.add_models("compare-gpt2");
  spec.add_seq_lengths(128);
  spec.add_seq_lengths(256);
  auto* m = spec.mutable_measurement();
  m->set_threads(threads);
  m->set_warmup_iters(3);
  m->set_min_iters(20);
  m->set_max_iters(20);
  m->set_min_time_s(0);
  m->set_max_cv(-1);  // a noisy moment must not turn a cell invalid: the comparison weighs the noise itself
  return cluster.Submit(spec);
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(CompareEndToEnd, TwoThreadsAgainstOneIsNamedFasterWithTheThreadsDifference) {
  // The worker gives a job at most cores / slots threads: one core cannot show a two-thread speed-up.
  if (std::thread::hardware_concurrency() < 2) GTEST_SKIP() << "needs 2 cores for a 2-thread runner";
  testing::Cluster cluster;
  const std::string models = cluster.dir().File("compare-models");
  std::filesystem::create_directories(models);
  std::ofstream(models + "/compare-gpt2.json") << kModel;
  ASSERT_TRUE(cluster.StartServer({"--heartbeat-s", "0.5", "--lease-s", "5", "--catalog", models}));
  auto worker = cluster.StartWorker("compare-worker", {"--threads", "2"});
  const int64_t one = SubmitWithThreads(cluster, 1);
  const int64_t two = SubmitWithThreads(cluster, 2);
  ASSERT_GT(one, 0);
  ASSERT_GT(two, 0);
  for (int64_t sweep : {one, two}) {
    auto jobs = cluster.WaitAllFinished(sweep, 300s);
    ASSERT_EQ(testing::Cluster::Finished(jobs), 2) << cluster.Logs();
    for (const auto& job : jobs.jobs()) {
      ASSERT_EQ(job.result().outcome(), v1::OUTCOME_OK) << job.result().message() << job.result().stderr_tail();
      EXPECT_EQ(job.result().environment().threads(), sweep == one ? 1 : 2);
    }
  }
  const std::string address = cluster.server().address();
  const std::string log = cluster.dir().File("client.log");

  auto compared = testing::RunClientCli(
      address, {"compare", "--base", std::to_string(one), "--head", std::to_string(two), "--fail-on-regression"}, log);
  ASSERT_EQ(compared.exit_code, 0) << compared.output;
  std::printf("%s\n", compared.output.c_str());  // the figures, for the record in the test log
  // The text's environment summary leads with the difference, marked.
  EXPECT_NE(compared.output.find("*  threads  1     2"), std::string::npos) << compared.output;

  // And, read exactly from the JSON: threads is the first field and the only one that differs; both cells are
  // faster on two threads.
  auto json = testing::RunClientCli(address,
                                    {"compare", "--base", std::to_string(one), "--head", std::to_string(two), "--json"},
                                    cluster.dir().File("json.log"));
  ASSERT_EQ(json.exit_code, 0) << json.output;
  const auto doc = nlohmann::json::parse(json.output, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(doc.is_discarded()) << json.output;
  ASSERT_FALSE(doc["environment"].empty()) << json.output;
  EXPECT_EQ(doc["environment"][0]["name"], "threads");
  EXPECT_EQ(doc["environment"][0]["differs"], true);
  for (size_t i = 1; i < doc["environment"].size(); ++i)
    EXPECT_EQ(doc["environment"][i]["differs"], false) << doc["environment"][i].dump();
  ASSERT_EQ(doc["cells"].size(), 2u);
  for (const auto& cell : doc["cells"]) EXPECT_EQ(cell["speed"]["verdict"], "faster") << cell.dump();

  // Offline: the two sweeps' CSV exports carry the raw samples, so the verdicts are the same.
  const std::string base_csv = cluster.dir().File("one.csv"), head_csv = cluster.dir().File("two.csv");
  for (const auto& [sweep, path] : {std::pair{one, base_csv}, std::pair{two, head_csv}}) {
    auto exported =
        testing::RunClientCli(address, {"results", "--sweep", std::to_string(sweep), "--csv"}, path + ".log");
    ASSERT_EQ(exported.exit_code, 0) << exported.output;
    std::ofstream(path) << ReadAll(path + ".log");
  }
  auto offline =
      testing::RunClientCli("127.0.0.1:1", {"compare", "--base-csv", base_csv, "--head-csv", head_csv, "--csv"},
                            cluster.dir().File("offline.log"));
  ASSERT_EQ(offline.exit_code, 0) << offline.output;
  auto online =
      testing::RunClientCli(address, {"compare", "--base", std::to_string(one), "--head", std::to_string(two), "--csv"},
                            cluster.dir().File("online.log"));
  ASSERT_EQ(online.exit_code, 0) << online.output;
  EXPECT_EQ(offline.output, online.output);

  // The other way round it is a regression, and CI is told so.
  auto swapped = testing::RunClientCli(
      address, {"compare", "--base", std::to_string(two), "--head", std::to_string(one), "--fail-on-regression"},
      cluster.dir().File("swapped.log"));
  EXPECT_EQ(swapped.exit_code, 4) << swapped.output;
  EXPECT_NE(swapped.output.find("0 faster, 2 slower"), std::string::npos) << swapped.output;
}

}  // namespace
}  // namespace tscale
