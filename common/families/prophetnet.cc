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

void ProphetNetLayout(ModelArchitecture* a) {
  a->arch = ArchKind::kEncoderDecoder;
  a->norm_placement = NormPlacement::kPost;
  a->embedding_norm = true;
  // The decoder's self-attention projects each token to num_buckets x heads relative-position logits.
  a->relative_bias_projection = true;
  // Positions start at padding_idx + 1 (HF's default pad_token_id 0) and are clamped to the last row: no hard
  // length limit.
  a->position_offset = 1;
  a->position_clamp = true;
  a->dropout = a->attention_dropout = 0.1;  // HF's defaults (dropout, attention_dropout)
}
void ProphetNet(HfReader& r, ModelConfig* c) {
  ReadEncoderDecoderShape(r,
                          {"hidden_size", "num_encoder_layers", "num_decoder_layers", "num_encoder_attention_heads",
                           "num_decoder_attention_heads", "encoder_ffn_dim", "decoder_ffn_dim"},
                          c);
  c->activation = Act(r, "activation_function", "gelu");
  Dropouts(r, "dropout", "attention_dropout", c);
  c->ngram = r.Int("ngram", 2);
  c->relative_buckets = r.Int("num_buckets", 32);
  c->relative_max_distance = r.Int("relative_max_distance", 128);
  LearnedTable(r, "max_position_embeddings", r.Int("max_position_embeddings", 512), r.Int("pad_token_id", 0) + 1, c);
  c->max_input_tokens = 0;  // clamped: no hard limit
}

}  // namespace

const FamilySpec kProphetNet{"prophetnet", ProphetNetLayout, ProphetNet, nullptr, Approximation};
}  // namespace tscale::families
