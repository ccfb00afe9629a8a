// Position schemes as a stack applies them: absolute ids into a learned or sinusoidal table, rotary angles, and
// the per-forward context (mask rules, rotary tables, relative embeddings) every attention layer of a stack reads.
// ALiBi and relative-bucket biases are rules of the mask (runner/attention.h).
#pragma once

#include <torch/torch.h>

#include "common/model_config.h"
#include "runner/attention.h"

namespace tscale {

struct LayerKv;

// What a stack computes once per forward and hands to every layer's attention.
struct LayerContext {
  AttentionMask mask;                    // causal / window / global / ALiBi / T5 relative bias
  torch::Tensor rotary_cos, rotary_sin;  // [seq, rotary_dims] (rotary position scheme), else undefined
  torch::Tensor relative_embeddings;     // DeBERTa: [2 * relative_positions, hidden], else undefined
  // Generation (runner/kv_cache.h): this layer's cache and the position of the forward's first token.
  LayerKv* kv = nullptr;
  int64_t start = 0;
};

// Absolute position ids start..start+seq_len-1 into the config's table, from its first usable row. Past the
// table, ProphetNet clamps to its last row; elsewhere (an extended-context run) positions wrap, so the arithmetic
// and memory are those of a model whose table was extended.
torch::Tensor PositionIds(const ModelConfig& config, int64_t seq_len, const torch::Device& device, int64_t start = 0);

// The sinusoidal table of Pegasus (HF PegasusSinusoidalPositionalEmbedding), [rows, width] fp32.
// `start`: the rows of positions start..start+rows-1 (a decode step computes only its own).
torch::Tensor Sinusoids(int64_t rows, int64_t width, int64_t start = 0);

// cos and sin [seq_len, rotary_dims] of positions start..start+seq_len-1 in the config's rotary scheme, in
// `like`'s dtype and device.
void RotaryTables(const ModelConfig& config, int64_t seq_len, const torch::Tensor& like, LayerContext* context,
                  int64_t start = 0);

// Rotary position embedding on the leading cos.size(-1) dims of each head of x [b, h, n, head_dim].
torch::Tensor ApplyRotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

}  // namespace tscale
