// The family-specific approximations that ride on a self-attention layer, kept out of the core so the core
// reads like nanoGPT's. Each is stated in the catalog's `approximation` text:
//   Longformer  separate q/k/v projections for its global tokens;
//   DeBERTa     relative embeddings projected by pos_proj / pos_q_proj into one [2k, heads] bias table;
//   ProphetNet  the decoder's relative-bucket projection, taken at a zero state (its bias) as the bias table.
// Their parameters are registered on the attention module itself, under the tscale names they have always had
// (q_global, pos_key, relative_projection, ...), so weight files keep loading.
#pragma once

#include <torch/torch.h>

#include "common/model_config.h"
#include "runner/layers.h"
#include "runner/positions.h"

namespace tscale {

class AttentionExtras {
 public:
  AttentionExtras() = default;
  // decoder: the attention is in a causal stack (where ProphetNet has its projection).
  AttentionExtras(torch::nn::Module& owner, const ModelConfig& config, bool decoder, const torch::TensorOptions& o);

  // Longformer: the first global_tokens positions take their q, k, v [b, n, width] from the global projections.
  void Project(const torch::Tensor& x, torch::Tensor* q, torch::Tensor* k, torch::Tensor* v);
  // DeBERTa, ProphetNet: the relative-position bias table the mask carries.
  void Bias(const LayerContext& context, AttentionMask* mask);

 private:
  int64_t heads_ = 0, head_dim_ = 0;
  int global_tokens_ = 0, relative_buckets_ = 0, relative_max_distance_ = 0, relative_positions_ = 0;
  Linear q_global_{nullptr}, k_global_{nullptr}, v_global_{nullptr};  // Longformer
  Linear pos_key_{nullptr}, pos_query_{nullptr};                      // DeBERTa
  Linear relative_projection_{nullptr};                               // ProphetNet decoder
};

}  // namespace tscale
