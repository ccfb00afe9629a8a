// OPT: learned positions offset by 2, optional project_in/project_out.
#include "common/families/family.h"
#include "common/families/hf_reader.h"

namespace tscale::families {
namespace {

void OptLayout(ModelArchitecture* a) {
  DecoderLayout(a);
  a->position_offset = 2;  // OPTLearnedPositionalEmbedding skips two rows
  a->embedding_projection = EmbeddingProjection::kInOut;
  a->dropout = 0.1;  // HF's defaults: dropout 0.1, attention_dropout 0
}
void Opt(HfReader& r, ModelConfig* c) {
  ReadShape(r, {"num_hidden_layers", "hidden_size", "num_attention_heads", "ffn_dim"}, c);
  c->activation = Act(r, "activation_function", "relu");
  Dropouts(r, "dropout", "attention_dropout", c);
  // OPTLearnedPositionalEmbedding allocates max_position_embeddings + 2 rows and skips the first two.
  LearnedTable(r, "max_position_embeddings", r.Int("max_position_embeddings", 2048) + 2, 2, c);
  // word_embed_proj_dim < hidden_size: bias-free project_in/project_out around the blocks (OPT-350m).
  const int e = r.Int("word_embed_proj_dim", c->hidden);
  c->embedding_size = e == c->hidden ? 0 : e;
  const bool pre = r.Bool("do_layer_norm_before", true);
  c->norm_placement = pre ? NormPlacement::kPre : NormPlacement::kPost;
  c->final_norm = pre && !r.Bool("_remove_final_layer_norm", false);  // post-LN OPT has no final norm
  // enable_bias covers the Linear layers; the LayerNorms keep their biases.
  const bool bias = r.Bool("enable_bias", true);
  LinearBiases(c, bias, bias, bias);
  r.Expect("layer_norm_elementwise_affine", true, true, "tscale's LayerNorms have a weight and a bias");
}

}  // namespace

const FamilySpec kOpt{"opt", OptLayout, Opt, nullptr, nullptr};
}  // namespace tscale::families
