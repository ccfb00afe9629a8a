// Mamba (Gu & Dao 2023): selective state-space blocks, no attention, no positions. HF's MambaConfig
// (model_type "mamba"), and the original mamba_ssm config.json (no model_type; common/hf_config.cc routes it here).
#include <string>

#include "common/families/family.h"
#include "common/families/hf_reader.h"

namespace tscale::families {
namespace {

void MambaLayout(ModelArchitecture* a) {
  DecoderLayout(a);  // causal, pre-norm, norm_f after the last block
  a->block = BlockKind::kMamba;
  a->heads = a->ffn = 0;
  a->position = PositionScheme::kNone;
  a->norm = NormType::kRmsNorm;  // MambaRMSNorm, whatever mamba_ssm-era "rms_norm" key a converted config keeps
  a->norm_eps = 1e-5;
  a->bias = false;  // use_bias: in_proj and out_proj
  LinearBiases(a, false, false, false);
  a->tied_head = true;  // every published checkpoint ties lm_head to the embedding
  a->ssm_state = 16;
  a->ssm_conv = 4;
  a->ssm_expand = 2;
  a->ssm_dt_rank = 0;  // "auto": ceil(hidden / 16)
  a->ssm_conv_bias = true;
  a->dropout = a->attention_dropout = 0;  // MambaConfig has no dropout
}

// time_step_rank (HF) or dt_rank (mamba_ssm): "auto" or an integer; stored as 0 when it is what "auto" gives, so
// a converted checkpoint and the catalog entry read the same.
int DtRank(HfReader& r, const char* key, int hidden) {
  const json* value = r.Find(key);
  if (value && value->is_string()) {
    if (value->get<std::string>() != "auto") r.Fail(key, "expected \"auto\" or an integer");
    return 0;
  }
  const int rank = r.Int(key, 0, 1);
  return rank == (hidden + 15) / 16 ? 0 : rank;
}

void UseBias(ModelConfig* c, bool bias) {
  c->bias = bias;
  LinearBiases(c, bias, bias, bias);
}

// The original state-spaces checkpoints' config.json (mamba_ssm's MambaConfig dataclass): d_model, n_layer, an
// unpadded vocab_size and ssm_cfg holding the mixer's settings.
void MambaSsm(HfReader& r, ModelConfig* c) {
  c->layers = r.RequiredInt("n_layer");
  c->hidden = r.RequiredInt("d_model");
  const int64_t vocab = r.RequiredInt("vocab_size"), multiple = r.Int("pad_vocab_size_multiple", 8, 1);
  // MambaLMHeadModel pads the embedding up to the multiple, so the checkpoint's rows are the padded count.
  c->vocab = r.Derived("vocab_size", (vocab + multiple - 1) / multiple * multiple);
  r.Expect("rms_norm", true, true, "tscale's mamba block norms with RMSNorm");
  if (r.Int("d_intermediate", 0) > 0) r.Fail("d_intermediate", "an MLP after each mixer is not expressible");
  if (const json* attn = r.Find("attn_layer_idx"); attn && !(attn->is_array() && attn->empty()))
    r.Fail("attn_layer_idx", "attention layers among the mixers are not expressible");
  c->tied_head = r.Bool("tie_embeddings", true);
  const json* cfg = r.Find("ssm_cfg");
  if (!r.ok()) return;
  if (cfg && !cfg->is_object()) return r.Fail("ssm_cfg", "expected an object");
  static const json kEmpty = json::object();
  HfReader s(cfg ? *cfg : kEmpty);
  if (s.String("layer", "Mamba1") != "Mamba1") s.Fail("layer", "only Mamba1 mixers are expressible");
  c->ssm_state = s.Int("d_state", 16, 1);
  c->ssm_conv = s.Int("d_conv", 4, 1);
  c->ssm_expand = s.Int("expand", 2, 1);
  c->ssm_dt_rank = DtRank(s, "dt_rank", c->hidden);
  c->ssm_conv_bias = s.Bool("conv_bias", true);
  UseBias(c, s.Bool("bias", false));
  if (!s.ok()) {  // "d_state: 0 is out of range" -> "ssm_cfg.d_state: 0 is out of range"
    const std::string& message = s.status().message();
    const size_t colon = message.find(": ");
    r.Fail("ssm_cfg." + message.substr(0, colon), message.substr(colon + 2));
  }
}

void Mamba(HfReader& r, ModelConfig* c) {
  if (!r.Has("model_type")) return MambaSsm(r, c);
  c->layers = r.RequiredInt("num_hidden_layers");
  c->hidden = r.RequiredInt("hidden_size");
  c->vocab = r.RequiredInt("vocab_size");
  c->ssm_state = r.Int("state_size", 16, 1);
  c->ssm_conv = r.Int("conv_kernel", 4, 1);
  c->ssm_expand = r.Int("expand", 2, 1);
  // HF stores intermediate_size = expand * hidden_size, and a config.json's value overrides it in MambaMixer.
  if (r.Has("intermediate_size") && r.ok() && c->hidden > 0) {
    const int inner = r.Int("intermediate_size", 0, 1);
    if (r.ok() && inner % c->hidden != 0)
      r.Fail("intermediate_size", "must be a multiple of hidden_size (tscale's d_inner is ssm_expand x hidden)");
    if (r.ok()) c->ssm_expand = r.Derived("intermediate_size", inner / c->hidden);
  }
  c->ssm_dt_rank = DtRank(r, "time_step_rank", c->hidden);
  UseBias(c, r.Bool("use_bias", false));
  c->ssm_conv_bias = r.Bool("use_conv_bias", true);
  c->norm_eps = r.Number("layer_norm_epsilon", 1e-5);
  const std::string act = r.String("hidden_act", "silu");
  if (act != "silu" && act != "swish")
    r.Fail("hidden_act", "\"" + act + "\" is not expressible: tscale's mamba mixer uses silu");
}

// HF MambaModel names (under "backbone." in MambaForCausalLM checkpoints, as in mamba_ssm's, whose embedding is
// "embedding"). A tied checkpoint's top-level lm_head.weight matches no rule and is skipped.
const HfWeightNames kMambaNames{
    {"backbone."},
    {
        {R"(embeddings?\.weight)", {"tokens.weight"}},
        {R"(layers\.(\d+)\.norm\.weight)", {"decoder.blocks.$1.norm.weight"}},
        {R"(layers\.(\d+)\.mixer\.((?:in_proj|out_proj|conv1d|dt_proj)\.(?:weight|bias)|x_proj\.weight|A_log|D))",
         {"decoder.blocks.$1.mixer.$2"}},
        {R"(norm_f\.weight)", {"decoder.final_norm.weight"}},
    }};

}  // namespace

const FamilySpec kMamba{"mamba", MambaLayout, Mamba, &kMambaNames, nullptr};

}  // namespace tscale::families
