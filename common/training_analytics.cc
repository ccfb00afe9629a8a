#include "common/training_analytics.h"

#include <algorithm>

namespace tscale {
namespace {

double QWidth(const ModelConfig& c) {
  return static_cast<double>(c.heads) * c.EffectiveHeadDim();
}
double KvWidth(const ModelConfig& c) {
  return static_cast<double>(c.EffectiveKvHeads()) * c.EffectiveHeadDim();
}
int64_t DecoderTokens(const ModelConfig& c, const TrainShape& s) {  // the positions the last stack runs
  if (c.arch != ArchKind::kEncoderDecoder) return s.seq_len;
  return s.decoder_len > 0 ? s.decoder_len : s.seq_len;
}
// The width the LM head reads (OPT-350m projects back to the embedding width first).
double HeadWidth(const ModelConfig& c) {
  const bool in_out = c.EffectiveEmbeddingSize() != c.hidden && c.embedding_projection == EmbeddingProjection::kInOut;
  return in_out ? c.EffectiveEmbeddingSize() : c.hidden;
}

// Bytes per element: the products' operands and outputs (bf16 under autocast), and what stays fp32 under
// autocast (the residual stream the norms read, the softmax, which tscale computes in fp32).
struct Widths {
  double product, fp32 = 4;
};

// What one block keeps for backward over `t` query tokens per sequence (per batch row): `pairs` query/key pairs
// of its self-attention, `memory` encoder positions it cross-attends to (0 = none).
double BlockBytes(const ModelConfig& c, const TrainShape& s, const Widths& w, double t, double pairs, double memory) {
  const double h = c.hidden, q = QWidth(c), kv = KvWidth(c), f = c.ffn, heads = c.heads;
  const double mask_width = s.dtype_wide_dropout_masks ? w.product : 1;
  const double mask = c.dropout > 0 ? mask_width : 0;  // a dropout mask per dropped element
  const bool shared_norm = c.parallel_residual && c.shared_block_norm;
  // Self-attention: the norm's input, the projections' input, Q and K (for QK^T), V, the output projection's input.
  double per_token = w.fp32 * h + w.product * (h + q + 2 * kv + q) + mask * h;
  // The FFN: its norm's input, up's input, the activation's input and output (SwiGLU: gate, SiLU, up, product).
  const double activation_tensors = c.activation == Activation::kSiluGated ? 4
                                    : c.activation == Activation::kRelu    ? 1
                                                                           : 2;
  per_token += (shared_norm ? 0 : w.fp32 * h) + w.product * (h + activation_tensors * f) + mask * h;
  double per_pair = 0;
  if (s.eager_attention) {
    per_pair = w.fp32 * heads;  // the softmax output
    if (c.attention_dropout > 0) {
      per_pair += (mask_width + w.product) * heads;  // the mask and the dropped probabilities AV reads
    } else if (w.product != w.fp32) {
      per_pair += w.product * heads;  // the probabilities' cast AV reads
    }
  } else {
    per_token += w.fp32 * heads;  // fused: the logsumexp of each query row
  }
  double bytes = t * per_token + pairs * per_pair;
  if (memory > 0) {  // cross-attention: its norm, Q's input, Q, the output projection's input; K and V of memory
    bytes += t * (w.fp32 * h + w.product * (h + 2 * q) + mask * h) + memory * w.product * 2 * kv;
    bytes += t * memory * (s.eager_attention ? per_pair : 0);
  }
  return bytes * s.batch;
}

// One stack's blocks: all they keep without checkpointing, one block's worth, and their inputs.
struct StackBytes {
  double all = 0, largest = 0, inputs = 0;
};
StackBytes Stack(const ModelConfig& c, const TrainShape& s, const Widths& w, int layers, double t, double memory) {
  StackBytes out;
  // Eager materialises the whole t x t score matrix on every layer (a window is a mask over it).
  const double block = BlockBytes(c, s, w, t, t * t, memory);
  out.all = block * layers;
  out.largest = layers > 0 ? block : 0;
  out.inputs = w.fp32 * c.hidden * t * s.batch * layers;  // checkpointing keeps each block's input
  return out;
}

}  // namespace

int64_t TrainOutputTokens(const ModelConfig& c, const TrainShape& s) {
  if (c.arch == ArchKind::kDecoder) return s.seq_len > 1 ? s.seq_len - 1 : 0;  // next-token: no target for the last
  return DecoderTokens(c, s);
}

double TrainForwardFlops(const ModelConfig& c, const TrainShape& s) {
  // The head's product, through ALBERT's projection to the embedding width when a tied head needs one.
  const double e = c.EffectiveEmbeddingSize();
  const double per_token = c.tied_head && HeadWidth(c) != e ? HeadWidth(c) * e + e * c.vocab : HeadWidth(c) * c.vocab;
  const double head = 2.0 * s.batch * static_cast<double>(TrainOutputTokens(c, s)) * per_token;
  return ForwardFlops(c, s.batch, s.seq_len, s.decoder_len) + head;
}

double TrainStepFlops(const ModelConfig& c, const TrainShape& s) {
  const double rerun = s.checkpointing ? ForwardFlops(c, s.batch, s.seq_len, s.decoder_len) : 0;
  return 3.0 * TrainForwardFlops(c, s) + rerun;
}

double TorchtitanStepFlops(const ModelConfig& c, const TrainShape& s) {
  const double embeddings =
      static_cast<double>(c.vocab) * c.EffectiveEmbeddingSize() +
      (c.position == PositionScheme::kLearned ? static_cast<double>(c.position_rows) * c.hidden : 0);
  const double n = static_cast<double>(AnalyticParameterCount(c)) - embeddings + HeadWidth(c) * c.vocab;
  const double layers = c.layers + (c.arch == ArchKind::kEncoderDecoder ? c.decoder_layers : 0);
  const double tokens = static_cast<double>(s.batch) * s.seq_len;
  // A Mamba block has no attention: QWidth is 0 (heads 0), so the estimate is torchtitan's 6 N alone. Linear
  // attention keeps torchtitan's softmax term: this is their estimate, not tscale's count.
  return (6 * n + 12 * layers * QWidth(c) * s.seq_len) * tokens;
}

double AttentionFlopsShare(const ModelConfig& c, const TrainShape& s) {
  const double forward = TrainForwardFlops(c, s);
  return forward > 0 ? AttentionProductFlops(c, s.batch, s.seq_len, s.decoder_len) / forward : 0;
}

int64_t TrainableParameterCount(const ModelConfig& c) {
  return AnalyticParameterCount(c) + HeadParameterCount(c);
}

double AnalyticActivationBytes(const ModelConfig& c, const TrainShape& s) {
  // The per-block count below is the transformer's (attention and FFN tensors); what a Mamba scan or a chunked
  // linear attention keeps for backward depends on the runner's kernels, so it is unknown (0) rather than wrong.
  if (c.linear_time()) return 0;
  const Widths w{s.mixed_precision ? 2.0 : 4.0};
  const double t = s.seq_len, e = c.EffectiveEmbeddingSize();
  const double mask = c.dropout > 0 ? (s.dtype_wide_dropout_masks ? w.fp32 : 1) : 0;  // on the fp32 embedding sum
  const bool seq2seq = c.arch == ArchKind::kEncoderDecoder;
  const double t_dec = static_cast<double>(DecoderTokens(c, s));
  StackBytes encoder = Stack(c, s, w, c.layers, t, 0);
  StackBytes decoder = seq2seq ? Stack(c, s, w, c.decoder_layers, t_dec, t) : StackBytes{};
  // Per stack: the embedding sum's norm input and dropout mask, the factorised projection's input, the final norm.
  auto outside = [&](double tokens) {
    double per_token = mask * c.hidden + (c.embedding_norm ? w.fp32 * e : 0) + (e != c.hidden ? w.product * e : 0) +
                       (c.final_norm ? w.fp32 * c.hidden : 0);
    return per_token * tokens * s.batch;
  };
  double bytes = outside(t) + (seq2seq ? outside(t_dec) + w.product * c.hidden * t * s.batch : 0);
  // The head: its input, then the fp32 log-softmax the loss keeps, its gradient and the logits' gradient, all
  // alive together as backward starts.
  const double out_tokens = static_cast<double>(TrainOutputTokens(c, s)) * s.batch;
  bytes +=
      out_tokens * (w.product * HeadWidth(c) + 3 * w.fp32 * c.vocab + (s.mixed_precision ? w.product * c.vocab : 0));
  if (!s.checkpointing) return bytes + encoder.all + decoder.all;
  return bytes + encoder.inputs + decoder.inputs + std::max(encoder.largest, decoder.largest);
}

}  // namespace tscale
