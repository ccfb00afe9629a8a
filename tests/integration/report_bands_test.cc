// The report's decode scaling and latency bands through a real coordinator: tscale-client report asks for the
// samples when it writes HTML (ListResultsRequest.include_samples), so each band is p10-p90 of the stored
// samples rather than the min-p90 substitute, and the text compares TPOT's exponent with prefill's from the
// same sweep. A simulated worker stores exact power laws, so the exponents are known.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/coordinator_calls.h"
#include "support/server_fixture.h"
#include "support/server_process.h"
#include "support/temp_dir.h"
#include "support/test_process.h"
#include "tscale/v1/tscale.grpc.pb.h"

namespace tscale {
namespace {

class ReportBandsTest : public testing::ServerFixture {
 protected:
  // Plays a worker. Forward: latency 0.01 n^1.5 ms; decode: TPOT 0.5 n^0.25 ms. Every job stores ten samples
  // from 0.9 to 1.08 times its median (p10 = 0.9 m, p90 = 1.06 m) and LatencyStats whose min and p90 differ
  // from those, so the report shows which it used.
  void RunEveryJob() {
    CompleteEveryJob([](const v1::JobSpec& job) {
      const double n = job.seq_len();
      const bool decode = job.workload() == v1::WORKLOAD_DECODE;
      const double tpot = 0.5 * std::pow(n, 0.25);
      const double median = decode ? 5 + (job.new_tokens() - 1) * tpot : 0.01 * std::pow(n, 1.5);
      v1::Result result;
      v1::Result* r = &result;
      r->set_outcome(v1::OUTCOME_OK);
      r->mutable_latency()->set_count(10);
      r->mutable_latency()->set_median_ms(median);
      r->mutable_latency()->set_min_ms(median / 2);
      r->mutable_latency()->set_p90_ms(median * 2);
      for (int i = 0; i < 10; ++i) r->add_samples_ms(median * (0.9 + 0.02 * i));
      r->set_tokens_per_second(1000.0 * (decode ? job.new_tokens() : n) / median);
      if (decode) {
        v1::DecodeStats* d = r->mutable_decode();
        d->set_new_tokens(job.new_tokens());
        d->mutable_ttft()->set_median_ms(5);
        d->mutable_tpot()->set_median_ms(tpot);
        d->set_decode_tokens_per_second(1000 / tpot);
        d->set_kv_cache_bytes(int64_t{4096} * (job.seq_len() + job.new_tokens()));
      }
      return result;
    });
  }
};

TEST_F(ReportBandsTest, TheHtmlReportBandsComeFromTheStoredSamplesAndTheTextComparesExponents) {
  auto submitted = Cli({"submit", "--models", "tiny-gpt2", "--lengths", "16,32,64", "--workload", "forward,decode",
                        "--new-tokens", "8"});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.output << server_->Log();
  RunEveryJob();

  const std::string html_path = dir_.File("report.html");
  auto report = Cli({"report", "--sweep", "1", "--html", html_path});
  ASSERT_EQ(report.exit_code, 0) << report.output;
  EXPECT_NE(report.output.find("test/tiny-gpt2: TPOT grows as n^0.25 (3 lengths), prefill as n^1.50 (3 lengths): a "
                               "decode step grows far more slowly than prefill"),
            std::string::npos)
      << report.output;
  EXPECT_NE(report.output.find("Decode tokens/s by category and prompt length"), std::string::npos);

  std::ifstream in(html_path);
  std::stringstream read;
  read << in.rdbuf();
  const std::string html = read.str();
  // Both per-model latency charts (forward, and decode's generations) band every cell from its samples.
  size_t bands = 0;
  for (size_t at = html.find("timed samples, pooled (3 cells)."); at != std::string::npos;
       at = html.find("timed samples, pooled (3 cells).", at + 1))
    ++bands;
  EXPECT_EQ(bands, 2u) << html;
  EXPECT_EQ(html.find("no samples in the listing"), std::string::npos);
  const double forward16 = 0.01 * std::pow(16.0, 1.5);  // 0.64 ms
  // The forward chart's band at 16 tokens (the first band in the document): "16,low,high" with low = p10 and
  // high = p90 of the ten samples, written in shortest round-trip form, so read back as numbers.
  const std::string prefix = "data-band=\"test/tiny-gpt2\" data-points=\"16,";
  const size_t at = html.find(prefix);
  ASSERT_NE(at, std::string::npos) << html;
  std::istringstream values(html.substr(at + prefix.size(), 64));
  double low = 0, high = 0;
  char comma = 0;
  values >> low >> comma >> high;
  EXPECT_DOUBLE_EQ(low, forward16 * 0.9);
  EXPECT_DOUBLE_EQ(high, forward16 * (0.9 + 0.02 * 8));
  for (const char* title : {"TTFT vs prompt length (decode)", "TPOT vs prompt length (decode)",
                            "KV cache vs prompt length per model (decode)", "Latency vs length per model (forward)"})
    EXPECT_NE(html.find(std::string("<title>") + title), std::string::npos) << title;

  // Without --html no samples are fetched, and the text is the same.
  auto text_only = Cli({"report", "--sweep", "1"});
  ASSERT_EQ(text_only.exit_code, 0) << text_only.output;
  EXPECT_EQ(text_only.output, report.output.substr(0, text_only.output.size()));
}

}  // namespace
}  // namespace tscale
