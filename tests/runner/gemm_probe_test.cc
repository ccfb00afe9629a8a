// The growing matmul probe, its cache and override, and what a job records from them.
#include "runner/gemm_probe.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>

#include "common/catalog.h"
#include "common/file_io.h"
#include "runner/job_runner.h"
#include "support/temp_dir.h"
#include "support/test_paths.h"

namespace tscale {
namespace {

// Sets an environment variable for one test and restores the previous state after it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    if (value)
      setenv(name, value, 1);
    else
      unsetenv(name);
  }
  ~ScopedEnv() {
    if (had_)
      setenv(name_, old_.c_str(), 1);
    else
      unsetenv(name_);
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

TEST(GemmProbe, GrowsUntilTheRateStopsRising) {
  ScopedEnv no_limit("TSCALE_MEMORY_LIMIT_BYTES", nullptr);
  const GemmProbe probe = ProbeGemm(torch::kFloat32, torch::kCPU);
  ASSERT_FALSE(probe.sizes.empty());
  EXPECT_GT(probe.flops, 1e8);
  EXPECT_EQ(probe.sizes.front().n, 256);
  double best_before = 0;
  int flat = 0;  // consecutive sizes that rose less than 5 % over the smaller sizes' best
  for (size_t i = 0; i < probe.sizes.size(); ++i) {
    const GemmProbeSize& size = probe.sizes[i];
    if (i > 0) EXPECT_EQ(size.n, 2 * probe.sizes[i - 1].n);  // doubling
    EXPECT_GE(size.runs, 3);                                 // the best of several
    EXPECT_GT(size.flops, 0);
    const bool rising = size.flops > best_before * 1.05;
    flat = rising ? 0 : flat + 1;
    // Two flat sizes in a row end the probe, so only the last size can be the second.
    if (i + 1 < probe.sizes.size()) EXPECT_LT(flat, 2) << "n=" << size.n;
    if (i + 1 == probe.sizes.size()) EXPECT_EQ(probe.plateau_reached, !rising);
    best_before = std::max(best_before, size.flops);
  }
  EXPECT_EQ(probe.flops, best_before);
  EXPECT_EQ(probe.plateau_n, probe.sizes.back().n);
  // The first size always rises and two flat ones end the probe, so it reaches 1024 unless a budget stops it
  // first; on this CPU none does (docs/measurement.md, "The peak probe": it stops at 1024 or 2048).
  EXPECT_GE(probe.plateau_n, 1024);
}

TEST(GemmProbe, BudgetsStopTheGrowth) {
  GemmProbeOptions tight;
  tight.memory_budget_bytes = 3 * 512 * 512 * 4;  // fp32 n = 512 fits, 1024 does not
  const GemmProbe by_memory = ProbeGemm(torch::kFloat32, torch::kCPU, tight);
  EXPECT_LE(by_memory.plateau_n, 512);
  EXPECT_GT(by_memory.flops, 0);
  GemmProbeOptions quick;
  quick.time_budget_s = 1e-6;  // only the first size, which always runs
  const GemmProbe by_time = ProbeGemm(torch::kFloat32, torch::kCPU, quick);
  ASSERT_EQ(by_time.sizes.size(), 1u);
  EXPECT_EQ(by_time.plateau_n, 256);
  EXPECT_FALSE(by_time.plateau_reached);
  EXPECT_GT(by_time.flops, 0);
}

TEST(GemmProbe, TheCacheHoldsTheRateAndThePlateauSize) {
  ScopedEnv no_override("TSCALE_PEAK_FLOPS", nullptr);
  testing::TempDir dir;
  const GemmPeak first = GemmPeakFlops(torch::kFloat32, torch::kCPU, 2, dir.path().string());
  ASSERT_GT(first.flops, 0);
  EXPECT_GE(first.plateau_n, 256);
  // One file, of the growing probe's format; a second call reads it instead of probing.
  std::string name, text;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) name = entry.path().filename().string();
  EXPECT_EQ(name.rfind("gemm2-", 0), 0u) << name;
  text = ReadWholeFile(dir.File(name)).value();
  EXPECT_EQ(text.rfind("v2 ", 0), 0u) << text;
  ASSERT_TRUE(WriteFileAtomically(dir.File(name), "v2 1.5e+15 4096\n", 0600).ok());
  const GemmPeak cached = GemmPeakFlops(torch::kFloat32, torch::kCPU, 2, dir.path().string());
  EXPECT_EQ(cached.flops, 1.5e15);
  EXPECT_EQ(cached.plateau_n, 4096);
  // Refresh keeps the larger figure: here the cached one, which no CPU probe reaches.
  const GemmPeak refreshed = GemmPeakFlops(torch::kFloat32, torch::kCPU, 2, dir.path().string(), /*refresh=*/true);
  EXPECT_EQ(refreshed.flops, 1.5e15);
  // The fixed-size probe's one-number files are not this format: read as no figure, so probed again.
  ASSERT_TRUE(WriteFileAtomically(dir.File(name), "4.000000e+10\n", 0600).ok());
  const GemmPeak old_format = GemmPeakFlops(torch::kFloat32, torch::kCPU, 2, dir.path().string());
  EXPECT_GT(old_format.flops, 0);
  EXPECT_GE(old_format.plateau_n, 256);
}

TEST(GemmProbe, AConfiguredPeakIsNotProbed) {
  ScopedEnv configured("TSCALE_PEAK_FLOPS", "2.5e12");
  const GemmPeak peak = GemmPeakFlops(torch::kFloat32, torch::kCPU, 2, "");
  EXPECT_EQ(peak.flops, 2.5e12);
  EXPECT_EQ(peak.plateau_n, 0);
}

TEST(GemmProbe, TheoreticalPeakOfThisCpu) {
  const double fp32 = TheoreticalPeakFlops(torch::kFloat32, torch::kCPU, 1);
#if defined(__linux__) && defined(__x86_64__)
  EXPECT_GT(fp32, 1e9);
  // Two threads reach at most twice the cores of one (the host may have a single core).
  const double two = TheoreticalPeakFlops(torch::kFloat32, torch::kCPU, 2);
  EXPECT_TRUE(two == fp32 || two == 2 * fp32) << two << " vs " << fp32;
#endif
  EXPECT_EQ(TheoreticalPeakFlops(torch::kFloat64, torch::kCPU, 1), 0);  // no table covers fp64
}

v1::JobSpec TinyBertJob() {
  Catalog catalog;
  EXPECT_TRUE(catalog.LoadDirectory(testing::kTestModelsDir).ok());
  const ModelConfig* config = catalog.Find("tiny-bert");
  EXPECT_NE(config, nullptr);
  v1::JobSpec job;
  job.set_job_id(1);
  job.set_model_id(config->id);
  job.set_model_config_json(ModelConfigToJson(*config));
  job.set_seq_len(32);
  job.set_batch_size(1);
  auto* m = job.mutable_measurement();
  m->set_warmup_iters(1);
  m->set_min_iters(3);
  m->set_max_iters(100);
  m->set_max_time_s(10);
  m->set_threads(1);
  return job;
}

TEST(GemmProbe, AJobRecordsBothPeaksAndIsJudgedByTheMeasuredOne) {
  ScopedEnv no_cache("TSCALE_CACHE_DIR", nullptr);
  {
    ScopedEnv no_override("TSCALE_PEAK_FLOPS", nullptr);
    const v1::Result r = RunJob(TinyBertJob());
    ASSERT_EQ(r.outcome(), v1::OUTCOME_OK) << r.message();
    const auto& env = r.environment();
    EXPECT_GT(env.peak_flops(), 0);
    EXPECT_GE(env.peak_probe_n(), 256);
    EXPECT_NEAR(r.peak_flops_fraction(), r.achieved_flops() / env.peak_flops(), 1e-9);
    EXPECT_LE(r.peak_flops_fraction(), 1.0);  // a tiny model is far below what BLAS reaches
#if defined(__linux__) && defined(__x86_64__)
    EXPECT_GT(env.theoretical_peak_flops(), 0);
#endif
  }
  // The gate reads the measured (here configured) peak, whatever the theoretical one says: a peak set far
  // below what the job achieves makes it invalid, naming that figure.
  ScopedEnv tiny_peak("TSCALE_PEAK_FLOPS", "1000");
  const v1::Result r = RunJob(TinyBertJob());
  ASSERT_EQ(r.outcome(), v1::OUTCOME_INVALID) << r.message();
  EXPECT_EQ(r.environment().peak_flops(), 1000);
  EXPECT_EQ(r.environment().peak_probe_n(), 0);
  ASSERT_EQ(r.invalid_reasons_size(), 1);
  EXPECT_NE(r.invalid_reasons(0).find("measured peak 0.0 GFLOP/s"), std::string::npos) << r.invalid_reasons(0);
}

}  // namespace
}  // namespace tscale
