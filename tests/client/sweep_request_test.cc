// What `submit` resolves before sending: lengths and ranges, model selectors, presets.
#include <gtest/gtest.h>

#include "client/progress.h"
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
