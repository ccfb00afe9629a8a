#include "common/model_config.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/catalog.h"
#include "support/temp_dir.h"
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

Catalog LoadCatalog() {
  Catalog catalog;
  Status loaded = catalog.LoadDirectory(testing::kCatalogDir);
  EXPECT_TRUE(loaded.ok()) << loaded.ToString();
  return catalog;
}

// Every catalog entry's analytic count equals the exact count of the architecture facts file, and is
// within 0.5 % of the study's published figure, or the config says why not (params_note).
TEST(ModelConfig, CatalogCountsMatchReferenceAndPublished) {
  Catalog catalog = LoadCatalog();
  // The facts file's 81 study models and 3 long-context references, and models/source/linear-time.json's five
  // Mamba models and one linear-attention reference.
  ASSERT_EQ(catalog.size(), 90u);
  for (const auto& model : catalog.models()) {
    SCOPED_TRACE(model.id);
    ASSERT_GT(model.reference_params, 0);
    const int64_t count = AnalyticParameterCount(model);
    EXPECT_EQ(count, model.reference_params);
    const double published = model.published_params_m * 1e6;
    if (published > 0 && std::abs(count - published) / published < 0.005) continue;
    EXPECT_FALSE(model.params_note.empty()) << "published " << model.published_params_m << " M vs " << count;
  }
}

// The study's seven categories with its 81 models, plus the references and the linear-time models; every entry has
// a position limit or a trained context, and every approximated architecture says what is approximated.
TEST(ModelConfig, CatalogCoversTheStudy) {
  Catalog catalog = LoadCatalog();
  std::map<std::string, int> per_category;
  for (const auto& model : catalog.models()) {
    SCOPED_TRACE(model.id);
    ++per_category[model.category];
    EXPECT_TRUE(model.max_input_tokens > 0 || model.trained_context > 0);
    const bool exotic = model.ngram > 0 || model.conv_groups > 0 || model.relative_positions > 0 ||
                        model.global_tokens > 0 || model.relative_bias_projection;
    EXPECT_EQ(exotic, !model.approximation.empty()) << model.approximation;
  }
  const std::map<std::string, int> expected = {
      {"Generative LLM", 35}, {"BERT Family", 27},          {"Other", 10},     {"Compressed", 3},
      {"Small LLM", 3},       {"Efficient Transformer", 2}, {"Code Model", 1}, {"Long-context reference", 3},
      {"State Space", 5},     {"Linear Attention", 1}};
  EXPECT_EQ(per_category, expected);
}

// Spot checks of families whose count depends on a new field, against the facts file's formulas.
TEST(ModelConfig, FamilyFormulasFromTheFactsFile) {
  Catalog catalog = LoadCatalog();
  auto count = [&](const char* id) {
    const ModelConfig* model = catalog.Find(id);
    EXPECT_NE(model, nullptr) << id;
    return model ? AnalyticParameterCount(*model) : 0;
  };
  {  // albert: (V+P+T)*E + 2E + (E*d + d) + 1*(12d^2 + 13d) + (d^2 + d), one shared layer
    const int64_t V = 30000, P = 512, T = 2, E = 128, d = 768;
    EXPECT_EQ(count("albert-base-v2"), (V + P + T) * E + 2 * E + (E * d + d) + (12 * d * d + 13 * d) + (d * d + d));
  }
  {  // t5: V*d + Le*(4d*H*dkv + 2df + 2d) + Ld*(8d*H*dkv + 2df + 3d) + 2*B*H + 2d
    const int64_t V = 32100, d = 768, f = 3072, L = 12, inner = 768, B = 32, H = 12;
    EXPECT_EQ(count("codet5-base"), V * d + L * (4 * d * inner + 2 * d * f + 2 * d) +
                                        L * (8 * d * inner + 2 * d * f + 3 * d) + 2 * B * H + 2 * d);
  }
  {  // falcon-7b: V*d + L*(2d + d*(d + 2hd) + d^2 + 8d^2) + 2d
    const int64_t V = 65024, d = 4544, L = 32, hd = 64;
    EXPECT_EQ(count("falcon-7b"), V * d + L * (2 * d + d * (d + 2 * hd) + d * d + 8 * d * d) + 2 * d);
  }
  {  // opt-350m: V*E + (P+2)*d + 2*E*d + L*(12d^2 + 13d), post-LN so no final norm
    const int64_t V = 50272, E = 512, P = 2048, d = 1024, L = 24;
    EXPECT_EQ(count("opt-350m"), V * E + (P + 2) * d + 2 * E * d + L * (12 * d * d + 13 * d));
  }
}

TEST(ModelConfig, RoundTripsEveryField) {
  auto doc = TinyBertJson();
  doc.update(nlohmann::json::parse(R"({
    "arch": "encoder-decoder", "decoder_layers": 3, "position": "learned", "position_offset": 1,
    "max_input_tokens": 0, "position_clamp": true, "trained_context": 60, "type_vocab": 0,
    "relative_buckets": 8, "relative_max_distance": 32, "relative_bias_projection": true, "scale_embedding": true,
    "qkv_bias": true, "key_bias": false, "attn_out_bias": false, "mlp_bias": true, "ngram": 2,
    "attention_window": 16, "window_layers": "odd", "conv_groups": 2, "relative_positions": 16,
    "dropout": 0.1, "attention_dropout": 0.05,
    "approximation": "test", "published_params_m": 1.5, "reference_params": 12345, "params_note": "why"})"));
  auto config = ParseModelConfig(doc.dump());
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->decoder_layers, 3);
  EXPECT_TRUE(config->position_clamp);
  EXPECT_EQ(config->window_layers, WindowLayers::kOdd);
  EXPECT_FALSE(config->key_bias);
  EXPECT_EQ(config->params_note, "why");
  EXPECT_EQ(config->dropout, 0.1);
  EXPECT_EQ(config->attention_dropout, 0.05);
  auto again = ParseModelConfig(ModelConfigToJson(*config));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(ModelConfigToJson(*again), ModelConfigToJson(*config));

  // A decoder-only shape with the remaining fields set.
  auto decoder = nlohmann::json::parse(ReadText(std::filesystem::path(testing::kTestModelsDir) / "tiny-gpt2.json"));
  decoder.update(nlohmann::json::parse(R"({
    "position": "rotary", "position_rows": 0, "max_input_tokens": 0, "rotary_dims": 8, "rotary_base": 500000.0,
    "kv_heads": 2, "head_dim": 32, "embedding_size": 32, "embedding_projection": "in_out", "norm": "rmsnorm",
    "activation": "silu_gated", "parallel_residual": true, "shared_block_norm": true, "shared_layer_groups": 1})"));
  auto rotary = ParseModelConfig(decoder.dump());
  ASSERT_TRUE(rotary.ok()) << rotary.status().ToString();
  EXPECT_EQ(rotary->EffectiveRotaryDims(), 8);
  EXPECT_EQ(rotary->embedding_projection, EmbeddingProjection::kInOut);
  auto rotary_again = ParseModelConfig(ModelConfigToJson(*rotary));
  ASSERT_TRUE(rotary_again.ok()) << rotary_again.status().ToString();
  EXPECT_EQ(ModelConfigToJson(*rotary_again), ModelConfigToJson(*rotary));

  // An encoder with a window, global tokens and global projections.
  auto windowed = TinyBertJson();
  windowed.update(nlohmann::json::parse(R"({"attention_window": 8, "global_tokens": 2, "global_projections": true})"));
  auto encoder = ParseModelConfig(windowed.dump());
  ASSERT_TRUE(encoder.ok()) << encoder.status().ToString();
  EXPECT_EQ(ModelConfigToJson(*ParseModelConfig(ModelConfigToJson(*encoder))), ModelConfigToJson(*encoder));
}

TEST(ModelConfig, SpecificBiasesDefaultToBias) {
  auto doc = TinyBertJson();
  doc["bias"] = false;
  auto none = ParseModelConfig(doc.dump());
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->qkv_bias || none->key_bias || none->attn_out_bias || none->mlp_bias);
  doc["qkv_bias"] = true;
  auto qkv = ParseModelConfig(doc.dump());
  ASSERT_TRUE(qkv.ok());
  EXPECT_TRUE(qkv->qkv_bias && qkv->key_bias);  // key_bias follows qkv_bias
  EXPECT_FALSE(qkv->attn_out_bias || qkv->mlp_bias);
}

// Grouped projections, DeBERTa relative attention and Longformer global projections as the .md counts them.
TEST(ModelConfig, AnalyticCountOfNewFields) {
  auto base = ParseModelConfig(TinyBertJson().dump());
  ASSERT_TRUE(base.ok());
  const int64_t d = 64, f = 256, L = 2, base_count = AnalyticParameterCount(*base);
  ModelConfig grouped = *base;
  grouped.conv_groups = 4;  // q, k, v and both FFN maps lose 3/4 of their weights; the output projection does not
  EXPECT_EQ(AnalyticParameterCount(grouped), base_count - L * (3 * d * d + 2 * d * f) * 3 / 4);
  ModelConfig relative = *base;
  relative.relative_positions = 16;  // 2 * 16 * d embeddings; per layer pos_proj d^2 and pos_q_proj d^2 + d
  EXPECT_EQ(AnalyticParameterCount(relative), base_count + 2 * 16 * d + L * (2 * d * d + d));
  ModelConfig global = *base;
  global.attention_window = 8;
  global.global_projections = true;  // 3 (d^2 + d) per layer
  EXPECT_EQ(AnalyticParameterCount(global), base_count + L * 3 * (d * d + d));
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
      {"decoder_layers", 2, "decoder_layers: only an encoder-decoder"},
      {"rotary_dims", 8, "rotary_dims: needs position rotary"},
      {"rotary_base", 0.5, "rotary_base: must be in (1, 1e12)"},
      {"relative_buckets", 32, "relative_buckets: needs position relative_buckets"},
      {"relative_max_distance", -1, "relative_max_distance: must be in"},
      {"shared_layer_groups", 3, "shared_layer_groups: must be 0 or divide layers"},
      {"attention_window", -4, "attention_window: must be in"},
      {"window_layers", "even", "window_layers: unknown value"},
      {"window_layers", "odd", "window_layers: needs attention_window"},
      {"global_tokens", 4, "global_tokens: needs attention_window"},
      {"global_projections", true, "global_projections: needs attention_window"},
      {"conv_groups", 3, "conv_groups: must divide hidden"},
      {"relative_positions", -1, "relative_positions: must be in"},
      {"ngram", 2, "ngram: n-gram streams need an encoder-decoder"},
      {"position_clamp", "yes", "position_clamp: expected true or false"},
      {"shared_block_norm", true, "shared_block_norm: needs parallel_residual"},
      {"embedding_projection", "sideways", "embedding_projection: unknown value"},
      {"trained_context", -1, "trained_context: must be in 0..1073741824 (got -1)"},
      {"qkv_bias", 1, "qkv_bias: expected true or false"},
      {"approximation", 7, "approximation: expected a string"},
      {"relative_bias_projection", true, "relative_bias_projection: belongs to the decoder of an encoder-decoder"},
      {"decoder_layers", -1, "decoder_layers: must be in 0..1024 (got -1)"},
      {"dropout", 1.0, "dropout: must be in [0, 1)"},
      {"dropout", -0.1, "dropout: must be in [0, 1)"},
      {"dropout", "0.1", "dropout: expected a number"},
      {"attention_dropout", 1.0, "attention_dropout: must be in [0, 1)"},
      {"attention_dropout", -0.1, "attention_dropout: must be in [0, 1)"},
      {"attention_dropout", true, "attention_dropout: expected a number"},
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

// A JSON integer is never truncated into a C++ int: 4294967308 would otherwise become 12 and validate.
TEST(ModelConfig, IntegersOutsideTheirRangeAreRefusedNamingKeyAndRange) {
  struct Case {
    const char* field;
    nlohmann::json value;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {"layers", 4294967308ULL, "layers: must be in 1..1024 (got 4294967308)"},
      {"layers", -4294967284LL, "layers: must be in 1..1024 (got -4294967284)"},
      {"hidden", 18446744073709551615ULL, "hidden: must be in 1..65536 (got 18446744073709551615)"},
      {"vocab", 2147483648LL, "vocab: must be in 1..4194304"},
      {"heads", 4294967297LL, "heads: must be in 0..65536"},
      {"position_rows", 4294967360LL, "position_rows: must be in 0..4194304"},
      {"reference_params", -1, "reference_params: must be in 0..1125899906842624"},
      {"layers", 12.0, "layers: expected an integer"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.field);
    auto doc = TinyBertJson();
    doc[c.field] = c.value;
    auto parsed = ParseModelConfig(doc.dump());
    ASSERT_FALSE(parsed.ok()) << "accepted " << doc[c.field].dump();
    EXPECT_EQ(parsed.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find(c.expected), std::string::npos) << parsed.status().message();
  }
}

TEST(ModelConfig, ValidateChecksTheTableRangesOfConfigsBuiltInCode) {
  auto config = ParseModelConfig(TinyBertJson().dump());
  ASSERT_TRUE(config.ok());
  ModelConfig c = *config;
  c.ngram = 17;
  EXPECT_NE(Validate(c).message().find("ngram: must be in 0..16 (got 17)"), std::string::npos) << Validate(c).message();
  c = *config;
  c.dropout = 1.0;
  EXPECT_EQ(Validate(c).message(), "dropout: must be in [0, 1)");
  c = *config;
  c.attention_dropout = std::nan("");
  EXPECT_EQ(Validate(c).message(), "attention_dropout: must be in [0, 1)");
}

// Dropout rates are data: absent they are 0, present they round-trip, and a rate just below 1 is accepted.
TEST(ModelConfig, DropoutRatesDefaultToZeroAndRoundTrip) {
  auto plain = ParseModelConfig(TinyBertJson().dump());
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->dropout, 0);
  EXPECT_EQ(plain->attention_dropout, 0);
  auto doc = TinyBertJson();
  doc["dropout"] = 0.1;
  doc["attention_dropout"] = 0;  // an integer JSON number is a number
  auto set = ParseModelConfig(doc.dump());
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->dropout, 0.1);
  EXPECT_EQ(set->attention_dropout, 0);
  const auto written = nlohmann::json::parse(ModelConfigToJson(*set));
  EXPECT_EQ(written.at("dropout"), 0.1);
  EXPECT_EQ(written.at("attention_dropout"), 0.0);
  doc["attention_dropout"] = 0.999;
  EXPECT_TRUE(ParseModelConfig(doc.dump()).ok());
}

TEST(ModelConfig, AMisspeltFieldIsRefusedNotIgnored) {
  auto doc = TinyBertJson();
  doc["kv_head"] = 2;
  auto parsed = ParseModelConfig(doc.dump());
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("kv_head: unknown field"), std::string::npos) << parsed.status().message();
  doc.erase("kv_head");
  doc["_comment"] = "JSON has no comments: keys starting with _ are notes";
  EXPECT_TRUE(ParseModelConfig(doc.dump()).ok());
}

// What the fuzz target checks on random input, here on every catalog model: parse -> write -> parse gives
// the same config (written again, the same text).
TEST(ModelConfig, EveryCatalogModelRoundTripsToTheSameText) {
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(testing::kCatalogDir)) {
    if (entry.path().extension() != ".json") continue;
    const std::string text = ReadText(entry.path());
    if (text.find("\"model_type\"") != std::string::npos && text.find("\"arch\"") == std::string::npos) continue;
    SCOPED_TRACE(entry.path().string());
    auto first = ParseModelConfig(text);
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    const std::string written = ModelConfigToJson(*first);
    auto second = ParseModelConfig(written);
    ASSERT_TRUE(second.ok()) << second.status().ToString();
    EXPECT_EQ(ModelConfigToJson(*second), written);
    ++checked;
  }
  EXPECT_GE(checked, 80);
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

// Query/key pairs a windowed layer evaluates, by brute force over the mask rule of ModelConfig's comments.
double VisiblePairs(int t, bool causal, int window, int global) {
  double pairs = 0;
  for (int i = 0; i < t; ++i)
    for (int j = 0; j < t; ++j) {
      if (causal && j > i) continue;
      const bool in_window = causal ? j > i - window : std::abs(i - j) <= window / 2;
      if (in_window || i < global || j < global) ++pairs;
    }
  return pairs;
}

TEST(ModelConfig, ForwardFlopsCountOnlyVisibleKeysInWindows) {
  const double d = 64, L = 2;
  auto bert = ParseModelConfig(TinyBertJson().dump());
  ASSERT_TRUE(bert.ok());
  ModelConfig windowed = *bert;
  windowed.attention_window = 8;
  windowed.global_tokens = 2;
  for (int t : {4, 16, 64}) {
    SCOPED_TRACE(t);
    const double saved = 4 * (static_cast<double>(t) * t - VisiblePairs(t, false, 8, 2)) * d * L;
    EXPECT_DOUBLE_EQ(ForwardFlops(*bert, 1, t) - ForwardFlops(windowed, 1, t), saved);
  }
  auto gpt = ParseModelConfig(ReadText(std::filesystem::path(testing::kTestModelsDir) / "tiny-gpt2.json"));
  ASSERT_TRUE(gpt.ok());
  ModelConfig local = *gpt;
  local.attention_window = 4;
  local.window_layers = WindowLayers::kOdd;  // only layer 1 of 2 is windowed
  for (int t : {3, 16, 100}) {
    SCOPED_TRACE(t);
    const double saved = 4 * (static_cast<double>(t) * t - VisiblePairs(t, true, 4, 0)) * d;
    EXPECT_DOUBLE_EQ(ForwardFlops(*gpt, 1, t) - ForwardFlops(local, 1, t), saved);
  }
}

TEST(ModelConfig, ForwardFlopsOfEncoderDecoderAndGqa) {
  auto bert = ParseModelConfig(TinyBertJson().dump());
  ASSERT_TRUE(bert.ok());
  const double d = 64, f = 256, t = 32;
  ModelConfig seq2seq = *bert;
  seq2seq.arch = ArchKind::kEncoderDecoder;
  seq2seq.decoder_layers = 3;
  // Each decoder layer: self-attention and FFN like an encoder layer, plus cross-attention (q and out on the
  // decoder's tokens, k and v on the encoder's, t x t scores).
  const double decoder_layer = 2 * t * (4 * d * d + 2 * d * f) + 4 * t * t * d + 2 * t * 4 * d * d + 4 * t * t * d;
  EXPECT_DOUBLE_EQ(ForwardFlops(seq2seq, 1, t) - ForwardFlops(*bert, 1, t), 3 * decoder_layer);

  ModelConfig gqa = *bert;
  gqa.kv_heads = 1;  // k and v shrink from d x d to d x head_dim (16); the attention products do not change
  EXPECT_DOUBLE_EQ(ForwardFlops(*bert, 2, t) - ForwardFlops(gqa, 2, t), 2 * 2 * t * 2 * d * (d - 16) * 2);
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

// A user model directory as Hugging Face saves one, an HF config.json on its own, and a tscale config whose
// weights path is relative to its own file: all load, with the weights as absolute paths for the worker.
TEST(Catalog, LoadsUserModelsFromHuggingFaceFilesAndRelativeWeights) {
  testing::TempDir dir;
  const std::string gpt2 =
      R"({"model_type": "gpt2", "n_embd": 32, "n_layer": 1, "n_head": 2, "vocab_size": 100, "n_positions": 64})";
  std::filesystem::create_directories(dir.File("my-gpt2"));
  std::ofstream(dir.File("my-gpt2/config.json")) << gpt2;
  std::ofstream(dir.File("my-gpt2/model.safetensors")) << "read by the runner, not the coordinator";
  std::ofstream(dir.File("bare-gpt2.json")) << gpt2;
  nlohmann::json local = TinyBertJson();
  local["id"] = "user/local-bert";
  local["aliases"] = {"local-bert"};
  local["weights"] = "files/bert.safetensors";
  std::ofstream(dir.File("local.json")) << local.dump();
  std::filesystem::create_directories(dir.File("not-a-model"));  // no config.json: not a model, ignored

  Catalog catalog;
  Status loaded = catalog.LoadDirectory(dir.path().string());
  ASSERT_TRUE(loaded.ok()) << loaded.ToString();
  EXPECT_EQ(catalog.size(), 3u);
  const ModelConfig* directory = catalog.Find("my-gpt2");
  ASSERT_NE(directory, nullptr);
  EXPECT_EQ(directory->weights, dir.File("my-gpt2/model.safetensors"));
  EXPECT_EQ(directory->arch, ArchKind::kDecoder);
  EXPECT_EQ(directory->category, "User");
  const ModelConfig* bare = catalog.Find("bare-gpt2");
  ASSERT_NE(bare, nullptr);
  EXPECT_EQ(bare->weights, "");  // random weights
  EXPECT_EQ(AnalyticParameterCount(*bare), AnalyticParameterCount(*directory));
  const ModelConfig* relative = catalog.Find("local-bert");
  ASSERT_NE(relative, nullptr);
  EXPECT_EQ(relative->weights, dir.path().string() + "/files/bert.safetensors");
  // The paths survive the trip to the worker inside the job's config JSON.
  EXPECT_EQ(ParseModelConfig(ModelConfigToJson(*relative))->weights, relative->weights);
}

TEST(Catalog, RejectsWhatItCannotUseNamingTheFile) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.File("sharded"));
  std::ofstream(dir.File("sharded/config.json"))
      << R"({"model_type": "gpt2", "n_embd": 32, "n_layer": 1, "n_head": 2, "vocab_size": 100})";
  std::ofstream(dir.File("sharded/model.safetensors.index.json")) << "{}";
  Catalog catalog;
  Status sharded = catalog.LoadDirectory(dir.path().string());
  EXPECT_FALSE(sharded.ok());
  EXPECT_NE(sharded.message().find("sharded"), std::string::npos) << sharded.message();
  EXPECT_NE(sharded.message().find(dir.File("sharded")), std::string::npos) << sharded.message();
  EXPECT_EQ(catalog.size(), 0u);

  // PyTorch-only weights would silently run random weights: refused, naming the way out.
  testing::TempDir bin_dir;
  std::filesystem::create_directories(bin_dir.File("bin-only"));
  std::ofstream(bin_dir.File("bin-only/config.json"))
      << R"({"model_type": "gpt2", "n_embd": 32, "n_layer": 1, "n_head": 2, "vocab_size": 100})";
  std::ofstream(bin_dir.File("bin-only/pytorch_model.bin")) << "pickle";
  Status bin_only = catalog.LoadDirectory(bin_dir.path().string());
  EXPECT_FALSE(bin_only.ok());
  EXPECT_NE(bin_only.message().find("safe_serialization=True"), std::string::npos) << bin_only.message();

  nlohmann::json config = TinyBertJson();
  config["weights"] = "relative.safetensors";  // no directory to resolve it against
  auto relative = ParseModelConfig(config.dump());
  ASSERT_FALSE(relative.ok());
  EXPECT_NE(relative.status().message().find("weights: \"relative.safetensors\" must be an absolute path"),
            std::string::npos)
      << relative.status().message();
  config["weights"] = "/models/w.safetensors";
  config["torchscript"] = "/models/m.pt";
  auto both = ParseModelConfig(config.dump());
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.status().message().find("give weights or torchscript, not both"), std::string::npos);
}

TEST(Catalog, MissingDirectoryIsNotFound) {
  Catalog catalog;
  EXPECT_EQ(catalog.LoadDirectory("/nonexistent/tscale/models").code(), Status::Code::kNotFound);
}

}  // namespace
}  // namespace tscale
