// ProphetNet: the main stream of an n-gram encoder-decoder with relative-bucket projections.
#include "common/families/family.h"
#include "common/families/hf_reader.h"

namespace tscale::families {
namespace {

std::string Approximation(const ModelConfig& /*config*/) {
  return "ProphetNet n-gram streams: only the main stream runs; the n-gram predict streams are not run (their "
         "embeddings are allocated and counted). The decoder's relative-position logits come from the bucket "
         "projection's bias as one [buckets, heads] table instead of a per-token projection.";
}

void ProphetNet(HfReader& r, ModelConfig* c) {
  ReadEncoderDecoderShape(r,
                          {"hidden_size", "num_encoder_layers", "num_decoder_layers", "num_encoder_attention_heads",
                           "num_decoder_attention_heads", "encoder_ffn_dim", "decoder_ffn_dim"},
                          c);
  c->norm_placement = NormPlacement::kPost;
  c->embedding_norm = true;
  c->activation = Act(r, "activation_function", "gelu");
  c->ngram = r.Int("ngram", 2);
  // The decoder's self-attention projects each token to num_buckets x heads relative-position logits.
  c->relative_bias_projection = true;
  c->relative_buckets = r.Int("num_buckets", 32);
  c->relative_max_distance = r.Int("relative_max_distance", 128);
  // Positions start at padding_idx + 1 and are clamped to the last row: no hard length limit.
  LearnedTable(r, "max_position_embeddings", r.Int("max_position_embeddings", 512), r.Int("pad_token_id", 0) + 1, c);
  c->position_clamp = true;
  c->max_input_tokens = 0;
}

}  // namespace

const FamilySpec kProphetNet{"prophetnet", ProphetNet, nullptr, Approximation};
}  // namespace tscale::families
