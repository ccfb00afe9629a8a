// The report's crossover section (client/report/crossover.h): where a linear-time model's latency, TPOT or peak
// memory drops below its transformer pair's, on hand-made rows whose crossings are worked out below; the text
// table, and the HTML section with its charts and markers; nothing of it without both models of a pair.
#include <gtest/gtest.h>

#include <cmath>
#include <regex>
#include <string>
#include <vector>

#include "client/html_well_formed.h"
#include "client/report/crossover.h"
#include "client/report/render_html.h"

namespace tscale::report {
namespace {

const std::string kMamba = "state-spaces/mamba-130m";
const std::string kNeo = "EleutherAI/gpt-neo-125m";
const std::string kPythia = "EleutherAI/pythia-160m";
const std::string kLinear = "tscale/linear-attention-gpt2";
const std::string kGpt2 = "openai-community/gpt2";

// One job. `time` is the forward latency, or a decode job's TPOT; `peak_mib` its device allocator's peak. Every
// job's RSS is a host-sized 64 GiB, so a figure read from the RSS instead would never cross anything.
Row Job(const std::string& model, v1::Workload workload, const std::string& attention, int len, double time,
        double peak_mib, v1::Outcome outcome = v1::OUTCOME_OK) {
  static int64_t next_id = 1;
  Row r;
  r.job_id = next_id++;
  r.model_id = model;
  r.category = model == kMamba ? "State Space" : model == kLinear ? "Linear Attention" : "Generative LLM";
  r.seq_len = len;
  r.workload = workload;
  r.variant = "fp32/" + attention;
  r.outcome = outcome;
  if (outcome != v1::OUTCOME_OK) return r;
  if (workload == v1::WORKLOAD_DECODE) {
    r.tpot_ms = time;
    r.median_ms = 1000 * time;  // a whole generation: never the figure compared
  } else {
    r.median_ms = time;
  }
  r.device_peak_bytes = static_cast<int64_t>(peak_mib * 1048576);
  r.peak_rss_bytes = int64_t{64} << 30;
  return r;
}

Row Forward(const std::string& model, const std::string& attention, int len, double ms, double mib) {
  return Job(model, v1::WORKLOAD_FORWARD, attention, len, ms, mib);
}
Row Decode(const std::string& model, int len, double tpot, double mib) {
  return Job(model, v1::WORKLOAD_DECODE, "eager", len, tpot, mib);
}
Row Failed(const std::string& model, v1::Workload workload, int len, v1::Outcome outcome) {
  return Job(model, workload, "eager", len, 0, 0, outcome);
}

// Forward, Mamba (eager) against GPT-Neo:
//   length            500    1000   2000    4000   8000
//   Mamba ms           10      20   error     80    160    peak 600 MiB throughout
//   Neo eager ms        2      10      -       -    640    peaks 300, 1200, 2400 MiB
//   Neo mem.-eff. ms    5      15      -       -    100    peaks 300, 400, 500 MiB
// Eager latency: ratio Mamba/Neo = 5, 2, 0.25 at the common lengths 500, 1000, 8000. It drops below 1 between
// 1000 (r = 2) and 8000 (r = 1/4): ln L = ln 1000 + ln 8 * ln 2 / (ln 2 + 2 ln 2) = ln 1000 + ln 8 / 3 = ln 2000,
// so L = 2000 exactly. Memory-efficient latency: 2, 1.33, 1.6, never below: not reached up to 8000.
// Eager memory: 600/300 = 2 at 500, 600/1200 = 1/2 at 1000: ln L = ln 500 + ln 2 * 1/2, L = 500 sqrt 2 = 707.1.
// Memory-efficient memory: 2, 1.5, 1.2: not reached.
// Neo at 1000 eager has three jobs, 9, 10 and 30 ms: the median, 10, is the figure (a mean, 16.3, would cross
// elsewhere). Mamba has a memory-efficient job at 500 of 1 ms that must not be read: its eager rows are.
//
// Forward, Mamba against Pythia: Pythia eager 2 ms / 300 MiB at 500, 10 ms / 400 MiB at 1000, then oom at 2000
// (where Mamba failed too: not a comparison) and at 4000, where Mamba ran: "by 4000 (transformer fails: oom)",
// for latency and for memory (600/300 = 2, 600/400 = 1.5: memory had not crossed either).
//
// Decode, linear attention against GPT-2: TPOT 1 ms against 2, 3, 4 ms at 256, 512, 1024: below at the smallest
// length already, "at or below 256" (GPT-2's exceeds_context at 2048 comes after). Memory 500 MiB against 125,
// 250, 1000: ratios 4, 2, 1/2, crossing between 512 and 1024 at 512 sqrt 2 = 724.1.
//
// Mamba-370m has rows but its pair, Pythia-410m, has none: no comparison.
std::vector<Row> Fixture() {
  std::vector<Row> rows;
  const double mamba_ms[] = {10, 20, 0, 80, 160};
  const int lengths[] = {500, 1000, 2000, 4000, 8000};
  for (int i = 0; i < 5; ++i)
    rows.push_back(lengths[i] == 2000 ? Failed(kMamba, v1::WORKLOAD_FORWARD, 2000, v1::OUTCOME_ERROR)
                                      : Forward(kMamba, "eager", lengths[i], mamba_ms[i], 600));
  rows.push_back(Forward(kMamba, "memory_efficient", 500, 1, 1));
  rows.push_back(Forward(kNeo, "eager", 500, 2, 300));
  for (double ms : {9.0, 10.0, 30.0}) rows.push_back(Forward(kNeo, "eager", 1000, ms, 1200));
  rows.push_back(Forward(kNeo, "eager", 8000, 640, 2400));
  rows.push_back(Forward(kNeo, "memory_efficient", 500, 5, 300));
  rows.push_back(Forward(kNeo, "memory_efficient", 1000, 15, 400));
  rows.push_back(Forward(kNeo, "memory_efficient", 8000, 100, 500));

  rows.push_back(Forward(kPythia, "eager", 500, 2, 300));
  rows.push_back(Forward(kPythia, "eager", 1000, 10, 400));
  for (int len : {2000, 4000}) rows.push_back(Failed(kPythia, v1::WORKLOAD_FORWARD, len, v1::OUTCOME_OOM));
  rows.push_back(Failed(kPythia, v1::WORKLOAD_FORWARD, 4000, v1::OUTCOME_CANCELLED));  // says nothing

  const double gpt2_tpot[] = {2, 3, 4}, gpt2_mib[] = {125, 250, 1000};
  for (int i = 0; i < 3; ++i) {
    rows.push_back(Decode(kLinear, 256 << i, 1, 500));
    rows.push_back(Decode(kGpt2, 256 << i, gpt2_tpot[i], gpt2_mib[i]));
  }
  rows.push_back(Decode(kLinear, 2048, 1, 500));
  rows.push_back(Failed(kGpt2, v1::WORKLOAD_DECODE, 2048, v1::OUTCOME_EXCEEDS_CONTEXT));

  rows.push_back(Forward("state-spaces/mamba-370m", "eager", 500, 30, 1500));
  return rows;
}

const CrossoverSeries* Find(const std::vector<CrossoverSeries>& all, const std::string& transformer,
                            v1::Workload workload, const std::string& attention) {
  for (const auto& s : all)
    if (s.transformer == transformer && s.workload == workload && s.attention == attention) return &s;
  return nullptr;
}

TEST(Crossover, TheRatioIsInterpolatedInLogLogBetweenTheLengthsAroundTheChange) {
  // The worked example of the fixture's comment, as bare points, and a point only one model has in between.
  const std::vector<CrossoverPoint> points = {{500, 10, 2}, {1000, 20, 10}, {4000, 80, 0}, {8000, 160, 640}};
  const Crossover c = FindCrossover(points);
  EXPECT_EQ(c.kind, CrossoverKind::kInterpolated);
  EXPECT_NEAR(c.length, 2000, 1e-9);
  EXPECT_EQ(c.from, 1000);
  EXPECT_EQ(c.to, 8000);
  EXPECT_EQ(CrossoverText(c), "2000 (between 1000 and 8000)");
  // Equal is not below: a ratio of exactly 1 at 100 puts the crossing at 100, between 100 and 200.
  const Crossover equal = FindCrossover({{100, 5, 5}, {200, 4, 8}});
  EXPECT_EQ(equal.kind, CrossoverKind::kInterpolated);
  EXPECT_NEAR(equal.length, 100, 1e-9);
  EXPECT_EQ(FindCrossover({{100, 5, 5}, {200, 8, 8}}).kind, CrossoverKind::kNotReached);
  // Nothing in common, and a failure where the linear model did not run either: nothing to say.
  const Crossover none = FindCrossover({{100, 5, 0}, {200, 0, 3}, {400, 0, 0, v1::OUTCOME_OOM}});
  EXPECT_EQ(none.kind, CrossoverKind::kNoCommonLength);
  EXPECT_EQ(CrossoverText(none), "no common length");
}

TEST(Crossover, EachTransformerImplementationAndMemoryHaveTheirOwnCrossing) {
  const auto all = Crossovers(Fixture());
  // Neo eager and memory-efficient, Pythia eager, GPT-2 decode; none for Mamba-370m, whose pair has no rows.
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].transformer, kNeo);  // the pairs' order, then eager before memory_efficient
  EXPECT_EQ(all[0].attention, "eager");
  EXPECT_EQ(all[1].attention, "memory_efficient");
  EXPECT_EQ(all[2].transformer, kPythia);
  EXPECT_EQ(all[3].transformer, kGpt2);

  const CrossoverSeries* eager = Find(all, kNeo, v1::WORKLOAD_FORWARD, "eager");
  ASSERT_NE(eager, nullptr);
  EXPECT_EQ(eager->linear_attention, "eager");  // not Mamba's 1 ms memory-efficient job
  EXPECT_EQ(eager->common_lengths, 3);
  ASSERT_EQ(eager->time.size(), 5u);                 // 500, 1000, 2000 (Mamba's error), 4000, 8000
  EXPECT_DOUBLE_EQ(eager->time[1].transformer, 10);  // the median of 9, 10, 30
  EXPECT_EQ(eager->time[2].linear, 0);
  EXPECT_EQ(eager->time_crossover.kind, CrossoverKind::kInterpolated);
  EXPECT_NEAR(eager->time_crossover.length, 2000, 1e-9);
  // Memory from the device allocator's peak, not the 64 GiB RSS.
  EXPECT_DOUBLE_EQ(eager->memory[0].transformer, 300);
  EXPECT_EQ(eager->memory_crossover.kind, CrossoverKind::kInterpolated);
  EXPECT_NEAR(eager->memory_crossover.length, 500 * std::sqrt(2.0), 1e-9);
  EXPECT_EQ(CrossoverText(eager->memory_crossover), "707 (between 500 and 1000)");

  const CrossoverSeries* efficient = Find(all, kNeo, v1::WORKLOAD_FORWARD, "memory_efficient");
  ASSERT_NE(efficient, nullptr);
  EXPECT_EQ(CrossoverText(efficient->time_crossover), "not reached up to 8000");
  EXPECT_EQ(CrossoverText(efficient->memory_crossover), "not reached up to 8000");
}

TEST(Crossover, ATransformerFailingWhereTheLinearModelRanIsTheCrossingAndItsCauseIsNamed) {
  const auto all = Crossovers(Fixture());
  const CrossoverSeries* pythia = Find(all, kPythia, v1::WORKLOAD_FORWARD, "eager");
  ASSERT_NE(pythia, nullptr);
  EXPECT_EQ(pythia->time_crossover.kind, CrossoverKind::kTransformerFails);
  EXPECT_EQ(pythia->time_crossover.length, 4000);  // not 2000: Mamba failed there too
  EXPECT_EQ(pythia->time_crossover.failure, v1::OUTCOME_OOM);
  EXPECT_EQ(CrossoverText(pythia->time_crossover), "by 4000 (transformer fails: oom)");
  EXPECT_EQ(CrossoverText(pythia->memory_crossover), "by 4000 (transformer fails: oom)");
  // Already below comes first: GPT-2's failure at 2048 does not replace "at or below".
  EXPECT_EQ(CrossoverText(FindCrossover({{256, 1, 2}, {2048, 1, 0, v1::OUTCOME_EXCEEDS_CONTEXT}})), "at or below 256");
}

TEST(Crossover, DecodeComparesTpotAtThePromptDepth) {
  const auto all = Crossovers(Fixture());
  const CrossoverSeries* decode = Find(all, kGpt2, v1::WORKLOAD_DECODE, "eager");
  ASSERT_NE(decode, nullptr);
  EXPECT_EQ(decode->linear_model, kLinear);
  ASSERT_EQ(decode->time.size(), 4u);
  EXPECT_DOUBLE_EQ(decode->time[0].linear, 1);  // TPOT, not the 1000 ms generation
  EXPECT_DOUBLE_EQ(decode->time[0].transformer, 2);
  EXPECT_EQ(decode->time[3].transformer_failure, v1::OUTCOME_EXCEEDS_CONTEXT);
  EXPECT_EQ(decode->time_crossover.kind, CrossoverKind::kAtOrBelow);
  EXPECT_EQ(CrossoverText(decode->time_crossover), "at or below 256");
  EXPECT_NEAR(decode->memory_crossover.length, 512 * std::sqrt(2.0), 1e-9);
  EXPECT_EQ(CrossoverText(decode->memory_crossover), "724 (between 512 and 1024)");
}

TEST(Crossover, TheTextHasASummaryLinePerComparisonAndEveryLength) {
  const std::string text = RenderCrossover(Fixture());
  EXPECT_NE(text.find("Crossover of linear-time models and transformers"), std::string::npos) << text;
  EXPECT_TRUE(std::regex_search(
      text, std::regex("state-spaces/mamba-130m +EleutherAI/gpt-neo-125m +forward \\(latency\\) +fp32/eager +1 +"
                       "fp32/eager +3 +2000 \\(between 1000 and 8000\\) +707 \\(between 500 and 1000\\)")))
      << text;
  EXPECT_TRUE(std::regex_search(text, std::regex("tscale/linear-attention-gpt2 +openai-community/gpt2 +decode "
                                                 "\\(TPOT\\) .* at or below 256 +724 \\(between 512 and 1024\\)")))
      << text;
  // By length: Pythia's oom in both of its columns, Neo's ratio at 8000 (160 / 640).
  EXPECT_TRUE(std::regex_search(text, std::regex("pythia-160m +forward +fp32/eager +1 +4000 +80\\.00 +oom +600\\.0 "
                                                 "+oom")))
      << text;
  EXPECT_TRUE(std::regex_search(text, std::regex("gpt-neo-125m +forward +fp32/eager +1 +8000 +160\\.00 +640\\.00 "
                                                 "+0\\.250 +600\\.0 +2400\\.0 +0\\.250")))
      << text;
}

// The x of the marker labelled `label` in `chart`, or -1.
double MarkerX(const std::string& chart, const std::string& label) {
  std::smatch m;
  const std::regex marker("data-marker=\"" + label + "\" data-x=\"([0-9.e+-]+)\"");
  return std::regex_search(chart, m, marker) ? std::stod(m[1]) : -1;
}

TEST(Crossover, TheHtmlSectionChartsBothModelsAndMarksEachCrossing) {
  const std::string html = RenderHtml(Fixture(), {});
  EXPECT_EQ(WellFormedError(html), "");
  const std::string section = SectionOf(html, "crossover");
  ASSERT_FALSE(section.empty());
  const std::string latency =
      ChartTitled(section, "Crossover: state-spaces/mamba-130m vs EleutherAI/gpt-neo-125m, forward latency");
  ASSERT_FALSE(latency.empty()) << section;
  EXPECT_NE(latency.find("(log)"), std::string::npos);
  EXPECT_EQ(Count(latency, "<g data-series="), 3u);  // Mamba, Neo eager, Neo memory-efficient
  EXPECT_NE(latency.find("data-series=\"EleutherAI/gpt-neo-125m memory_efficient\""), std::string::npos);
  EXPECT_NE(latency.find("data-x=\"8000\" data-y=\"640\""), std::string::npos);
  EXPECT_EQ(Count(latency, "data-marker="), 1u);  // memory-efficient never crosses
  EXPECT_NEAR(MarkerX(latency, "eager: 2000"), 2000, 1e-6) << latency;
  const std::string memory =
      ChartTitled(section, "Crossover: state-spaces/mamba-130m vs EleutherAI/gpt-neo-125m, forward peak memory");
  EXPECT_NEAR(MarkerX(memory, "eager: 707"), 500 * std::sqrt(2.0), 1e-6) << memory;
  EXPECT_NEAR(MarkerX(ChartTitled(section,
                                  "Crossover: state-spaces/mamba-130m vs EleutherAI/pythia-160m, forward "
                                  "latency"),
                      "eager: fails at 4000"),
              4000, 1e-9);
  const std::string tpot =
      ChartTitled(section, "Crossover: tscale/linear-attention-gpt2 vs openai-community/gpt2, decode TPOT");
  EXPECT_NEAR(MarkerX(tpot, "eager: ≤ 256"), 256, 1e-9) << tpot;
  EXPECT_NE(tpot.find("data-x=\"512\" data-y=\"3\""), std::string::npos);  // TPOT plotted, not the generation
  // The tables: the summary and every length.
  EXPECT_NE(section.find("<td>by 4000 (transformer fails: oom)</td>"), std::string::npos);
  EXPECT_NE(section.find("<td>not reached up to 8000</td>"), std::string::npos);
  EXPECT_EQ(Count(section, "<td>4000</td>"), 3u);  // Neo eager, Neo memory-efficient, Pythia
}

TEST(Crossover, NoSectionWithoutBothModelsOfAPair) {
  std::vector<Row> rows;
  for (const auto& r : Fixture())
    if (r.model_id != kNeo && r.model_id != kPythia && r.model_id != kGpt2) rows.push_back(r);
  ASSERT_FALSE(rows.empty());
  EXPECT_TRUE(Crossovers(rows).empty());
  EXPECT_EQ(RenderCrossover(rows), "");
  const std::string html = RenderHtml(rows, {});
  EXPECT_EQ(SectionOf(html, "crossover"), "");
  EXPECT_EQ(WellFormedError(html), "");
}

}  // namespace
}  // namespace tscale::report
