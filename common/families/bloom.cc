// BLOOM: ALiBi and an embedding LayerNorm.
#include "common/families/family.h"
#include "common/families/hf_reader.h"

namespace tscale::families {
namespace {

void BloomLayout(ModelArchitecture* a) {
  DecoderLayout(a);
  a->embedding_norm = true;  // word_embeddings_layernorm
  a->position = PositionScheme::kAlibi;
}
void Bloom(HfReader& r, ModelConfig* c) {
  ReadShape(r,
            {r.Pick({"n_layer", "num_hidden_layers"}), r.Pick({"hidden_size", "n_embed"}),
             r.Pick({"n_head", "num_attention_heads"}), nullptr},
            c);
  c->ffn = r.Derived("hidden_size", 4 * int64_t{c->hidden});  // BloomMLP is always 4d (HF ignores n_inner)
  c->norm_eps = r.Number("layer_norm_epsilon", 1e-5);
  c->activation = Activation::kGeluTanh;  // bloom_gelu, the tanh approximation
  // HF's defaults 0 (BloomConfig's signature; its docstring's 0.1 is stale).
  Dropouts(r, "hidden_dropout", "attention_dropout", c);
  r.Expect("apply_residual_connection_post_layernorm", false, false,
           "tscale's residual adds the block input, not the normed input");
}

}  // namespace

const FamilySpec kBloom{"bloom", BloomLayout, Bloom, nullptr, nullptr};
}  // namespace tscale::families
