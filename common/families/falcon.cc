// Falcon: the 7B layout (multi-query, one shared norm) and the new decoder architecture.
#include "common/families/family.h"
#include "common/families/hf_reader.h"

namespace tscale::families {
namespace {

// HF's defaults: the 7B layout (parallel_attn with one shared norm, bias-free Linear layers).
void FalconLayout(ModelArchitecture* a) {
  DecoderLayout(a);
  a->parallel_residual = a->shared_block_norm = true;
  LinearBiases(a, false, false, false);
  a->position = PositionScheme::kRotary;
}
void Falcon(HfReader& r, ModelConfig* c) {
  ReadShape(r,
            {r.Pick({"num_hidden_layers", "n_layer"}), r.Pick({"hidden_size", "n_embed"}),
             r.Pick({"num_attention_heads", "n_head"}), nullptr},
            c);
  const int heads = c->heads;
  c->ffn = FfnOr4d(r, "ffn_hidden_size", *c);
  c->norm_eps = r.Number("layer_norm_epsilon", 1e-5);
  c->activation = Act(r, "activation", "gelu");
  Dropouts(r, "hidden_dropout", "attention_dropout", c);  // HF's defaults 0
  // Falcon adds its ALiBi bias before the 1/sqrt(head_dim) scaling, BLOOM (tscale's alibi) after it.
  r.Expect("alibi", false, false, "Falcon's ALiBi is scaled with the scores, unlike tscale's (BLOOM's)");
  const bool bias = r.Bool("bias", false);  // the Linear layers; the LayerNorms keep theirs
  LinearBiases(c, bias, bias, bias);
  // The block: new_decoder_architecture (40B/180B) is parallel with num_ln_in_parallel_attn norms (default 2) and
  // num_kv_heads; the 7B layout is parallel_attn with one shared norm, and multi_query means one K/V head.
  const bool new_arch = r.Bool("new_decoder_architecture", false);
  const bool multi_query = r.Bool("multi_query", true);
  const bool parallel = r.Bool("parallel_attn", true);
  const int norms = r.Int("num_ln_in_parallel_attn", new_arch ? 2 : 1);
  if (new_arch && !parallel) r.Fail("parallel_attn", "false with new_decoder_architecture is not a Falcon layout");
  if (!new_arch && parallel && norms != 1)
    r.Fail("num_ln_in_parallel_attn", "only 1 is valid without new_decoder_architecture");
  if (new_arch && norms != 1 && norms != 2) r.Fail("num_ln_in_parallel_attn", "must be 1 or 2");
  c->parallel_residual = parallel;
  c->shared_block_norm = parallel && norms == 1;
  const int kv_heads = new_arch ? r.Int(r.Pick({"num_kv_heads", "n_head_kv"}), heads, 1) : multi_query ? 1 : heads;
  if (!r.ok() || heads == 0) return;
  Heads(c, heads, kv_heads, c->hidden / heads);
  Rotary(r, "rope_theta", nullptr, 1.0, c);
}

}  // namespace

const FamilySpec kFalcon{"falcon", FalconLayout, Falcon, nullptr, nullptr};
}  // namespace tscale::families
