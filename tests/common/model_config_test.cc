#include "common/model_config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/catalog.h"
#include "support/test_paths.h"

namespace tscale {
namespace {

std::string ReadText(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

nlohmann::json TinyBertJson() {
  return nlohmann::json::parse(ReadText(std::filesystem::path(testing::kTestModelsDir) / "tiny-bert.json"));
}

TEST(ModelConfig, ParsesTinyBert) {
  auto config = ParseModelConfig(TinyBertJson().dump());
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->id, "test/tiny-bert");
  EXPECT_EQ(config->arch, ArchKind::kEncoder);
  EXPECT_EQ(config->norm_placement, NormPlacement::kPost);
  EXPECT_EQ(config->max_input_tokens, 64);
  EXPECT_FALSE(config->causal());
}

TEST(ModelConfig, RoundTripsThroughJson) {
  auto config = ParseModelConfig(TinyBertJson().dump());
  ASSERT_TRUE(config.ok());
  auto again = ParseModelConfig(ModelConfigToJson(*config));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(ModelConfigToJson(*again), ModelConfigToJson(*config));
}

// Hand-computed with the BERT formula V*d + P*d + T*d + 2d + L*(12d^2 + 13d) + (d^2 + d), d=64, f=4d.
TEST(ModelConfig, AnalyticCountOfTinyBertMatchesHandFormula) {
  auto config = ParseModelConfig(TinyBertJson().dump());
  ASSERT_TRUE(config.ok());
  const int64_t d = 64, V = 1000, P = 64, T = 2, L = 2;
  EXPECT_EQ(AnalyticParameterCount(*config), V * d + P * d + T * d + 2 * d + L * (12 * d * d + 13 * d) + (d * d + d));
}

// Every catalog entry's analytic count equals the exact count of the architecture facts file, and is
// within 0.5 % of the study's published figure.
TEST(ModelConfig, CatalogCountsMatchReferenceAndPublished) {
  Catalog catalog;
  ASSERT_TRUE(catalog.LoadDirectory(testing::kCatalogDir).ok());
  ASSERT_GE(catalog.size(), 20u);
  for (const auto& model : catalog.models()) {
    SCOPED_TRACE(model.id);
    ASSERT_GT(model.reference_params, 0);
    EXPECT_EQ(AnalyticParameterCount(model), model.reference_params);
    const double published = model.published_params_m * 1e6;
    EXPECT_LT(std::abs(AnalyticParameterCount(model) - published) / published, 0.005);
  }
}

TEST(ModelConfig, ErrorsNameTheField) {
  struct Case {
    const char* field;
    nlohmann::json value;  // null removes the field
    const char* expected;
  };
  const std::vector<Case> cases = {
      {"hidden", nullptr, "hidden: required field is missing"},
      {"hidden", "wide", "hidden: expected an integer"},
      {"heads", 5, "heads: must divide hidden"},
      {"arch", "transformer-xl", "arch: unknown value \"transformer-xl\""},
      {"norm_placement", "middle", "norm_placement: unknown value"},
      {"kv_heads", 3, "kv_heads: must divide heads"},
      {"max_input_tokens", 65, "max_input_tokens: exceeds the usable rows"},
      {"layers", 0, "layers: must be in 1..1024"},
      {"norm_eps", -1.0, "norm_eps: must be in (0, 1)"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.field);
    auto doc = TinyBertJson();
    if (c.value.is_null())
      doc.erase(c.field);
    else
      doc[c.field] = c.value;
    auto parsed = ParseModelConfig(doc.dump());
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find(c.expected), std::string::npos) << parsed.status().message();
  }
}

TEST(ModelConfig, RejectsMalformedJson) {
  for (const char* text : {"", "{", "[1,2]", "{\"id\": 3}", "null"}) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(ParseModelConfig(text).ok());
  }
}

TEST(ModelConfig, ContextCheckUsesUsableLength) {
  auto config = ParseModelConfig(TinyBertJson().dump());
  ASSERT_TRUE(config.ok());
  EXPECT_TRUE(CheckContext(*config, 64, false).ok());
  Status over = CheckContext(*config, 65, false);
  EXPECT_EQ(over.code(), Status::Code::kOutOfRange);
  EXPECT_NE(over.message().find("position limit of 64"), std::string::npos);
  EXPECT_TRUE(CheckContext(*config, 65, /*extend_context=*/true).ok());
  EXPECT_EQ(CheckContext(*config, 0, false).code(), Status::Code::kInvalidArgument);
}

TEST(ModelConfig, ForwardFlopsGrowQuadraticallyInAttention) {
  auto config = ParseModelConfig(TinyBertJson().dump());
  ASSERT_TRUE(config.ok());
  // Linear part: 2 * tokens * (4d^2 + 2df) * L; attention part: 4 * T^2 * d * L; pooler 2d^2.
  const double d = 64, f = 256, L = 2;
  auto expected = [&](double t) { return 2 * t * (4 * d * d + 2 * d * f) * L + 4 * t * t * d * L + 2 * d * d; };
  EXPECT_DOUBLE_EQ(ForwardFlops(*config, 1, 16), expected(16));
  EXPECT_DOUBLE_EQ(ForwardFlops(*config, 1, 64), expected(64));
}

TEST(Catalog, FindsByIdAndAliasAndRejectsDuplicates) {
  Catalog catalog;
  ASSERT_TRUE(catalog.LoadDirectory(testing::kTestModelsDir).ok());
  ASSERT_NE(catalog.Find("tiny-bert"), nullptr);
  EXPECT_EQ(catalog.Find("tiny-bert"), catalog.Find("test/tiny-bert"));
  EXPECT_EQ(catalog.Find("no-such-model"), nullptr);
  const size_t before = catalog.size();
  Status again = catalog.LoadDirectory(testing::kTestModelsDir);
  EXPECT_FALSE(again.ok());
  EXPECT_NE(again.message().find("already in the catalog"), std::string::npos);
  EXPECT_EQ(catalog.size(), before);  // a failed load leaves the catalog unchanged
}

TEST(Catalog, MissingDirectoryIsNotFound) {
  Catalog catalog;
  EXPECT_EQ(catalog.LoadDirectory("/nonexistent/tscale/models").code(), Status::Code::kNotFound);
}

}  // namespace
}  // namespace tscale
