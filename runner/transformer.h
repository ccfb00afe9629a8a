// A transformer built from a ModelConfig, in the spirit of nanoGPT: one readable file, with every
// architecture variant (encoder/decoder, norms, activations, positions, GQA) selected by config data.
//
// Weights are random (seeded by the caller through torch::manual_seed); the network's shapes, and so its
// compute and memory profile, are those of the real model. forward() returns the last hidden states.
#pragma once

#include <torch/torch.h>

#include "common/model_config.h"

namespace tscale {

class NormImpl : public torch::nn::Module {
 public:
  NormImpl(NormType type, int64_t width, double eps);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  NormType type_;
  double eps_;
  torch::Tensor weight_, bias_;
};
TORCH_MODULE(Norm);

class SelfAttentionImpl : public torch::nn::Module {
 public:
  explicit SelfAttentionImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  int64_t heads_, kv_heads_, head_dim_;
  bool causal_;
  torch::nn::Linear q_{nullptr}, k_{nullptr}, v_{nullptr}, out_{nullptr};
};
TORCH_MODULE(SelfAttention);

class FeedForwardImpl : public torch::nn::Module {
 public:
  explicit FeedForwardImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  Activation activation_;
  torch::nn::Linear up_{nullptr}, gate_{nullptr}, down_{nullptr};
};
TORCH_MODULE(FeedForward);

class BlockImpl : public torch::nn::Module {
 public:
  explicit BlockImpl(const ModelConfig& config);
  torch::Tensor forward(torch::Tensor x);

 private:
  NormPlacement placement_;
  Norm norm1_{nullptr}, norm2_{nullptr};
  SelfAttention attention_{nullptr};
  FeedForward mlp_{nullptr};
};
TORCH_MODULE(Block);

class TransformerImpl : public torch::nn::Module {
 public:
  explicit TransformerImpl(const ModelConfig& config);
  // input_ids: [batch, seq] int64. Returns hidden states [batch, seq, hidden].
  torch::Tensor forward(const torch::Tensor& input_ids);
  int64_t ParameterCount() const;

 private:
  torch::Tensor PositionIds(int64_t seq_len, const torch::Device& device) const;

  ModelConfig config_;
  torch::nn::Embedding tokens_{nullptr}, positions_{nullptr}, token_types_{nullptr};
  Norm embedding_norm_{nullptr}, final_norm_{nullptr};
  torch::nn::Linear embedding_projection_{nullptr}, pooler_{nullptr};
  torch::nn::ModuleList blocks_;
};
TORCH_MODULE(Transformer);

}  // namespace tscale
