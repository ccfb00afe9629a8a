#include "runner/linear_attention.h"

#include <vector>

#include "common/linear_time.h"

namespace tscale {
namespace {

torch::Tensor Phi(const torch::Tensor& x) {
  return torch::elu(x.to(torch::kFloat)) + 1;
}

}  // namespace

torch::Tensor LinearAttend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                           LinearAttentionState* state) {
  const torch::Tensor fq = Phi(q), fk = Phi(k), fv = v.to(torch::kFloat);
  const int64_t b = q.size(0), h = q.size(1), n = q.size(2), hd = q.size(3), hv = v.size(3);
  const auto options = fq.options();
  torch::Tensor S = state && state->kv.defined() ? state->kv : torch::zeros({b, h, hd, hv}, options);
  torch::Tensor z = state && state->normaliser.defined() ? state->normaliser : torch::zeros({b, h, hd}, options);
  std::vector<torch::Tensor> outs;
  for (int64_t c0 = 0; c0 < n; c0 += kLinearAttentionChunk) {
    const int64_t len = std::min<int64_t>(kLinearAttentionChunk, n - c0);
    const torch::Tensor qc = fq.narrow(2, c0, len), kc = fk.narrow(2, c0, len), vc = fv.narrow(2, c0, len);
    const torch::Tensor scores = torch::matmul(qc, kc.transpose(-1, -2)).tril();  // within the chunk, causal
    const torch::Tensor num = torch::matmul(scores, vc) + torch::matmul(qc, S);
    const torch::Tensor den = scores.sum(-1) + torch::matmul(qc, z.unsqueeze(-1)).squeeze(-1);
    outs.push_back(num / (den.unsqueeze(-1) + kLinearAttentionEps));
    S = S + torch::matmul(kc.transpose(-1, -2), vc);
    z = z + kc.sum(2);
  }
  if (state) {
    state->kv = S;
    state->normaliser = z;
  }
  return torch::cat(outs, 2).to(q.scalar_type());
}

torch::Tensor LinearAttendQuadratic(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
  const torch::Tensor a = torch::matmul(Phi(q), Phi(k).transpose(-1, -2)).tril();
  return (torch::matmul(a, v.to(torch::kFloat)) / (a.sum(-1, /*keepdim=*/true) + kLinearAttentionEps))
      .to(q.scalar_type());
}

}  // namespace tscale
