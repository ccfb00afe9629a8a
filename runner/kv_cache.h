// The keys and values a decoder has computed, kept so each new token attends to them without recomputing
// them: generation's KV cache. Preallocated once for the whole generation (prompt + new tokens), so a step
// writes one position in place and never copies the cache.
//
//   full layers     [batch, kv_heads, capacity, head_dim]; position p is slot p, a step attends to slots 0..p;
//   window layers   a ring of `window` slots (Mistral, GPT-Neo's local layers): position p is slot p % window, and
//                   the ring holds exactly the keys the newest token may see, so a step attends to the filled
//                   slots with no mask. Their order is not the positions' order, which is harmless for rotary
//                   and learned positions (already in the keys) and is refused for biases by relative distance
//                   (ALiBi, T5 buckets) — no catalog model windows those;
//   cross-attention the encoder output's keys and values, computed by the first decoder call and reused;
//   linear-time     no keys at all: a linear-attention layer keeps its prefix sums (runner/linear_attention.h), a
//                   Mamba layer its conv window and scan state (runner/mamba.h), the same bytes at every depth.
//
// The cache takes a prompt first (any length, at position 0), then one token per call.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "common/model_config.h"
#include "runner/linear_attention.h"

namespace tscale {

struct LayerKv {
  torch::Tensor k, v;              // self-attention: [batch, kv_heads, slots, head_dim]
  bool ring = false;               // a sliding-window layer's ring (slots = window)
  torch::Tensor cross_k, cross_v;  // encoder-decoder: [batch, kv_heads, encoder_len, head_dim], once computed
  LinearAttentionState linear;     // attention_kind linear: the running sums instead of k and v
  torch::Tensor conv_state;        // mamba: the conv's last ssm_conv inputs [batch, d_inner, ssm_conv]
  torch::Tensor ssm_state;         // mamba: the scan's state [batch, d_inner, ssm_state], fp32
};

class KvCache {
 public:
  // `capacity`: the positions the generation will cache (prompt + new tokens). Throws std::invalid_argument for
  // a model that cannot decode (an encoder) or a window combined with a bias by relative distance.
  KvCache(const ModelConfig& config, int64_t batch, int64_t capacity, const torch::TensorOptions& options);

  LayerKv& layer(size_t index) { return layers_[index]; }
  size_t layers() const { return layers_.size(); }
  // Positions cached so far: the position of the next token.
  int64_t length() const { return length_; }
  int64_t capacity() const { return capacity_; }
  // Called once per decoder forward, after every layer has written its n new positions.
  void Advance(int64_t n);
  // Empties it for the next generation, keeping the allocation (cross-attention's keys are recomputed).
  void Reset();

  // Bytes held: every layer's self-attention slots plus the cross-attention keys and values once computed, or
  // the linear-time layers' states.
  int64_t Bytes() const;

 private:
  std::vector<LayerKv> layers_;
  int64_t capacity_ = 0, length_ = 0;
};

// One attention layer's step with the cache: writes k and v [batch, kv_heads, n, head_dim] of positions
// start..start+n-1 into `kv` and returns the keys and values to attend to, with the mask rule that still
// applies (a ring's keys are all visible: no rule). Throws std::logic_error for n > 1 after the prompt.
struct CachedKeys {
  torch::Tensor k, v;
  bool unmasked = false;  // the ring case: attend to every returned key
};
CachedKeys AppendToCache(LayerKv* kv, int64_t start, const torch::Tensor& k, const torch::Tensor& v);

}  // namespace tscale
