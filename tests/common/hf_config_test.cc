#include "common/hf_config.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/catalog.h"
#include "support/test_paths.h"

namespace tscale {
namespace {

// bert-base-uncased's published config.json (the keys the converter reads).
const char* kBertBase = R"({"_name_or_path": "bert-base-uncased", "model_type": "bert", "hidden_size": 768,
  "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072, "vocab_size": 30522,
  "max_position_embeddings": 512, "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu"})";
const char* kGpt2 = R"({"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12, "n_inner": null,
  "vocab_size": 50257, "n_positions": 1024, "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new"})";
const char* kRoberta = R"({"model_type": "roberta", "hidden_size": 768, "num_hidden_layers": 12,
  "num_attention_heads": 12, "intermediate_size": 3072, "vocab_size": 50265, "max_position_embeddings": 514,
  "type_vocab_size": 1, "pad_token_id": 1, "layer_norm_eps": 1e-5})";

// An HF config yields the same architecture (and parameter count) as the catalog entry built from the facts.
TEST(HfConfig, MatchesTheCatalogEntries) {
  Catalog catalog;
  ASSERT_TRUE(catalog.LoadDirectory(testing::kCatalogDir).ok());
  for (auto [json, name] : {std::pair{kBertBase, "bert-base-uncased"}, {kGpt2, "gpt2"}, {kRoberta, "roberta-base"}}) {
    SCOPED_TRACE(name);
    auto parsed = ParseHfConfig(json, "user/model");
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    const ModelConfig* reference = catalog.Find(name);
    ASSERT_NE(reference, nullptr);
    EXPECT_EQ(AnalyticParameterCount(*parsed), reference->reference_params);
    EXPECT_EQ(parsed->max_input_tokens, reference->max_input_tokens);
    EXPECT_EQ(parsed->arch, reference->arch);
    EXPECT_EQ(parsed->activation, reference->activation);
  }
  EXPECT_EQ(ParseHfConfig(kBertBase, "x")->id, "bert-base-uncased");  // _name_or_path wins
  EXPECT_EQ(ParseHfConfig(kGpt2, "user/my-gpt")->id, "user/my-gpt");
}

TEST(HfConfig, ErrorsNameTheKey) {
  struct Case {
    const char* key;
    nlohmann::json value;
    const char* expected;
  };
  for (const auto& c : std::vector<Case>{{"model_type", "mamba", "model_type: \"mamba\" is not supported"},
                                         {"n_embd", "wide", "n_embd: expected an integer"},
                                         {"n_layer", nullptr, "n_layer: required key is missing"},
                                         {"n_head", 7, "heads: must divide hidden"},
                                         {"activation_function", "swish", "activation \"swish\" is not supported"},
                                         {"vocab_size", -3, "vocab_size: -3 is out of range"}}) {
    SCOPED_TRACE(c.key);
    auto doc = nlohmann::json::parse(kGpt2);
    if (c.value.is_null())
      doc.erase(c.key);
    else
      doc[c.key] = c.value;
    auto parsed = ParseHfConfig(doc.dump(), "user/x");
    ASSERT_FALSE(parsed.ok());
    EXPECT_NE(parsed.status().message().find(c.expected), std::string::npos) << parsed.status().message();
  }
  EXPECT_FALSE(ParseHfConfig("[]", "x").ok());
  EXPECT_FALSE(ParseHfConfig("{", "x").ok());
}

}  // namespace
}  // namespace tscale
