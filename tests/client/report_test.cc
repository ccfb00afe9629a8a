// The report's formulas against fixtures computed by hand, failures and duplicates included.
#include <gtest/gtest.h>

#include <cmath>

#include "client/report/aggregate.h"
#include "client/report/csv.h"
#include "client/report/render_text.h"
#include "common/file_io.h"
#include "common/model_config.h"
#include "support/test_paths.h"

namespace tscale::report {
namespace {

Row Job(int64_t id, const std::string& model, const std::string& category, int len, v1::Outcome outcome,
        double median_ms = 0, double tokens_per_s = 0, int64_t peak_mib = 0, int64_t params = 10'000'000,
        double load_ms = 100) {
  Row r;
  r.job_id = id;
  r.model_id = model;
  r.category = category;
  r.seq_len = len;
  r.outcome = outcome;
  r.median_ms = median_ms;
  r.tokens_per_s = tokens_per_s;
  r.peak_rss_bytes = peak_mib << 20;
  r.parameters = params;
  r.load_ms = outcome == v1::OUTCOME_OK ? load_ms : 0;
  return r;
}

// Model A (cat X, 10 M): ok at 128 twice (a repeated cell) and 512, exceeds context at 1024.
// Model B (cat X, 20 M): ok at 128, oom at 512 (and a timeout there, less specific).
// Model C (cat Y, 5 M): error at 128.
std::vector<Row> Fixture() {
  return {
      Job(1, "A", "X", 128, v1::OUTCOME_OK, 10, 12800, 500, 10'000'000, 100),
      Job(2, "A", "X", 128, v1::OUTCOME_OK, 20, 6400, 520, 10'000'000, 300),  // repetition of the cell
      Job(3, "A", "X", 512, v1::OUTCOME_OK, 80, 6400, 800),
      Job(4, "A", "X", 1024, v1::OUTCOME_EXCEEDS_CONTEXT),
      Job(5, "B", "X", 128, v1::OUTCOME_OK, 40, 3200, 900, 20'000'000, 400),
      Job(6, "B", "X", 512, v1::OUTCOME_TIMEOUT),
      Job(7, "B", "X", 512, v1::OUTCOME_OOM),
      Job(8, "C", "Y", 128, v1::OUTCOME_ERROR),
  };
}

TEST(Report, CellsPoolRepetitionsAndKeepTheMostSpecificCause) {
  auto cells = Cells(Fixture());
  ASSERT_EQ(cells.size(), 6u);  // (A,128) (A,512) (A,1024) (B,128) (B,512) (C,128)
  EXPECT_EQ(cells[0].jobs, 2);
  EXPECT_DOUBLE_EQ(cells[0].median_ms, 15);         // median of 10 and 20
  EXPECT_DOUBLE_EQ(cells[0].tokens_per_s, 9600);    // median of 12800 and 6400
  EXPECT_EQ(cells[0].peak_rss_bytes, 520LL << 20);  // max
  EXPECT_EQ(cells[4].cause, Cause::kMemory);        // oom outranks timeout
  EXPECT_EQ(cells[2].cause, Cause::kContext);
}

TEST(Report, SuccessByLengthCountsDistinctModelsWithCauses) {
  auto rows = SuccessByLength(Cells(Fixture()));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].seq_len, 128);
  EXPECT_EQ(rows[0].models, 3);  // A counted once despite two jobs
  EXPECT_EQ(rows[0].working_models, 2);
  EXPECT_NEAR(rows[0].success_rate(), 2.0 / 3, 1e-12);
  EXPECT_EQ(rows[0].failures.at(Cause::kError), 1);
  EXPECT_EQ(rows[1].models, 2);
  EXPECT_EQ(rows[1].failures.at(Cause::kMemory), 1);
  EXPECT_EQ(rows[2].models, 1);
  EXPECT_EQ(rows[2].working_models, 0);
  EXPECT_EQ(rows[2].failures.at(Cause::kContext), 1);
}

TEST(Report, LoadMemoryAndThroughputByCategory) {
  auto load = LoadAndMemoryByCategory(Cells(Fixture()));
  ASSERT_EQ(load.size(), 1u);  // C never worked: no load figure for category Y
  EXPECT_EQ(load[0].category, "X");
  EXPECT_EQ(load[0].models, 2);
  // A: cells' loads 200 (median of 100, 300) and 100 -> model median 150; B: 400. Median of {150, 400} = 275.
  EXPECT_DOUBLE_EQ(load[0].load_ms.median, 275);
  // Peak at the shortest ok length: A 520 MiB, B 900 MiB.
  EXPECT_DOUBLE_EQ(load[0].peak_rss_mib.median, 710);
  EXPECT_DOUBLE_EQ(load[0].peak_rss_mib.q1, 520);
  EXPECT_DOUBLE_EQ(load[0].peak_rss_mib.q3, 900);

  auto throughput = ThroughputByCategoryLength(Cells(Fixture()));
  ASSERT_EQ(throughput.size(), 2u);
  EXPECT_EQ(throughput[0].seq_len, 128);
  EXPECT_DOUBLE_EQ(throughput[0].tokens_per_s.median, (9600.0 + 3200) / 2);
  EXPECT_EQ(throughput[1].tokens_per_s.n, 1);
}

TEST(Report, PerModelWallClassScalingAndEfficiency) {
  auto models = ScalingByModel(Cells(Fixture()));
  ASSERT_EQ(models.size(), 3u);
  const auto& a = models[0];
  EXPECT_EQ(a.max_working_length, 512);
  EXPECT_EQ(a.length_class, "Medium");
  EXPECT_EQ(a.first_failing_length, 1024);
  EXPECT_EQ(a.failure_cause, Cause::kContext);
  EXPECT_NEAR(a.memory_scaling, 800.0 / 520, 1e-12);
  // Latency 15 ms at 128 and 80 ms at 512: exponent log(80/15) / log(4).
  ASSERT_TRUE(a.latency_fit.has_value());
  EXPECT_NEAR(a.latency_fit->exponent, std::log(80.0 / 15) / std::log(4.0), 1e-9);
  // Efficiency: tokens/s per million parameters, median over cells: {9600/10, 6400/10}.
  EXPECT_DOUBLE_EQ(a.efficiency, (960.0 + 640) / 2);
  EXPECT_EQ(models[1].length_class, "Low");
  EXPECT_EQ(models[1].failure_cause, Cause::kMemory);
  EXPECT_FALSE(models[1].latency_fit.has_value());  // one ok length: no fit
  EXPECT_EQ(models[2].length_class, "Failed");
  EXPECT_EQ(models[2].first_failing_length, 128);
}

TEST(Report, PowerLawFitRecoversAnExactExponent) {
  std::vector<std::pair<double, double>> points;
  for (double x : {128.0, 256.0, 512.0, 1024.0}) points.emplace_back(x, 3.0 * std::pow(x, 1.7));
  auto fit = FitPowerLaw(points);
  ASSERT_TRUE(fit.has_value());
  EXPECT_NEAR(fit->exponent, 1.7, 1e-9);
  EXPECT_NEAR(fit->coefficient, 3.0, 1e-9);
  EXPECT_FALSE(FitPowerLaw({{128, 1}, {128, 2}}).has_value());  // one distinct length
  EXPECT_FALSE(FitPowerLaw({{128, 0}, {256, 0}}).has_value());  // nothing positive to take logs of
}

TEST(Report, LengthClassBoundaries) {
  EXPECT_EQ(LengthClass(1024), "High");
  EXPECT_EQ(LengthClass(1023), "Medium");
  EXPECT_EQ(LengthClass(512), "Medium");
  EXPECT_EQ(LengthClass(511), "Low");
  EXPECT_EQ(LengthClass(128), "Low");
  EXPECT_EQ(LengthClass(127), "Failed");
  EXPECT_EQ(LengthClass(0), "Failed");
}

TEST(Report, CsvRoundTripsExactly) {
  auto rows = Fixture();
  rows[7].message = "RuntimeError: \"bad\", shape [1,2]\nsecond line";
  rows[0].model_id = "org/model,with,commas";
  rows[1].sweep_id = 3;
  rows[1].repetition = 2;
  rows[1].variant = "bf16/memory_efficient";
  rows[1].wall_start = 128;
  rows[1].wall_max = 8192;
  rows[1].wall_resolution = 64;
  rows[1].memory_limit_bytes = 1LL << 30;
  rows[1].host_ram_bytes = 24LL << 30;
  auto parsed = FromCsv(ToCsv(rows));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ASSERT_EQ(parsed->size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    SCOPED_TRACE(i);
    const auto& a = rows[i];
    const auto& b = (*parsed)[i];
    EXPECT_EQ(a.job_id, b.job_id);
    EXPECT_EQ(a.model_id, b.model_id);
    EXPECT_EQ(a.category, b.category);
    EXPECT_EQ(a.seq_len, b.seq_len);
    EXPECT_EQ(a.outcome, b.outcome);
    EXPECT_EQ(a.message, b.message);
    EXPECT_EQ(a.parameters, b.parameters);
    EXPECT_EQ(a.median_ms, b.median_ms);  // %.17g round-trips doubles exactly
    EXPECT_EQ(a.tokens_per_s, b.tokens_per_s);
    EXPECT_EQ(a.peak_rss_bytes, b.peak_rss_bytes);
    EXPECT_EQ(a.sweep_id, b.sweep_id);
    EXPECT_EQ(a.repetition, b.repetition);
    EXPECT_EQ(a.variant, b.variant);
    EXPECT_EQ(a.wall_start, b.wall_start);
    EXPECT_EQ(a.wall_max, b.wall_max);
    EXPECT_EQ(a.wall_resolution, b.wall_resolution);
    EXPECT_EQ(a.memory_limit_bytes, b.memory_limit_bytes);
    EXPECT_EQ(a.host_ram_bytes, b.host_ram_bytes);
  }
  // The report from the round-tripped rows is the same report.
  EXPECT_EQ(RenderText(Cells(*parsed)), RenderText(Cells(rows)));
}

TEST(Report, MalformedCsvIsAClearError) {
  const std::string header = ToCsv({});
  for (auto [text, expected] : std::vector<std::pair<std::string, std::string>>{
           {"", "empty input"},
           {"a,b\n", "unexpected header"},
           {header + "1,m,c,16,1,ok,,10,1,2,3,4\n", "12 fields, expected 21"},
           {header + "1,m,c,sixteen,1,ok,,10,1,2,3,4,5,0,0,,0,0,0,0,0\n", "column 4 is not an integer"},
           {header + "1,m,c,16,1,great,,10,1,2,3,4,5,0,0,,0,0,0,0,0\n", "unknown outcome \"great\""},
           {header + "1,m,c,-16,1,ok,,10,1,2,3,4,5,0,0,,0,0,0,0,0\n", "must be positive"},
           {header + "1,m,c,16,1,ok,,10,1,2,3,4,5,0,0,,0,0,-64,0,0\n", "wall settings"},
           {header + "1,m,c,16,1,ok,,10,1,2,3,4,5,0,0,,0,0,0,-1,0\n", "must not be negative"},
           {header + "1,\"m,c,16\n", "unterminated quoted field"}}) {
    SCOPED_TRACE(text);
    auto parsed = FromCsv(text);
    ASSERT_FALSE(parsed.ok());
    EXPECT_NE(parsed.status().message().find(expected), std::string::npos) << parsed.status().message();
  }
}

// The newest columns: the raw samples (exact, as %.17g), the environment (text that needs quoting included) and
// the context settings.
std::vector<Row> WithEnvironment() {
  auto rows = Fixture();
  rows[0].samples_ms = {0.1, 1.0 / 3, 1e-300, 12345.678901234567, 0, 7};
  rows[1].samples_ms = {2.5};
  Row::Environment& env = rows[0].environment;
  env.hostname = "bench-01,rack \"7\"";
  env.os = "Linux 6.1.0 \"bookworm\"\nsecond line";
  env.cpu_model = "Intel(R) Xeon(R) CPU @ 2.20GHz, 8 cores";
  env.cpu_cores = 16;
  env.device = "cuda";
  env.device_name = "NVIDIA H200";
  env.torch_version = "2.5.1+cu124";
  env.blas = "OpenBLAS 0.3.21, \"pthreads\"";
  env.threads = 8;
  env.tscale_version = "0.9.0-3-gabc";
  env.build_type = "Release";
  env.sequence_kernel = "chunked libtorch-ops selective scan (64 steps)";
  rows[0].extend_context = true;
  rows[0].context_limit = 1024;
  rows[3].context_limit = 512;  // the exceeds_context job
  return rows;
}

TEST(Report, CsvCarriesSamplesEnvironmentAndContextExactly) {
  const auto rows = WithEnvironment();
  const std::string csv = ToCsv(rows);
  EXPECT_EQ(csv.substr(0, csv.find('\n')).substr(csv.find(",attention_flops_share,")),
            ",attention_flops_share,samples_ms,hostname,os,cpu_model,cpu_cores,device,device_name,torch_version,blas,"
            "threads,tscale_version,build_type,sequence_kernel,extend_context,context_limit");
  EXPECT_NE(csv.find(",0.10000000000000001 0.33333333333333331 1e-300 12345.678901234567 0 7,"), std::string::npos)
      << csv;
  auto parsed = FromCsv(csv);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ASSERT_EQ(parsed->size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    SCOPED_TRACE(i);
    const Row &a = rows[i], &b = (*parsed)[i];
    EXPECT_EQ(b.samples_ms, a.samples_ms);  // bit for bit
    EXPECT_EQ(b.environment.hostname, a.environment.hostname);
    EXPECT_EQ(b.environment.os, a.environment.os);
    EXPECT_EQ(b.environment.cpu_model, a.environment.cpu_model);
    EXPECT_EQ(b.environment.cpu_cores, a.environment.cpu_cores);
    EXPECT_EQ(b.environment.device, a.environment.device);
    EXPECT_EQ(b.environment.device_name, a.environment.device_name);
    EXPECT_EQ(b.environment.torch_version, a.environment.torch_version);
    EXPECT_EQ(b.environment.blas, a.environment.blas);
    EXPECT_EQ(b.environment.threads, a.environment.threads);
    EXPECT_EQ(b.environment.tscale_version, a.environment.tscale_version);
    EXPECT_EQ(b.environment.build_type, a.environment.build_type);
    EXPECT_EQ(b.environment.sequence_kernel, a.environment.sequence_kernel);
    EXPECT_EQ(b.extend_context, a.extend_context);
    EXPECT_EQ(b.context_limit, a.context_limit);
    EXPECT_EQ(b.model_id, a.model_id);
    EXPECT_EQ(b.median_ms, a.median_ms);
  }
  EXPECT_EQ(ToCsv(*parsed), csv);
  // With every ok job of a cell sampled, the rows read back band it from the samples (the HTML report's band).
  const auto cells = Cells(*parsed);
  ASSERT_FALSE(cells.empty());
  EXPECT_TRUE(cells[0].band_from_samples);  // A at 128: jobs 1 and 2, both with samples
  EXPECT_FALSE(cells[1].band_from_samples);
}

// Files written before the samples and environment columns (41 fields a record) read as before: no samples,
// an empty environment.
TEST(Report, CsvWrittenBeforeTheEnvironmentColumnsStillReads) {
  auto rows = Fixture();  // no field needs quoting, so a record can be cut at its 41st comma
  rows[0].samples_ms = {1, 2, 3};
  rows[0].environment.hostname = "h";
  const std::string csv = ToCsv(rows);
  std::string train_era;
  for (size_t start = 0; start < csv.size();) {
    const size_t end = csv.find('\n', start);
    const std::string line = csv.substr(start, end - start);
    size_t cut = 0;
    for (int commas = 0; commas < 41; ++commas) cut = line.find(',', cut + (commas ? 1 : 0));
    train_era += line.substr(0, cut) + "\n";
    start = end + 1;
  }
  const std::string last = ",attention_flops_share\n";
  ASSERT_EQ(train_era.substr(train_era.find(last), last.size()), last);
  auto parsed = FromCsv(train_era);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString() << "\n" << train_era;
  ASSERT_EQ(parsed->size(), rows.size());
  for (const Row& row : *parsed) {
    EXPECT_TRUE(row.samples_ms.empty());
    EXPECT_EQ(row.environment.hostname, "");
    EXPECT_EQ(row.environment.cpu_cores, 0);
    EXPECT_FALSE(row.extend_context);
    EXPECT_EQ(row.context_limit, 0);
  }
  EXPECT_EQ((*parsed)[0].median_ms, rows[0].median_ms);
  // Written again, it has the newest header and empty new columns.
  EXPECT_EQ(FromCsv(ToCsv(*parsed))->size(), rows.size());
}

TEST(Report, MalformedEnvironmentColumnsAreRefusedNamingTheColumn) {
  Row row = Fixture()[0];
  row.samples_ms = {1.5, 2};
  row.environment.cpu_cores = 4;
  row.environment.threads = 2;
  const std::string csv = ToCsv({row});
  const std::string header = csv.substr(0, csv.find('\n') + 1);
  std::vector<std::string> fields;
  for (size_t start = header.size(); start < csv.size();) {
    size_t end = csv.find_first_of(",\n", start);
    fields.push_back(csv.substr(start, end - start));
    start = end + 1;
  }
  ASSERT_EQ(fields.size(), 56u);
  ASSERT_EQ(fields[41], "1.5 2");
  auto with = [&](size_t column, const std::string& value) {  // column numbered from 1, as the errors are
    std::vector<std::string> changed = fields;
    changed[column - 1] = value;
    std::string text = header;
    for (size_t i = 0; i < changed.size(); ++i) text += (i ? "," : "") + changed[i];
    return text + "\n";
  };
  ASSERT_TRUE(FromCsv(with(42, "")).ok());  // no samples
  for (auto [text, expected] : std::vector<std::pair<std::string, std::string>>{
           {with(42, "1.5 x 2"), "record 2: column 42 (samples_ms) sample 2 \"x\" is not a number"},
           {with(42, "1.5  2"), "column 42 (samples_ms) sample 2 \"\" is not a number"},
           {with(42, "1.5 2 "), "column 42 (samples_ms) sample 3 \"\" is not a number"},
           {with(42, "1.5,2"), "57 fields, expected 21"},
           {with(42, "2 -1"), "column 42 (samples_ms) sample 2 must be finite and >= 0"},
           {with(42, "nan"), "column 42 (samples_ms) sample 1 must be finite and >= 0"},
           {with(46, "-4"), "column 46 (cpu_cores) must not be negative"},
           {with(46, ""), "column 46 (cpu_cores) is not an integer"},
           {with(51, "eight"), "column 51 (threads) is not an integer"},
           {with(51, "99999999999999999999"), "column 51 (threads) is not an integer"},
           {with(55, "yes"), "column 55 (extend_context) must be 0 or 1"},
           {with(56, "-1"), "column 56 (context_limit) must not be negative"},
           {with(56, "4294967296"), "column 56 (context_limit) must be at most 2^30"}}) {
    SCOPED_TRACE(text);
    auto parsed = FromCsv(text);
    ASSERT_FALSE(parsed.ok());
    EXPECT_NE(parsed.status().message().find(expected), std::string::npos) << parsed.status().message();
  }
}

// RowsFrom takes where the job ran from Result.environment, and its context settings from the spec: the
// extend_context flag and the position limit of the config the job ran with (as the planner stores it).
TEST(Report, RowsCarryTheEnvironmentAndTheContextSettingsOfTheirJobs) {
  auto config_json = [](const std::string& name) {
    const std::string path = std::string(testing::kTestModelsDir) + "/" + name + ".json";
    auto text = ReadWholeFile(path);
    EXPECT_TRUE(text.ok()) << text.status().ToString();
    auto config = ParseModelConfig(text.ok() ? *text : "", testing::kTestModelsDir);
    EXPECT_TRUE(config.ok()) << config.status().ToString();
    return config.ok() ? ModelConfigToJson(*config) : "";
  };
  v1::ListResultsResponse listing;
  auto add = [&](int64_t id, const std::string& config, bool extend) {
    v1::JobView* job = listing.add_jobs();
    job->mutable_spec()->set_job_id(id);
    job->mutable_spec()->set_model_id("m");
    job->mutable_spec()->set_seq_len(256);
    job->mutable_spec()->set_model_config_json(config);
    job->mutable_spec()->set_extend_context(extend);
    job->set_state(v1::JOB_STATE_FINISHED);
    job->mutable_result()->set_outcome(v1::OUTCOME_OK);
    return job->mutable_result()->mutable_environment();
  };
  const std::string gpt2 = config_json("tiny-gpt2");  // max_input_tokens 128
  v1::Environment* env = add(1, gpt2, true);
  env->set_hostname("bench-01");
  env->set_os("Linux 6.1");
  env->set_cpu_model("Xeon, 8 cores");
  env->set_cpu_cores(16);
  env->set_device_kind(v1::DEVICE_KIND_CUDA);
  env->set_device_name("NVIDIA H200");
  env->set_torch_version("2.5.1");
  env->set_blas("OpenBLAS");
  env->set_threads(8);
  env->set_tscale_version("0.9.0");
  env->set_build_type("Release");
  env->set_sequence_kernel("fused CPU selective scan");
  add(2, gpt2, false)->set_device_kind(v1::DEVICE_KIND_CPU);  // the same config: parsed once
  add(3, config_json("tiny-mamba"), false);                   // no position limit
  add(4, "{\"id\": \"broken\"}", false);                      // does not parse: 0, not a failure
  v1::Environment* odd = add(5, "", false);                   // no config; nonsensical counts
  odd->set_cpu_cores(-3);
  odd->set_threads(-1);

  const auto rows = RowsFrom(listing, v1::ListModelsResponse());
  ASSERT_EQ(rows.size(), 5u);
  const Row::Environment& e = rows[0].environment;
  EXPECT_EQ(e.hostname, "bench-01");
  EXPECT_EQ(e.os, "Linux 6.1");
  EXPECT_EQ(e.cpu_model, "Xeon, 8 cores");
  EXPECT_EQ(e.cpu_cores, 16);
  EXPECT_EQ(e.device, "cuda");
  EXPECT_EQ(e.device_name, "NVIDIA H200");
  EXPECT_EQ(e.torch_version, "2.5.1");
  EXPECT_EQ(e.blas, "OpenBLAS");
  EXPECT_EQ(e.threads, 8);
  EXPECT_EQ(e.tscale_version, "0.9.0");
  EXPECT_EQ(e.build_type, "Release");
  EXPECT_EQ(e.sequence_kernel, "fused CPU selective scan");
  EXPECT_TRUE(rows[0].extend_context);
  EXPECT_EQ(rows[0].context_limit, 128);
  EXPECT_EQ(rows[1].environment.device, "cpu");
  EXPECT_FALSE(rows[1].extend_context);
  EXPECT_EQ(rows[1].context_limit, 128);
  EXPECT_EQ(rows[2].context_limit, 0);
  EXPECT_EQ(rows[3].context_limit, 0);
  EXPECT_EQ(rows[2].environment.device, "");  // no device named: empty, not "any"
  EXPECT_EQ(rows[4].context_limit, 0);
  EXPECT_EQ(rows[4].environment.cpu_cores, 0);  // never negative, so the row's CSV reads back
  EXPECT_EQ(rows[4].environment.threads, 0);
  // The CSV keeps all of it.
  auto back = FromCsv(ToCsv(rows));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ((*back)[0].environment.cpu_model, "Xeon, 8 cores");
  EXPECT_EQ((*back)[0].context_limit, 128);
  EXPECT_TRUE((*back)[0].extend_context);
}

TEST(Report, PeakMemoryByCategoryAndLength) {
  auto memory = MemoryByCategoryLength(Cells(Fixture()));
  ASSERT_EQ(memory.size(), 2u);  // (X,128) and (X,512); Y and the failed cells have no peak
  EXPECT_EQ(memory[0].seq_len, 128);
  EXPECT_EQ(memory[0].peak_rss_mib.n, 2);
  EXPECT_DOUBLE_EQ(memory[0].peak_rss_mib.median, (520.0 + 900) / 2);  // A's cell peak is the max of its jobs
  EXPECT_EQ(memory[1].seq_len, 512);
  EXPECT_DOUBLE_EQ(memory[1].peak_rss_mib.median, 800);
}

TEST(Report, EfficiencyByCategoryUsesEachModelOnce) {
  auto efficiency = EfficiencyByCategory(ScalingByModel(Cells(Fixture())));
  ASSERT_EQ(efficiency.size(), 1u);  // C never worked
  EXPECT_EQ(efficiency[0].tokens_per_s_per_mparam.n, 2);
  // A: median of {960, 640} = 800; B: 3200 / 20 = 160.
  EXPECT_DOUBLE_EQ(efficiency[0].tokens_per_s_per_mparam.median, (800.0 + 160) / 2);
}

TEST(Report, TheStudysMethodCountsEveryRowAndCallsEveryFailureOom) {
  auto study = StudySuccessByLength(Fixture());
  ASSERT_EQ(study.size(), 3u);
  EXPECT_EQ(study[0].rows, 4);  // A's repeated cell counts twice
  EXPECT_EQ(study[0].ok_rows, 3);
  EXPECT_EQ(study[0].oom, 1);  // C's error
  EXPECT_DOUBLE_EQ(study[0].success_rate(), 0.75);
  EXPECT_EQ(study[1].rows, 3);
  EXPECT_EQ(study[1].oom, 2);  // B's timeout and oom, both "OOM"
  EXPECT_EQ(study[2].oom, 1);  // A's context limit, "OOM" too

  auto means = StudyMeanThroughputByCategory(Fixture(), 128);
  ASSERT_EQ(means.size(), 1u);
  EXPECT_EQ(means[0].rows, 3);
  EXPECT_NEAR(means[0].mean_tokens_per_s, (12800.0 + 6400 + 3200) / 3, 1e-9);
  // Corrected: distinct models, medians (A's cell 9600, B 3200).
  EXPECT_DOUBLE_EQ(ThroughputByCategoryLength(Cells(Fixture()))[0].tokens_per_s.median, 6400);
}

TEST(Report, WallsSummariseEachSearchAndPredictFromTheMemoryCurve) {
  // Model W, repetition 0: ok at 128..512 (peak 100 + L/8 MiB), oom at 1024, then ok at 768, oom at 896, ok at
  // 832 (the bracket [832, 896] is the resolution, 64). Repetition 1: still searching (only 128 finished).
  auto probe = [](int64_t id, int len, v1::Outcome outcome, int repetition) {
    Row r = Job(id, "W", "X", len, outcome, 10, 1000, outcome == v1::OUTCOME_OK ? 100 + len / 8 : 0);
    r.sweep_id = 9;
    r.repetition = repetition;
    r.variant = "fp32/eager";
    r.wall_start = 128;
    r.wall_max = 65536;
    r.wall_resolution = 64;
    r.memory_limit_bytes = 300LL << 20;
    return r;
  };
  std::vector<Row> rows = {probe(1, 128, v1::OUTCOME_OK, 0),     probe(2, 256, v1::OUTCOME_OK, 0),
                           probe(3, 512, v1::OUTCOME_OK, 0),     probe(4, 1024, v1::OUTCOME_OOM, 0),
                           probe(5, 768, v1::OUTCOME_OK, 0),     probe(6, 896, v1::OUTCOME_OOM, 0),
                           probe(7, 832, v1::OUTCOME_OK, 0),     probe(8, 128, v1::OUTCOME_OK, 1),
                           Job(9, "W", "X", 128, v1::OUTCOME_OK)};  // not a probe: ignored
  auto walls = Walls(rows);
  ASSERT_EQ(walls.size(), 2u);
  const auto& w = walls[0];
  EXPECT_EQ(w.repetition, 0);
  EXPECT_TRUE(w.answer.converged);
  EXPECT_EQ(w.answer.max_working_length, 832);
  EXPECT_EQ(w.answer.first_failing_length, 896);
  EXPECT_EQ(w.answer.cause, v1::OUTCOME_OOM);
  EXPECT_EQ(w.answer.peak_at_max_working, (100LL + 832 / 8) << 20);
  EXPECT_EQ(w.answer.probes, 7);
  EXPECT_EQ(w.memory_bytes, 300LL << 20);
  // Peak = 100 + L/8 MiB is linear: it meets 300 MiB at L = 1600.
  ASSERT_TRUE(w.predicted.has_value());
  EXPECT_NEAR(*w.predicted, 1600, 2);
  EXPECT_FALSE(walls[1].answer.converged);
  EXPECT_EQ(walls[1].answer.max_working_length, 128);
}

// One definition of "working" (common/outcome.h): an invalid job ran, so the per-model table and the wall
// finder put the wall at the same length, and its doubtful figures stay out of the fits.
TEST(Report, InvalidWorksForThePerModelTableAndTheWallFinderAlike) {
  auto probe = [](int64_t id, int len, v1::Outcome outcome) {
    Row r = Job(id, "V", "X", len, outcome, 10.0 * len, 1000, outcome == v1::OUTCOME_OK ? 100 : 0);
    r.sweep_id = 3;
    r.variant = "fp32/eager";
    r.wall_start = 128;
    r.wall_max = 512;
    r.wall_resolution = 128;
    return r;
  };
  // A repetition at 256 was lost: infrastructure, no evidence about the model, as the wall finder reads it too.
  Row lost = probe(5, 256, v1::OUTCOME_LOST);
  lost.repetition = 1;
  const std::vector<Row> rows = {probe(1, 128, v1::OUTCOME_OK), probe(2, 256, v1::OUTCOME_INVALID),
                                 probe(3, 512, v1::OUTCOME_OOM), probe(4, 384, v1::OUTCOME_OOM), lost};
  const auto cells = Cells(rows);
  const auto scaling = ScalingByModel(cells);
  ASSERT_EQ(scaling.size(), 1u);
  EXPECT_EQ(scaling[0].max_working_length, 256);
  EXPECT_EQ(scaling[0].first_failing_length, 384);
  EXPECT_EQ(scaling[0].failure_cause, Cause::kMemory);
  EXPECT_FALSE(scaling[0].latency_fit.has_value());          // one ok length: the invalid one is not fitted
  const auto walls = Walls({rows.begin(), rows.end() - 1});  // the search of repetition 0
  ASSERT_EQ(walls.size(), 1u);
  EXPECT_EQ(walls[0].answer.max_working_length, scaling[0].max_working_length);
  EXPECT_EQ(walls[0].answer.first_failing_length, scaling[0].first_failing_length);

  const auto success = SuccessByLength(cells);
  ASSERT_EQ(success.size(), 4u);
  EXPECT_EQ(success[1].seq_len, 256);
  EXPECT_EQ(success[1].working_models, 1);
  EXPECT_EQ(success[1].Count(Cause::kInvalid), 1);
  EXPECT_EQ(success[1].Count(Cause::kOk), 0);
  EXPECT_TRUE(success[1].failures.empty());
  EXPECT_DOUBLE_EQ(success[1].success_rate(), 1.0);
  for (const auto& length : success) {  // the columns add up to the models at every length
    int sum = length.Count(Cause::kOk) + length.Count(Cause::kInvalid);
    for (const auto& [cause, n] : length.failures) sum += n;
    EXPECT_EQ(sum, length.models) << length.seq_len;
  }
}

}  // namespace
}  // namespace tscale::report
