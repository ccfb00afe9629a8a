// What `submit` resolves before sending: lengths and ranges, model selectors, presets.
#include <gtest/gtest.h>

#include "client/progress.h"
#include "client/report/crossover.h"
#include "client/sweep_request.h"

namespace tscale::client {
namespace {

v1::ListModelsResponse Catalog() {
  v1::ListModelsResponse catalog;
  auto add = [&](const std::string& id, const std::string& category, int64_t params) {
    auto* m = catalog.add_models();
    m->set_id(id);
    m->set_category(category);
    m->set_parameter_count(params);
  };
  add("org/bert-base", "BERT Family", 110'000'000);
  add("org/distilbert", "BERT Family", 66'000'000);
  add("org/gpt2", "Generative LLM", 124'000'000);
  add("org/gpt2-xl", "Generative LLM", 1'500'000'000);
  add("org/t5-small", "Other", 60'000'000);
  return catalog;
}

TEST(SweepRequest, LengthsAndDoublingRanges) {
  auto lengths = ParseLengths({"128..2048"});
  ASSERT_TRUE(lengths.ok()) << lengths.status().ToString();
  EXPECT_EQ(*lengths, (std::vector<int>{128, 256, 512, 1024, 2048}));
  // The end is never passed; repeats collapse; order is kept.
  EXPECT_EQ(*ParseLengths({"100..1000"}), (std::vector<int>{100, 200, 400, 800}));
  EXPECT_EQ(*ParseLengths({"512", "128..256", "512", "64"}), (std::vector<int>{512, 128, 256, 64}));
  EXPECT_EQ(*ParseLengths({"7..7"}), (std::vector<int>{7}));
}

TEST(SweepRequest, BadLengthsNameTheFlagAndTheValue) {
  for (const std::vector<std::string>& bad : std::vector<std::vector<std::string>>{
           {"abc"}, {"0"}, {"-128"}, {"12x"}, {""}, {"2048..128"}, {"..512"}, {"128.."}, {"99999999999"}, {}}) {
    auto parsed = ParseLengths(bad);
    ASSERT_FALSE(parsed.ok()) << (bad.empty() ? "(none)" : bad[0]);
    EXPECT_EQ(parsed.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find("--lengths"), std::string::npos) << parsed.status().message();
    if (!bad.empty() && !bad[0].empty())
      EXPECT_NE(parsed.status().message().find(bad[0]), std::string::npos) << parsed.status().message();
  }
}

TEST(SweepRequest, ModelSelectorsExpandAgainstTheCatalog) {
  auto all = ExpandModels({"all"}, Catalog());
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 5u);
  auto bert = ExpandModels({"gpt2", "category:BERT Family", "org/bert-base"}, Catalog());
  ASSERT_TRUE(bert.ok());
  // Ids and aliases pass through for the coordinator to resolve; the category adds its ids; no repeats.
  EXPECT_EQ(*bert, (std::vector<std::string>{"gpt2", "org/bert-base", "org/distilbert"}));
  auto unknown = ExpandModels({"category:Nope"}, Catalog());
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("--models"), std::string::npos);
  EXPECT_NE(unknown.status().message().find("\"Nope\""), std::string::npos);
  EXPECT_NE(unknown.status().message().find("Generative LLM"), std::string::npos);  // the known ones listed
  EXPECT_FALSE(ExpandModels({}, Catalog()).ok());
}

TEST(SweepRequest, PresetsPickTheirGrids) {
  auto quick = Preset("quick", Catalog());
  ASSERT_TRUE(quick.ok());
  // The smallest model of each category.
  EXPECT_EQ(std::vector<std::string>(quick->models().begin(), quick->models().end()),
            (std::vector<std::string>{"org/distilbert", "org/gpt2", "org/t5-small"}));
  EXPECT_EQ(std::vector<int>(quick->seq_lengths().begin(), quick->seq_lengths().end()), (std::vector<int>{128, 512}));
  auto paper = Preset("paper", Catalog());
  ASSERT_TRUE(paper.ok());
  EXPECT_EQ(paper->models_size(), 5);
  EXPECT_EQ(std::vector<int>(paper->seq_lengths().begin(), paper->seq_lengths().end()),
            (std::vector<int>{128, 512, 1024, 2048}));
  auto unknown = Preset("fast", Catalog());
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("--preset"), std::string::npos);
  EXPECT_FALSE(Preset("quick", v1::ListModelsResponse()).ok());  // nothing to run
}

TEST(SweepRequest, TheCrossoverPresetRunsEveryPairAtLongLengthsForwardAndDecodeEagerAndMemoryEfficient) {
  v1::ListModelsResponse catalog = Catalog();
  for (const auto& pair : report::CrossoverPairs())
    for (const std::string& id : {pair.linear_model, pair.transformer}) {
      bool present = false;
      for (const auto& m : catalog.models()) present = present || m.id() == id;
      if (!present) catalog.add_models()->set_id(id);
    }
  auto spec = Preset("crossover", catalog);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->name(), "crossover");
  // The pairs' models in their order, each once (mamba-130m is in two pairs), and none of the catalog's others.
  EXPECT_EQ(
      std::vector<std::string>(spec->models().begin(), spec->models().end()),
      (std::vector<std::string>{"state-spaces/mamba-130m", "EleutherAI/gpt-neo-125m", "EleutherAI/pythia-160m",
                                "state-spaces/mamba-370m", "EleutherAI/pythia-410m", "state-spaces/mamba-1.4b",
                                "EleutherAI/pythia-1.4b", "tscale/linear-attention-gpt2", "openai-community/gpt2"}));
  EXPECT_EQ(std::vector<int>(spec->seq_lengths().begin(), spec->seq_lengths().end()),
            (std::vector<int>{256, 512, 1024, 2048, 4096, 8192, 16384}));
  ASSERT_EQ(spec->workloads_size(), 2);
  EXPECT_EQ(spec->workloads(0), v1::WORKLOAD_FORWARD);
  EXPECT_EQ(spec->workloads(1), v1::WORKLOAD_DECODE);
  ASSERT_EQ(spec->attention_size(), 2);
  EXPECT_EQ(spec->attention(0), v1::ATTENTION_IMPL_EAGER);
  EXPECT_EQ(spec->attention(1), v1::ATTENTION_IMPL_MEMORY_EFFICIENT);
  EXPECT_TRUE(spec->extend_context());  // GPT-2's 1024 positions end inside the grid
  // The other presets fix none of these: the user's flags (or defaults) decide.
  auto quick = Preset("quick", catalog);
  ASSERT_TRUE(quick.ok());
  EXPECT_EQ(quick->workloads_size() + quick->attention_size(), 0);
  EXPECT_FALSE(quick->extend_context());
  // Laid over a sweep file's spec: the preset's axes replace the file's, the file's other settings stay.
  v1::SweepSpec file;
  file.set_name("mine");
  file.add_models("org/gpt2");
  file.add_seq_lengths(64);
  file.add_attention(v1::ATTENTION_IMPL_FUSED);
  file.add_dtypes(v1::DTYPE_BF16);
  ApplyPreset(*spec, &file);
  EXPECT_EQ(file.name(), "mine");
  EXPECT_EQ(file.models_size(), 9);
  EXPECT_EQ(file.seq_lengths_size(), 7);
  EXPECT_EQ(file.workloads_size(), 2);
  ASSERT_EQ(file.attention_size(), 2);  // replaced, not appended to
  EXPECT_EQ(file.attention(0), v1::ATTENTION_IMPL_EAGER);
  EXPECT_TRUE(file.extend_context());
  ASSERT_EQ(file.dtypes_size(), 1);
  EXPECT_EQ(file.dtypes(0), v1::DTYPE_BF16);
  v1::SweepSpec decoding;  // quick sets no workloads: a file's decode stays
  decoding.add_workloads(v1::WORKLOAD_DECODE);
  ApplyPreset(*quick, &decoding);
  ASSERT_EQ(decoding.workloads_size(), 1);
  EXPECT_EQ(decoding.workloads(0), v1::WORKLOAD_DECODE);
  EXPECT_EQ(decoding.name(), "quick");
  // A catalog without a pair's model is named, rather than a pair compared with nothing.
  auto partial = Preset("crossover", Catalog());
  ASSERT_FALSE(partial.ok());
  EXPECT_NE(partial.status().message().find("--preset crossover"), std::string::npos);
  EXPECT_NE(partial.status().message().find("state-spaces/mamba-1.4b"), std::string::npos)
      << partial.status().message();
}

TEST(Progress, BarCountsAndEta) {
  Progress p;
  p.total = 40;
  p.finished = 10;
  p.by_outcome = {{"ok", 8}, {"oom", 2}};
  p.started_unix_ms = 1'000'000;
  p.now_unix_ms = 1'000'000 + 50'000;  // 10 jobs in 50 s: 30 left take 150 s
  EXPECT_EQ(ProgressBar(p, 20), "[#####...............] 10/40 ok=8 oom=2 eta 2m30s");
  p.finished = 0;
  p.by_outcome.clear();
  EXPECT_EQ(ProgressBar(p, 4), "[....] 0/40");  // no rate yet: no ETA
  p.finished = 40;
  EXPECT_EQ(ProgressBar(p, 4), "[####] 40/40");
  EXPECT_EQ(FormatDuration(59.4), "59s");
  EXPECT_EQ(FormatDuration(3725), "1h02m");
}

}  // namespace
}  // namespace tscale::client
