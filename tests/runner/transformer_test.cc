// Real libtorch forwards on small configurations; parameter counts from the constructed tensors.
#include "runner/transformer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/catalog.h"
#include "support/test_paths.h"

namespace tscale {
namespace {

ModelConfig Load(const std::string& dir, const std::string& name) {
  Catalog catalog;
  EXPECT_TRUE(catalog.LoadDirectory(dir).ok());
  const ModelConfig* model = catalog.Find(name);
  EXPECT_NE(model, nullptr) << name;
  return model ? *model : ModelConfig{};
}

TEST(Transformer, TinyModelsHaveAnalyticParameterCount) {
  for (const char* name : {"tiny-bert", "tiny-gpt2"}) {
    SCOPED_TRACE(name);
    ModelConfig config = Load(testing::kTestModelsDir, name);
    Transformer model(config);
    EXPECT_EQ(model->ParameterCount(), AnalyticParameterCount(config));
  }
}

// Constructed tensors of real base models equal the exact counts of the architecture facts file.
TEST(Transformer, BaseModelsMatchPublishedCounts) {
  for (const char* name : {"bert-base-uncased", "gpt2", "distilbert-base-uncased", "roberta-base"}) {
    SCOPED_TRACE(name);
    ModelConfig config = Load(testing::kCatalogDir, name);
    Transformer model(config);
    EXPECT_EQ(model->ParameterCount(), config.reference_params);
    EXPECT_NEAR(static_cast<double>(model->ParameterCount()) / 1e6, config.published_params_m, 0.05);
  }
}

TEST(Transformer, ForwardShape) {
  ModelConfig config = Load(testing::kTestModelsDir, "tiny-bert");
  torch::manual_seed(0);
  Transformer model(config);
  model->eval();
  torch::InferenceMode guard;
  auto out = model->forward(torch::randint(config.vocab, {3, 17}, torch::kLong));
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{3, 17, config.hidden}));
  EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
}

// Changing a later token must not change earlier outputs of a decoder, and must for an encoder.
TEST(Transformer, DecoderIsCausalEncoderIsNot) {
  for (const char* name : {"tiny-gpt2", "tiny-bert"}) {
    SCOPED_TRACE(name);
    ModelConfig config = Load(testing::kTestModelsDir, name);
    torch::manual_seed(0);
    Transformer model(config);
    model->eval();
    torch::InferenceMode guard;
    auto ids = torch::randint(config.vocab, {1, 16}, torch::kLong);
    auto changed = ids.clone();
    changed[0][10] = (changed[0][10].item<int64_t>() + 1) % config.vocab;
    auto a = model->forward(ids), b = model->forward(changed);
    const bool prefix_same = torch::allclose(a.slice(1, 0, 10), b.slice(1, 0, 10), 1e-5, 1e-6);
    EXPECT_EQ(prefix_same, config.causal());
    EXPECT_FALSE(torch::allclose(a.slice(1, 10, 11), b.slice(1, 10, 11)));
  }
}

TEST(Transformer, SameSeedSameWeights) {
  ModelConfig config = Load(testing::kTestModelsDir, "tiny-gpt2");
  torch::manual_seed(7);
  Transformer a(config);
  torch::manual_seed(7);
  Transformer b(config);
  auto pa = a->parameters(), pb = b->parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i]));
}

}  // namespace
}  // namespace tscale
