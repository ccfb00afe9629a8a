#include "common/families/hf_reader.h"

namespace tscale::families {
namespace {

// tscale has one head count and one FFN width for both stacks.
int SameInBothStacks(HfReader& r, const char* encoder_key, const char* decoder_key) {
  const int encoder = r.RequiredInt(encoder_key), decoder = r.RequiredInt(decoder_key);
  if (r.ok() && encoder != decoder)
    r.Fail(decoder_key, "must equal " + std::string(encoder_key) + " (" + std::to_string(encoder) +
                            "): tscale uses one value for both stacks");
  return encoder;
}

}  // namespace

// HF activation names (ACT2FN) that tscale runs as such; `key` is the family's name for the setting.
Activation Act(HfReader& r, const char* key, const char* hf_default) {
  const std::string name = r.String(key, hf_default);
  if (name == "gelu") return Activation::kGelu;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return Activation::kGeluTanh;
  if (name == "relu") return Activation::kRelu;
  r.Fail(key, "activation \"" + name + "\" is not supported (gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu)");
  return Activation::kGelu;
}

// Llama-style MLPs are always gated (down(act(gate(x)) * up(x))); tscale's only gate is SiLU.
Activation GatedSilu(HfReader& r, const char* key) {
  const std::string name = r.String(key, "silu");
  if (name != "silu" && name != "swish")
    r.Fail(key, "\"" + name + "\" is not expressible: the MLP is gated and tscale gates only with silu (silu_gated)");
  return Activation::kSiluGated;
}

// The layouts every encoder-only and every decoder-only family starts from.
void EncoderLayout(ModelArchitecture* a) {
  a->arch = ArchKind::kEncoder;
  a->norm_placement = NormPlacement::kPost;
  a->embedding_norm = true;
  a->pooler = true;
  // HF's BERT defaults (hidden_dropout_prob, attention_probs_dropout_prob), kept by every encoder config class here
  // but ALBERT's.
  a->dropout = a->attention_dropout = 0.1;
}
void DecoderLayout(ModelArchitecture* a) {
  a->arch = ArchKind::kDecoder;
  a->norm_placement = NormPlacement::kPre;
  a->final_norm = true;
}

// The Linear biases (ModelConfig::bias also gives the LayerNorms theirs, so families set it separately).
void LinearBiases(ModelArchitecture* a, bool qkv, bool out, bool mlp) {
  a->qkv_bias = a->key_bias = qkv;
  a->attn_out_bias = out;
  a->mlp_bias = mlp;
}

// Heads in the catalog's normal form: kv_heads and head_dim are 0 where they equal the default.
void Heads(ModelConfig* c, int heads, int kv_heads, int head_dim) {
  c->heads = heads;
  c->kv_heads = kv_heads == heads ? 0 : kv_heads;
  c->head_dim = int64_t{head_dim} * heads == c->hidden ? 0 : head_dim;
}

// A learned absolute table of `rows` rows whose first usable row is `offset`; `key` is where its size came from.
void LearnedTable(HfReader& r, const char* key, int rows, int offset, ModelConfig* c) {
  c->position = PositionScheme::kLearned;
  c->position_rows = rows;
  c->position_offset = offset;
  if (rows <= offset) return r.Fail(key, "must exceed the position offset (" + std::to_string(offset) + ")");
  c->max_input_tokens = rows - offset;
}

// The dropout rates from the family's keys, defaulting to the layout's (HF's defaults).
void Dropouts(HfReader& r, const char* hidden, const char* attention, ModelConfig* c, const char* embedding) {
  if (hidden) c->dropout = r.Probability(hidden, c->dropout);
  if (attention) c->attention_dropout = r.Probability(attention, c->attention_dropout);
  if (embedding) r.Probability(embedding, c->dropout);
}

// The FFN width of GPT-style configs: null or absent means 4 * hidden.
int FfnOr4d(HfReader& r, const char* key, const ModelConfig& c) {
  const int ffn = r.Int(key, 0);
  return ffn > 0 ? ffn : r.Derived(key, 4 * int64_t{c.hidden});
}

// Rotary embeddings over `fraction` of each head. Theta and the fraction come from the family's own keys or from
// a transformers-5 "rope_parameters" object. Scaled RoPE (linear, dynamic, yarn, llama3, ...) changes the angles,
// which tscale cannot express, so any rope_scaling other than "default" is refused.
void Rotary(HfReader& r, const char* theta_key, const char* fraction_key, double fraction_default, ModelConfig* c) {
  c->position = PositionScheme::kRotary;
  c->rotary_base = r.Number(theta_key, 10000);
  double fraction = fraction_key ? r.Number(fraction_key, fraction_default) : 1.0;
  for (const char* key : {"rope_scaling", "rope_parameters"}) {
    const json* rope = r.Find(key);
    if (!r.ok() || !rope) continue;
    if (!rope->is_object()) return r.Fail(key, "expected an object");
    HfReader sub(*rope);
    const std::string type = sub.String(sub.Pick({"rope_type", "type"}), "default");
    if (type != "default")
      return r.Fail(key, "rope_type \"" + type + "\" is not expressible: tscale runs unscaled rotary embeddings");
    c->rotary_base = sub.Number("rope_theta", c->rotary_base);
    fraction = sub.Number("partial_rotary_factor", fraction);
    if (!sub.ok()) return r.Fail(key, sub.status().message());
  }
  if (!r.ok()) return;
  if (!(fraction > 0 && fraction <= 1))
    return r.Fail(fraction_key ? fraction_key : "partial_rotary_factor", "must be in (0, 1]");
  // HF rotates int(fraction * head_dim) dims (Python int() truncates, as the cast does).
  const int head_dim = c->EffectiveHeadDim();
  const int dims = static_cast<int>(fraction * head_dim);
  if (dims == 0) return r.Fail(fraction_key ? fraction_key : "partial_rotary_factor", "rotates no dimension");
  c->rotary_dims = dims == head_dim ? 0 : dims;
}

void ReadEncoderDecoderShape(HfReader& r, const EncoderDecoderKeys& keys, ModelConfig* c) {
  c->hidden = r.RequiredInt(keys.hidden);
  c->layers = r.RequiredInt(keys.encoder_layers);
  c->decoder_layers = r.RequiredInt(keys.decoder_layers);
  c->heads = SameInBothStacks(r, keys.encoder_heads, keys.decoder_heads);
  c->ffn = SameInBothStacks(r, keys.encoder_ffn, keys.decoder_ffn);
  c->vocab = r.RequiredInt("vocab_size");
}

void ReadShape(HfReader& r, const ShapeKeys& keys, ModelConfig* c) {
  c->layers = r.RequiredInt(keys.layers);
  c->hidden = r.RequiredInt(keys.hidden);
  c->heads = r.RequiredInt(keys.heads);
  if (keys.ffn) c->ffn = r.RequiredInt(keys.ffn);
  c->vocab = r.RequiredInt("vocab_size");
}

}  // namespace tscale::families
