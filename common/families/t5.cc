// T5: relative buckets, RMSNorm, optional gated SiLU.
#include "common/families/family.h"
#include "common/families/hf_reader.h"

namespace tscale::families {
namespace {

void T5Layout(ModelArchitecture* a) {
  a->arch = ArchKind::kEncoderDecoder;
  a->norm = NormType::kRmsNorm;
  a->norm_placement = NormPlacement::kPre;
  a->final_norm = true;
  a->bias = false;
  LinearBiases(a, false, false, false);
  a->position = PositionScheme::kRelativeBuckets;
  a->dropout = a->attention_dropout = 0.1;  // HF's dropout_rate default, which T5Attention also applies
}
void T5(HfReader& r, ModelConfig* c) {
  c->hidden = r.RequiredInt("d_model");
  c->layers = r.RequiredInt("num_layers");
  c->decoder_layers = r.Int("num_decoder_layers", c->layers);
  const int heads = r.RequiredInt("num_heads");
  c->ffn = r.RequiredInt("d_ff");
  c->vocab = r.RequiredInt("vocab_size");
  c->norm_eps = r.Number("layer_norm_epsilon", 1e-6);
  // One key for every dropout in T5: the hidden one and the attention probabilities' (T5Attention's dropout).
  Dropouts(r, "dropout_rate", "dropout_rate", c);
  c->relative_buckets = r.Int("relative_attention_num_buckets", 32);
  c->relative_max_distance = r.Int("relative_attention_max_distance", 128);
  // feed_forward_proj is "ACT" or "gated-ACT"; HF runs "gated-gelu" as a gated gelu_new (GeGLU).
  const std::string ffn = r.String("feed_forward_proj", "relu");
  const bool gated = ffn.rfind("gated-", 0) == 0;
  const std::string act = gated ? ffn.substr(6) : ffn;
  if (gated && act != "silu" && act != "swish") {
    r.Fail("feed_forward_proj", "\"" + ffn + "\" is not expressible: tscale gates only with silu (\"gated-silu\")");
  } else if (gated) {
    c->activation = Activation::kSiluGated;  // wo(silu(wi_0 x) * wi_1 x), SwiGLU
  } else if (act == "gelu" || act == "gelu_new" || act == "relu") {
    c->activation = act == "relu" ? Activation::kRelu : act == "gelu" ? Activation::kGelu : Activation::kGeluTanh;
  } else if (r.ok()) {
    r.Fail("feed_forward_proj", "\"" + ffn + "\" is not supported (relu, gelu, gelu_new, gated-silu)");
  }
  // Saved configs repeat the parsed form; some transformers versions let it override feed_forward_proj.
  if (r.Has("is_gated_act") && r.Bool("is_gated_act", gated) != gated)
    r.Fail("is_gated_act", "disagrees with feed_forward_proj");
  if (!r.ok() || heads == 0) return;
  Heads(c, heads, heads, r.Int("d_kv", 64, 1));  // the attention width is num_heads x d_kv, which may differ from d
}

}  // namespace

const FamilySpec kT5{"t5", T5Layout, T5, nullptr, nullptr};
}  // namespace tscale::families
