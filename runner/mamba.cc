#include "runner/mamba.h"

#include <cmath>
#include <stdexcept>

#include "runner/kv_cache.h"

namespace tscale {

CausalConvImpl::CausalConvImpl(int64_t channels, int64_t kernel, bool bias, const torch::TensorOptions& o) {
  weight_ = register_parameter("weight", NewTensor({channels, 1, kernel}, o, Fill::kNormal));
  if (bias) bias_ = register_parameter("bias", NewTensor({channels}, o, Fill::kZeros));
}

torch::Tensor CausalConvImpl::forward(const torch::Tensor& x) {
  const int64_t length = x.size(1), k = kernel();
  // Padding k - 1 on both sides and keeping the first `length` outputs: output t sees inputs t - k + 1 .. t.
  auto y = torch::conv1d(x.transpose(1, 2), weight_, bias_, /*stride=*/1, /*padding=*/k - 1, /*dilation=*/1,
                         /*groups=*/weight_.size(0));
  return y.narrow(2, 0, length).transpose(1, 2);
}

torch::Tensor CausalConvImpl::Step(const torch::Tensor& x, torch::Tensor& window) {
  const int64_t k = kernel();
  window.copy_(torch::cat({window.narrow(2, 1, k - 1), x.unsqueeze(-1)}, 2));
  auto y = (window * weight_.squeeze(1)).sum(-1);
  return bias_.defined() ? y + bias_ : y;
}

MambaMixerImpl::MambaMixerImpl(const ModelConfig& c, const torch::TensorOptions& o)
    : inner_(c.SsmInner()), state_(c.ssm_state), dt_rank_(c.EffectiveDtRank()) {
  in_proj_ = register_module("in_proj", Linear(c.hidden, 2 * inner_, c.bias, o));
  conv1d_ = register_module("conv1d", CausalConv(inner_, c.ssm_conv, c.ssm_conv_bias, o));
  x_proj_ = register_module("x_proj", Linear(inner_, dt_rank_ + 2 * state_, false, o));
  dt_proj_ = register_module("dt_proj", Linear(dt_rank_, inner_, true, o));
  A_log_ = register_parameter("A_log", NewTensor({inner_, state_}, o, Fill::kZeros));
  D_ = register_parameter("D", NewTensor({inner_}, o, Fill::kOnes));
  out_proj_ = register_module("out_proj", Linear(inner_, c.hidden, c.bias, o));
  if (IsMeta(o)) return;
  // Mamba's initialisation, so random-weight runs scan with realistic decay rates: A = -(1..N) per channel
  // (S4D-real) and dt_proj's bias the inverse softplus of a step drawn log-uniformly in [1e-3, 1e-1].
  torch::NoGradGuard no_grad;
  A_log_.copy_(torch::log(torch::arange(1, state_ + 1, o.dtype(torch::kFloat))).expand({inner_, state_}));
  auto dt =
      torch::exp(torch::rand({inner_}, o.dtype(torch::kFloat)) * (std::log(0.1) - std::log(1e-3)) + std::log(1e-3));
  dt_proj_->bias().copy_(dt + torch::log(-torch::expm1(-dt)));
}

void MambaMixerImpl::Selection(const torch::Tensor& u, torch::Tensor* delta, torch::Tensor* B, torch::Tensor* C) {
  auto dbc = x_proj_(u);
  *delta = torch::softplus(dt_proj_(dbc.narrow(-1, 0, dt_rank_)));
  *B = dbc.narrow(-1, dt_rank_, state_);
  *C = dbc.narrow(-1, dt_rank_ + state_, state_);
}

torch::Tensor MambaMixerImpl::forward(const torch::Tensor& x, LayerKv* kv, bool step) {
  if (step) return Step(x, kv);
  auto xz = in_proj_(x);
  auto x_in = xz.narrow(-1, 0, inner_), z = xz.narrow(-1, inner_, inner_);
  auto u = torch::silu(conv1d_(x_in));
  torch::Tensor delta, B, C;
  Selection(u, &delta, &B, &C);
  const ScanInputs in{u, delta, A(), B, C, D_, z};
  torch::Tensor state = kv ? kv->ssm_state : torch::Tensor();
  auto y = SelectiveScan(in, ChooseScanKernel(in), kv ? &state : nullptr);
  if (kv) {  // what the first step needs: the scan's state and the conv's last `kernel` inputs (zeros before 0)
    torch::NoGradGuard no_grad;
    kv->ssm_state.copy_(state);
    const int64_t length = x.size(1), k = conv1d_->kernel(), kept = std::min(length, k);
    kv->conv_state.zero_();
    kv->conv_state.narrow(2, k - kept, kept).copy_(x_in.narrow(1, length - kept, kept).transpose(1, 2));
  }
  return out_proj_(y);
}

torch::Tensor MambaMixerImpl::Step(const torch::Tensor& x, LayerKv* kv) {
  if (!kv || x.size(1) != 1) throw std::logic_error("mamba: a generation step takes one token and its layer state");
  auto xz = in_proj_(x.squeeze(1));
  auto x_in = xz.narrow(-1, 0, inner_), z = xz.narrow(-1, inner_, inner_);
  auto u = torch::silu(conv1d_->Step(x_in, kv->conv_state));
  torch::Tensor delta, B, C;
  Selection(u, &delta, &B, &C);
  const ScanInputs in{u.unsqueeze(1), delta.unsqueeze(1), A(), B.unsqueeze(1), C.unsqueeze(1), D_, z.unsqueeze(1)};
  torch::Tensor state = kv->ssm_state;
  auto y = SelectiveScan(in, ChooseScanKernel(in), &state);
  kv->ssm_state.copy_(state);
  return out_proj_(y);
}

MambaBlockImpl::MambaBlockImpl(const ModelConfig& c, const torch::TensorOptions& o) {
  norm_ = register_module("norm", Norm(c.norm, c.hidden, c.norm_eps, c.bias, o));
  mixer_ = register_module("mixer", MambaMixer(c, o));
}

torch::Tensor MambaBlockImpl::forward(torch::Tensor x, const torch::Tensor& /*memory*/, const LayerContext& context) {
  return x + mixer_(norm_(x), context.kv, context.kv && context.start > 0);
}

}  // namespace tscale
