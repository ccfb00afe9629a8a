// Phi: parallel residual with one shared norm, partial rotary.
#include "common/families/family.h"
#include "common/families/hf_reader.h"

namespace tscale::families {
namespace {

void PhiLayout(ModelArchitecture* a) {
  DecoderLayout(a);
  a->parallel_residual = a->shared_block_norm = true;
  a->position = PositionScheme::kRotary;
  a->tied_head = false;  // lm_head with a bias
  a->head_bias = true;
}
void Phi(HfReader& r, ModelConfig* c) {
  ReadShape(r, {"num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size"}, c);
  const int heads = c->heads;
  c->norm_eps = r.Number("layer_norm_eps", 1e-5);
  c->activation = Act(r, "hidden_act", "gelu_new");
  Dropouts(r, "resid_pdrop", "attention_dropout", c, "embd_pdrop");  // HF's defaults 0
  r.Expect("qk_layernorm", false, false, "tscale has no LayerNorm on queries and keys");
  if (!r.ok() || heads == 0) return;
  Heads(c, heads, r.Int("num_key_value_heads", heads, 1), c->hidden / heads);
  Rotary(r, "rope_theta", "partial_rotary_factor", 0.5, c);
}

}  // namespace

const FamilySpec kPhi{"phi", PhiLayout, Phi, nullptr, nullptr};
}  // namespace tscale::families
