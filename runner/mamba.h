// Mamba's block (Gu & Dao 2023; HF MambaBlock / MambaMixer), readable in one sitting:
//
//   block(x)  = x + mixer(RMSNorm(x))
//   mixer(x)  = out_proj( scan( silu(conv(x_in)) ) * silu(z) )   where  [x_in, z] = in_proj(x)  (2 x d_inner)
//   conv      = causal depthwise conv1d over the length, kernel ssm_conv, one filter per channel
//   scan      = the selective scan (runner/selective_scan.h) with input-dependent
//               [dt, B, C] = x_proj(u),  delta = softplus(dt_proj(dt)),  A = -exp(A_log),  skip D
//
// Generation keeps, per layer, the conv's last ssm_conv inputs and the scan's [d_inner, N] state in the layer's
// LayerKv (runner/kv_cache.h): one step per token, the same bytes at every depth. Parameter names follow HF's
// MambaMixer (in_proj, conv1d, x_proj, dt_proj, A_log, D, out_proj), so HF checkpoints map name for name.
#pragma once

#include <torch/torch.h>

#include "common/model_config.h"
#include "runner/layers.h"
#include "runner/positions.h"
#include "runner/selective_scan.h"
#include "runner/stack_layer.h"

namespace tscale {

// The depthwise causal conv1d: weight [d_inner, 1, kernel] and bias [d_inner], as HF's nn.Conv1d stores them.
class CausalConvImpl : public torch::nn::Module {
 public:
  CausalConvImpl(int64_t channels, int64_t kernel, bool bias, const torch::TensorOptions& options);
  // x [batch, length, channels] -> [batch, length, channels]: output t sees inputs t - kernel + 1 .. t.
  torch::Tensor forward(const torch::Tensor& x);
  // One token of a generation: `window` [batch, channels, kernel] holds the previous inputs; x [batch, channels]
  // is shifted in and the window's convolution returned.
  torch::Tensor Step(const torch::Tensor& x, torch::Tensor& window);
  int64_t kernel() const { return weight_.size(2); }

 private:
  torch::Tensor weight_, bias_;
};
TORCH_MODULE(CausalConv);

class MambaMixerImpl : public torch::nn::Module {
 public:
  MambaMixerImpl(const ModelConfig& config, const torch::TensorOptions& options);
  // x [batch, length, hidden]. With `kv` (generation) the prompt's call (step false) stores its final conv window
  // and scan state there; each later call (step true) takes one token and advances them.
  torch::Tensor forward(const torch::Tensor& x, LayerKv* kv = nullptr, bool step = false);

 private:
  torch::Tensor Step(const torch::Tensor& x, LayerKv* kv);
  // [dt, B, C] of the conv's output u [..., d_inner]: delta = softplus(dt_proj(dt)) [..., d_inner], B, C [..., N].
  void Selection(const torch::Tensor& u, torch::Tensor* delta, torch::Tensor* B, torch::Tensor* C);
  torch::Tensor A() const { return -torch::exp(A_log_.to(torch::kFloat)); }

  int64_t inner_, state_, dt_rank_;
  Linear in_proj_{nullptr}, x_proj_{nullptr}, dt_proj_{nullptr}, out_proj_{nullptr};
  CausalConv conv1d_{nullptr};
  torch::Tensor A_log_, D_;
};
TORCH_MODULE(MambaMixer);

class MambaBlockImpl : public StackLayer {
 public:
  MambaBlockImpl(const ModelConfig& config, const torch::TensorOptions& options);
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& memory, const LayerContext& context) override;

 private:
  Norm norm_{nullptr};
  MambaMixer mixer_{nullptr};
};

}  // namespace tscale
