// ModelConfig: one transformer architecture as data. The catalog (models/*.json), user-supplied tscale
// JSON configs and the runner all speak this type; the runner builds a network from it and nothing else.
//
// Contract: ParseModelConfig either returns a config that passes Validate(), or an INVALID_ARGUMENT
// naming the offending field. Every derived quantity (usable length, parameter count) is a pure function
// of the config.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace tscale {

enum class ArchKind { kEncoder, kDecoder, kEncoderDecoder };
enum class PositionScheme { kLearned, kSinusoidal, kRotary, kAlibi, kRelativeBuckets, kNone };
enum class NormType { kLayerNorm, kRmsNorm };
enum class NormPlacement { kPre, kPost };
// kGelu = exact erf GELU; kGeluTanh = HF "gelu_new"; kSiluGated = SwiGLU (gate * silu(up)).
enum class Activation { kGelu, kGeluTanh, kRelu, kSiluGated };
// Which layers use the sliding window (attention_window > 0): every layer, or the odd ones (GPT-Neo alternates
// global and local layers, starting with global).
enum class WindowLayers { kAll, kOdd };
// How a factorised embedding (embedding_size < hidden) reaches the hidden width. kAfterNorm (ALBERT, ELECTRA):
// token, position and type embeddings are summed and normed at embedding_size, then Linear(E, d) with bias.
// kInOut (OPT-350m): the token embedding goes through a bias-free project_in Linear(E, d) before the d-wide
// positions are added, and the last hidden state through a bias-free project_out Linear(d, E).
enum class EmbeddingProjection { kAfterNorm, kInOut };
// What each layer of the stack is. kTransformer: attention (and cross-attention) plus a feed-forward network, as
// arranged by norm_placement / parallel_residual. kMamba (Gu & Dao 2023): x + Mixer(RMSNorm(x)), where the mixer is
// in_proj -> causal depthwise conv -> SiLU -> selective scan -> gate by SiLU(z) -> out_proj; no attention, no FFN,
// no position table (runner/mamba.h).
enum class BlockKind { kTransformer, kMamba };
// How a transformer block's attention mixes positions. kSoftmax: softmax(q k^T / sqrt(d)) v (runner/attention.h).
// kLinear: causal linear attention (Katharopoulos et al. 2020), phi(x) = elu(x) + 1, a head_dim x head_dim
// prefix-sum state per head (runner/linear_attention.h): linear time in the length, constant state in decode.
enum class AttentionKind { kSoftmax, kLinear };

// The network itself: every field the runner needs to build it, and nothing about where it came from.
struct ModelArchitecture {
  ArchKind arch = ArchKind::kEncoder;
  BlockKind block = BlockKind::kTransformer;            // added: see the enum
  AttentionKind attention_kind = AttentionKind::kSoftmax;  // added: see the enum
  int layers = 0;          // encoder or decoder blocks (the stack that exists); encoder blocks of an encoder-decoder
  int decoder_layers = 0;  // encoder-decoder only: decoder blocks (self-attention, cross-attention, FFN)
  int hidden = 0;          // d_model
  int heads = 0;     // 0 only for a block without attention (mamba)
  int kv_heads = 0;  // 0 = heads (MHA); fewer = GQA/MQA
  int head_dim = 0;  // 0 = hidden / heads
  int ffn = 0;       // FFN inner width; 0 only for a block without an FFN (mamba)
  int vocab = 0;
  int embedding_size = 0;  // 0 = hidden; smaller = factorised embedding with a projection
  EmbeddingProjection embedding_projection = EmbeddingProjection::kAfterNorm;  // added: see the enum

  PositionScheme position = PositionScheme::kLearned;
  int position_rows = 0;          // rows of the learned position table
  int position_offset = 0;        // RoBERTa/OPT: positions start at this row
  int max_input_tokens = 0;       // longest accepted input; 0 = no table bound
  bool position_clamp = false;    // added: positions past the table's last row reuse it (ProphetNet), so a
                                  // learned table sets no hard limit (max_input_tokens 0)
  int trained_context = 0;        // added: pretraining sequence length where known (informational); 0 = unknown
  int type_vocab = 0;             // token-type rows; 0 = none
  int rotary_dims = 0;            // rotary: leading head dims rotated (GPT-J 64 of 256, Pythia 16 of 64); 0 = all
  double rotary_base = 10000;     // rotary: theta
  int relative_buckets = 0;       // relative_buckets (T5; ProphetNet's decoder): bias buckets; 0 = none
  int relative_max_distance = 0;  // relative_buckets: the distance where buckets stop growing
  bool relative_bias_projection = false;  // added, encoder-decoder only: the decoder self-attention's bucket
                                          // logits come from a per-layer Linear(d, buckets x heads) (ProphetNet)
                                          // rather than one buckets x heads table per stack (T5)
  bool scale_embedding = false;           // token embeddings times sqrt(hidden) (Pegasus, Blenderbot)

  NormType norm = NormType::kLayerNorm;
  double norm_eps = 1e-5;
  NormPlacement norm_placement = NormPlacement::kPre;
  bool embedding_norm = false;  // norm right after the embedding sum (BERT)
  bool final_norm = false;      // norm after the last block (GPT-2 ln_f)
  Activation activation = Activation::kGelu;
  bool bias = true;           // default of the three below, and of the norms' bias (LayerNorm only)
  bool qkv_bias = true;       // query/key/value projections (GPT-Neo, GPT-J: none)
  bool key_bias = true;       // added: key projection alone; default qkv_bias (DeBERTa: q and v biased, k not)
  bool attn_out_bias = true;  // attention output projection
  bool mlp_bias = true;       // FFN projections
  bool pooler = false;        // BERT-style tanh pooler over the first token
  // Generation's LM head (not part of the base model's count): the token embedding itself (GPT-2, OPT, T5), or a
  // separate [vocab, width] matrix (Llama, GPT-NeoX, Mistral), with a bias in GPT-J and Phi.
  bool tied_head = true;
  bool head_bias = false;

  bool parallel_residual = false;  // x + attn(norm1(x)) + mlp(norm2(x)) (GPT-J, GPT-NeoX, Phi, Falcon)
  bool shared_block_norm = false;  // one norm feeds both branches of a parallel block (GPT-J, Phi, Falcon)
  int shared_layer_groups = 0;     // ALBERT: layers cycle through this many parameter sets; 0 = none shared

  int attention_window = 0;  // sliding window in tokens a query sees (causal: itself and the previous ones;
                             // bidirectional: half on each side); 0 = full attention
  WindowLayers window_layers = WindowLayers::kAll;
  int global_tokens = 0;            // with a window: the first N tokens attend to and are seen by every token
                                    // (Longformer's global attention, BigBird's global blocks)
  bool global_projections = false;  // Longformer: separate q/k/v weights for global attention (3 d x d + bias)
  int conv_groups = 0;              // SqueezeBERT: q/k/v and FFN projections as grouped 1x1 convolutions; 0 = dense
  int relative_positions = 0;       // DeBERTa v1: disentangled attention over 2 x this many relative embeddings
  int ngram = 0;                    // ProphetNet: n-gram predict streams (their embedding rows; the main stream is run)

  // Dropout probabilities, in [0, 1): applied only by a train-mode forward (the training workload), never by
  // inference. The family's layout holds its HF config class's defaults (BERT and GPT-2 0.1/0.1, OPT and BART 0.1/0).
  double dropout = 0;            // hidden/residual: after the embedding sum, each attention output projection and
                                 // each FFN output (HF BERT hidden_dropout_prob, GPT-2 resid_pdrop)
  double attention_dropout = 0;  // on the attention probabilities (HF attention_probs_dropout_prob, attn_pdrop)

  // Mamba's selective state space (block mamba; all 0 otherwise), HF MambaConfig's keys in brackets.
  int ssm_state = 0;           // N, the state width per channel (state_size, d_state)
  int ssm_conv = 0;            // kernel of the causal depthwise conv1d (conv_kernel, d_conv)
  int ssm_expand = 0;          // d_inner = ssm_expand * hidden (expand)
  int ssm_dt_rank = 0;         // rank of the Delta projection (time_step_rank); 0 = ceil(hidden / 16), HF's "auto"
  bool ssm_conv_bias = true;   // the conv1d's bias (use_conv_bias); in_proj and out_proj take `bias` (use_bias)

  int EffectiveKvHeads() const { return kv_heads > 0 ? kv_heads : heads; }
  int EffectiveHeadDim() const { return head_dim > 0 ? head_dim : heads > 0 ? hidden / heads : 0; }
  int EffectiveEmbeddingSize() const { return embedding_size > 0 ? embedding_size : hidden; }
  int EffectiveRotaryDims() const { return rotary_dims > 0 ? rotary_dims : EffectiveHeadDim(); }
  bool causal() const { return arch == ArchKind::kDecoder; }
  bool mamba() const { return block == BlockKind::kMamba; }
  bool linear_attention() const { return block == BlockKind::kTransformer && attention_kind == AttentionKind::kLinear; }
  // A model whose work per token does not grow with the length (the linear-time side of a crossover).
  bool linear_time() const { return mamba() || linear_attention(); }
  int64_t SsmInner() const { return int64_t{ssm_expand} * hidden; }
  int EffectiveDtRank() const { return ssm_dt_rank > 0 ? ssm_dt_rank : (hidden + 15) / 16; }
  // Whether block `layer` (0-based) of a stack uses the sliding window.
  bool WindowedLayer(int layer) const {
    return attention_window > 0 && (window_layers == WindowLayers::kAll || layer % 2 == 1);
  }
};

// What the catalog says about a model besides its shape: its names, where its figures come from, and a
// user model's own files.
struct CatalogEntry {
  std::string id;                    // canonical id, e.g. "google-bert/bert-base-uncased"
  std::vector<std::string> aliases;  // other names users type, e.g. "bert-base-uncased"
  std::string category;              // the study's category, as catalog data
  std::string family;                // HF model_type, informational
  std::string approximation;         // how an exotic architecture is approximated; empty = built faithfully

  // A user model's own files, as absolute paths on the worker host (the runner reads them; the coordinator
  // never does). Both empty: the modules are built with seeded random weights, as for the catalog.
  std::string weights;      // a .safetensors file loaded into the built modules (tscale or Hugging Face names)
  std::string torchscript;  // a TorchScript module run instead of the built modules; the architecture's
                            // fields describe it for the context check and listings (no FLOPs are claimed)

  double published_params_m = 0;  // the study's base-model count in millions (rounded to 0.1 M)
  int64_t reference_params = 0;   // exact count from the architecture facts file, when known
  std::string params_note;        // added: why published_params_m is absent (0) or differs by more than 0.5 %
  std::string notes;
};

// A catalog model: its architecture and its catalog entry. Parsed and written as one flat JSON object
// (docs/model-config.md), both halves from one field table (common/model_config_json.cc).
struct ModelConfig : ModelArchitecture, CatalogEntry {};

// Checks ranges and combinations; the message names the field ("heads: must divide hidden (768)").
Status Validate(const ModelConfig& config);
// Checks every integer field against its range in the field table ("layers: must be in 1..1024 (got 0)").
Status CheckFieldRanges(const ModelConfig& config);

// Parses a tscale JSON model config (the catalog format, documented in docs/model-config.md). Relative
// `weights` and `torchscript` paths are resolved against `base_dir` (the directory of the config file); with
// no base_dir they must be absolute.
StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text, const std::string& base_dir = "");
std::string ModelConfigToJson(const ModelConfig& config);

// The base-model parameter count implied by the architecture (no LM head), computed from shapes.
int64_t AnalyticParameterCount(const ModelConfig& config);

// Analytic floating-point operations of one forward pass: 2 per multiply-add of every matrix product
// (projections, FFN, pooler, attention scores and weighted values). Norms, softmax and activations are
// not counted. Full-attention layers count the whole seq_len x seq_len score matrix (eager computes it, causal
// or not); sliding-window layers count only the visible query/key pairs (window plus global tokens). An
// encoder-decoder runs its decoder on decoder_len tokens (0 = seq_len): self-attention, cross-attention of
// decoder_len queries over seq_len encoder positions, FFN. GQA/MQA shrink the key/value projections, not the
// attention products.
double ForwardFlops(const ModelConfig& config, int batch, int seq_len, int decoder_len = 0);
// The part of ForwardFlops in the attention products themselves (QK^T and AV, self and cross): the part that
// grows with the square of the length.
double AttentionProductFlops(const ModelConfig& config, int batch, int seq_len, int decoder_len = 0);

// Generation with a KV cache (the decode workload; docs/measurement.md, "Decode").
// The LM head's parameters beyond the base model: 0 when tied to the token embedding (a tied head over a
// factorised embedding, ALBERT's, has its hidden -> embedding_size projection with a bias).
int64_t HeadParameterCount(const ModelConfig& config);
// Bytes of a KV cache for `tokens` positions of `batch` sequences at `element_bytes` per value: 2 (keys and
// values) x layers x kv_heads x head_dim x element_bytes x tokens x batch, a sliding-window layer holding at most
// its window. Encoder-decoders cache their decoder's self-attention over `tokens` and, once, every decoder layer's
// cross-attention keys and values over the `encoder_tokens` encoder positions.
int64_t KvCacheBytes(const ModelConfig& config, int batch, int64_t tokens, int element_bytes,
                     int64_t encoder_tokens = 0);
// FLOPs of one decode step: one new token per sequence attending to `keys` positions (itself included; a window
// caps it), through the decoder's blocks and the LM head. Encoder-decoders cross-attend to `encoder_tokens`.
double DecodeStepFlops(const ModelConfig& config, int batch, int64_t keys, int64_t encoder_tokens = 0);
// The least memory traffic of that step: every weight it uses (the decoder's blocks, final norm and the LM head
// matrix, read once for the whole batch) plus the cached keys and values it attends to, at `element_bytes`.
double DecodeStepBytes(const ModelConfig& config, int batch, int64_t keys, int element_bytes,
                       int64_t encoder_tokens = 0);

// OK when a sequence of seq_len tokens fits the model's position limit (or extend_context lifts it);
// otherwise OUT_OF_RANGE with the limit in the message.
Status CheckContext(const ModelConfig& config, int seq_len, bool extend_context);

const char* ArchKindName(ArchKind kind);

}  // namespace tscale
