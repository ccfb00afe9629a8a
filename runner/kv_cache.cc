#include "runner/kv_cache.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace tscale {

KvCache::KvCache(const ModelConfig& config, int64_t batch, int64_t capacity, const torch::TensorOptions& options)
    : capacity_(capacity) {
  if (config.arch == ArchKind::kEncoder)
    throw std::invalid_argument(config.id + " is an encoder: it has no causal stack to generate with");
  if (capacity < 1) throw std::invalid_argument("KV cache: capacity must be at least 1");
  const bool relative_bias = config.position == PositionScheme::kAlibi ||
                             config.position == PositionScheme::kRelativeBuckets || config.relative_bias_projection;
  const int layers = config.arch == ArchKind::kEncoderDecoder ? config.decoder_layers : config.layers;
  const int64_t kv_heads = config.EffectiveKvHeads(), head_dim = config.EffectiveHeadDim();
  if (config.linear_time()) {  // a constant state per layer instead of keys and values (common/linear_time.h)
    const auto fp32 = options.dtype(torch::kFloat);
    for (int i = 0; i < layers; ++i) {
      LayerKv kv;
      if (config.mamba()) {
        kv.conv_state = torch::zeros({batch, config.SsmInner(), config.ssm_conv}, options);
        kv.ssm_state = torch::zeros({batch, config.SsmInner(), config.ssm_state}, fp32);
      } else {
        kv.linear.kv = torch::zeros({batch, config.heads, head_dim, head_dim}, fp32);
        kv.linear.normaliser = torch::zeros({batch, config.heads, head_dim}, fp32);
      }
      layers_.push_back(std::move(kv));
    }
    return;
  }
  for (int i = 0; i < layers; ++i) {
    LayerKv kv;
    kv.ring = config.WindowedLayer(i);
    if (kv.ring && config.global_tokens > 0)
      throw std::invalid_argument(config.id + ": a sliding window with global tokens cannot use the KV cache's ring");
    if (kv.ring && relative_bias)
      throw std::invalid_argument(config.id +
                                  ": a sliding window with a bias by relative distance cannot use the KV cache's ring");
    const int64_t slots = kv.ring ? std::min<int64_t>(config.attention_window, capacity) : capacity;
    kv.k = torch::empty({batch, kv_heads, slots, head_dim}, options);
    kv.v = torch::empty({batch, kv_heads, slots, head_dim}, options);
    layers_.push_back(std::move(kv));
  }
}

void KvCache::Advance(int64_t n) {
  length_ += n;
  if (length_ > capacity_)
    throw std::logic_error("KV cache: " + std::to_string(length_) + " positions exceed its capacity of " +
                           std::to_string(capacity_));
}

void KvCache::Reset() {
  length_ = 0;
  for (LayerKv& kv : layers_) {
    kv.cross_k = kv.cross_v = torch::Tensor();
    for (torch::Tensor* state : {&kv.linear.kv, &kv.linear.normaliser, &kv.conv_state, &kv.ssm_state})
      if (state->defined()) state->zero_();
  }
}

int64_t KvCache::Bytes() const {
  auto bytes = [](const torch::Tensor& t) {
    return t.defined() ? t.numel() * static_cast<int64_t>(t.element_size()) : 0;
  };
  int64_t total = 0;
  for (const LayerKv& kv : layers_) {
    total += bytes(kv.k) + bytes(kv.v) + bytes(kv.cross_k) + bytes(kv.cross_v);
    total += bytes(kv.linear.kv) + bytes(kv.linear.normaliser) + bytes(kv.conv_state) + bytes(kv.ssm_state);
  }
  return total;
}

CachedKeys AppendToCache(LayerKv* kv, int64_t start, const torch::Tensor& k, const torch::Tensor& v) {
  const int64_t n = k.size(2), slots = kv->k.size(2);
  if (start > 0 && n != 1)
    throw std::logic_error("KV cache: after the prompt, one token per step (got " + std::to_string(n) + ")");
  if (!kv->ring) {
    if (start + n > slots) throw std::logic_error("KV cache: position past its capacity");
    kv->k.narrow(2, start, n).copy_(k);
    kv->v.narrow(2, start, n).copy_(v);
    // A view of the filled slots: the mask's offset (k_len - q_len = start) puts the queries at their positions.
    return {kv->k.narrow(2, 0, start + n), kv->v.narrow(2, 0, start + n), false};
  }
  if (start == 0) {
    // The prompt attends over its own keys under the window rule; the ring keeps the last `slots` of them.
    const int64_t keep = std::min(n, slots);
    auto positions = torch::arange(n - keep, n, torch::TensorOptions().dtype(torch::kLong).device(k.device()));
    auto slot = positions.remainder(slots);
    kv->k.index_copy_(2, slot, k.narrow(2, n - keep, keep));
    kv->v.index_copy_(2, slot, v.narrow(2, n - keep, keep));
    return {k, v, false};
  }
  // One new token takes the slot of the position that just left the window; every filled slot is visible.
  const int64_t slot = start % slots;
  kv->k.narrow(2, slot, 1).copy_(k);
  kv->v.narrow(2, slot, 1).copy_(v);
  const int64_t filled = std::min(start + 1, slots);
  return {kv->k.narrow(2, 0, filled), kv->v.narrow(2, 0, filled), true};
}

}  // namespace tscale
