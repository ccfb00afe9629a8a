// The training step's analytic counts (docs/measurement.md, "Training"): the work of one step, torchtitan's
// estimate to compare it with, the attention products' share, and the activation memory autograd keeps — the
// per-layer count of Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large Transformer Models"),
// s·b·h·(34 + 5·a·s/h) bytes per layer at 16-bit, adapted to what tscale's layers keep. No libtorch here.
#pragma once

#include <cstdint>

#include "common/model_config.h"

namespace tscale {

struct TrainShape {
  int batch = 1;
  int seq_len = 0;      // the encoder's (or the decoder-only model's) tokens
  int decoder_len = 0;  // encoder-decoders: the decoder's tokens (0 = seq_len)
  bool checkpointing = false;
  bool mixed_precision = false;  // bf16 autocast: activations of the matrix products in 2 bytes, the rest in 4
  bool eager_attention = true;   // eager keeps the softmax's [heads, s, s]; fused keeps a logsumexp per query
  // Bytes per element of a dropout mask: 1 where libtorch has a fused dropout kernel (CUDA, as Korthikanti
  // assume); on the CPU dropout multiplies by a noise tensor of the input's dtype, which backward keeps.
  bool dtype_wide_dropout_masks = false;
};

// The tokens the loss reads and the LM head runs over: the decoder's for an encoder-decoder, all but the last
// for a decoder-only model (next-token), else seq_len.
int64_t TrainOutputTokens(const ModelConfig& config, const TrainShape& shape);

// FLOPs of the step's forward: the base model's (ForwardFlops) plus the LM head over every output token.
double TrainForwardFlops(const ModelConfig& config, const TrainShape& shape);
// FLOPs of one step: 3 x the forward (backward is twice the forward's products), plus with checkpointing the
// base model's forward once more (each block runs again in backward; the LM head does not). Optimizer and
// elementwise work are not counted.
double TrainStepFlops(const ModelConfig& config, const TrainShape& shape);
// torchtitan's estimate for comparison: (6 N + 12 L h q t) per token x batch x tokens, with N the parameters
// without the token and position embeddings plus the head matrix (its product is computed even when tied), L
// every block, t the length.
double TorchtitanStepFlops(const ModelConfig& config, const TrainShape& shape);
// AttentionProductFlops / TrainForwardFlops: how much of the work grows with the square of the length.
double AttentionFlopsShare(const ModelConfig& config, const TrainShape& shape);

// Parameters a training step updates: the base model and, when it is not tied, the LM head.
int64_t TrainableParameterCount(const ModelConfig& config);

// Bytes autograd keeps at the start of backward, the step's high-water mark: per block, the tensors each
// operation saves (norm inputs, projection inputs, Q, K, V, the softmax output, GELU input and output, dropout
// masks in 1 byte), plus the embedding, the final norm, the head input and the log-softmax of the logits
// (fp32), and the logits' gradient that backward allocates first. With checkpointing, each block keeps its
// input only, and one block's activations exist again during its backward. 0 (unknown) for the linear-time
// families (ModelArchitecture::linear_time): their blocks keep other tensors, which this count does not model.
double AnalyticActivationBytes(const ModelConfig& config, const TrainShape& shape);

}  // namespace tscale
