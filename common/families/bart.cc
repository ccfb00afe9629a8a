// BART, Pegasus and Blenderbot: one key set, three layouts.
#include "common/families/family.h"
#include "common/families/hf_reader.h"

namespace tscale::families {
namespace {

// BART, Pegasus and Blenderbot share their keys; nn.LayerNorm's default eps (1e-5) is not in the config.
void BartKeys(HfReader& r, ModelConfig* c) {
  ReadEncoderDecoderShape(r,
                          {"d_model", "encoder_layers", "decoder_layers", "encoder_attention_heads",
                           "decoder_attention_heads", "encoder_ffn_dim", "decoder_ffn_dim"},
                          c);
  c->activation = Act(r, "activation_function", "gelu");
  c->scale_embedding = r.Bool("scale_embedding", false);
  Dropouts(r, "dropout", "attention_dropout", c);  // HF's defaults 0.1 and 0 (the layouts')
}

void BartLayout(ModelArchitecture* a) {
  a->arch = ArchKind::kEncoderDecoder;
  a->norm_placement = NormPlacement::kPost;
  a->embedding_norm = true;  // layernorm_embedding
  a->position_offset = 2;    // BartLearnedPositionalEmbedding skips two rows
  a->dropout = 0.1;          // HF's default (attention_dropout 0), as Pegasus's and Blenderbot's
}
// Pegasus's sinusoids are fixed; scale_embedding is a key (false by default in HF, true in Pegasus checkpoints).
void PegasusLayout(ModelArchitecture* a) {
  a->arch = ArchKind::kEncoderDecoder;
  a->norm_placement = NormPlacement::kPre;
  a->final_norm = true;
  a->position = PositionScheme::kSinusoidal;
  a->dropout = 0.1;
}
void BlenderbotLayout(ModelArchitecture* a) {
  a->arch = ArchKind::kEncoderDecoder;
  a->norm_placement = NormPlacement::kPre;
  a->final_norm = true;
  a->dropout = 0.1;
}
// Legacy keys in some configs (normalize_before, add_final_layer_norm, normalize_embedding) are not read by the
// current HF classes, whose layout is fixed per model_type; they are ignored here as there.
void Bart(HfReader& r, ModelConfig* c) {
  BartKeys(r, c);
  // BartLearnedPositionalEmbedding: max_position_embeddings + 2 rows, the first two skipped.
  LearnedTable(r, "max_position_embeddings", r.Int("max_position_embeddings", 1024) + 2, 2, c);
}

void Pegasus(HfReader& r, ModelConfig* c) {
  BartKeys(r, c);
  // Fixed sinusoids stored as a frozen max_position_embeddings-row parameter per stack (counted, and a hard limit).
  c->position_rows = c->max_input_tokens = r.Int("max_position_embeddings", 1024);
  if (r.ok() && c->position_rows < 1) r.Fail("max_position_embeddings", "must be at least 1");
}

void Blenderbot(HfReader& r, ModelConfig* c) {
  BartKeys(r, c);
  LearnedTable(r, "max_position_embeddings", r.Int("max_position_embeddings", 128), 0, c);
}

}  // namespace

const FamilySpec kBart{"bart", BartLayout, Bart, nullptr, nullptr};
const FamilySpec kPegasus{"pegasus", PegasusLayout, Pegasus, nullptr, nullptr};
const FamilySpec kBlenderbot{"blenderbot", BlenderbotLayout, Blenderbot, nullptr, nullptr};
}  // namespace tscale::families
