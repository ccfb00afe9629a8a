// The train workload in tscale-client: --workload train, --checkpointing and --loss parsed by name with the flag
// named in every refusal, the settings' short names, and the results table's checkpointing column for train rows.
#include <gtest/gtest.h>

#include <sstream>

#include "client/results_table.h"
#include "client/sweep_request.h"
#include "common/outcome.h"

namespace tscale {
namespace {

TEST(TrainRequest, SubmitReadsTheWorkloadCheckpointingAndLossByName) {
  auto workloads = client::ParseWorkloads({"forward", "train", "decode", "train"});
  ASSERT_TRUE(workloads.ok()) << workloads.status().ToString();
  EXPECT_EQ(*workloads, (std::vector<v1::Workload>{v1::WORKLOAD_FORWARD, v1::WORKLOAD_TRAIN, v1::WORKLOAD_DECODE}));

  auto checkpointing = client::ParseCheckpointingList({"layers", "none", "layers"});
  ASSERT_TRUE(checkpointing.ok()) << checkpointing.status().ToString();
  EXPECT_EQ(*checkpointing, (std::vector<v1::Checkpointing>{v1::CHECKPOINTING_LAYERS, v1::CHECKPOINTING_NONE}));

  for (const auto& [text, loss] :
       {std::pair{"auto", v1::TRAIN_LOSS_UNSPECIFIED}, std::pair{"next-token", v1::TRAIN_LOSS_NEXT_TOKEN},
        std::pair{"next_token", v1::TRAIN_LOSS_NEXT_TOKEN}, std::pair{"masked-lm", v1::TRAIN_LOSS_MASKED_LM},
        std::pair{"seq2seq", v1::TRAIN_LOSS_SEQ2SEQ}}) {
    SCOPED_TRACE(text);
    auto parsed = client::ParseLossFlag(text);
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    EXPECT_EQ(*parsed, loss);
  }
  EXPECT_EQ(CheckpointingName(v1::CHECKPOINTING_UNSPECIFIED), "none");
  EXPECT_EQ(CheckpointingName(v1::CHECKPOINTING_LAYERS), "layers");
  EXPECT_EQ(TrainLossName(v1::TRAIN_LOSS_UNSPECIFIED), "auto");
  EXPECT_EQ(TrainLossName(v1::TRAIN_LOSS_MASKED_LM), "masked_lm");
  EXPECT_EQ(WorkloadName(v1::WORKLOAD_TRAIN), "train");
}

TEST(TrainRequest, UnknownValuesNameTheFlagAndTheValue) {
  for (const char* bad : {"all", "unspecified", "", "selective"}) {
    SCOPED_TRACE(bad);
    auto refused = client::ParseCheckpointingList({"none", bad});
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), Status::Code::kInvalidArgument);
    EXPECT_EQ(refused.status().message(), "--checkpointing: unknown value \"" + std::string(bad) + "\" (none, layers)");
  }
  EXPECT_FALSE(client::ParseCheckpointingList({}).ok());
  for (const char* bad : {"l2", "unspecified", "", "masked", "NEXT TOKEN"}) {
    SCOPED_TRACE(bad);
    auto refused = client::ParseLossFlag(bad);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().message(),
              "--loss: unknown loss \"" + std::string(bad) + "\" (auto, next-token, masked-lm, seq2seq)");
  }
  auto workload = client::ParseWorkloads({"finetune"});
  ASSERT_FALSE(workload.ok());
  EXPECT_EQ(workload.status().message(), "--workload: unknown workload \"finetune\" (forward, decode, train)");
}

v1::JobView Job(int64_t id, v1::Workload workload, v1::Checkpointing checkpointing) {
  v1::JobView job;
  job.mutable_spec()->set_job_id(id);
  job.mutable_spec()->set_model_id("test/tiny-gpt2");
  job.mutable_spec()->set_seq_len(16);
  job.mutable_spec()->set_batch_size(1);
  job.mutable_spec()->set_workload(workload);
  job.mutable_spec()->set_checkpointing(checkpointing);
  if (workload == v1::WORKLOAD_TRAIN) job.mutable_spec()->set_loss(v1::TRAIN_LOSS_NEXT_TOKEN);
  job.set_state(v1::JOB_STATE_FINISHED);
  job.mutable_result()->set_outcome(v1::OUTCOME_OK);
  job.mutable_result()->mutable_latency()->set_median_ms(30);
  return job;
}

// The line of job `id` in a rendered table.
std::string LineOf(const std::string& table, int64_t id) {
  std::istringstream lines(table);
  std::string line;
  const std::string start = "  " + std::to_string(id) + "  ";
  while (std::getline(lines, line))
    if (line.rfind(start, 0) == 0) return line;
  return "";
}

TEST(TrainRequest, TheResultsTableShowsTheCheckpointingOfTrainRows) {
  v1::ListResultsResponse listing;
  *listing.add_jobs() = Job(1, v1::WORKLOAD_FORWARD, v1::CHECKPOINTING_UNSPECIFIED);
  *listing.add_jobs() = Job(2, v1::WORKLOAD_TRAIN, v1::CHECKPOINTING_NONE);
  *listing.add_jobs() = Job(3, v1::WORKLOAD_TRAIN, v1::CHECKPOINTING_LAYERS);
  const std::string table = client::RenderResultsTable(listing);
  const std::string header = table.substr(0, table.find('\n'));
  ASSERT_NE(header.find(" ckpt "), std::string::npos) << table;
  EXPECT_LT(header.find(" ckpt "), header.find("detail")) << header;
  const size_t column = header.find(" ckpt ") + 1;
  EXPECT_EQ(LineOf(table, 2).substr(column, 4), "none") << table;
  EXPECT_EQ(LineOf(table, 3).substr(column, 6), "layers") << table;
  EXPECT_NE(LineOf(table, 3).find(" train "), std::string::npos) << table;
  // A forward row has no checkpointing to show.
  const std::string forward = LineOf(table, 1);
  EXPECT_EQ(forward.size() > column ? forward.substr(column, 6).find_first_not_of(' ') : std::string::npos,
            std::string::npos)
      << table;
  // A listing without train jobs keeps the table as it was: no ckpt column, and no decode columns either.
  listing.mutable_jobs()->DeleteSubrange(1, 2);
  const std::string plain = client::RenderResultsTable(listing);
  EXPECT_EQ(plain.find("ckpt"), std::string::npos) << plain;
  EXPECT_EQ(plain.find("ttft_ms"), std::string::npos) << plain;
}

}  // namespace
}  // namespace tscale
