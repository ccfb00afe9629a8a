#include "runner/positions.h"

#include <cmath>

namespace tscale {

torch::Tensor PositionIds(const ModelConfig& config, int64_t seq_len, const torch::Device& device, int64_t start) {
  auto ids = torch::arange(start, start + seq_len, torch::TensorOptions().dtype(torch::kLong).device(device));
  const int64_t usable = config.position_rows - config.position_offset;
  if (start + seq_len > usable) ids = config.position_clamp ? ids.clamp_max(usable - 1) : ids.remainder(usable);
  return ids + config.position_offset;
}

// Sin in the first half of the width, cos in the second, frequencies 1 / 10000^(2i / width).
torch::Tensor Sinusoids(int64_t rows, int64_t width, int64_t start) {
  const int64_t half = width / 2;
  auto position = torch::arange(start, start + rows, torch::kDouble).unsqueeze(1);
  auto frequency = torch::exp(torch::arange(half, torch::kDouble) * (-std::log(10000.0) * 2.0 / width));
  auto angle = position * frequency.unsqueeze(0);
  auto table = torch::zeros({rows, width}, torch::kDouble);
  table.narrow(1, 0, half).copy_(torch::sin(angle));
  table.narrow(1, half, half).copy_(torch::cos(angle));
  return table.to(torch::kFloat);
}

void RotaryTables(const ModelConfig& config, int64_t seq_len, const torch::Tensor& like, LayerContext* context,
                  int64_t start) {
  // cos/sin of position * theta^(-2i/r) for the r rotated dims (a buffer in HF, not a parameter).
  const int64_t rotary = config.EffectiveRotaryDims();
  auto options = torch::TensorOptions().dtype(torch::kFloat).device(like.device());
  auto inv_freq =
      torch::pow(config.rotary_base, torch::arange(0, rotary, 2, options) / static_cast<double>(rotary)).reciprocal();
  auto angles = torch::outer(torch::arange(start, start + seq_len, options), inv_freq);
  auto emb = torch::cat({angles, angles}, -1);
  context->rotary_cos = emb.cos().to(like.scalar_type());
  context->rotary_sin = emb.sin().to(like.scalar_type());
}

// One convention for every rotary model, GPT-NeoX's "rotate half" (the rotated dims split into two halves that
// form the pairs); GPT-J pairs interleaved dims instead, which is the same arithmetic on a permutation of the dims, so
// the compute and memory are identical and only trained weights could tell the two apart.
torch::Tensor ApplyRotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t rotary = cos.size(-1), head_dim = x.size(-1);
  auto rot = x.narrow(-1, 0, rotary);
  auto x1 = rot.narrow(-1, 0, rotary / 2), x2 = rot.narrow(-1, rotary / 2, rotary / 2);
  auto rotated = rot * cos + torch::cat({-x2, x1}, -1) * sin;
  if (rotary == head_dim) return rotated;
  return torch::cat({rotated, x.narrow(-1, rotary, head_dim - rotary)}, -1);
}

}  // namespace tscale
