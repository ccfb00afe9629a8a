#include "runner/layers.h"

#include <stdexcept>

namespace tscale {

bool IsMeta(const torch::TensorOptions& options) {
  return options.device().type() == c10::DeviceType::Meta;
}

torch::Tensor NewTensor(torch::IntArrayRef shape, const torch::TensorOptions& options, Fill fill) {
  torch::NoGradGuard no_grad;
  auto t = torch::empty(shape, options);
  if (IsMeta(options)) return t;
  switch (fill) {
    case Fill::kNormal:
      // Drawn in fp32 and rounded, one tensor at a time: libtorch's bf16/fp16 normal_ on the CPU is about 4x
      // slower, and this way a seed draws the same weights (rounded) in every dtype.
      if (t.scalar_type() == torch::kFloat)
        t.normal_(0.0, 0.02);
      else
        t.copy_(torch::empty(shape, options.dtype(torch::kFloat)).normal_(0.0, 0.02));
      break;
    case Fill::kZeros:
      t.zero_();
      break;
    case Fill::kOnes:
      t.fill_(1.0);
      break;
  }
  return t;
}

LinearImpl::LinearImpl(int64_t in, int64_t out, bool bias, const torch::TensorOptions& options, int64_t groups)
    : groups_(groups) {
  if (groups < 1 || in % groups != 0 || out % groups != 0)
    throw std::invalid_argument("grouped linear: " + std::to_string(groups) + " groups must divide " +
                                std::to_string(in) + " and " + std::to_string(out));
  if (groups_ == 1) {
    weight_ = register_parameter("weight", NewTensor({out, in}, options, Fill::kNormal));
  } else {
    weight_ = register_parameter("weight", NewTensor({groups, out / groups, in / groups}, options, Fill::kNormal));
  }
  if (bias) bias_ = register_parameter("bias", NewTensor({out}, options, Fill::kZeros));
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) {
  if (groups_ == 1) return torch::linear(x, weight_, bias_);
  // Block-diagonal product as one batched matmul over the groups: [g, N, in/g] x [g, in/g, out/g].
  auto sizes = x.sizes().vec();
  const int64_t in = sizes.back(), rows = x.numel() / in;
  auto grouped = x.reshape({rows, groups_, in / groups_}).transpose(0, 1);
  auto y = torch::bmm(grouped, weight_.transpose(1, 2)).transpose(0, 1).reshape({rows, -1});
  if (bias_.defined()) y = y + bias_;
  sizes.back() = y.size(-1);
  return y.view(sizes);
}

EmbeddingImpl::EmbeddingImpl(int64_t rows, int64_t width, const torch::TensorOptions& options) {
  weight_ = register_parameter("weight", NewTensor({rows, width}, options, Fill::kNormal));
}

torch::Tensor EmbeddingImpl::forward(const torch::Tensor& ids) {
  return torch::embedding(weight_, ids);
}

NormImpl::NormImpl(NormType type, int64_t width, double eps, bool bias, const torch::TensorOptions& options)
    : type_(type), eps_(eps) {
  weight_ = register_parameter("weight", NewTensor({width}, options, Fill::kOnes));
  // RMSNorm (T5, Llama) has a scale only.
  if (type_ == NormType::kLayerNorm && bias)
    bias_ = register_parameter("bias", NewTensor({width}, options, Fill::kZeros));
}

torch::Tensor NormImpl::forward(const torch::Tensor& x) {
  if (type_ == NormType::kLayerNorm) return torch::layer_norm(x, {x.size(-1)}, weight_, bias_, eps_);
  // RMSNorm statistics in fp32, as HF computes them, so bf16/fp16 runs do not lose the variance.
  auto xf = x.to(torch::kFloat);
  auto normed = xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps_);
  return normed.to(x.scalar_type()) * weight_;
}

}  // namespace tscale
