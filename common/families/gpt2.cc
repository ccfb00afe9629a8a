// GPT-2: learned positions, pre-norm, Conv1D weights stored [in, out].
#include "common/families/family.h"
#include "common/families/hf_reader.h"

namespace tscale::families {
namespace {

void Gpt2Layout(ModelArchitecture* a) {
  DecoderLayout(a);
  a->dropout = a->attention_dropout = 0.1;  // HF's defaults: resid_pdrop (and embd_pdrop), attn_pdrop
}
void Gpt2(HfReader& r, ModelConfig* c) {
  ReadShape(r, {"n_layer", "n_embd", "n_head", nullptr}, c);
  c->ffn = FfnOr4d(r, "n_inner", *c);
  c->norm_eps = r.Number("layer_norm_epsilon", 1e-5);
  c->activation = Act(r, "activation_function", "gelu_new");
  Dropouts(r, "resid_pdrop", "attn_pdrop", c, "embd_pdrop");
  r.Expect("scale_attn_weights", true, true, "tscale always scales scores by 1/sqrt(head_dim)");
  r.Expect("scale_attn_by_inverse_layer_idx", false, false, "tscale has no per-layer score scaling");
  LearnedTable(r, "n_positions", r.Int("n_positions", 1024), 0, c);
}

// HF GPT2Model names (under "transformer." in head-model checkpoints). Its Conv1D matrices are [in, out], so they
// are transposed, and the fused c_attn splits into q, k, v.
const HfWeightNames kGpt2Names{
    {"transformer."},
    {

        {R"(wte\.weight)", {"tokens.weight"}},
        {R"(wpe\.weight)", {"decoder.positions.weight"}},
        {R"(h\.(\d+)\.ln_1\.(weight|bias))", {"decoder.blocks.$1.attention_norm.$2"}},
        {R"(h\.(\d+)\.attn\.c_attn\.(weight|bias))",
         {"decoder.blocks.$1.attention.q.$2", "decoder.blocks.$1.attention.k.$2", "decoder.blocks.$1.attention.v.$2"},
         true},
        {R"(h\.(\d+)\.attn\.c_proj\.(weight|bias))", {"decoder.blocks.$1.attention.out.$2"}, true},
        {R"(h\.(\d+)\.ln_2\.(weight|bias))", {"decoder.blocks.$1.mlp_norm.$2"}},
        {R"(h\.(\d+)\.mlp\.c_fc\.(weight|bias))", {"decoder.blocks.$1.mlp.up.$2"}, true},
        {R"(h\.(\d+)\.mlp\.c_proj\.(weight|bias))", {"decoder.blocks.$1.mlp.down.$2"}, true},
        {R"(ln_f\.(weight|bias))", {"decoder.final_norm.$1"}},
    }};

}  // namespace

const FamilySpec kGpt2{"gpt2", Gpt2Layout, Gpt2, &kGpt2Names, nullptr};

}  // namespace tscale::families
