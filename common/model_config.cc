#include "common/model_config.h"

#include <algorithm>
#include <utility>

#include "common/linear_time.h"
#include "common/parameter_counts.h"

namespace tscale {
namespace {

using internal::LinearParams;
using internal::NormParams;

int64_t QWidth(const ModelConfig& c) {
  return int64_t{c.heads} * c.EffectiveHeadDim();
}
int64_t KvWidth(const ModelConfig& c) {
  return int64_t{c.EffectiveKvHeads()} * c.EffectiveHeadDim();
}
int64_t Groups(const ModelConfig& c) {
  return c.conv_groups > 0 ? c.conv_groups : 1;
}

// q, k, v and output projections, with what each family adds to self-attention (DeBERTa's position
// projections, Longformer's global q/k/v, ProphetNet's relative-bucket projection in the decoder).
int64_t SelfAttentionParams(const ModelConfig& c, bool decoder) {
  const int64_t d = c.hidden, q = QWidth(c), kv = KvWidth(c), g = Groups(c);
  int64_t n = LinearParams(d, q, c.qkv_bias, g) + LinearParams(d, kv, c.key_bias, g) +
              LinearParams(d, kv, c.qkv_bias, g) + LinearParams(q, d, c.attn_out_bias);
  if (c.relative_positions > 0) n += LinearParams(d, q, false) + LinearParams(d, q, true);  // pos_proj, pos_q_proj
  if (c.global_projections) n += LinearParams(d, q, c.qkv_bias) + 2 * LinearParams(d, kv, c.qkv_bias);
  if (decoder && c.relative_bias_projection) n += LinearParams(d, int64_t{c.relative_buckets} * c.heads, true);
  return n;
}

int64_t CrossAttentionParams(const ModelConfig& c) {
  const int64_t d = c.hidden, q = QWidth(c), kv = KvWidth(c);
  return LinearParams(d, q, c.qkv_bias) + LinearParams(d, kv, c.key_bias) + LinearParams(d, kv, c.qkv_bias) +
         LinearParams(q, d, c.attn_out_bias);
}

int64_t MlpParams(const ModelConfig& c) {
  const int64_t d = c.hidden, f = c.ffn, g = Groups(c);
  int64_t n = LinearParams(d, f, c.mlp_bias, g) + LinearParams(f, d, c.mlp_bias, g);
  if (c.activation == Activation::kSiluGated) n += LinearParams(d, f, c.mlp_bias);
  return n;
}

// One block of the encoder (or of a decoder-only model): attention, FFN and its norms.
int64_t BlockParams(const ModelConfig& c) {
  const int norms = c.shared_block_norm ? 1 : 2;
  return SelfAttentionParams(c, /*decoder=*/false) + MlpParams(c) + norms * NormParams(c, c.hidden);
}

// One decoder block of an encoder-decoder: causal self-attention, cross-attention, FFN, three norms.
int64_t DecoderBlockParams(const ModelConfig& c) {
  return SelfAttentionParams(c, /*decoder=*/true) + CrossAttentionParams(c) + MlpParams(c) +
         3 * NormParams(c, c.hidden);
}

// What each stack (encoder, decoder) owns besides its blocks: position table, embedding norm, relative
// bias table and final norm. The token embedding is shared and counted by the caller.
int64_t StackExtrasParams(const ModelConfig& c) {
  const int64_t e = c.EffectiveEmbeddingSize();
  const int64_t position_width = c.embedding_projection == EmbeddingProjection::kInOut ? c.hidden : e;
  int64_t n = int64_t{c.position_rows} * position_width;  // learned, or a fixed table stored as a parameter
  if (c.embedding_norm) n += NormParams(c, e);
  if (c.position == PositionScheme::kRelativeBuckets) n += int64_t{c.relative_buckets} * c.heads;
  if (c.final_norm) n += NormParams(c, c.hidden);
  return n;
}

int64_t EmbeddingProjectionParams(const ModelConfig& c) {
  const int64_t e = c.EffectiveEmbeddingSize(), d = c.hidden;
  if (e == d) return 0;
  if (c.embedding_projection == EmbeddingProjection::kInOut) return 2 * LinearParams(e, d, false);
  return LinearParams(e, d, c.bias);
}

// Query/key pairs one attention layer evaluates for seq_len tokens: the whole square for full attention;
// with a window, the pairs inside it plus the rows and columns of the global tokens.
double AttentionPairs(const ModelConfig& c, int layer, bool causal, double t) {
  if (!c.WindowedLayer(layer)) return t * t;
  const double g = std::min<double>(c.global_tokens, t), rest = t - g;
  double windowed;
  if (causal) {  // query i sees min(i + 1, w) keys
    const double w = std::min<double>(c.attention_window, rest);
    windowed = w * (w + 1) / 2 + (rest - w) * w;
  } else {  // |i - j| <= w / 2
    const double h = std::min<double>(c.attention_window / 2, rest > 0 ? rest - 1 : 0);
    windowed = rest + 2 * (h * rest - h * (h + 1) / 2);
  }
  return g * t + rest * g + windowed;
}

// Multiply-adds per token of one block's projections and FFN (attention products excluded).
double BlockWeightMacs(const ModelConfig& c) {
  const double d = c.hidden, q = QWidth(c), kv = KvWidth(c), f = c.ffn, g = Groups(c);
  const double mlp_matrices = c.activation == Activation::kSiluGated ? 3 : 2;
  return (d * q + 2 * d * kv) / g + q * d + mlp_matrices * d * f / g;
}

// FLOPs of one stack of `layers` blocks over `t` tokens per sequence. Counts what the runner computes: the
// approximations stated in the catalog (DeBERTa's c2p/p2c gathers, ProphetNet's per-token bucket projection)
// are not counted; Longformer's global projections run on the global tokens only.
// `memory` > 0: the stack cross-attends to that many encoder positions (queries t, keys and values memory).
double StackFlops(const ModelConfig& c, int layers, bool causal, double memory, double batch, double t) {
  const double d = c.hidden, q = QWidth(c), kv = KvWidth(c);
  double flops = 0;
  for (int layer = 0; layer < layers; ++layer) {
    flops += 2 * batch * t * BlockWeightMacs(c);
    // QK^T and AV; linear attention's chunked mixing instead (common/linear_time.h).
    flops += c.linear_attention() ? LinearAttentionMixFlops(c, batch, t)
                                  : 4 * batch * AttentionPairs(c, layer, causal, t) * q;
    if (memory > 0) flops += 2 * batch * (2 * t * d * q + 2 * memory * d * kv) + 4 * batch * t * memory * q;
    if (c.global_projections) flops += 2 * batch * std::min<double>(c.global_tokens, t) * (d * q + 2 * d * kv);
    if (c.relative_positions > 0) flops += 2 * (2.0 * c.relative_positions) * d * 2 * q;  // pos_proj, pos_q_proj
  }
  return flops;
}

Status Bad(const std::string& field, const std::string& why) {
  return Status::InvalidArgument(field + ": " + why);
}

Status ValidateShape(const ModelConfig& c) {
  if (c.id.empty()) return Bad("id", "must not be empty");
  const bool seq2seq = c.arch == ArchKind::kEncoderDecoder;
  if (seq2seq && (c.decoder_layers <= 0 || c.decoder_layers > 1024))
    return Bad("decoder_layers", "must be at least 1 for an encoder-decoder");
  if (!seq2seq && c.decoder_layers != 0) return Bad("decoder_layers", "only an encoder-decoder has decoder layers");
  if (c.mamba()) return Status::Ok();  // no heads, FFN or the transformer's sharing: ValidateBlock covers it
  if (c.heads <= 0 || c.heads > c.hidden) return Bad("heads", "must be in 1..hidden");
  if (c.ffn <= 0) return Bad("ffn", "must be at least 1 in a transformer block");
  if (c.head_dim == 0 && c.hidden % c.heads != 0)
    return Bad("heads", "must divide hidden (" + std::to_string(c.hidden) + ") when head_dim is not set");
  if (c.kv_heads < 0 || c.kv_heads > c.heads) return Bad("kv_heads", "must be in 0..heads");
  if (c.kv_heads > 0 && c.heads % c.kv_heads != 0) return Bad("kv_heads", "must divide heads");
  if (c.embedding_size < 0 || c.embedding_size > c.hidden) return Bad("embedding_size", "must be in 0..hidden");
  if (seq2seq && c.EffectiveEmbeddingSize() != c.hidden)
    return Bad("embedding_size", "a factorised embedding is not supported in an encoder-decoder");
  if (c.shared_layer_groups < 0 || c.shared_layer_groups > c.layers ||
      (c.shared_layer_groups > 0 && c.layers % c.shared_layer_groups != 0))
    return Bad("shared_layer_groups", "must be 0 or divide layers (" + std::to_string(c.layers) + ")");
  if (seq2seq && c.shared_layer_groups > 0) return Bad("shared_layer_groups", "not supported in an encoder-decoder");
  if (c.conv_groups > 0 && (c.hidden % c.conv_groups != 0 || c.ffn % c.conv_groups != 0 ||
                            (int64_t{c.heads} * c.EffectiveHeadDim()) % c.conv_groups != 0 ||
                            (int64_t{c.EffectiveKvHeads()} * c.EffectiveHeadDim()) % c.conv_groups != 0))
    return Bad("conv_groups", "must divide hidden, ffn and the attention widths");
  if (c.conv_groups > 0 && c.activation == Activation::kSiluGated)
    return Bad("conv_groups", "grouped projections are not supported with silu_gated");
  if (c.ngram > 0 && !seq2seq) return Bad("ngram", "n-gram streams need an encoder-decoder");
  return Status::Ok();
}

// What the block kind and attention kind require (model_config.h, BlockKind and AttentionKind).
Status ValidateBlock(const ModelConfig& c) {
  if (!c.mamba()) {
    for (auto [field, value] : {std::pair{"ssm_state", c.ssm_state},
                                {"ssm_conv", c.ssm_conv},
                                {"ssm_expand", c.ssm_expand},
                                {"ssm_dt_rank", c.ssm_dt_rank}})
      if (value != 0) return Bad(field, "belongs to block mamba: 0 in a transformer");
    if (c.linear_attention()) {
      if (c.arch != ArchKind::kDecoder)
        return Bad("attention_kind", "linear attention is causal: arch must be decoder");
      if (c.attention_window > 0) return Bad("attention_kind", "linear attention has no sliding window");
      if (c.position == PositionScheme::kAlibi || c.position == PositionScheme::kRelativeBuckets ||
          c.relative_positions > 0)
        return Bad("attention_kind",
                   "linear attention cannot add a score bias (alibi, relative_buckets, relative_positions)");
      if (c.kv_heads != 0 && c.kv_heads != c.heads)
        return Bad("kv_heads", "linear attention needs one key head per query head");
      if (c.attention_dropout != 0)
        return Bad("attention_dropout", "linear attention has no attention probabilities to drop: must be 0");
    }
    return Status::Ok();
  }
  if (c.arch != ArchKind::kDecoder) return Bad("block", "mamba is a causal language model: arch must be decoder");
  if (c.attention_kind != AttentionKind::kSoftmax) return Bad("attention_kind", "a mamba block has no attention");
  for (auto [field, value] : {std::pair{"heads", c.heads}, {"kv_heads", c.kv_heads}, {"head_dim", c.head_dim}})
    if (value != 0) return Bad(field, "a mamba block has no attention heads: 0");
  if (c.ffn != 0) return Bad("ffn", "a mamba block has no feed-forward network: 0");
  if (c.ssm_state < 1) return Bad("ssm_state", "block mamba needs a state width of at least 1");
  if (c.ssm_conv < 1) return Bad("ssm_conv", "block mamba needs a conv kernel of at least 1");
  if (c.ssm_expand < 1) return Bad("ssm_expand", "block mamba needs an expansion of at least 1");
  if (c.attention_dropout != 0) return Bad("attention_dropout", "a mamba block has no attention probabilities: 0");
  if (c.dropout != 0) return Bad("dropout", "a mamba model has no dropout (HF MambaConfig has none): 0");
  if (c.position != PositionScheme::kNone) return Bad("position", "a mamba model has no positions: none");
  if (c.norm_placement != NormPlacement::kPre) return Bad("norm_placement", "a mamba block is pre-norm");
  for (auto [field, set] : {std::pair{"embedding_size", c.embedding_size != 0},
                            {"type_vocab", c.type_vocab != 0},
                            {"embedding_norm", c.embedding_norm},
                            {"pooler", c.pooler},
                            {"shared_layer_groups", c.shared_layer_groups != 0},
                            {"parallel_residual", c.parallel_residual},
                            {"conv_groups", c.conv_groups != 0},
                            {"attention_window", c.attention_window != 0},
                            {"relative_positions", c.relative_positions != 0},
                            {"ngram", c.ngram != 0},
                            {"scale_embedding", c.scale_embedding}})
    if (set) return Bad(field, "a transformer option; block mamba does not take it");
  return Status::Ok();
}

Status ValidatePositions(const ModelConfig& c) {
  if (c.position == PositionScheme::kLearned && c.position_rows <= 0)
    return Bad("position_rows", "a learned position table needs at least one row");
  if (c.position != PositionScheme::kLearned && c.position != PositionScheme::kSinusoidal && c.position_rows > 0)
    return Bad("position_rows", "only learned or sinusoidal positions have a table");
  if (c.position_offset < 0 || (c.position_rows > 0 && c.position_offset >= c.position_rows) ||
      (c.position_rows == 0 && c.position_offset != 0))
    return Bad("position_offset", "must be in 0..position_rows-1");
  if (c.position_rows > 0 && c.max_input_tokens > c.position_rows - c.position_offset)
    return Bad("max_input_tokens", "exceeds the usable rows of the position table");
  if (c.position_clamp && c.position_rows == 0) return Bad("position_clamp", "needs a position table");
  if (c.position == PositionScheme::kLearned && c.max_input_tokens == 0 && !c.position_clamp)
    return Bad("max_input_tokens", "0 (no bound) with a learned table needs position_clamp");
  if (c.rotary_dims < 0 || c.rotary_dims > c.EffectiveHeadDim() || c.rotary_dims % 2 != 0)
    return Bad("rotary_dims", "must be even and in 0..head_dim (" + std::to_string(c.EffectiveHeadDim()) + ")");
  if (c.rotary_dims > 0 && c.position != PositionScheme::kRotary) return Bad("rotary_dims", "needs position rotary");
  if (!(c.rotary_base > 1 && c.rotary_base < 1e12)) return Bad("rotary_base", "must be in (1, 1e12)");
  if (c.relative_bias_projection && c.arch != ArchKind::kEncoderDecoder)
    return Bad("relative_bias_projection", "belongs to the decoder of an encoder-decoder");
  const bool buckets = c.position == PositionScheme::kRelativeBuckets || c.relative_bias_projection;
  if (buckets && (c.relative_buckets < 2 || c.relative_max_distance <= 0))
    return Bad("relative_buckets", "relative buckets need relative_buckets >= 2 and relative_max_distance > 0");
  if (!buckets && c.relative_buckets > 0)
    return Bad("relative_buckets", "needs position relative_buckets or relative_bias_projection");
  return Status::Ok();
}

Status ValidateAttentionPattern(const ModelConfig& c) {
  if (c.window_layers != WindowLayers::kAll && c.attention_window == 0)
    return Bad("window_layers", "needs attention_window > 0");
  if (c.global_tokens > 0 && c.attention_window == 0) return Bad("global_tokens", "needs attention_window > 0");
  if (c.global_projections && c.attention_window == 0) return Bad("global_projections", "needs attention_window > 0");
  if (c.head_bias && c.tied_head) return Bad("head_bias", "needs a separate head (tied_head false)");
  if ((c.global_tokens > 0 || c.global_projections) && c.causal())
    return Bad("global_tokens", "global attention is for encoders only");
  if (c.shared_block_norm && !c.parallel_residual) return Bad("shared_block_norm", "needs parallel_residual");
  return Status::Ok();
}

// The path travels to a worker and is opened there by the runner: it must not depend on anyone's working
// directory, and must be a plain path.
Status ValidateModelFile(const char* field, const std::string& path) {
  if (path.empty()) return Status::Ok();
  if (path.size() > 4096) return Bad(field, "path is longer than 4096 bytes");
  if (path[0] != '/')
    return Bad(field, "\"" + path +
                          "\" must be an absolute path (a catalog file's relative paths are resolved "
                          "against its directory)");
  if (path.find('\0') != std::string::npos) return Bad(field, "path contains a NUL byte");
  return Status::Ok();
}

}  // namespace

Status Validate(const ModelConfig& c) {
  // Single-field ranges live in the field table; what follows are the rules between fields.
  TSCALE_RETURN_IF_ERROR(CheckFieldRanges(c));
  TSCALE_RETURN_IF_ERROR(ValidateBlock(c));
  TSCALE_RETURN_IF_ERROR(ValidateShape(c));
  TSCALE_RETURN_IF_ERROR(ValidatePositions(c));
  TSCALE_RETURN_IF_ERROR(ValidateAttentionPattern(c));
  if (!(c.norm_eps > 0 && c.norm_eps < 1)) return Bad("norm_eps", "must be in (0, 1)");
  if (!(c.dropout >= 0 && c.dropout < 1)) return Bad("dropout", "must be in [0, 1)");
  if (!(c.attention_dropout >= 0 && c.attention_dropout < 1)) return Bad("attention_dropout", "must be in [0, 1)");
  if (c.published_params_m < 0) return Bad("published_params_m", "must not be negative");
  TSCALE_RETURN_IF_ERROR(ValidateModelFile("weights", c.weights));
  TSCALE_RETURN_IF_ERROR(ValidateModelFile("torchscript", c.torchscript));
  if (!c.weights.empty() && !c.torchscript.empty())
    return Bad("weights", "a TorchScript module carries its own weights; give weights or torchscript, not both");
  return Status::Ok();
}

int64_t AnalyticParameterCount(const ModelConfig& c) {
  // Mamba: the token embedding, the blocks and the final norm; no positions (common/linear_time.h).
  if (c.mamba())
    return int64_t{c.vocab} * c.hidden + c.layers * MambaLayerParams(c) + (c.final_norm ? NormParams(c, c.hidden) : 0);
  const bool seq2seq = c.arch == ArchKind::kEncoderDecoder;
  const int parameter_sets = c.shared_layer_groups > 0 ? c.shared_layer_groups : c.layers;
  int64_t total = int64_t{c.vocab} * c.EffectiveEmbeddingSize();  // shared by encoder and decoder
  total += int64_t{c.type_vocab} * c.EffectiveEmbeddingSize();
  total += EmbeddingProjectionParams(c);
  total += StackExtrasParams(c) + parameter_sets * BlockParams(c);
  if (seq2seq) total += StackExtrasParams(c) + c.decoder_layers * DecoderBlockParams(c);
  total += int64_t{c.ngram} * c.hidden;                   // ProphetNet n-gram stream embeddings
  total += 2 * int64_t{c.relative_positions} * c.hidden;  // DeBERTa relative embeddings
  if (c.pooler) total += LinearParams(c.hidden, c.hidden, true);
  return total;
}

double ForwardFlops(const ModelConfig& c, int batch, int seq_len, int decoder_len) {
  const double b = batch, t = seq_len, d = c.hidden, e = c.EffectiveEmbeddingSize();
  if (c.mamba()) return b * t * c.layers * MambaLayerFlopsPerToken(c);
  const bool seq2seq = c.arch == ArchKind::kEncoderDecoder;
  double flops = StackFlops(c, c.layers, c.causal(), /*memory=*/0, b, t);
  if (seq2seq)
    flops += StackFlops(c, c.decoder_layers, /*causal=*/true, /*memory=*/t, b, decoder_len > 0 ? decoder_len : t);
  if (e != d) {
    const double projections = c.embedding_projection == EmbeddingProjection::kInOut ? 2 : 1;
    flops += 2 * b * t * e * d * projections;
  }
  if (c.pooler) flops += 2 * b * d * d;
  return flops;
}

double AttentionProductFlops(const ModelConfig& c, int batch, int seq_len, int decoder_len) {
  const double b = batch, t = seq_len, q = QWidth(c);
  if (c.mamba()) return 0;  // no attention: the scan is linear in the length
  if (c.linear_attention()) return c.layers * LinearAttentionMixFlops(c, b, t);
  double flops = 0;
  for (int layer = 0; layer < c.layers; ++layer) flops += 4 * b * AttentionPairs(c, layer, c.causal(), t) * q;
  if (c.arch == ArchKind::kEncoderDecoder) {
    const double t_dec = decoder_len > 0 ? decoder_len : t;
    for (int layer = 0; layer < c.decoder_layers; ++layer)
      flops += 4 * b * (AttentionPairs(c, layer, /*causal=*/true, t_dec) + t_dec * t) * q;
  }
  return flops;
}

namespace {

// The width of the decoder's output, which the LM head maps to the vocabulary: OPT-350m projects back to E.
int64_t HeadWidth(const ModelConfig& c) {
  const bool in_out = c.EffectiveEmbeddingSize() != c.hidden && c.embedding_projection == EmbeddingProjection::kInOut;
  return in_out ? c.EffectiveEmbeddingSize() : c.hidden;
}

// The decoder stack a generation runs: its layer count and whether its blocks cross-attend.
int DecoderLayers(const ModelConfig& c) {
  return c.arch == ArchKind::kEncoderDecoder ? c.decoder_layers : c.layers;
}

// Keys one new token attends to in `layer`: all `keys`, or the window's worth on a sliding-window layer.
double KeysSeen(const ModelConfig& c, int layer, int64_t keys) {
  return c.WindowedLayer(layer) ? std::min<double>(c.attention_window, static_cast<double>(keys))
                                : static_cast<double>(keys);
}

}  // namespace

int64_t HeadParameterCount(const ModelConfig& c) {
  // A tied head over a factorised embedding (ALBERT) first maps the hidden state down to the embedding width.
  if (c.tied_head)
    return HeadWidth(c) != c.EffectiveEmbeddingSize() ? LinearParams(HeadWidth(c), c.EffectiveEmbeddingSize(), true)
                                                      : 0;
  return LinearParams(HeadWidth(c), c.vocab, c.head_bias);
}

int64_t KvCacheBytes(const ModelConfig& c, int batch, int64_t tokens, int element_bytes, int64_t encoder_tokens) {
  // The linear-time families keep a recurrent state instead, the same size at every depth.
  if (c.mamba()) return MambaStateBytes(c, batch, element_bytes);
  if (c.linear_attention()) return LinearAttentionStateBytes(c, batch);
  const int64_t per_position = 2 * KvWidth(c) * element_bytes * batch;  // keys and values, every head
  int64_t total = 0;
  for (int layer = 0; layer < DecoderLayers(c); ++layer)
    total += per_position * static_cast<int64_t>(KeysSeen(c, layer, tokens));
  if (c.arch == ArchKind::kEncoderDecoder) total += per_position * c.decoder_layers * encoder_tokens;
  return total;
}

double DecodeStepFlops(const ModelConfig& c, int batch, int64_t keys, int64_t encoder_tokens) {
  const double b = batch, d = c.hidden, q = QWidth(c), e = c.EffectiveEmbeddingSize();
  const double head = 2 * b * static_cast<double>(HeadWidth(c)) * c.vocab;  // the LM head over the whole vocabulary
  if (c.mamba()) return b * c.layers * MambaLayerFlopsPerToken(c) + head;
  double flops = 0;
  for (int layer = 0; layer < DecoderLayers(c); ++layer) {
    flops += 2 * b * BlockWeightMacs(c);
    flops += c.linear_attention() ? LinearAttentionStepMixFlops(c, b) : 4 * b * KeysSeen(c, layer, keys) * q;
    // Cross-attention: the new token's query and output projections; the encoder's keys and values are cached.
    if (c.arch == ArchKind::kEncoderDecoder) flops += 2 * b * 2 * d * q + 4 * b * encoder_tokens * q;
  }
  if (e != d) flops += 2 * b * e * d * (c.embedding_projection == EmbeddingProjection::kInOut ? 2 : 1);
  return flops + head;
}

double DecodeStepBytes(const ModelConfig& c, int batch, int64_t keys, int element_bytes, int64_t encoder_tokens) {
  const bool seq2seq = c.arch == ArchKind::kEncoderDecoder;
  const int parameter_sets = c.shared_layer_groups > 0 ? c.shared_layer_groups : DecoderLayers(c);
  // An encoder-decoder's step never reads its cross-attention key and value projections: their output is cached.
  const double cross_kv = static_cast<double>(LinearParams(c.hidden, KvWidth(c), c.key_bias) +
                                              LinearParams(c.hidden, KvWidth(c), c.qkv_bias));
  double weights = c.mamba() ? c.layers * static_cast<double>(MambaLayerParams(c))
                   : seq2seq ? c.decoder_layers * (static_cast<double>(DecoderBlockParams(c)) - cross_kv)
                             : parameter_sets * static_cast<double>(BlockParams(c));
  if (c.final_norm) weights += static_cast<double>(NormParams(c, c.hidden));
  weights += static_cast<double>(EmbeddingProjectionParams(c));
  // The head reads the whole [vocab, width] matrix: the token embedding when tied, its own otherwise.
  weights += c.tied_head ? static_cast<double>(c.vocab) * HeadWidth(c) : static_cast<double>(HeadParameterCount(c));
  const double cache = static_cast<double>(KvCacheBytes(c, batch, keys, element_bytes, encoder_tokens));
  // A KV cache is read (the one new position's write is negligible); a recurrent state is read and rewritten whole.
  return weights * element_bytes + (c.linear_time() ? 2 * cache : cache);
}

Status CheckContext(const ModelConfig& c, int seq_len, bool extend_context) {
  if (seq_len <= 0) return Status::InvalidArgument("seq_len: must be positive");
  if (extend_context || c.max_input_tokens == 0 || seq_len <= c.max_input_tokens) return Status::Ok();
  return Status::OutOfRange("sequence length " + std::to_string(seq_len) + " exceeds " + c.id +
                            "'s position limit of " + std::to_string(c.max_input_tokens) + " tokens");
}

}  // namespace tscale
