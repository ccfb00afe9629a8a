// The report's training section (client/report/train_scaling.h, train_report.h): the step exponent recovered
// from an exact power law, the memory breakdown and its analytic ratio, checkpointing's saving and price, tokens/s
// and MFU by category, the walls of every workload side by side (train's wall at its first oom), the HTML's
// charts, and train rows kept out of every forward figure.
#include <gtest/gtest.h>

#include <cmath>
#include <regex>
#include <string>
#include <vector>

#include "client/html_well_formed.h"
#include "client/report/aggregate.h"
#include "client/report/csv.h"
#include "client/report/render_html.h"
#include "client/report/render_text.h"
#include "client/report/svg_chart.h"
#include "client/report/train_report.h"
#include "client/report/train_scaling.h"

namespace tscale::report {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;
constexpr double kParams = 124e6;

// A train job of gpt2: step = 0.01 n^1.4 ms (a third longer with checkpointing); 500 MiB of parameters, as much
// of gradients, twice as much of AdamW state; activations 400 KiB per token kept (100 KiB checkpointed), the
// analytic count 0.8 of that; MFU 40 % (30 %); tscale's step FLOPs 3 x 2N per token (4 x), torchtitan's 6N.
Row Train(int64_t id, int len, v1::Checkpointing checkpointing, v1::Outcome outcome = v1::OUTCOME_OK) {
  const bool layers = checkpointing == v1::CHECKPOINTING_LAYERS;
  Row r;
  r.job_id = id;
  r.model_id = "gpt2";
  r.category = "Generative LLM";
  r.seq_len = len;
  r.outcome = outcome;
  r.variant = "fp32/eager";
  r.workload = v1::WORKLOAD_TRAIN;
  r.checkpointing = checkpointing;
  r.parameters = static_cast<int64_t>(kParams);
  if (outcome != v1::OUTCOME_OK) return r;
  r.median_ms = 0.01 * std::pow(len, 1.4) * (layers ? 4.0 / 3 : 1);
  r.tokens_per_s = 1000.0 * len / r.median_ms;
  r.peak_flops_fraction = layers ? 0.3 : 0.4;
  r.flops = (layers ? 4 : 3) * 2 * kParams * len;
  r.train.torchtitan_flops = 6 * kParams * len;
  r.train.attention_flops_share = len / (len + 4096.0);
  r.train.parameter_bytes = 500 * kMiB;
  r.train.gradient_bytes = 500 * kMiB;
  r.train.optimizer_state_bytes = 1000 * kMiB;
  r.train.activation_bytes = int64_t{len} * (layers ? 100 : 400) * 1024;
  r.train.analytic_activation_bytes = 0.8 * static_cast<double>(r.train.activation_bytes);
  r.peak_rss_bytes = 100 * kMiB + 2000 * kMiB + r.train.activation_bytes;  // the baseline, the states, activations
  return r;
}

Row Forward(int64_t id, int len, v1::Outcome outcome = v1::OUTCOME_OK) {
  Row r;
  r.job_id = id;
  r.model_id = "gpt2";
  r.category = "Generative LLM";
  r.seq_len = len;
  r.outcome = outcome;
  r.variant = "fp32/eager";
  r.median_ms = outcome == v1::OUTCOME_OK ? 0.004 * std::pow(len, 1.4) : 0;
  r.tokens_per_s = outcome == v1::OUTCOME_OK ? 1000.0 * len / r.median_ms : 0;
  r.peak_rss_bytes = outcome == v1::OUTCOME_OK ? 600 * kMiB : 0;
  return r;
}

// gpt2 trained at 512 and 1024 with and without checkpointing, and at 2048 without, where it runs out of memory;
// its forward works up to 2048 and exceeds its context at 4096.
std::vector<Row> Fixture() {
  std::vector<Row> rows;
  int64_t id = 1;
  for (int len : {512, 1024}) {
    rows.push_back(Train(id++, len, v1::CHECKPOINTING_NONE));
    rows.push_back(Train(id++, len, v1::CHECKPOINTING_LAYERS));
  }
  rows.push_back(Train(id++, 2048, v1::CHECKPOINTING_NONE, v1::OUTCOME_OOM));
  for (int len : {512, 1024, 2048}) rows.push_back(Forward(id++, len));
  rows.push_back(Forward(id++, 4096, v1::OUTCOME_EXCEEDS_CONTEXT));
  return rows;
}

TEST(TrainReport, EachCheckpointingSettingIsASeriesWithTheStepExponentAndItsBreakdown) {
  const auto series = TrainScaling(Fixture());
  ASSERT_EQ(series.size(), 2u);  // none, then layers; the oom at 2048 is no point
  const TrainSeries& none = series[0];
  const TrainSeries& layers = series[1];
  EXPECT_EQ(none.checkpointing, v1::CHECKPOINTING_NONE);
  EXPECT_EQ(layers.checkpointing, v1::CHECKPOINTING_LAYERS);
  ASSERT_EQ(none.points.size(), 2u);
  ASSERT_TRUE(none.step_fit && layers.step_fit);  // two lengths fix the line
  EXPECT_NEAR(none.step_fit->exponent, 1.4, 1e-9);
  EXPECT_NEAR(layers.step_fit->exponent, 1.4, 1e-9);
  ASSERT_TRUE(none.activation_fit.has_value());
  EXPECT_NEAR(none.activation_fit->exponent, 1.0, 1e-9);  // 400 KiB per token: linear

  const TrainPoint& p = none.points[1];
  EXPECT_EQ(p.seq_len, 1024);
  EXPECT_DOUBLE_EQ(p.step_ms, 0.01 * std::pow(1024, 1.4));
  EXPECT_EQ(p.parameter_bytes, 500 * kMiB);
  EXPECT_EQ(p.gradient_bytes, 500 * kMiB);
  EXPECT_EQ(p.optimizer_state_bytes, 1000 * kMiB);
  EXPECT_EQ(p.activation_bytes, 400 * kMiB);
  EXPECT_EQ(p.peak_bytes, 2500 * kMiB);
  EXPECT_NEAR(p.ActivationRatio(), 1.25, 1e-12);  // measured / analytic
  EXPECT_NEAR(p.FlopsRatio(), 1.0, 1e-12);        // torchtitan's 6N against tscale's 3 x 2N
  EXPECT_NEAR(layers.points[1].FlopsRatio(), 0.75, 1e-12);
  EXPECT_DOUBLE_EQ(p.mfu, 0.4);
  EXPECT_DOUBLE_EQ(p.attention_flops_share, 0.2);
  EXPECT_EQ(p.StateRatio(), 0);  // no measured state (a GPU job): no ratio

  // The device allocator's peak is the peak where there is one.
  auto rows = Fixture();
  rows[0].device_peak_bytes = 3000 * kMiB;
  EXPECT_EQ(TrainScaling(rows)[0].points[0].peak_bytes, 3000 * kMiB);

  const auto labels = TrainLabels(series);
  EXPECT_EQ(labels[0], "gpt2 [no checkpointing]");
  EXPECT_EQ(labels[1], "gpt2 [checkpointing]");
  EXPECT_EQ(TrainConfigText(layers), "fp32/eager, batch 1, checkpointing");
}

TEST(TrainReport, CheckpointingSavesActivationsAtTheCostOfStepTime) {
  const auto savings = CheckpointingSavings(TrainScaling(Fixture()));
  ASSERT_EQ(savings.size(), 2u);  // 512 and 1024; 2048 ran without checkpointing only (and failed)
  const CheckpointingSaving& at1024 = savings[1];
  EXPECT_EQ(at1024.seq_len, 1024);
  EXPECT_EQ(at1024.activation_none, 400 * kMiB);
  EXPECT_EQ(at1024.activation_layers, 100 * kMiB);
  EXPECT_EQ(at1024.ActivationSaved(), 300 * kMiB);
  EXPECT_EQ(at1024.PeakSaved(), 300 * kMiB);
  EXPECT_NEAR(at1024.StepRatio(), 4.0 / 3, 1e-12);
  const auto cells = CheckpointingRowCells(at1024);
  EXPECT_EQ(cells[6], "300.0 (12.0%)");  // of the 2500 MiB peak
  EXPECT_EQ(cells[9], "300.0 (75.0%)");
  EXPECT_EQ(cells[10], "1.33");
}

TEST(TrainReport, WallsOfEveryWorkloadStandSideBySideAndTrainingsEndsAtItsOom) {
  const auto walls = WallsByWorkload(Fixture());
  EXPECT_EQ(walls.columns, (std::vector<std::string>{"forward", "train", "train (checkpointing)"}));  // no decode
  ASSERT_EQ(walls.models.size(), 1u);
  const auto& gpt2 = walls.models[0];
  ASSERT_EQ(gpt2.walls.size(), 3u);
  ASSERT_TRUE(gpt2.walls[0] && gpt2.walls[1] && gpt2.walls[2]);
  EXPECT_EQ(gpt2.walls[0]->max_working_length, 2048);
  EXPECT_EQ(gpt2.walls[0]->failure_cause, Cause::kContext);
  EXPECT_EQ(gpt2.walls[1]->max_working_length, 1024);
  EXPECT_EQ(gpt2.walls[1]->first_failing_length, 2048);
  EXPECT_EQ(gpt2.walls[1]->failure_cause, Cause::kMemory);
  EXPECT_EQ(gpt2.walls[2]->max_working_length, 1024);
  EXPECT_EQ(gpt2.walls[2]->first_failing_length, 0);
  EXPECT_EQ(WorkloadWallRowCells(gpt2), (std::vector<std::string>{"gpt2", "Generative LLM", "2048", "4096 (context)",
                                                                  "1024", "2048 (memory)", "1024", "not reached"}));
}

TEST(TrainReport, TheTextHasEveryTableWithTheSameFigures) {
  const std::string text = RenderTrain(Fixture());
  for (const char* heading : {"Training step scaling", "Training step by length", "Training memory by length",
                              "Activation checkpointing", "Training tokens/s and MFU by category", "Walls by workload"})
    EXPECT_NE(text.find(heading), std::string::npos) << heading << "\n" << text;
  EXPECT_TRUE(std::regex_search(text, std::regex("gpt2 +fp32/eager +1 +none +no +2 +1\\.40 +1\\.00"))) << text;
  // 1024 without checkpointing: the step, 20 % attention, MFU, 0.74 TFLOP, the ratio; then the breakdown.
  EXPECT_TRUE(std::regex_search(text, std::regex("gpt2 +fp32/eager +1 +none +1024 +1 +\\d+\\.\\d +20\\.0% +\\d+\\.\\d "
                                                 "+40\\.0% +761\\.9 +1\\.00")))
      << text;
  EXPECT_TRUE(std::regex_search(
      text,
      std::regex("gpt2 +fp32/eager +1 +none +1024 +500\\.0 +500\\.0 +1000\\.0 +400\\.0 +2500\\.0 +320\\.0 +1\\.25")))
      << text;
  EXPECT_TRUE(
      std::regex_search(text, std::regex("Generative LLM +layers +1024 +1 .* 30\\.0 \\[30\\.0-30\\.0\\] +0\\.75")))
      << text;
  EXPECT_TRUE(std::regex_search(text, std::regex("gpt2 +Generative LLM +2048 +4096 \\(context\\) +1024 +2048 "
                                                 "\\(memory\\) +1024 +not reached")))
      << text;
  std::vector<Row> forward_only;
  for (const auto& r : Fixture())
    if (r.workload == v1::WORKLOAD_FORWARD) forward_only.push_back(r);
  EXPECT_EQ(RenderTrain(forward_only), "");
}

TEST(TrainReport, TheHtmlHasTheStepMemoryAndCategoryChartsAndTheWalls) {
  const std::string html = RenderHtml(Fixture(), {});
  EXPECT_EQ(WellFormedError(html), "");
  EXPECT_NE(html.find("9 finished jobs (5 train, in their own section)"), std::string::npos);
  const std::string train = SectionOf(html, "train");
  ASSERT_FALSE(train.empty());

  const std::string step = ChartTitled(train, "Training step time vs length");
  ASSERT_FALSE(step.empty());
  EXPECT_NE(step.find("(log)"), std::string::npos);
  EXPECT_EQ(Count(step, "<polyline"), 2u);
  EXPECT_NE(step.find("data-series=\"gpt2 [no checkpointing] (n^1.40)\""), std::string::npos) << step;
  EXPECT_NE(step.find("data-x=\"1024\" data-y=\"" + DataNumber(0.01 * std::pow(1024, 1.4)) + "\""), std::string::npos);
  const std::string share = ChartTitled(train, "Attention share of the training step&#39;s FLOPs vs length");
  ASSERT_FALSE(share.empty()) << train;
  EXPECT_NE(share.find("data-x=\"1024\" data-y=\"" + DataNumber(100.0 * (1024 / 5120.0)) + "\""), std::string::npos)
      << share;

  // One stacked memory chart per configuration, a bar per length, its four layers.
  const std::string memory =
      ChartTitled(train, "Training memory by length: gpt2 (fp32/eager, batch 1, no checkpointing)");
  ASSERT_FALSE(memory.empty()) << train;
  EXPECT_EQ(Count(memory, "data-bar=\"512\""), 4u);
  EXPECT_NE(memory.find("data-bar=\"1024\" data-layer=\"activations (measured)\" data-value=\"400\""),
            std::string::npos)
      << memory;
  EXPECT_NE(memory.find("data-layer=\"optimizer state (AdamW)\" data-value=\"1000\""), std::string::npos);
  EXPECT_FALSE(ChartTitled(train, "Training memory by length: gpt2 (fp32/eager, batch 1, checkpointing)").empty());
  EXPECT_NE(train.find("<th>measured / analytic activations</th>"), std::string::npos);

  EXPECT_FALSE(ChartTitled(train, "Training tokens/s vs length by category").empty());
  const std::string mfu = ChartTitled(train, "Training MFU vs length by category");
  EXPECT_NE(mfu.find("data-series=\"Generative LLM (checkpointing)\""), std::string::npos) << mfu;
  EXPECT_NE(mfu.find("data-x=\"512\" data-y=\"" + DataNumber(100.0 * 0.3) + "\""), std::string::npos);
  EXPECT_NE(train.find("<h3>Activation checkpointing</h3>"), std::string::npos);
  EXPECT_NE(train.find("<td>300.0 (75.0%)</td>"), std::string::npos);
  EXPECT_NE(train.find("<th>train: wall (cause)</th>"), std::string::npos);
  EXPECT_NE(train.find("<td>2048 (memory)</td>"), std::string::npos);
}

TEST(TrainReport, ALegendLabelTooLongForItsColumnIsSetSmallerRatherThanCutOff) {
  const std::string name = "openai-community/gpt2 [no checkpointing] (n^1.40)";  // 49 characters
  const std::string chart =
      LineChart({{name, {{128, 1}, {256, 2}}}, {"short", {{128, 2}, {256, 3}}}}, {"t", "x", "y", true, true});
  EXPECT_NE(chart.find("font-size=\"10.4\">" + EscapeHtml(name) + "</text>"), std::string::npos) << chart;
  EXPECT_NE(chart.find("dominant-baseline=\"middle\">short</text>"), std::string::npos);
  const std::string longer(90, 'm');  // past 9 px: squeezed to the column as well
  EXPECT_NE(LineChart({{longer, {{128, 1}}}}, {"t", "x", "y"}).find("textLength=\"246\" lengthAdjust="),
            std::string::npos);
}

TEST(TrainReport, TrainRowsStayOutOfTheForwardFiguresAndATrainFreeReportHasNoSection) {
  const auto rows = Fixture();
  for (const auto& cell : Cells(rows)) EXPECT_EQ(cell.workload, v1::WORKLOAD_FORWARD);
  EXPECT_EQ(Cells(rows).size(), 4u);
  EXPECT_EQ(StudySuccessByLength(rows).size(), 4u);
  std::vector<Row> forward_only;
  for (const auto& r : rows)
    if (r.workload == v1::WORKLOAD_FORWARD) forward_only.push_back(r);
  EXPECT_EQ(RenderHtml(forward_only, {}).find("<section id=\"train\">"), std::string::npos);
}

TEST(TrainReport, RowsFromReadTheSettingFromTheSpecAndTheFiguresFromTrainStats) {
  v1::ListResultsResponse listing;
  auto* job = listing.add_jobs();
  job->set_state(v1::JOB_STATE_FINISHED);
  job->mutable_spec()->set_model_id("gpt2");
  job->mutable_spec()->set_seq_len(512);
  job->mutable_spec()->set_workload(v1::WORKLOAD_TRAIN);
  job->mutable_spec()->set_checkpointing(v1::CHECKPOINTING_LAYERS);
  v1::Result* r = job->mutable_result();
  r->set_outcome(v1::OUTCOME_OK);
  r->set_flops_per_forward(4e12);
  r->set_peak_flops_fraction(0.25);
  r->mutable_memory()->set_device_peak_bytes(3 * kMiB);
  v1::TrainStats* t = r->mutable_train();
  t->set_mixed_precision(true);
  t->set_parameter_bytes(kMiB);
  t->set_activation_bytes(2 * kMiB);
  t->set_analytic_activation_bytes(1.5 * kMiB);
  t->set_torchtitan_flops_per_step(3e12);
  t->set_attention_flops_share(0.1);
  auto* unset = listing.add_jobs();  // a train job with no setting: none
  *unset = *job;
  unset->mutable_spec()->clear_checkpointing();
  unset->mutable_result()->mutable_train()->clear_checkpointing();
  const auto rows = RowsFrom(listing, {});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].checkpointing, v1::CHECKPOINTING_LAYERS);
  EXPECT_EQ(rows[1].checkpointing, v1::CHECKPOINTING_NONE);
  EXPECT_TRUE(rows[0].train.mixed_precision);
  EXPECT_EQ(rows[0].device_peak_bytes, 3 * kMiB);
  EXPECT_DOUBLE_EQ(rows[0].flops, 4e12);
  EXPECT_DOUBLE_EQ(rows[0].peak_flops_fraction, 0.25);
  EXPECT_EQ(rows[0].train.activation_bytes, 2 * kMiB);
  EXPECT_DOUBLE_EQ(rows[0].train.analytic_activation_bytes, 1.5 * kMiB);
  EXPECT_DOUBLE_EQ(rows[0].train.torchtitan_flops, 3e12);
  EXPECT_DOUBLE_EQ(rows[0].train.attention_flops_share, 0.1);
}

TEST(TrainReport, TheWallFinderKeepsATrainSearchPerCheckpointingSetting) {
  std::vector<Row> probes;
  for (auto setting : {v1::CHECKPOINTING_NONE, v1::CHECKPOINTING_LAYERS})
    for (int len : {512, 1024}) {
      Row r =
          Train(len, len, setting, setting == v1::CHECKPOINTING_NONE && len == 1024 ? v1::OUTCOME_OOM : v1::OUTCOME_OK);
      r.wall_start = 512;
      r.wall_max = 1024;
      r.wall_resolution = 512;
      probes.push_back(r);
    }
  const auto walls = Walls(probes);
  ASSERT_EQ(walls.size(), 2u);
  EXPECT_EQ(walls[0].answer.max_working_length, 512);
  EXPECT_EQ(walls[1].answer.max_working_length, 1024);
  const std::string text = RenderWalls(walls);
  EXPECT_NE(text.find("train (checkpointing)"), std::string::npos) << text;
}

// An exported CSV carries the training columns, so `report --from-csv` makes the same training section offline.
TEST(TrainReport, ACsvRoundTripKeepsTheSettingAndTheBreakdown) {
  std::vector<Row> rows = Fixture();
  rows[1].train.mixed_precision = true;
  rows[1].device_peak_bytes = 7 * kMiB;
  rows[1].train.measured_state_bytes = 2100 * kMiB;
  auto back = FromCsv(ToCsv(rows));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    SCOPED_TRACE(i);
    const Row &a = rows[i], &b = (*back)[i];
    EXPECT_EQ(b.checkpointing, a.checkpointing);
    EXPECT_EQ(b.train.mixed_precision, a.train.mixed_precision);
    EXPECT_EQ(b.train.activation_bytes, a.train.activation_bytes);
    EXPECT_EQ(b.train.optimizer_state_bytes, a.train.optimizer_state_bytes);
    EXPECT_EQ(b.train.measured_state_bytes, a.train.measured_state_bytes);
    EXPECT_EQ(b.device_peak_bytes, a.device_peak_bytes);
    EXPECT_DOUBLE_EQ(b.train.analytic_activation_bytes, a.train.analytic_activation_bytes);
    EXPECT_DOUBLE_EQ(b.train.attention_flops_share, a.train.attention_flops_share);
    EXPECT_DOUBLE_EQ(b.flops, a.flops);
    EXPECT_DOUBLE_EQ(b.peak_flops_fraction, a.peak_flops_fraction);
  }
  EXPECT_EQ(RenderTrain(*back), RenderTrain(rows));
  std::string bad = ToCsv(rows);
  bad.replace(bad.find(",layers,"), 8, ",sometimes,");
  auto refused = FromCsv(bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("unknown checkpointing \"sometimes\""), std::string::npos);
}

}  // namespace
}  // namespace tscale::report
