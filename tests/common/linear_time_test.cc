// The linear-time families' analytic counts (common/linear_time.h) against hand counts: parameters of the five
// catalog Mamba models, FLOPs and state bytes of a tiny Mamba and a tiny linear-attention model worked out in the
// comments, the decode state's independence of depth; and their configs: HF and mamba_ssm config.json, the
// tscale fields' validation, the HF weight names.
#include "common/linear_time.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "common/catalog.h"
#include "common/families/family.h"
#include "common/hf_config.h"
#include "common/training_analytics.h"
#include "support/shrunk_model.h"
#include "support/test_paths.h"

namespace tscale {
namespace {

const Catalog& Models() {
  return testing::CatalogModels();
}

const ModelConfig& Model(const char* name) {
  static const ModelConfig kMissing;
  const ModelConfig* model = Models().Find(name);
  EXPECT_NE(model, nullptr) << name;
  return model ? *model : kMissing;
}

ModelConfig Parsed(const nlohmann::json& doc) {
  auto config = ParseModelConfig(doc.dump());
  EXPECT_TRUE(config.ok()) << config.status().ToString() << "\n" << doc.dump();
  return config.ok() ? *config : ModelConfig{};
}

// d = 8, d_inner = 16, N = 4, conv kernel 3, dt_rank = ceil(8 / 16) = 1, 2 layers, vocab 10.
nlohmann::json TinyMambaJson() {
  return nlohmann::json::parse(R"({"id": "test/tiny-mamba", "arch": "decoder", "block": "mamba", "layers": 2,
    "hidden": 8, "heads": 0, "ffn": 0, "vocab": 10, "position": "none", "norm": "rmsnorm", "bias": false,
    "final_norm": true, "ssm_state": 4, "ssm_conv": 3, "ssm_expand": 2})");
}

// One layer, d = 8, 2 heads of hd = 4, ffn 16, vocab 10, a 100-row learned table, biases, tied head.
nlohmann::json TinyLinearJson() {
  return nlohmann::json::parse(R"({"id": "test/tiny-linear", "arch": "decoder", "attention_kind": "linear",
    "layers": 1, "hidden": 8, "heads": 2, "ffn": 16, "vocab": 10, "position": "learned", "position_rows": 100,
    "max_input_tokens": 100, "final_norm": true})");
}

// Per layer: norm d; in_proj d x 2E; conv E x K + E; x_proj E x (R + 2N); dt_proj R x E + E; A_log E x N; D E;
// out_proj E x d. Model: V d + L x layer + d (norm_f). The brief's hand counts.
TEST(LinearTime, MambaCatalogCountsAreExact) {
  const struct {
    const char* id;
    int64_t params;
  } kCounts[] = {{"state-spaces/mamba-130m", 129'135'360},
                 {"state-spaces/mamba-370m", 371'516'416},
                 {"state-spaces/mamba-790m", 793'204'224},
                 {"state-spaces/mamba-1.4b", 1'372'178'432},
                 {"state-spaces/mamba-2.8b", 2'768'345'600}};
  for (const auto& [id, params] : kCounts) {
    SCOPED_TRACE(id);
    const ModelConfig& m = Model(id);
    EXPECT_TRUE(m.mamba());
    EXPECT_EQ(AnalyticParameterCount(m), params);
    EXPECT_EQ(m.reference_params, params);
    EXPECT_EQ(HeadParameterCount(m), 0);  // tied
    const double published = m.published_params_m * 1e6;
    if (m.params_note.empty()) EXPECT_LT(std::abs(params - published) / published, 0.005);
  }
  // 130m: 38,615,040 embedding + 24 x 3,771,648 + 768; its nominal 130 M is 0.67 % above, hence a params_note.
  const int64_t d = 768, e = 1536, n = 16, k = 4, r = 48, v = 50280;
  const int64_t layer = d + d * 2 * e + e * k + e + e * (r + 2 * n) + r * e + e + e * n + e + e * d;
  EXPECT_EQ(layer, 3'771'648);
  EXPECT_EQ(v * d + 24 * layer + d, 129'135'360);
  EXPECT_FALSE(Model("mamba-130m").params_note.empty());
  EXPECT_EQ(Model("state-spaces/mamba-130m-hf").id, "state-spaces/mamba-130m");
}

TEST(LinearTime, LinearAttentionGpt2IsGpt2InEveryOtherField) {
  const ModelConfig& linear = Model("linear-attention-gpt2");
  const ModelConfig& gpt2 = Model("gpt2");
  EXPECT_TRUE(linear.linear_attention());
  EXPECT_EQ(AnalyticParameterCount(linear), AnalyticParameterCount(gpt2));
  EXPECT_EQ(linear.reference_params, gpt2.reference_params);
  auto a = nlohmann::json::parse(ModelConfigToJson(linear)), b = nlohmann::json::parse(ModelConfigToJson(gpt2));
  for (const char* key : {"id", "aliases", "category", "published_params_m", "params_note", "notes", "trained_context",
                          "attention_kind", "attention_dropout"}) {
    a.erase(key);
    b.erase(key);
  }
  EXPECT_EQ(a, b) << nlohmann::json::diff(b, a).dump();
}

// Tiny Mamba (TinyMambaJson). Parameters per layer: norm 8 + in_proj 8 x 32 = 256 + conv 16 x 3 + 16 = 64 +
// x_proj 16 x (1 + 8) = 144 + dt_proj 1 x 16 + 16 = 32 + A_log 16 x 4 = 64 + D 16 + out_proj 16 x 8 = 128 = 712;
// the model 10 x 8 + 2 x 712 + 8 = 1512. Multiply-adds per token and layer: in_proj 256, conv 48, x_proj 144,
// dt_proj 16, out_proj 128 = 592, so 1184 FLOPs, plus the scan's 7 x 16 x 4 = 448: 1632.
TEST(LinearTime, TinyMambaByHand) {
  const ModelConfig c = Parsed(TinyMambaJson());
  EXPECT_EQ(c.EffectiveDtRank(), 1);
  EXPECT_EQ(MambaLayerParams(c), 712);
  EXPECT_EQ(AnalyticParameterCount(c), 1512);
  EXPECT_DOUBLE_EQ(MambaScanFlopsPerToken(c), 448);
  EXPECT_DOUBLE_EQ(MambaLayerFlopsPerToken(c), 1632);
  // Batch 2 x 5 tokens x 2 layers x 1632.
  EXPECT_DOUBLE_EQ(ForwardFlops(c, 2, 5), 32640);
  EXPECT_DOUBLE_EQ(AttentionProductFlops(c, 2, 5), 0);
  // One step, batch 2: 2 x 2 x 1632 = 6528, plus the head 2 x 2 x 8 x 10 = 320.
  EXPECT_DOUBLE_EQ(DecodeStepFlops(c, 2, 5), 6848);
  // State, batch 2 at 2 bytes: per layer the conv window 16 x 3 x 2 = 96 and the fp32 state 16 x 4 x 4 = 256.
  EXPECT_EQ(MambaStateBytes(c, 2, 2), 2 * 2 * (96 + 256));
  EXPECT_EQ(KvCacheBytes(c, 2, 5, 2), 1408);
  // The step reads 2 x 712 + 8 + the tied head's 80 = 1512 weights at 2 bytes, and reads and writes the state.
  EXPECT_DOUBLE_EQ(DecodeStepBytes(c, 2, 5, 2), 1512 * 2 + 2 * 1408);

  auto biased = TinyMambaJson();
  biased["bias"] = true;  // in_proj's 32 and out_proj's 8 (RMSNorm has no bias either way)
  biased["ssm_conv_bias"] = false;
  biased["ssm_dt_rank"] = 3;  // x_proj 16 x (3 + 8) = 176, dt_proj 3 x 16 + 16 = 64
  EXPECT_EQ(MambaLayerParams(Parsed(biased)), 712 + 40 - 16 + (176 - 144) + (64 - 32));
}

// Tiny linear attention (TinyLinearJson), t = 70: one chunk of 64 and one of 6. Per head (hd = 4) and chunk of c
// positions: phi(Q) phi(K)^T 2 c^2 hd, its product with V 2 c^2 hd, the normaliser's row sums 2 c^2; the queries
// against the carried state 2 c hd^2, the state's update 2 c hd^2, the queries against the key sum 2 c hd and
// its update 2 c hd.
//   c = 64: 32768 + 32768 + 8192 + 2048 + 2048 + 512 + 512 = 78848
//   c = 6:  288 + 288 + 72 + 192 + 192 + 48 + 48 = 1128
// 79976 per head, 159952 for both. The projections and FFN per token: q, k, v 3 x 64, out 64, FFN 2 x 128 = 512
// multiply-adds, 1024 FLOPs, 71680 over 70 tokens.
TEST(LinearTime, TinyLinearAttentionByHand) {
  const ModelConfig c = Parsed(TinyLinearJson());
  EXPECT_DOUBLE_EQ(LinearAttentionMixFlops(c, 1, 70), 159952);
  EXPECT_DOUBLE_EQ(AttentionProductFlops(c, 1, 70), 159952);
  EXPECT_DOUBLE_EQ(ForwardFlops(c, 1, 70), 71680 + 159952);
  EXPECT_DOUBLE_EQ(LinearAttentionMixFlops(c, 3, 128), 3 * 2 * LinearAttentionMixFlops(c, 1, 64));  // 2 chunks
  // The same parameters as softmax attention: phi has none.
  auto softmax = TinyLinearJson();
  softmax.erase("attention_kind");
  EXPECT_EQ(AnalyticParameterCount(c), AnalyticParameterCount(Parsed(softmax)));
  EXPECT_EQ(AnalyticParameterCount(c), 80 + 800 + 600 + 16);  // tokens, positions, the block, ln_f
  // A step per head: k v^T 2 x 16, q S 2 x 16, the key sum's update and q . z 2 x 4 each = 80; both heads 160,
  // plus 1024 of projections and FFN and the head's 2 x 8 x 10 = 160.
  EXPECT_DOUBLE_EQ(LinearAttentionStepMixFlops(c, 1), 160);
  EXPECT_DOUBLE_EQ(DecodeStepFlops(c, 1, 70), 1024 + 160 + 160);
  // State per head: S 4 x 4 and z 4, fp32: 80 bytes; 2 heads, 1 layer, batch 3.
  EXPECT_EQ(LinearAttentionStateBytes(c, 3), 480);
  EXPECT_EQ(KvCacheBytes(c, 3, 70, 2), 480);  // fp32 whatever the model's dtype
  // The step reads the block (q, k, v, out 4 x 72, FFN 144 + 136, 2 LayerNorms 32 = 600), ln_f 16 and the tied
  // head's 80 weights, and reads and writes the state.
  EXPECT_DOUBLE_EQ(DecodeStepBytes(c, 1, 70, 4), (600 + 16 + 80) * 4 + 2 * 160);
}

// The recurrent state is the same at every depth, so is a step's work; a softmax model's cache grows.
TEST(LinearTime, DecodeStateIsFlatInDepth) {
  for (const char* name : {"mamba-130m", "mamba-2.8b", "linear-attention-gpt2"}) {
    SCOPED_TRACE(name);
    const ModelConfig& m = Model(name);
    EXPECT_GT(KvCacheBytes(m, 2, 1, 2), 0);
    EXPECT_EQ(KvCacheBytes(m, 2, 1, 2), KvCacheBytes(m, 2, 1 << 20, 2));
    EXPECT_EQ(KvCacheBytes(m, 4, 100, 2), 2 * KvCacheBytes(m, 2, 100, 2));
    EXPECT_DOUBLE_EQ(DecodeStepFlops(m, 2, 1), DecodeStepFlops(m, 2, 1 << 20));
    EXPECT_DOUBLE_EQ(DecodeStepBytes(m, 2, 1, 2), DecodeStepBytes(m, 2, 1 << 20, 2));
  }
  // mamba-130m, batch 1, bf16: per layer the conv window 1536 x 4 x 2 = 12288 and the state 1536 x 16 x 4 = 98304
  // bytes, 24 layers.
  EXPECT_EQ(KvCacheBytes(Model("mamba-130m"), 1, 4096, 2), 24 * (12288 + 98304));
  // linear-attention-gpt2: 12 layers x 12 heads x (64 x 64 + 64) x 4 bytes.
  EXPECT_EQ(KvCacheBytes(Model("linear-attention-gpt2"), 1, 4096, 2), 12 * 12 * (64 * 64 + 64) * 4);
  EXPECT_GT(KvCacheBytes(Model("gpt2"), 1, 1000, 2), KvCacheBytes(Model("gpt2"), 1, 10, 2));
}

// DecodeStepBytes = the weights the step reads + 2 x the state (read and written).
TEST(LinearTime, DecodeStepBytesAreWeightsAndTwiceTheState) {
  // Mamba with a tied head reads every parameter once: the head's matrix is the embedding.
  const ModelConfig& mamba = Model("mamba-370m");
  EXPECT_DOUBLE_EQ(DecodeStepBytes(mamba, 3, 77, 2),
                   static_cast<double>(AnalyticParameterCount(mamba)) * 2 + 2.0 * KvCacheBytes(mamba, 3, 77, 2));
  // Linear attention reads what softmax GPT-2 reads, with the state in place of the cache.
  const ModelConfig& linear = Model("linear-attention-gpt2");
  const ModelConfig& gpt2 = Model("gpt2");
  EXPECT_DOUBLE_EQ(DecodeStepBytes(linear, 2, 500, 4) - 2.0 * KvCacheBytes(linear, 2, 500, 4),
                   DecodeStepBytes(gpt2, 2, 500, 4) - static_cast<double>(KvCacheBytes(gpt2, 2, 500, 4)));
}

// Linear attention's work grows linearly in the length; softmax GPT-2's attention products quadratically.
TEST(LinearTime, WorkPerTokenIsFlatInLength) {
  const ModelConfig& linear = Model("linear-attention-gpt2");
  const ModelConfig& mamba = Model("mamba-790m");
  // Whole chunks: doubling the length doubles the work exactly.
  EXPECT_DOUBLE_EQ(ForwardFlops(linear, 1, 1024), 2 * ForwardFlops(linear, 1, 512));
  EXPECT_DOUBLE_EQ(ForwardFlops(mamba, 1, 4000), 2 * ForwardFlops(mamba, 1, 2000));
  const ModelConfig& gpt2 = Model("gpt2");
  EXPECT_DOUBLE_EQ(AttentionProductFlops(gpt2, 1, 1024), 4 * AttentionProductFlops(gpt2, 1, 512));
}

// The training counts: activation memory is unknown (0) for these blocks, nothing divides by the zero heads.
TEST(LinearTime, TrainingCountsHandleNoHeads) {
  TrainShape s;
  s.batch = 2;
  s.seq_len = 256;
  const ModelConfig& mamba = Model("mamba-130m");
  EXPECT_EQ(AnalyticActivationBytes(mamba, s), 0);
  EXPECT_EQ(AnalyticActivationBytes(Model("linear-attention-gpt2"), s), 0);
  EXPECT_GT(AnalyticActivationBytes(Model("gpt2"), s), 0);
  EXPECT_EQ(AttentionFlopsShare(mamba, s), 0);
  // torchtitan's 6 N per token with N = the parameters less the embedding plus the head matrix, which is tied.
  EXPECT_DOUBLE_EQ(TorchtitanStepFlops(mamba, s), 6.0 * 129'135'360 * 2 * 256);
  EXPECT_TRUE(std::isfinite(TrainStepFlops(mamba, s)));
}

const char* kMamba130mHf = R"({"model_type": "mamba", "hidden_size": 768, "num_hidden_layers": 24,
  "vocab_size": 50280, "state_size": 16, "conv_kernel": 4, "expand": 2, "time_step_rank": 48,
  "use_bias": false, "use_conv_bias": true, "layer_norm_epsilon": 1e-5, "tie_word_embeddings": true})";
// The original state-spaces/mamba-130m config.json (mamba_ssm): no model_type, an unpadded vocabulary.
const char* kMamba130mSsm = R"({"d_model": 768, "n_layer": 24, "vocab_size": 50277, "ssm_cfg": {},
  "rms_norm": true, "residual_in_fp32": true, "fused_add_norm": true, "pad_vocab_size_multiple": 8})";

nlohmann::json Architecture(const ModelConfig& c) {
  auto j = nlohmann::json::parse(ModelConfigToJson(c));
  for (const char* key : {"id", "aliases", "category", "trained_context", "published_params_m", "reference_params",
                          "params_note", "notes"})
    j.erase(key);
  return j;
}

TEST(LinearTime, HfAndMambaSsmConfigsGiveTheCatalogArchitecture) {
  const ModelConfig& catalog = Model("state-spaces/mamba-130m");
  for (const char* text : {kMamba130mHf, kMamba130mSsm}) {
    SCOPED_TRACE(text);
    EXPECT_TRUE(LooksLikeHfConfig(text));
    auto parsed = ParseHfConfig(text, "user/mamba");
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    EXPECT_EQ(parsed->family, "mamba");
    EXPECT_EQ(parsed->ssm_dt_rank, 0);  // 48 = ceil(768 / 16), stored as "auto"
    EXPECT_EQ(AnalyticParameterCount(*parsed), 129'135'360);
    const auto difference = nlohmann::json::diff(Architecture(catalog), Architecture(*parsed));
    EXPECT_TRUE(difference.empty()) << difference.dump();
  }
  EXPECT_FALSE(LooksLikeHfConfig(ModelConfigToJson(catalog)));
  // Other spellings of the same settings, and the settings that change the count.
  auto patched = [](const char* base, const nlohmann::json& patch) {
    auto doc = nlohmann::json::parse(base);
    doc.merge_patch(patch);
    return ParseHfConfig(doc.dump(), "user/mamba");
  };
  EXPECT_EQ(patched(kMamba130mHf, {{"time_step_rank", "auto"}})->ssm_dt_rank, 0);
  EXPECT_EQ(patched(kMamba130mHf, {{"time_step_rank", 32}})->ssm_dt_rank, 32);
  EXPECT_EQ(patched(kMamba130mHf, {{"intermediate_size", 2304}})->ssm_expand, 3);
  EXPECT_TRUE(patched(kMamba130mHf, {{"use_bias", true}})->bias);
  EXPECT_FALSE(patched(kMamba130mHf, {{"use_conv_bias", false}})->ssm_conv_bias);
  EXPECT_FALSE(patched(kMamba130mHf, {{"tie_word_embeddings", false}})->tied_head);
  EXPECT_EQ(patched(kMamba130mSsm, {{"ssm_cfg", {{"d_state", 8}, {"expand", 4}}}})->ssm_state, 8);
  EXPECT_EQ(patched(kMamba130mSsm, {{"pad_vocab_size_multiple", 16}})->vocab, 50288);
  EXPECT_FALSE(patched(kMamba130mSsm, {{"tie_embeddings", false}})->tied_head);
}

// Bad values are INVALID_ARGUMENT naming the key (HF) or the field (tscale).
TEST(LinearTime, BadValuesNameTheField) {
  auto hf = [](const nlohmann::json& patch) {
    auto doc = nlohmann::json::parse(kMamba130mHf);
    doc.merge_patch(patch);
    return ParseHfConfig(doc.dump(), "user/mamba").status();
  };
  auto ssm = [](const nlohmann::json& patch) {
    auto doc = nlohmann::json::parse(kMamba130mSsm);
    doc.merge_patch(patch);
    return ParseHfConfig(doc.dump(), "user/mamba").status();
  };
  auto tscale = [](nlohmann::json doc, const nlohmann::json& patch) {
    doc.merge_patch(patch);
    return ParseModelConfig(doc.dump()).status();
  };
  const struct {
    Status status;
    const char* prefix;
  } kCases[] = {
      {hf({{"state_size", 0}}), "state_size: 0 is out of range"},
      {hf({{"conv_kernel", -1}}), "conv_kernel: -1 is out of range"},
      {hf({{"time_step_rank", "half"}}), "time_step_rank: expected \"auto\" or an integer"},
      {hf({{"intermediate_size", 1000}}), "intermediate_size: must be a multiple of hidden_size"},
      {hf({{"hidden_act", "gelu"}}), "hidden_act: \"gelu\" is not expressible"},
      {hf({{"hidden_size", nullptr}}), "hidden_size: required key is missing"},
      {ssm({{"ssm_cfg", {{"d_state", 0}}}}), "ssm_cfg.d_state: 0 is out of range"},
      {ssm({{"ssm_cfg", {{"layer", "Mamba2"}}}}), "ssm_cfg.layer: only Mamba1 mixers are expressible"},
      {ssm({{"ssm_cfg", 3}}), "ssm_cfg: expected an object"},
      {ssm({{"rms_norm", false}}), "rms_norm: false is not expressible"},
      {ssm({{"d_intermediate", 4096}}), "d_intermediate: an MLP after each mixer is not expressible"},
      {ssm({{"attn_layer_idx", {3}}}), "attn_layer_idx: attention layers among the mixers are not expressible"},
      {tscale(TinyMambaJson(), {{"ssm_state", 0}}), "ssm_state: "},
      {tscale(TinyMambaJson(), {{"ssm_conv", 0}}), "ssm_conv: "},
      {tscale(TinyMambaJson(), {{"ssm_expand", 0}}), "ssm_expand: "},
      {tscale(TinyMambaJson(), {{"heads", 12}}), "heads: a mamba block has no attention heads"},
      {tscale(TinyMambaJson(), {{"ffn", 32}}), "ffn: a mamba block has no feed-forward network"},
      {tscale(TinyMambaJson(), {{"arch", "encoder"}}), "block: mamba is a causal language model"},
      {tscale(TinyMambaJson(), {{"position", "rotary"}}), "position: a mamba model has no positions"},
      {tscale(TinyMambaJson(), {{"attention_kind", "linear"}}), "attention_kind: a mamba block has no attention"},
      {tscale(TinyMambaJson(), {{"attention_dropout", 0.1}}), "attention_dropout: "},
      {tscale(TinyMambaJson(), {{"type_vocab", 2}}), "type_vocab: a transformer option"},
      {tscale(TinyMambaJson(), {{"kv_heads", 2}}), "kv_heads: a mamba block has no attention heads"},
      {tscale(TinyMambaJson(), {{"dropout", 0.1}}), "dropout: a mamba model has no dropout"},
      {tscale(TinyMambaJson(), {{"block", "rnn"}}), "block: unknown value \"rnn\""},
      {tscale(TinyLinearJson(), {{"arch", "encoder"}}), "attention_kind: linear attention is causal"},
      {tscale(TinyLinearJson(), {{"attention_window", 16}}), "attention_kind: linear attention has no sliding"},
      {tscale(TinyLinearJson(), {{"kv_heads", 1}}), "kv_heads: linear attention needs one key head"},
      {tscale(TinyLinearJson(), {{"attention_dropout", 0.1}}), "attention_dropout: "},
      {tscale(TinyLinearJson(), {{"ffn", 0}}), "ffn: must be at least 1"},
      {tscale(TinyLinearJson(), {{"ssm_state", 16}}), "ssm_state: belongs to block mamba"},
      {tscale(TinyLinearJson(), {{"ssm_conv", 4}}), "ssm_conv: belongs to block mamba"},
      {tscale(TinyLinearJson(), {{"attention_kind", "cosine"}}), "attention_kind: unknown value"},
  };
  for (const auto& [status, prefix] : kCases) {
    SCOPED_TRACE(prefix);
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.code(), Status::Code::kInvalidArgument);
    EXPECT_EQ(status.message().rfind(prefix, 0), 0u) << status.message();
  }
}

// HF names -> the runner's parameter names, by the family's rules (runner/weights.cc applies them the same way:
// the prefix stripped, the first rule that matches the whole name).
std::string Mapped(const std::string& hf_name) {
  const families::HfWeightNames* names = families::FindFamily("mamba")->hf_weight_names;
  std::string name = hf_name;
  for (const char* prefix : names->prefixes)
    if (name.rfind(prefix, 0) == 0) name = name.substr(std::string(prefix).size());
  for (const auto& rule : names->rules) {
    std::smatch match;
    if (std::regex_match(name, match, std::regex(rule.pattern))) return match.format(rule.targets.at(0));
  }
  return "";
}

TEST(LinearTime, MambaHfWeightNames) {
  const std::pair<const char*, const char*> kNames[] = {
      {"backbone.embeddings.weight", "tokens.weight"},
      {"backbone.embedding.weight", "tokens.weight"},  // mamba_ssm's spelling
      {"backbone.layers.7.norm.weight", "decoder.blocks.7.norm.weight"},
      {"backbone.layers.0.mixer.in_proj.weight", "decoder.blocks.0.mixer.in_proj.weight"},
      {"backbone.layers.0.mixer.in_proj.bias", "decoder.blocks.0.mixer.in_proj.bias"},
      {"backbone.layers.0.mixer.conv1d.weight", "decoder.blocks.0.mixer.conv1d.weight"},
      {"backbone.layers.0.mixer.conv1d.bias", "decoder.blocks.0.mixer.conv1d.bias"},
      {"backbone.layers.0.mixer.x_proj.weight", "decoder.blocks.0.mixer.x_proj.weight"},
      {"backbone.layers.0.mixer.dt_proj.weight", "decoder.blocks.0.mixer.dt_proj.weight"},
      {"backbone.layers.0.mixer.dt_proj.bias", "decoder.blocks.0.mixer.dt_proj.bias"},
      {"backbone.layers.23.mixer.A_log", "decoder.blocks.23.mixer.A_log"},
      {"backbone.layers.23.mixer.D", "decoder.blocks.23.mixer.D"},
      {"backbone.layers.23.mixer.out_proj.weight", "decoder.blocks.23.mixer.out_proj.weight"},
      {"backbone.norm_f.weight", "decoder.final_norm.weight"},
      {"lm_head.weight", ""},  // tied: skipped, as every tied family's head is
      {"backbone.layers.0.mixer.x_proj.bias", ""},
  };
  for (const auto& [hf, tscale] : kNames) EXPECT_EQ(Mapped(hf), tscale) << hf;
}

}  // namespace
}  // namespace tscale
