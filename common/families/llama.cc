// Llama and Mistral: RMSNorm, SwiGLU, rotary, GQA; Mistral adds a sliding window.
#include "common/families/family.h"
#include "common/families/hf_reader.h"

namespace tscale::families {
namespace {

// Llama and Mistral: RMSNorm, SwiGLU, rotary, GQA and no biases.
void LlamaLayout(ModelArchitecture* a) {
  DecoderLayout(a);
  a->norm = NormType::kRmsNorm;
  a->bias = false;
  LinearBiases(a, false, false, false);
  a->position = PositionScheme::kRotary;
  a->tied_head = false;  // HF's default tie_word_embeddings (TinyLlama, Llama 2, Mistral keep a separate lm_head)
}
void MistralLayout(ModelArchitecture* a) {
  LlamaLayout(a);
  a->attention_window = 4096;  // HF's default sliding_window
}
void LlamaLike(HfReader& r, ModelConfig* c) {
  ReadShape(r, {"num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size"}, c);
  const int heads = c->heads;
  c->norm_eps = r.Number("rms_norm_eps", 1e-6);
  c->activation = GatedSilu(r, "hidden_act");
  Dropouts(r, nullptr, "attention_dropout", c);  // HF's default 0; the blocks have no hidden dropout
  if (!r.ok() || heads == 0) return;
  Heads(c, heads, r.Int("num_key_value_heads", heads, 1), r.Int("head_dim", c->hidden / heads, 1));
  Rotary(r, "rope_theta", nullptr, 1.0, c);
}

void Llama(HfReader& r, ModelConfig* c) {
  LlamaLike(r, c);
  const bool attention_bias = r.Bool("attention_bias", false);  // q, k, v and o together
  LinearBiases(c, attention_bias, attention_bias, r.Bool("mlp_bias", false));
}

void Mistral(HfReader& r, ModelConfig* c) {
  LlamaLike(r, c);
  // sliding_window is the causal window (attention_window, as in the catalog); null means full attention.
  c->attention_window = r.Int("sliding_window", r.IsNull("sliding_window") ? 0 : 4096);
}

// HF LlamaModel / MistralModel names, under "model.".
const HfWeightNames kLlamaNames{
    {"model."},
    {

        {R"(embed_tokens\.weight)", {"tokens.weight"}},
        {R"(layers\.(\d+)\.self_attn\.([qkv])_proj\.(weight|bias))", {"decoder.blocks.$1.attention.$2.$3"}},
        {R"(layers\.(\d+)\.self_attn\.o_proj\.(weight|bias))", {"decoder.blocks.$1.attention.out.$2"}},
        {R"(layers\.(\d+)\.mlp\.(gate|up|down)_proj\.(weight|bias))", {"decoder.blocks.$1.mlp.$2.$3"}},
        {R"(layers\.(\d+)\.input_layernorm\.weight)", {"decoder.blocks.$1.attention_norm.weight"}},
        {R"(layers\.(\d+)\.post_attention_layernorm\.weight)", {"decoder.blocks.$1.mlp_norm.weight"}},
        {R"(norm\.weight)", {"decoder.final_norm.weight"}},
    }};

}  // namespace

const FamilySpec kLlama{"llama", LlamaLayout, Llama, &kLlamaNames, nullptr};
const FamilySpec kMistral{"mistral", MistralLayout, Mistral, &kLlamaNames, nullptr};

}  // namespace tscale::families
