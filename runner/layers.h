// The parameter-holding layers every model is made of — Linear (dense or grouped), Embedding, Norm — and how a
// new weight is drawn. Each takes TensorOptions, so the same code builds real random weights (seeded by the
// caller through torch::manual_seed) or shape-only tensors on the meta device (nothing allocated).
#pragma once

#include <torch/torch.h>

#include "common/model_config.h"

namespace tscale {

bool IsMeta(const torch::TensorOptions& options);

enum class Fill { kNormal, kZeros, kOnes };
// A new weight tensor. On the meta device it only has a shape; otherwise it is initialised as HF initialises
// these layers (normal(0, 0.02) weights, zero biases, unit norm scales), from the caller's torch seed.
torch::Tensor NewTensor(torch::IntArrayRef shape, const torch::TensorOptions& options, Fill fill);

// y = x W^T + b. With groups > 1 the weight is block-diagonal (SqueezeBERT's grouped 1x1 convolutions): each
// of the `groups` slices of the input maps only to its slice of the output, so it holds in*out/groups weights.
class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(int64_t in, int64_t out, bool bias, const torch::TensorOptions& options, int64_t groups = 1);
  torch::Tensor forward(const torch::Tensor& x);
  const torch::Tensor& bias() const { return bias_; }

 private:
  int64_t groups_;
  torch::Tensor weight_, bias_;  // weight: [out, in] dense, [groups, out/groups, in/groups] grouped
};
TORCH_MODULE(Linear);

class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(int64_t rows, int64_t width, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& ids);
  const torch::Tensor& weight() const { return weight_; }

 private:
  torch::Tensor weight_;
};
TORCH_MODULE(Embedding);

class NormImpl : public torch::nn::Module {
 public:
  NormImpl(NormType type, int64_t width, double eps, bool bias, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  NormType type_;
  double eps_;
  torch::Tensor weight_, bias_;
};
TORCH_MODULE(Norm);

}  // namespace tscale
