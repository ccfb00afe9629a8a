// GPT-J: parallel residual, partial rotary.
#include "common/families/family.h"
#include "common/families/hf_reader.h"

namespace tscale::families {
namespace {

void GptjLayout(ModelArchitecture* a) {
  DecoderLayout(a);
  a->parallel_residual = a->shared_block_norm = true;
  LinearBiases(a, false, false, true);  // attention bias-free, MLP biased
  a->position = PositionScheme::kRotary;
  a->tied_head = false;  // lm_head with a bias
  a->head_bias = true;
}
void Gptj(HfReader& r, ModelConfig* c) {
  ReadShape(r, {"n_layer", "n_embd", "n_head", nullptr}, c);
  c->ffn = FfnOr4d(r, "n_inner", *c);
  c->norm_eps = r.Number("layer_norm_epsilon", 1e-5);
  c->activation = Act(r, "activation_function", "gelu_new");
  Dropouts(r, "resid_pdrop", "attn_pdrop", c, "embd_pdrop");  // HF's defaults 0 (unlike GPT-2's)
  // rotary_dim: absent means 64, null means the whole head. Theta is fixed at 10000 in GPT-J.
  const int rotary = r.IsNull("rotary_dim") ? 0 : r.Int("rotary_dim", 64, 1);
  c->rotary_dims = c->heads > 0 && rotary == c->hidden / c->heads ? 0 : rotary;
  // HF gathers sin/cos from an n_positions-row buffer, so longer inputs fail: a hard limit without a table.
  c->max_input_tokens = r.Int("n_positions", 2048);
}

}  // namespace

const FamilySpec kGptj{"gptj", GptjLayout, Gptj, nullptr, nullptr};
}  // namespace tscale::families
