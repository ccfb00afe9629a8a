// The workload axis in tscale-client: --workload parsing, the results table's workload and decode columns, the
// CSV's workload columns (and old files without them), and the report's split: a decode row never enters a
// forward aggregate, and has tables of its own.
#include <gtest/gtest.h>

#include <sstream>

#include "client/report/aggregate.h"
#include "client/report/csv.h"
#include "client/report/render_html.h"
#include "client/report/render_text.h"
#include "client/results_table.h"
#include "client/sweep_request.h"

namespace tscale {
namespace {

TEST(Workload, SubmitReadsWorkloadsByShortNameAndNamesTheFlag) {
  auto parsed = client::ParseWorkloads({"forward", "decode", "forward"});
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, (std::vector<v1::Workload>{v1::WORKLOAD_FORWARD, v1::WORKLOAD_DECODE}));
  for (const char* bad : {"generate", "unspecified", ""}) {
    SCOPED_TRACE(bad);
    auto refused = client::ParseWorkloads({"forward", bad});
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.status().message().find("--workload: unknown workload \"" + std::string(bad) + "\""),
              std::string::npos)
        << refused.status().message();
  }
}

// A listing as the coordinator answers it: a job from before the workload axis (no workload in its spec) and a
// decode job with its statistics.
v1::ListResultsResponse Listing() {
  v1::ListResultsResponse response;
  auto* forward = response.add_jobs();
  forward->mutable_spec()->set_job_id(1);
  forward->mutable_spec()->set_model_id("test/tiny-gpt2");
  forward->mutable_spec()->set_seq_len(16);
  forward->mutable_spec()->set_batch_size(1);
  forward->set_state(v1::JOB_STATE_FINISHED);
  forward->mutable_result()->set_outcome(v1::OUTCOME_OK);
  forward->mutable_result()->mutable_latency()->set_median_ms(4);
  forward->mutable_result()->set_tokens_per_second(4000);
  auto* decode = response.add_jobs();
  *decode = *forward;
  decode->mutable_spec()->set_job_id(2);
  decode->mutable_spec()->set_workload(v1::WORKLOAD_DECODE);
  decode->mutable_spec()->set_new_tokens(8);
  decode->mutable_result()->mutable_latency()->set_median_ms(40);
  decode->mutable_result()->set_tokens_per_second(200);
  v1::DecodeStats* d = decode->mutable_result()->mutable_decode();
  d->set_new_tokens(8);
  d->mutable_ttft()->set_median_ms(12.5);
  d->mutable_tpot()->set_median_ms(1.25);
  d->set_decode_tokens_per_second(800);
  d->set_kv_cache_bytes(3 << 20);
  return response;
}

TEST(Workload, TheResultsTableHasAWorkloadColumnAndDecodeFiguresForDecodeRows) {
  const std::string table = client::RenderResultsTable(Listing());
  const std::string header = table.substr(0, table.find('\n'));
  for (const char* column :
       {"workload", "median_ms", "tokens/s", "new_tok", "ttft_ms", "tpot_ms", "dec_tok/s", "kv_MiB"})
    EXPECT_NE(header.find(column), std::string::npos) << column << " in " << header;
  std::istringstream lines(table);
  std::string line;
  while (std::getline(lines, line) && line.find("  2  ") != 0) {
  }
  ASSERT_EQ(line.find("  2  "), 0u) << table;  // job 2's line
  for (const char* value : {" decode ", " 8 ", " 12.5 ", " 1.25 ", " 800.0 ", " 3.0"})
    EXPECT_NE(line.find(value), std::string::npos) << value << " in " << line;
  EXPECT_NE(table.find(" forward "), std::string::npos) << table;  // the old job reads as forward

  // A forward-only listing keeps the forward columns only (and says forward).
  v1::ListResultsResponse forward_only = Listing();
  forward_only.mutable_jobs()->RemoveLast();
  const std::string plain = client::RenderResultsTable(forward_only);
  EXPECT_NE(plain.find("workload"), std::string::npos);
  EXPECT_EQ(plain.find("ttft_ms"), std::string::npos) << plain;
}

TEST(Workload, RowsAndCsvCarryTheWorkloadAndDecodeFigures) {
  auto rows = report::RowsFrom(Listing(), v1::ListModelsResponse());
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].workload, v1::WORKLOAD_FORWARD);
  EXPECT_EQ(rows[1].workload, v1::WORKLOAD_DECODE);
  EXPECT_EQ(rows[1].new_tokens, 8);
  EXPECT_DOUBLE_EQ(rows[1].ttft_ms, 12.5);
  EXPECT_DOUBLE_EQ(rows[1].tpot_ms, 1.25);
  EXPECT_DOUBLE_EQ(rows[1].decode_tokens_per_s, 800);
  EXPECT_EQ(rows[1].kv_cache_bytes, 3 << 20);

  const std::string csv = report::ToCsv(rows);
  EXPECT_NE(csv.find(",workload,new_tokens,ttft_median_ms,tpot_median_ms,decode_tokens_per_s,kv_cache_bytes,"),
            std::string::npos)
      << csv;
  auto parsed = report::FromCsv(csv);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ASSERT_EQ(parsed->size(), 2u);
  const auto& b = (*parsed)[1];
  EXPECT_EQ(b.workload, v1::WORKLOAD_DECODE);
  EXPECT_EQ(b.new_tokens, 8);
  EXPECT_EQ(b.ttft_ms, 12.5);
  EXPECT_EQ(b.tpot_ms, 1.25);
  EXPECT_EQ(b.decode_tokens_per_s, 800);
  EXPECT_EQ(b.kv_cache_bytes, 3 << 20);
  EXPECT_EQ((*parsed)[0].workload, v1::WORKLOAD_FORWARD);
  EXPECT_EQ(report::ToCsv(*parsed), csv);

  // A file exported before the training columns (27 fields a record) still reads, decode figures and all.
  std::string decode_era;
  for (size_t start = 0; start < csv.size();) {
    const size_t end = csv.find('\n', start);
    std::string line = csv.substr(start, end - start);
    size_t cut = 0;
    for (int commas = 0; commas < 27 && cut != std::string::npos; ++commas)
      cut = line.find(',', cut + (commas ? 1 : 0));
    decode_era += line.substr(0, cut) + "\n";
    start = end + 1;
  }
  auto decode_rows = report::FromCsv(decode_era);
  ASSERT_TRUE(decode_rows.ok()) << decode_rows.status().ToString() << "\n" << decode_era;
  ASSERT_EQ(decode_rows->size(), 2u);
  EXPECT_EQ((*decode_rows)[1].kv_cache_bytes, 3 << 20);
  EXPECT_EQ((*decode_rows)[1].workload, v1::WORKLOAD_DECODE);

  // A file exported before the workload columns still reads, as forward jobs.
  const std::string old_csv =
      "job_id,model_id,category,seq_len,batch,outcome,message,parameters,load_ms,median_ms,iqr_ms,tokens_per_s,"
      "peak_rss_bytes,sweep_id,repetition,variant,wall_start,wall_max,wall_resolution,memory_limit_bytes,"
      "host_ram_bytes\n"
      "1,m,c,16,1,ok,,10,1,2,3,4,5,0,0,fp32/eager,0,0,0,0,0\n";
  auto old_rows = report::FromCsv(old_csv);
  ASSERT_TRUE(old_rows.ok()) << old_rows.status().ToString();
  ASSERT_EQ(old_rows->size(), 1u);
  EXPECT_EQ((*old_rows)[0].workload, v1::WORKLOAD_FORWARD);
  EXPECT_DOUBLE_EQ((*old_rows)[0].tokens_per_s, 4);

  std::string bad_workload = csv;
  bad_workload.replace(bad_workload.find(",decode,"), 8, ",generate,");
  auto refused = report::FromCsv(bad_workload);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("unknown workload \"generate\""), std::string::npos);
}

report::Row Job(int64_t id, const std::string& model, int len, v1::Workload workload, double tokens_per_s) {
  report::Row r;
  r.job_id = id;
  r.model_id = model;
  r.category = "Decoders";
  r.seq_len = len;
  r.outcome = v1::OUTCOME_OK;
  r.median_ms = 1000.0 * len / tokens_per_s;
  r.tokens_per_s = tokens_per_s;
  r.peak_rss_bytes = 100 << 20;
  r.parameters = 10'000'000;
  r.load_ms = 100;
  r.variant = "fp32/eager";
  r.workload = workload;
  if (workload == v1::WORKLOAD_DECODE) {
    r.new_tokens = 8;
    r.ttft_ms = 10;
    r.tpot_ms = 2;
    r.decode_tokens_per_s = 500;
    r.kv_cache_bytes = 1 << 20;
  }
  return r;
}

TEST(Workload, ForwardAggregatesNeverPoolDecodeRows) {
  const std::vector<report::Row> rows = {Job(1, "g", 128, v1::WORKLOAD_FORWARD, 1000),
                                         Job(2, "g", 128, v1::WORKLOAD_DECODE, 50)};
  const auto forward = report::Cells(rows);
  ASSERT_EQ(forward.size(), 1u);
  EXPECT_EQ(forward[0].jobs, 1);
  EXPECT_DOUBLE_EQ(forward[0].tokens_per_s, 1000);  // not the median of 1000 and a generation's 50
  EXPECT_DOUBLE_EQ(report::ThroughputByCategoryLength(forward)[0].tokens_per_s.median, 1000);
  EXPECT_EQ(report::StudySuccessByLength(rows)[0].rows, 1);
  const auto means = report::StudyMeanThroughputByCategory(rows, 128);
  ASSERT_EQ(means.size(), 1u);
  EXPECT_DOUBLE_EQ(means[0].mean_tokens_per_s, 1000);

  const auto decode = report::Cells(rows, v1::WORKLOAD_DECODE);
  ASSERT_EQ(decode.size(), 1u);
  EXPECT_EQ(decode[0].workload, v1::WORKLOAD_DECODE);
  EXPECT_DOUBLE_EQ(decode[0].ttft_ms, 10);
  EXPECT_DOUBLE_EQ(decode[0].tpot_ms, 2);
  EXPECT_DOUBLE_EQ(decode[0].decode_tokens_per_s, 500);
  EXPECT_EQ(decode[0].kv_cache_bytes, 1 << 20);
  const std::string text = report::RenderDecode(decode);
  EXPECT_NE(text.find("Decode by model and prompt length"), std::string::npos) << text;
  EXPECT_EQ(report::DecodeRowCells(decode[0]), (std::vector<std::string>{"g", "Decoders", "128", "8", "1", "1", "ok",
                                                                         "10.0", "2.00", "500.0", "1.0", "100"}));
  EXPECT_EQ(report::RenderDecode({}), "");

  const std::string html = report::RenderHtml(rows, {});
  EXPECT_NE(html.find("<section id=\"decode\">"), std::string::npos);
  EXPECT_NE(html.find("2 finished jobs (1 decode, in their own section)"), std::string::npos);
  EXPECT_EQ(report::RenderHtml({rows[0]}, {}).find("<section id=\"decode\">"), std::string::npos);
}

TEST(Workload, AForwardAndADecodeWallOfOneModelAreTwoSearches) {
  std::vector<report::Row> rows = {Job(1, "g", 128, v1::WORKLOAD_FORWARD, 1000),
                                   Job(2, "g", 128, v1::WORKLOAD_DECODE, 50)};
  for (auto& r : rows) {
    r.wall_start = 128;
    r.wall_max = 1024;
    r.wall_resolution = 64;
  }
  rows[1].outcome = v1::OUTCOME_EXCEEDS_CONTEXT;
  const auto walls = report::Walls(rows);
  ASSERT_EQ(walls.size(), 2u);
  EXPECT_EQ(walls[0].workload, v1::WORKLOAD_FORWARD);
  EXPECT_EQ(walls[0].answer.first_failing_length, 0);
  EXPECT_EQ(walls[1].workload, v1::WORKLOAD_DECODE);
  EXPECT_EQ(walls[1].answer.first_failing_length, 128);
  const std::string text = report::RenderWalls(walls);
  EXPECT_NE(text.find(" decode "), std::string::npos) << text;
}

// A decode wall shows how much of its peak the KV cache took at the longest working prompt.
TEST(Workload, ADecodeWallShowsTheKvCacheShareOfItsPeak) {
  std::vector<report::Row> rows = {Job(1, "g", 128, v1::WORKLOAD_DECODE, 50),
                                   Job(2, "g", 256, v1::WORKLOAD_DECODE, 50)};
  for (auto& r : rows) {
    r.wall_start = 128;
    r.wall_max = 256;
    r.wall_resolution = 64;
  }
  rows[0].kv_cache_bytes = 10 << 20;
  rows[1].kv_cache_bytes = 25 << 20;  // 25 of its 100 MiB peak
  const auto walls = report::Walls(rows);
  ASSERT_EQ(walls.size(), 1u);
  EXPECT_EQ(walls[0].answer.max_working_length, 256);
  EXPECT_EQ(walls[0].kv_cache_at_max_working, 25 << 20);
  const std::string text = report::RenderWalls(walls);
  EXPECT_NE(text.find("kv_share"), std::string::npos) << text;
  EXPECT_NE(text.find(" 25%"), std::string::npos) << text;
}

}  // namespace
}  // namespace tscale
