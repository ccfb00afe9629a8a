#include "common/hf_config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "common/catalog.h"
#include "common/families/family.h"
#include "support/test_paths.h"

namespace tscale {
namespace {

// Published config.json files of catalog models: the keys that matter, with the hub's values (token ids, dropout
// rates, task and generation settings left out).
const char* kBertBase = R"({"_name_or_path": "bert-base-uncased", "model_type": "bert", "hidden_size": 768,
  "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072, "vocab_size": 30522,
  "max_position_embeddings": 512, "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu"})";
const char* kGpt2 = R"({"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12, "n_inner": null,
  "vocab_size": 50257, "n_positions": 1024, "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new"})";
const char* kRoberta = R"({"model_type": "roberta", "hidden_size": 768, "num_hidden_layers": 12,
  "num_attention_heads": 12, "intermediate_size": 3072, "vocab_size": 50265, "max_position_embeddings": 514,
  "type_vocab_size": 1, "pad_token_id": 1, "layer_norm_eps": 1e-5})";
const char* kXlmRobertaBase = R"({"model_type": "xlm-roberta", "hidden_act": "gelu", "hidden_size": 768,
  "intermediate_size": 3072, "layer_norm_eps": 1e-05, "max_position_embeddings": 514, "num_attention_heads": 12,
  "num_hidden_layers": 12, "pad_token_id": 1, "type_vocab_size": 1, "vocab_size": 250002})";
const char* kDistilBert = R"({"model_type": "distilbert", "activation": "gelu", "dim": 768, "hidden_dim": 3072,
  "max_position_embeddings": 512, "n_heads": 12, "n_layers": 6, "pad_token_id": 0, "sinusoidal_pos_embds": false,
  "tie_weights_": true, "vocab_size": 30522})";
const char* kAlbertBaseV2 = R"({"model_type": "albert", "embedding_size": 128, "hidden_act": "gelu_new",
  "hidden_size": 768, "inner_group_num": 1, "intermediate_size": 3072, "layer_norm_eps": 1e-12,
  "max_position_embeddings": 512, "net_structure_type": 0, "num_attention_heads": 12, "num_hidden_groups": 1,
  "num_hidden_layers": 12, "num_memory_blocks": 0, "pad_token_id": 0, "type_vocab_size": 2, "vocab_size": 30000})";
const char* kElectraSmall = R"({"model_type": "electra", "embedding_size": 128, "hidden_act": "gelu",
  "hidden_size": 256, "intermediate_size": 1024, "layer_norm_eps": 1e-12, "max_position_embeddings": 512,
  "num_attention_heads": 4, "num_hidden_layers": 12, "pad_token_id": 0, "type_vocab_size": 2, "vocab_size": 30522})";
const char* kSqueezeBert = R"({"model_type": "squeezebert", "embedding_size": 768, "hidden_act": "gelu",
  "hidden_size": 768, "intermediate_groups": 4, "intermediate_size": 3072, "k_groups": 4, "layer_norm_eps": 1e-12,
  "max_position_embeddings": 512, "num_attention_heads": 12, "num_hidden_layers": 12, "output_groups": 4,
  "post_attention_groups": 1, "q_groups": 4, "type_vocab_size": 2, "v_groups": 4, "vocab_size": 30528})";
const char* kDebertaBase = R"({"model_type": "deberta", "hidden_act": "gelu", "hidden_size": 768,
  "intermediate_size": 3072, "layer_norm_eps": 1e-7, "max_position_embeddings": 512, "max_relative_positions": -1,
  "num_attention_heads": 12, "num_hidden_layers": 12, "pos_att_type": "c2p|p2c", "position_biased_input": false,
  "relative_attention": true, "type_vocab_size": 0, "vocab_size": 50265})";
const char* kLongformerBase = R"({"model_type": "longformer", "attention_mode": "longformer",
  "attention_window": [512, 512, 512, 512, 512, 512, 512, 512, 512, 512, 512, 512], "hidden_act": "gelu",
  "hidden_size": 768, "intermediate_size": 3072, "layer_norm_eps": 1e-05, "max_position_embeddings": 4098,
  "num_attention_heads": 12, "num_hidden_layers": 12, "pad_token_id": 1, "sep_token_id": 2, "type_vocab_size": 1,
  "vocab_size": 50265})";
const char* kBigBirdRobertaBase = R"({"model_type": "big_bird", "attention_type": "block_sparse",
  "block_size": 64, "hidden_act": "gelu_new", "hidden_size": 768, "intermediate_size": 3072,
  "layer_norm_eps": 1e-12, "max_position_embeddings": 4096, "num_attention_heads": 12, "num_hidden_layers": 12,
  "num_random_blocks": 3, "pad_token_id": 0, "rescale_embeddings": false, "sep_token_id": 66, "type_vocab_size": 2,
  "use_bias": true, "vocab_size": 50358})";
const char* kGptNeo125m = R"({"model_type": "gpt_neo", "activation_function": "gelu_new",
  "attention_layers": ["global", "local", "global", "local", "global", "local", "global", "local", "global",
                       "local", "global", "local"],
  "attention_types": [[["global", "local"], 6]], "hidden_size": 768, "intermediate_size": null,
  "layer_norm_epsilon": 1e-05, "max_position_embeddings": 2048, "num_heads": 12, "num_layers": 12,
  "vocab_size": 50257, "window_size": 256})";
const char* kGptJ6b = R"({"model_type": "gptj", "activation_function": "gelu_new", "layer_norm_epsilon": 1e-05,
  "n_embd": 4096, "n_head": 16, "n_inner": null, "n_layer": 28, "n_positions": 2048, "rotary": true,
  "rotary_dim": 64, "scale_attn_weights": true, "tie_word_embeddings": false, "vocab_size": 50400})";
const char* kPythia160m = R"({"model_type": "gpt_neox", "hidden_act": "gelu", "hidden_size": 768,
  "intermediate_size": 3072, "layer_norm_eps": 1e-05, "max_position_embeddings": 2048, "num_attention_heads": 12,
  "num_hidden_layers": 12, "rotary_emb_base": 10000, "rotary_pct": 0.25, "tie_word_embeddings": false,
  "use_parallel_residual": true, "vocab_size": 50304})";
const char* kOpt125m = R"({"model_type": "opt", "_remove_final_layer_norm": false, "activation_function": "relu",
  "do_layer_norm_before": true, "enable_bias": true, "ffn_dim": 3072, "hidden_size": 768,
  "layer_norm_elementwise_affine": true, "max_position_embeddings": 2048, "num_attention_heads": 12,
  "num_hidden_layers": 12, "pad_token_id": 1, "vocab_size": 50272, "word_embed_proj_dim": 768})";
const char* kOpt350m = R"({"model_type": "opt", "_remove_final_layer_norm": false, "activation_function": "relu",
  "do_layer_norm_before": false, "enable_bias": true, "ffn_dim": 4096, "hidden_size": 1024,
  "layer_norm_elementwise_affine": true, "max_position_embeddings": 2048, "num_attention_heads": 16,
  "num_hidden_layers": 24, "pad_token_id": 1, "vocab_size": 50272, "word_embed_proj_dim": 512})";
const char* kBloom560m = R"({"model_type": "bloom", "apply_residual_connection_post_layernorm": false,
  "hidden_size": 1024, "layer_norm_epsilon": 1e-05, "n_head": 16, "n_inner": null, "n_layer": 24,
  "offset_alibi": 100, "pretraining_tp": 1, "slow_but_exact": false, "vocab_size": 250880})";
const char* kTinyLlama = R"({"model_type": "llama", "attention_bias": false, "hidden_act": "silu",
  "hidden_size": 2048, "intermediate_size": 5632, "max_position_embeddings": 2048, "num_attention_heads": 32,
  "num_hidden_layers": 22, "num_key_value_heads": 4, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_scaling": null, "rope_theta": 10000.0, "tie_word_embeddings": false, "vocab_size": 32000})";
const char* kMistral7b = R"({"model_type": "mistral", "hidden_act": "silu", "hidden_size": 4096,
  "intermediate_size": 14336, "max_position_embeddings": 32768, "num_attention_heads": 32, "num_hidden_layers": 32,
  "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096,
  "tie_word_embeddings": false, "vocab_size": 32000})";
const char* kPhi2 = R"({"model_type": "phi", "hidden_act": "gelu_new", "hidden_size": 2560,
  "intermediate_size": 10240, "layer_norm_eps": 1e-05, "max_position_embeddings": 2048, "num_attention_heads": 32,
  "num_hidden_layers": 32, "num_key_value_heads": 32, "partial_rotary_factor": 0.4, "qk_layernorm": false,
  "rope_scaling": null, "rope_theta": 10000.0, "tie_word_embeddings": false, "vocab_size": 51200})";
const char* kFalcon7b = R"({"model_type": "falcon", "alibi": false,
  "apply_residual_connection_post_layernorm": false, "bias": false, "hidden_size": 4544, "layer_norm_epsilon": 1e-05,
  "multi_query": true, "new_decoder_architecture": false, "num_attention_heads": 71, "num_hidden_layers": 32,
  "parallel_attn": true, "vocab_size": 65024})";
const char* kBartBase = R"({"_name_or_path": "bart-base", "model_type": "bart", "activation_function": "gelu",
  "add_final_layer_norm": false, "d_model": 768, "decoder_attention_heads": 12, "decoder_ffn_dim": 3072,
  "decoder_layers": 6, "encoder_attention_heads": 12, "encoder_ffn_dim": 3072, "encoder_layers": 6,
  "max_position_embeddings": 1024, "normalize_before": false, "normalize_embedding": true, "num_hidden_layers": 6,
  "pad_token_id": 1, "scale_embedding": false, "vocab_size": 50265})";
const char* kPegasusXsum = R"({"_name_or_path": "google/pegasus-xsum", "model_type": "pegasus",
  "activation_function": "relu", "add_final_layer_norm": true, "d_model": 1024, "decoder_attention_heads": 16,
  "decoder_ffn_dim": 4096, "decoder_layers": 16, "encoder_attention_heads": 16, "encoder_ffn_dim": 4096,
  "encoder_layers": 16, "extra_pos_embeddings": 1, "max_position_embeddings": 512, "normalize_before": true,
  "normalize_embedding": false, "pad_token_id": 0, "scale_embedding": true, "static_position_embeddings": true,
  "vocab_size": 96103})";
const char* kBlenderbot400m = R"({"model_type": "blenderbot", "activation_function": "gelu",
  "add_final_layer_norm": true, "d_model": 1280, "decoder_attention_heads": 32, "decoder_ffn_dim": 5120,
  "decoder_layers": 12, "do_blenderbot_90_layernorm": true, "encoder_attention_heads": 32, "encoder_ffn_dim": 5120,
  "encoder_layers": 2, "extra_layer_norm": false, "extra_pos_embeddings": 0, "layernorm_variant": "prelayernorm",
  "max_position_embeddings": 128, "normalize_before": true, "normalize_embedding": false, "pad_token_id": 0,
  "scale_embedding": true, "static_position_embeddings": false, "vocab_size": 8008})";
const char* kProphetNetLarge = R"({"model_type": "prophetnet", "activation_function": "gelu",
  "decoder_ffn_dim": 4096, "decoder_max_position_embeddings": 514, "disable_ngram_loss": false,
  "encoder_ffn_dim": 4096, "encoder_max_position_embeddings": 513, "eps": 0.0, "hidden_size": 1024,
  "max_position_embeddings": 512, "ngram": 2, "num_buckets": 32, "num_decoder_attention_heads": 16,
  "num_decoder_layers": 12, "num_encoder_attention_heads": 16, "num_encoder_layers": 12, "pad_token_id": 0,
  "relative_max_distance": 128, "vocab_size": 30522})";
const char* kGodelBase = R"({"model_type": "t5", "d_ff": 3072, "d_kv": 64, "d_model": 768,
  "dense_act_fn": "relu", "feed_forward_proj": "relu", "is_gated_act": false, "layer_norm_epsilon": 1e-06,
  "n_positions": 512, "num_decoder_layers": 12, "num_heads": 12, "num_layers": 12,
  "relative_attention_max_distance": 128, "relative_attention_num_buckets": 32, "vocab_size": 32102})";

// state-spaces/mamba-130m-hf (MambaForCausalLM; init-only keys such as time_step_min left out).
const char* kMamba130mHf = R"({"model_type": "mamba", "hidden_size": 768, "num_hidden_layers": 24,
  "vocab_size": 50280, "state_size": 16, "conv_kernel": 4, "expand": 2, "intermediate_size": 1536,
  "time_step_rank": 48, "use_bias": false, "use_conv_bias": true, "layer_norm_epsilon": 1e-05, "hidden_act": "silu",
  "residual_in_fp32": true, "rms_norm": true, "tie_word_embeddings": true})";

struct Published {
  const char* catalog_name;  // id or alias in models/
  const char* config;
};

// One published model per HF model_type of the catalog (two for OPT: opt-350m is the post-LN, projected variant).
const Published kPublished[] = {
    {"bert-base-uncased", kBertBase},
    {"roberta-base", kRoberta},
    {"FacebookAI/xlm-roberta-base", kXlmRobertaBase},
    {"distilbert/distilbert-base-uncased", kDistilBert},
    {"albert/albert-base-v2", kAlbertBaseV2},
    {"google/electra-small-discriminator", kElectraSmall},
    {"squeezebert/squeezebert-uncased", kSqueezeBert},
    {"microsoft/deberta-base", kDebertaBase},
    {"allenai/longformer-base-4096", kLongformerBase},
    {"google/bigbird-roberta-base", kBigBirdRobertaBase},
    {"gpt2", kGpt2},
    {"EleutherAI/gpt-neo-125m", kGptNeo125m},
    {"EleutherAI/gpt-j-6b", kGptJ6b},
    {"EleutherAI/pythia-160m", kPythia160m},
    {"facebook/opt-125m", kOpt125m},
    {"facebook/opt-350m", kOpt350m},
    {"bigscience/bloom-560m", kBloom560m},
    {"TinyLlama/TinyLlama-1.1B-Chat-v1.0", kTinyLlama},
    {"mistralai/Mistral-7B-v0.1", kMistral7b},
    {"microsoft/phi-2", kPhi2},
    {"tiiuae/falcon-7b", kFalcon7b},
    {"state-spaces/mamba-130m", kMamba130mHf},
    {"facebook/bart-base", kBartBase},
    {"google/pegasus-xsum", kPegasusXsum},
    {"facebook/blenderbot-400M-distill", kBlenderbot400m},
    {"microsoft/prophetnet-large-uncased", kProphetNetLarge},
    {"microsoft/GODEL-v1_1-base-seq2seq", kGodelBase},
};

nlohmann::json Json(const char* text) {
  return nlohmann::json::parse(text);
}

Catalog LoadCatalog() {
  Catalog catalog;
  Status loaded = catalog.LoadDirectory(testing::kCatalogDir);
  EXPECT_TRUE(loaded.ok()) << loaded.ToString();
  return catalog;
}

// The architecture part of a config: what a config.json can say (identity, study counts and the informational
// trained_context are catalog data).
nlohmann::json Architecture(const ModelConfig& config) {
  auto j = nlohmann::json::parse(ModelConfigToJson(config));
  for (const char* key : {"id", "aliases", "category", "trained_context", "published_params_m", "reference_params",
                          "params_note", "notes", "weights"})
    j.erase(key);
  return j;
}

// `base` with `patch` applied as a JSON merge patch (RFC 7386: a null value removes the key).
StatusOr<ModelConfig> ParsePatched(const char* base, const nlohmann::json& patch) {
  auto doc = nlohmann::json::parse(base);
  doc.merge_patch(patch);
  return ParseHfConfig(doc.dump(), "user/patched");
}

// `base` with `key` set to null (a merge patch cannot, as null removes the key there).
StatusOr<ModelConfig> ParseWithNull(const char* base, const char* key) {
  auto doc = nlohmann::json::parse(base);
  doc[key] = nullptr;
  return ParseHfConfig(doc.dump(), "user/null");
}

// An HF config yields the same architecture (and parameter count) as the catalog entry built from the facts file.
TEST(HfConfig, MatchesTheCatalogEntries) {
  Catalog catalog = LoadCatalog();
  for (const auto& [name, json] : kPublished) {
    SCOPED_TRACE(name);
    auto parsed = ParseHfConfig(json, "user/model");
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    const ModelConfig* reference = catalog.Find(name);
    ASSERT_NE(reference, nullptr);
    EXPECT_EQ(AnalyticParameterCount(*parsed), reference->reference_params);
    EXPECT_EQ(parsed->arch, reference->arch);
    EXPECT_EQ(parsed->max_input_tokens, reference->max_input_tokens);
    EXPECT_EQ(parsed->position, reference->position);
    EXPECT_EQ(parsed->kv_heads, reference->kv_heads);
    EXPECT_EQ(parsed->attention_window, reference->attention_window);
    EXPECT_EQ(parsed->activation, reference->activation);
    EXPECT_EQ(parsed->approximation, reference->approximation);
    // Every other architecture field too; the diff names the ones that differ.
    const auto difference = nlohmann::json::diff(Architecture(*reference), Architecture(*parsed));
    EXPECT_TRUE(difference.empty()) << "catalog -> parsed: " << difference.dump();
  }
}

// The caller's name wins (a fine-tune's config records its base model's hub id); without one, a hub-id
// _name_or_path is used, and a local path never is.
TEST(HfConfig, IdIsTheGivenNameElseAHubNameOrPath) {
  EXPECT_EQ(ParseHfConfig(kBertBase, "my-finetune")->id, "my-finetune");
  EXPECT_EQ(ParseHfConfig(kBertBase, "")->id, "bert-base-uncased");
  EXPECT_EQ(ParseHfConfig(kGpt2, "user/my-gpt")->id, "user/my-gpt");
  auto saved = nlohmann::json::parse(kGpt2);
  for (const char* local : {"/home/patrick/opt-125m", "./checkpoints/step-100", "~/models/x"}) {
    saved["_name_or_path"] = local;  // where a checkpoint was saved names no model
    EXPECT_EQ(ParseHfConfig(saved.dump(), "user/my-gpt")->id, "user/my-gpt") << local;
    auto unnamed = ParseHfConfig(saved.dump(), "");
    ASSERT_FALSE(unnamed.ok()) << local;
    EXPECT_NE(unnamed.status().message().find("no model id"), std::string::npos);
  }
  EXPECT_EQ(ParseHfConfig(kGpt2, "user/my-gpt")->category, "User");
  EXPECT_EQ(ParseHfConfig(kGpt2, "user/my-gpt")->family, "gpt2");
}

// Every HF model_type in the catalog is supported and has a published config above.
TEST(HfConfig, CoversEveryCatalogFamily) {
  Catalog catalog = LoadCatalog();
  const std::vector<std::string> supported = SupportedHfModelTypes();
  std::set<std::string> tested;
  for (const auto& [name, json] : kPublished)
    tested.insert(nlohmann::json::parse(json)["model_type"].get<std::string>());
  std::set<std::string> families;
  for (const ModelConfig& model : catalog.models()) families.insert(model.family);
  for (const std::string& family : families) {
    SCOPED_TRACE(family);
    EXPECT_NE(std::find(supported.begin(), supported.end(), family), supported.end());
    EXPECT_TRUE(tested.count(family));
  }
  EXPECT_EQ(families.size(), supported.size());
}

TEST(HfConfig, UnsupportedModelTypeListsTheSupportedOnes) {
  auto parsed = ParsePatched(kGpt2, {{"model_type", "rwkv"}});
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), Status::Code::kInvalidArgument);
  const std::string& message = parsed.status().message();
  EXPECT_EQ(message.rfind("model_type: \"rwkv\" is not supported (", 0), 0u) << message;
  for (const std::string& type : SupportedHfModelTypes()) EXPECT_NE(message.find(type), std::string::npos) << type;
  EXPECT_EQ(ParsePatched(kGpt2, {{"model_type", nullptr}}).status().message(), "model_type: required key is missing");
}

TEST(HfConfig, ErrorsNameTheKey) {
  struct Case {
    const char* base;
    const char* key;
    nlohmann::json value;  // null removes the key
    const char* expected;
  };
  for (const auto& c : std::vector<Case>{
           {kGpt2, "n_embd", "wide", "n_embd: expected an integer"},
           {kGpt2, "n_layer", nullptr, "n_layer: required key is missing"},
           {kGpt2, "n_head", 7, "heads: must divide hidden"},
           {kGpt2, "activation_function", "swish", "activation \"swish\" is not supported"},
           {kGpt2, "vocab_size", -3, "vocab_size: -3 is out of range"},
           {kTinyLlama, "num_key_value_heads", "4", "num_key_value_heads: expected an integer"},
           {kTinyLlama, "intermediate_size", nullptr, "intermediate_size: required key is missing"},
           {kPythia160m, "rotary_pct", "0.25", "rotary_pct: expected a number"},
           {kPythia160m, "rotary_pct", 0, "rotary_pct: must be in (0, 1]"},
           {kPythia160m, "rotary_pct", 0.01, "rotary_pct: rotates no dimension"},
           {kTinyLlama, "num_key_value_heads", 0, "num_key_value_heads: 0 is out of range"},
           {kFalcon7b, "parallel_attn", "yes", "parallel_attn: expected true or false"},
           {kFalcon7b, "hidden_size", nullptr, "hidden_size: required key is missing"},
           {kTinyLlama, "rope_scaling", "linear", "rope_scaling: expected an object"},
           {kGodelBase, "d_model", 1.5, "d_model: expected an integer"},
           {kGptNeo125m, "attention_types", "global", "attention_types: expected [[["},
           {kBertBase, "hidden_dropout_prob", 1.0, "hidden_dropout_prob: must be in [0, 1) (got 1.0)"},
           {kBertBase, "attention_probs_dropout_prob", -0.1, "attention_probs_dropout_prob: must be in [0, 1)"},
           {kBertBase, "hidden_dropout_prob", "0.1", "hidden_dropout_prob: expected a number"},
           {kGpt2, "resid_pdrop", 1.0, "resid_pdrop: must be in [0, 1) (got 1.0)"},
           {kGpt2, "attn_pdrop", -0.1, "attn_pdrop: must be in [0, 1) (got -0.1)"},
           {kGpt2, "embd_pdrop", 1.5, "embd_pdrop: must be in [0, 1)"},
           {kGodelBase, "dropout_rate", 1, "dropout_rate: must be in [0, 1)"},
           {kTinyLlama, "attention_dropout", -0.5, "attention_dropout: must be in [0, 1)"},
       }) {
    SCOPED_TRACE(std::string(c.key) + " = " + c.value.dump());
    auto parsed = ParsePatched(c.base, {{c.key, c.value}});
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find(c.expected), std::string::npos) << parsed.status().message();
  }
  EXPECT_FALSE(ParseHfConfig("[]", "x").ok());
  EXPECT_FALSE(ParseHfConfig("{", "x").ok());
}

// Rotary scaling changes the angles, which tscale cannot express; the unscaled "default" type is accepted.
TEST(HfConfig, RopeScalingIsRefused) {
  for (const auto& scaling :
       {nlohmann::json{{"type", "linear"}, {"factor", 2.0}}, nlohmann::json{{"rope_type", "llama3"}, {"factor", 8.0}},
        nlohmann::json{{"type", "dynamic"}, {"factor", 2.0}}}) {
    SCOPED_TRACE(scaling.dump());
    auto parsed = ParsePatched(kTinyLlama, {{"rope_scaling", scaling}});
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().message().rfind("rope_scaling: rope_type \"", 0), 0u) << parsed.status().message();
  }
  EXPECT_FALSE(ParsePatched(kPhi2, {{"rope_scaling", {{"type", "linear"}, {"factor", 2.0}}}}).ok());
  EXPECT_FALSE(ParsePatched(kFalcon7b, {{"rope_scaling", {{"type", "dynamic"}, {"factor", 2.0}}}}).ok());
  auto yarn = ParsePatched(kMistral7b, {{"rope_parameters", {{"rope_type", "yarn"}, {"factor", 4.0}}}});
  EXPECT_EQ(yarn.status().message().rfind("rope_parameters: rope_type \"yarn\"", 0), 0u) << yarn.status().message();

  auto unscaled = ParsePatched(kTinyLlama, {{"rope_scaling", {{"rope_type", "default"}}}});
  ASSERT_TRUE(unscaled.ok()) << unscaled.status().ToString();
  // transformers 5 writes theta (and the rotated fraction) into rope_parameters.
  auto v5 = ParsePatched(
      kPythia160m,
      {{"rotary_emb_base", nullptr},
       {"rotary_pct", nullptr},
       {"rope_parameters", {{"rope_type", "default"}, {"rope_theta", 500000.0}, {"partial_rotary_factor", 0.5}}}});
  ASSERT_TRUE(v5.ok()) << v5.status().ToString();
  EXPECT_EQ(v5->rotary_base, 500000.0);
  EXPECT_EQ(v5->rotary_dims, 32);
}

// HF settings that change the network in a way ModelConfig cannot express are refused, naming the key.
TEST(HfConfig, InexpressibleSettingsNameTheKey) {
  struct Case {
    const char* base;
    nlohmann::json patch;
    const char* expected;  // the message starts with this
  };
  std::vector<nlohmann::json> windows(12, 512);
  windows[0] = 256;
  for (const auto& c : std::vector<Case>{
           {kFalcon7b, {{"alibi", true}}, "alibi: true is not expressible"},
           {kGodelBase,
            {{"feed_forward_proj", "gated-gelu"}, {"is_gated_act", true}},
            "feed_forward_proj: \"gated-gelu\" is not expressible"},
           {kGodelBase, {{"feed_forward_proj", "gated-silu"}}, "is_gated_act: disagrees with feed_forward_proj"},
           {kGodelBase, {{"feed_forward_proj", "tanh"}}, "feed_forward_proj: \"tanh\" is not supported"},
           {kTinyLlama, {{"hidden_act", "gelu"}}, "hidden_act: \"gelu\" is not expressible"},
           {kPhi2, {{"qk_layernorm", true}}, "qk_layernorm: true is not expressible"},
           {kBloom560m,
            {{"apply_residual_connection_post_layernorm", true}},
            "apply_residual_connection_post_layernorm: true is not expressible"},
           {kOpt125m, {{"layer_norm_elementwise_affine", false}}, "layer_norm_elementwise_affine: false is not"},
           {kBartBase, {{"decoder_attention_heads", 16}}, "decoder_attention_heads: must equal encoder_attention_h"},
           {kPegasusXsum, {{"decoder_ffn_dim", 2048}}, "decoder_ffn_dim: must equal encoder_ffn_dim (4096)"},
           {kProphetNetLarge, {{"num_decoder_attention_heads", 8}}, "num_decoder_attention_heads: must equal"},
           {kGptNeo125m, Json(R"({"attention_types": [[["local", "global"], 6]], "attention_layers": null})"),
            "attention_types: only all global, all local or global/local alternation"},
           {kGptNeo125m, Json(R"({"attention_types": [[["global", "local"], 5]]})"),
            "attention_types: describes 10 layers"},
           {kLongformerBase, {{"attention_window", windows}}, "attention_window: per-layer windows must be one"},
           {kSqueezeBert, {{"post_attention_groups", 4}}, "post_attention_groups: only 1 is expressible"},
           {kSqueezeBert, {{"k_groups", 2}}, "k_groups: must equal q_groups (4)"},
           {kDebertaBase, {{"pos_att_type", "p2c"}}, "pos_att_type: only \"c2p|p2c\" is expressible"},
           {kDebertaBase, {{"relative_attention", nullptr}}, "relative_attention: false is not expressible"},
           {kDebertaBase, {{"position_biased_input", true}}, "position_biased_input: true is not expressible"},
           {kAlbertBaseV2, {{"inner_group_num", 2}}, "inner_group_num: only 1 is expressible"},
           {kAlbertBaseV2, {{"embedding_size", 768}}, "embedding_size: equal to hidden_size is not expressible"},
           {kBertBase, {{"position_embedding_type", "relative_key"}}, "position_embedding_type: \"relative_key\""},
           {kDistilBert, {{"sinusoidal_pos_embds", true}}, "sinusoidal_pos_embds: true is not expressible"},
           {kBigBirdRobertaBase, {{"attention_type", "sparse"}}, "attention_type: expected block_sparse or"},
           {kGpt2, {{"scale_attn_by_inverse_layer_idx", true}}, "scale_attn_by_inverse_layer_idx: true is not"},
       }) {
    SCOPED_TRACE(c.patch.dump());
    auto parsed = ParsePatched(c.base, c.patch);
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().code(), Status::Code::kInvalidArgument);
    EXPECT_EQ(parsed.status().message().rfind(c.expected, 0), 0u) << parsed.status().message();
  }
}

// Settings tscale can express change the config (and the count) the way the HF model changes.
TEST(HfConfig, ExpressibleVariantsMapToFields) {
  Catalog catalog = LoadCatalog();
  auto reference = [&](const char* name) { return catalog.Find(name)->reference_params; };

  // Sequential GPT-NeoX block: the same two norms and weights.
  auto sequential = ParsePatched(kPythia160m, {{"use_parallel_residual", false}});
  ASSERT_TRUE(sequential.ok()) << sequential.status().ToString();
  EXPECT_FALSE(sequential->parallel_residual);
  EXPECT_EQ(AnalyticParameterCount(*sequential), reference("EleutherAI/pythia-160m"));

  // T5 v1.1 style gated FFN with SiLU: a second input matrix (wi_0, wi_1) per FFN, no biases.
  auto gated = ParsePatched(kGodelBase, {{"feed_forward_proj", "gated-silu"}, {"is_gated_act", true}});
  ASSERT_TRUE(gated.ok()) << gated.status().ToString();
  EXPECT_EQ(gated->activation, Activation::kSiluGated);
  EXPECT_EQ(AnalyticParameterCount(*gated), reference("microsoft/GODEL-v1_1-base-seq2seq") + 24 * 768 * 3072);

  // Mistral without a sliding window (sliding_window: null) attends to everything.
  auto full = ParseWithNull(kMistral7b, "sliding_window");
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(full->attention_window, 0);
  EXPECT_EQ(ParseHfConfig(kMistral7b, "m")->attention_window, 4096);

  // OPT without Linear biases: q, k, v, out (4d), fc1 (f) and fc2 (d) per layer; the LayerNorms keep theirs.
  auto unbiased = ParsePatched(kOpt125m, {{"enable_bias", false}});
  ASSERT_TRUE(unbiased.ok());
  EXPECT_TRUE(unbiased->bias);
  EXPECT_EQ(AnalyticParameterCount(*unbiased), reference("facebook/opt-125m") - 12 * (5 * 768 + 3072));

  // BigBird in full attention: no window, no approximation, same weights.
  auto dense = ParsePatched(kBigBirdRobertaBase, {{"attention_type", "original_full"}});
  ASSERT_TRUE(dense.ok());
  EXPECT_EQ(dense->attention_window, 0);
  EXPECT_EQ(dense->global_tokens, 0);
  EXPECT_TRUE(dense->approximation.empty());
  EXPECT_EQ(AnalyticParameterCount(*dense), reference("google/bigbird-roberta-base"));

  // Llama with attention biases: q (32 x 64), k and v (4 x 64 each) and o (2048) per layer.
  auto biased = ParsePatched(kTinyLlama, {{"attention_bias", true}});
  ASSERT_TRUE(biased.ok());
  EXPECT_TRUE(biased->qkv_bias && biased->attn_out_bias && !biased->mlp_bias);
  EXPECT_EQ(AnalyticParameterCount(*biased),
            reference("TinyLlama/TinyLlama-1.1B-Chat-v1.0") + 22 * (2048 + 2 * 256 + 2048));

  // GPT-Neo with local attention in every layer.
  auto local = ParsePatched(kGptNeo125m, Json(R"({"attention_types": [[["local"], 12]], "attention_layers": null})"));
  ASSERT_TRUE(local.ok()) << local.status().ToString();
  EXPECT_EQ(local->window_layers, WindowLayers::kAll);
  EXPECT_EQ(local->attention_window, 256);

  // Falcon-40B's layout: new_decoder_architecture, GQA with num_kv_heads, two norms per parallel block.
  auto falcon40b = ParseHfConfig(R"({"model_type": "falcon", "alibi": false, "bias": false, "hidden_size": 8192,
    "multi_query": true, "new_decoder_architecture": true, "num_attention_heads": 128, "num_hidden_layers": 60,
    "num_kv_heads": 8, "parallel_attn": true, "vocab_size": 65024})",
                                 "tiiuae/falcon-40b");
  ASSERT_TRUE(falcon40b.ok()) << falcon40b.status().ToString();
  EXPECT_EQ(falcon40b->kv_heads, 8);
  EXPECT_TRUE(falcon40b->parallel_residual);
  EXPECT_FALSE(falcon40b->shared_block_norm);
  const int64_t d = 8192, f = 4 * d, hd = 64, L = 60;
  EXPECT_EQ(AnalyticParameterCount(*falcon40b),
            65024 * d + L * (d * (128 + 2 * 8) * hd + d * d + 2 * d * f + 2 * 2 * d) + 2 * d);
}

// Optional keys a config leaves out take the HF config class's defaults for that model_type.
TEST(HfConfig, AbsentOptionalKeysTakeTheHfDefaults) {
  auto llama = ParseHfConfig(R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100})",
                             "user/llama");
  ASSERT_TRUE(llama.ok()) << llama.status().ToString();
  EXPECT_EQ(llama->norm_eps, 1e-6);
  EXPECT_EQ(llama->kv_heads, 0);
  EXPECT_EQ(llama->rotary_base, 10000);
  EXPECT_EQ(llama->activation, Activation::kSiluGated);
  EXPECT_FALSE(llama->qkv_bias || llama->mlp_bias || llama->bias);

  auto neox = ParseHfConfig(R"({"model_type": "gpt_neox", "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "intermediate_size": 256, "vocab_size": 100})",
                            "user/neox");
  ASSERT_TRUE(neox.ok()) << neox.status().ToString();
  EXPECT_EQ(neox->rotary_dims, 4);  // rotary_pct 0.25 of 16
  EXPECT_TRUE(neox->parallel_residual);
  EXPECT_EQ(neox->activation, Activation::kGelu);

  auto t5 = ParseHfConfig(R"({"model_type": "t5", "d_model": 64, "num_layers": 3, "num_heads": 4, "d_ff": 128,
    "vocab_size": 100})",
                          "user/t5");
  ASSERT_TRUE(t5.ok()) << t5.status().ToString();
  EXPECT_EQ(t5->decoder_layers, 3);
  EXPECT_EQ(t5->head_dim, 64);  // d_kv 64 with 4 heads: a 256-wide attention in a 64-wide model
  EXPECT_EQ(t5->activation, Activation::kRelu);
  EXPECT_EQ(t5->relative_buckets, 32);
  EXPECT_EQ(t5->relative_max_distance, 128);
  EXPECT_EQ(t5->norm_eps, 1e-6);

  auto bart = ParseHfConfig(R"({"model_type": "bart", "d_model": 64, "encoder_layers": 2, "decoder_layers": 2,
    "encoder_attention_heads": 4, "decoder_attention_heads": 4, "encoder_ffn_dim": 128, "decoder_ffn_dim": 128,
    "vocab_size": 100})",
                            "user/bart");
  ASSERT_TRUE(bart.ok()) << bart.status().ToString();
  EXPECT_EQ(bart->position_rows, 1026);
  EXPECT_EQ(bart->max_input_tokens, 1024);
  EXPECT_FALSE(bart->scale_embedding);

  // GPT-J: rotary_dim absent is 64; null rotates the whole head.
  auto absent = ParsePatched(kGptJ6b, {{"rotary_dim", nullptr}});
  ASSERT_TRUE(absent.ok());
  EXPECT_EQ(absent->rotary_dims, 64);
  auto whole_head = ParseWithNull(kGptJ6b, "rotary_dim");
  ASSERT_TRUE(whole_head.ok());
  EXPECT_EQ(whole_head->rotary_dims, 0);
}

// Dropout rates: a config's own keys, else the HF config class's defaults (held by the family's layout).
TEST(HfConfig, DropoutRatesComeFromTheFamilyKeysElseTheHfDefaults) {
  struct Rates {
    double hidden, attention;
  };
  auto rates = [](const StatusOr<ModelConfig>& c) {
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? Rates{c->dropout, c->attention_dropout} : Rates{-1, -1};
  };
  auto expect = [](Rates got, double hidden, double attention) {
    EXPECT_EQ(got.hidden, hidden);
    EXPECT_EQ(got.attention, attention);
  };
  // BERT: hidden_dropout_prob and attention_probs_dropout_prob, 0.1 and 0.1 by default.
  expect(rates(ParseHfConfig(kBertBase, "b")), 0.1, 0.1);
  expect(rates(ParsePatched(kBertBase, {{"hidden_dropout_prob", 0.2}, {"attention_probs_dropout_prob", 0.0}})), 0.2,
         0.0);
  expect(rates(ParseWithNull(kBertBase, "hidden_dropout_prob")), 0.1, 0.1);  // null: the default
  // GPT-2: resid_pdrop and attn_pdrop (embd_pdrop is checked, not kept), 0.1 and 0.1 by default.
  expect(rates(ParseHfConfig(kGpt2, "g")), 0.1, 0.1);
  expect(rates(ParsePatched(kGpt2, {{"resid_pdrop", 0.0}, {"embd_pdrop", 0.3}, {"attn_pdrop", 0.25}})), 0.0, 0.25);
  // The BERT keys serve the lineage; ALBERT's class defaults them to 0, DistilBERT has its own names.
  expect(rates(ParseHfConfig(kAlbertBaseV2, "a")), 0, 0);
  expect(rates(ParsePatched(kAlbertBaseV2, {{"hidden_dropout_prob", 0.1}, {"attention_probs_dropout_prob", 0.1}})), 0.1,
         0.1);
  expect(rates(ParseHfConfig(kRoberta, "r")), 0.1, 0.1);
  expect(rates(ParsePatched(kLongformerBase, {{"attention_probs_dropout_prob", 0.05}})), 0.1, 0.05);
  expect(rates(ParseHfConfig(kDistilBert, "d")), 0.1, 0.1);
  expect(rates(ParsePatched(kDistilBert, {{"dropout", 0.2}, {"attention_dropout", 0.3}})), 0.2, 0.3);
  // The other families' keys and defaults.
  expect(rates(ParseHfConfig(kOpt125m, "o")), 0.1, 0.0);
  expect(rates(ParsePatched(kOpt125m, {{"dropout", 0.0}, {"attention_dropout", 0.1}})), 0.0, 0.1);
  expect(rates(ParseHfConfig(kBartBase, "b")), 0.1, 0.0);
  expect(rates(ParsePatched(kPegasusXsum, {{"dropout", 0.15}, {"attention_dropout", 0.05}})), 0.15, 0.05);
  expect(rates(ParseHfConfig(kProphetNetLarge, "p")), 0.1, 0.1);
  expect(rates(ParseHfConfig(kGodelBase, "t")), 0.1, 0.1);  // T5's dropout_rate is both
  expect(rates(ParsePatched(kGodelBase, {{"dropout_rate", 0.2}})), 0.2, 0.2);
  expect(rates(ParseHfConfig(kTinyLlama, "l")), 0, 0);
  expect(rates(ParsePatched(kMistral7b, {{"attention_dropout", 0.1}})), 0, 0.1);
  expect(rates(ParseHfConfig(kPythia160m, "n")), 0, 0);
  expect(rates(ParsePatched(kPythia160m, {{"hidden_dropout", 0.1}, {"attention_dropout", 0.2}})), 0.1, 0.2);
  expect(rates(ParsePatched(kGptNeo125m, {{"resid_dropout", 0.1}, {"attention_dropout", 0.2}})), 0.1, 0.2);
  expect(rates(ParsePatched(kGptJ6b, {{"resid_pdrop", 0.1}, {"attn_pdrop", 0.2}})), 0.1, 0.2);
  expect(rates(ParseHfConfig(kPhi2, "p")), 0, 0);
  expect(rates(ParsePatched(kPhi2, {{"resid_pdrop", 0.1}, {"embd_pdrop", 0.0}, {"attention_dropout", 0.05}})), 0.1,
         0.05);
  expect(rates(ParsePatched(kBloom560m, {{"hidden_dropout", 0.1}, {"attention_dropout", 0.2}})), 0.1, 0.2);
  expect(rates(ParsePatched(kFalcon7b, {{"hidden_dropout", 0.1}, {"attention_dropout", 0.2}})), 0.1, 0.2);

  // `tscale-client families --json` (and so the catalog) states the non-zero defaults.
  auto layout = [](const char* type) {
    return nlohmann::json::parse(families::FamilyLayoutJson(*families::FindFamily(type)));
  };
  EXPECT_EQ(layout("bert").at("dropout"), 0.1);
  EXPECT_EQ(layout("bert").at("attention_dropout"), 0.1);
  EXPECT_EQ(layout("gpt2").at("dropout"), 0.1);
  EXPECT_EQ(layout("opt").at("dropout"), 0.1);
  EXPECT_FALSE(layout("opt").contains("attention_dropout"));
  EXPECT_FALSE(layout("llama").contains("dropout"));
  EXPECT_FALSE(layout("albert").contains("dropout"));
}

// A family's layout holds HF's defaults for facts a key may change (families/family.h); a key that switches one
// off must undo it, and the layout must be what a config with those defaults yields.
TEST(HfConfig, AKeyThatSwitchesOffALayoutDefaultUndoesIt) {
  auto full = ParsePatched(kBigBirdRobertaBase, {{"attention_type", "original_full"}});
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  EXPECT_EQ(full->attention_window, 0);
  EXPECT_EQ(full->global_tokens, 0);
  EXPECT_EQ(full->approximation, "");

  auto global = ParsePatched(kGptNeo125m, {{"attention_types", nlohmann::json::parse(R"([[["global"], 12]])")},
                                           {"attention_layers", nullptr}});
  ASSERT_TRUE(global.ok()) << global.status().ToString();
  EXPECT_EQ(global->attention_window, 0);
  EXPECT_EQ(global->window_layers, WindowLayers::kAll);

  auto sequential = ParsePatched(R"({"model_type": "gpt_neox", "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "intermediate_size": 256, "vocab_size": 100})",
                                 {{"use_parallel_residual", false}});
  ASSERT_TRUE(sequential.ok()) << sequential.status().ToString();
  EXPECT_FALSE(sequential->parallel_residual);
}

// `tscale-client families --json` and gen_catalog.py read FamilyLayoutJson: it names real fields, states arch,
// position and norm_placement, and its facts survive a config built from it (no field is lost on the way).
TEST(HfConfig, EveryFamilyLayoutIsAConfigFragmentThatKeepsItsFacts) {
  for (const families::FamilySpec* family : families::AllFamilies()) {
    SCOPED_TRACE(family->model_type);
    auto layout = nlohmann::json::parse(families::FamilyLayoutJson(*family));
    for (const char* key : {"arch", "position", "norm_placement"}) EXPECT_TRUE(layout.contains(key)) << key;
    nlohmann::json config = layout;
    // A mamba block has no heads and no FFN (heads and ffn 0).
    const bool attention = layout.value("block", "transformer") != "mamba";
    config.update(nlohmann::json{{"id", "layout/test"},
                                 {"layers", 2},
                                 {"hidden", 64},
                                 {"heads", attention ? 4 : 0},
                                 {"ffn", attention ? 128 : 0},
                                 {"vocab", 100}});
    if (layout.at("position") == "learned" || layout.at("position") == "sinusoidal")
      config.update(nlohmann::json{{"position_rows", 64}, {"max_input_tokens", 32}});
    if (layout.at("arch") == "encoder-decoder") config["decoder_layers"] = 2;
    if (layout.value("relative_bias_projection", false) || layout.at("position") == "relative_buckets")
      config.update(nlohmann::json{{"relative_buckets", 32}, {"relative_max_distance", 128}});
    auto parsed = ParseModelConfig(config.dump());
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString() << "\n" << config.dump();
    const auto written = nlohmann::json::parse(ModelConfigToJson(*parsed));
    for (const auto& [key, value] : layout.items()) EXPECT_EQ(written.at(key), value) << key;
  }
}

}  // namespace
}  // namespace tscale
