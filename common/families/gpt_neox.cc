// GPT-NeoX / Pythia: parallel residual, partial rotary.
#include "common/families/family.h"
#include "common/families/hf_reader.h"

namespace tscale::families {
namespace {

void GptNeoxLayout(ModelArchitecture* a) {
  DecoderLayout(a);
  a->position = PositionScheme::kRotary;
  a->parallel_residual = true;  // HF's default use_parallel_residual
  a->tied_head = false;         // embed_out, no bias
}
void GptNeox(HfReader& r, ModelConfig* c) {
  ReadShape(r, {"num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size"}, c);
  c->norm_eps = r.Number("layer_norm_eps", 1e-5);
  c->activation = Act(r, "hidden_act", "gelu");
  Dropouts(r, "hidden_dropout", "attention_dropout", c);  // HF's defaults 0; hidden_dropout covers the embeddings
  // use_parallel_residual false is the sequential pre-norm block: the same two norms, so it maps directly.
  c->parallel_residual = r.Bool("use_parallel_residual", true);
  const bool attention_bias = r.Bool("attention_bias", true);
  LinearBiases(c, attention_bias, attention_bias, true);
  if (!r.ok() || c->heads == 0) return;
  Rotary(r, "rotary_emb_base", "rotary_pct", 0.25, c);
}

}  // namespace

const FamilySpec kGptNeox{"gpt_neox", GptNeoxLayout, GptNeox, nullptr, nullptr};
}  // namespace tscale::families
