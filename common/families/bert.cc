// The BERT lineage: BERT, RoBERTa / XLM-R, DistilBERT, ALBERT, ELECTRA.
#include "common/families/family.h"
#include "common/families/hf_reader.h"

namespace tscale::families {

// The shape keys of BERT and the encoders derived from it; `act`, `type_vocab` and `eps` are the family's HF
// defaults for hidden_act, type_vocab_size and layer_norm_eps.
void BertKeys(HfReader& r, const char* act, int type_vocab, double eps, ModelConfig* c) {
  ReadShape(r, {"num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size"}, c);
  c->type_vocab = r.Int("type_vocab_size", type_vocab);
  c->norm_eps = r.Number("layer_norm_eps", eps);
  c->activation = Act(r, "hidden_act", act);
  Dropouts(r, "hidden_dropout_prob", "attention_probs_dropout_prob", c);
}

// BertKeys plus the absolute position table; relative_key(_query) adds distance embeddings tscale has no field for.
void BertEncoder(HfReader& r, const char* act, int positions, int offset, ModelConfig* c) {
  BertKeys(r, act, 2, 1e-12, c);
  const std::string scheme = r.String("position_embedding_type", "absolute");
  if (scheme != "absolute")
    r.Fail("position_embedding_type", "\"" + scheme + "\" is not expressible (only \"absolute\")");
  LearnedTable(r, "max_position_embeddings", r.Int("max_position_embeddings", positions), offset, c);
}

namespace {

// RoBERTa's offset 2 and ALBERT's one shared group are HF's defaults (pad_token_id 1, num_hidden_groups 1), as is
// ALBERT's dropout 0 (AlbertConfig, unlike BERT's 0.1; the v1 checkpoints set 0.1).
void RobertaLayout(ModelArchitecture* a) {
  EncoderLayout(a);
  a->position_offset = 2;
}
void PoolerlessLayout(ModelArchitecture* a) {  // DistilBERT, ELECTRA
  EncoderLayout(a);
  a->pooler = false;
}
void AlbertLayout(ModelArchitecture* a) {
  EncoderLayout(a);
  a->shared_layer_groups = 1;
  a->dropout = a->attention_dropout = 0;
}

void Bert(HfReader& r, ModelConfig* c) {
  BertEncoder(r, "gelu", 512, 0, c);
}

// RoBERTa numbers positions from padding_idx + 1, so pad_token_id 1 leaves rows 0 and 1 unused.
void Roberta(HfReader& r, ModelConfig* c) {
  BertEncoder(r, "gelu", 512, r.Int("pad_token_id", 1) + 1, c);
}

void DistilBert(HfReader& r, ModelConfig* c) {
  ReadShape(r, {"n_layers", "dim", "n_heads", "hidden_dim"}, c);
  c->norm_eps = 1e-12;  // hard-coded in DistilBERT
  c->activation = Act(r, "activation", "gelu");
  Dropouts(r, "dropout", "attention_dropout", c);  // HF's defaults 0.1 and 0.1, as BERT's (the layout's)
  // DistilBERT's sinusoidal table interleaves sin and cos; tscale's (Pegasus's) puts them in two halves.
  r.Expect("sinusoidal_pos_embds", false, false, "DistilBERT's interleaved sinusoids differ from tscale's");
  LearnedTable(r, "max_position_embeddings", r.Int("max_position_embeddings", 512), 0, c);
}

void Albert(HfReader& r, ModelConfig* c) {
  BertEncoder(r, "gelu_new", 512, 0, c);
  // AlbertModel always has embedding_hidden_mapping_in; tscale adds the projection only when E < d.
  const int e = r.Int("embedding_size", 128);
  if (r.ok() && e == c->hidden)
    r.Fail("embedding_size", "equal to hidden_size is not expressible (ALBERT still projects E -> d)");
  c->embedding_size = e;
  c->shared_layer_groups = r.Int("num_hidden_groups", 1);
  if (r.ok() && (c->shared_layer_groups < 1 || c->layers % c->shared_layer_groups != 0))
    r.Fail("num_hidden_groups", "must divide num_hidden_layers (" + std::to_string(c->layers) + ")");
  if (r.Int("inner_group_num", 1) != 1)
    r.Fail("inner_group_num", "only 1 is expressible (one layer per shared parameter group)");
}

void Electra(HfReader& r, ModelConfig* c) {
  BertEncoder(r, "gelu", 512, 0, c);
  const int e = r.Int("embedding_size", 128);
  c->embedding_size = e == c->hidden ? 0 : e;  // ElectraModel projects only when E != d
}

}  // namespace

// HF BertModel / RobertaModel names; head-model checkpoints nest them under "bert." or "roberta.".
const HfWeightNames kBertNames{
    {"bert.", "roberta."},
    {

        {R"(embeddings\.word_embeddings\.weight)", {"tokens.weight"}},
        {R"(embeddings\.position_embeddings\.weight)", {"encoder.positions.weight"}},
        {R"(embeddings\.token_type_embeddings\.weight)", {"encoder.token_types.weight"}},
        {R"(embeddings\.LayerNorm\.(weight|bias))", {"encoder.embedding_norm.$1"}},
        {R"(encoder\.layer\.(\d+)\.attention\.self\.query\.(weight|bias))", {"encoder.blocks.$1.attention.q.$2"}},
        {R"(encoder\.layer\.(\d+)\.attention\.self\.key\.(weight|bias))", {"encoder.blocks.$1.attention.k.$2"}},
        {R"(encoder\.layer\.(\d+)\.attention\.self\.value\.(weight|bias))", {"encoder.blocks.$1.attention.v.$2"}},
        {R"(encoder\.layer\.(\d+)\.attention\.output\.dense\.(weight|bias))", {"encoder.blocks.$1.attention.out.$2"}},
        {R"(encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.(weight|bias))",
         {"encoder.blocks.$1.attention_norm.$2"}},  // post-norm: the norm after the attention residual
        {R"(encoder\.layer\.(\d+)\.intermediate\.dense\.(weight|bias))", {"encoder.blocks.$1.mlp.up.$2"}},
        {R"(encoder\.layer\.(\d+)\.output\.dense\.(weight|bias))", {"encoder.blocks.$1.mlp.down.$2"}},
        {R"(encoder\.layer\.(\d+)\.output\.LayerNorm\.(weight|bias))", {"encoder.blocks.$1.mlp_norm.$2"}},
        {R"(pooler\.dense\.(weight|bias))", {"pooler.$1"}},
    }};

const FamilySpec kBert{"bert", EncoderLayout, Bert, &kBertNames, nullptr};
const FamilySpec kRoberta{"roberta", RobertaLayout, Roberta, &kBertNames, nullptr};
const FamilySpec kXlmRoberta{"xlm-roberta", RobertaLayout, Roberta, &kBertNames, nullptr};
const FamilySpec kDistilBert{"distilbert", PoolerlessLayout, DistilBert, nullptr, nullptr};
const FamilySpec kAlbert{"albert", AlbertLayout, Albert, nullptr, nullptr};
const FamilySpec kElectra{"electra", PoolerlessLayout, Electra, nullptr, nullptr};

}  // namespace tscale::families
