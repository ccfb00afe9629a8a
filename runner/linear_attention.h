// Causal linear attention (Katharopoulos et al. 2020, "Transformers are RNNs"), the attention of a model with
// attention_kind "linear". With phi(x) = elu(x) + 1 applied to queries and keys, position i attends as
//
//   out_i = phi(q_i)^T S_i / (phi(q_i)^T z_i + eps),   S_i = sum_{j<=i} phi(k_j) v_j^T  [hd x hd],  z_i = sum_{j<=i}
//   phi(k_j)
//
// so each head carries a head_dim x head_dim prefix sum instead of a key/value per position. The prefill computes
// it in chunks of kLinearAttentionChunk positions (common/linear_time.h): inside a chunk the causal quadratic form,
// across chunks the carried state; a generation step adds one key and value to the state. The state is fp32.
#pragma once

#include <torch/torch.h>

namespace tscale {

// A head's running sums, per layer: kv [batch, heads, hd, hd] and normaliser [batch, heads, hd], fp32.
struct LinearAttentionState {
  torch::Tensor kv, normaliser;
};

constexpr double kLinearAttentionEps = 1e-6;

// q, k, v [batch, heads, n, head_dim] -> [batch, heads, n, head_dim] in q's dtype, positions start..start+n-1
// given the sums of the positions before them in `state` (null or undefined tensors: none before). With a
// state, its sums are advanced past these positions. Under autograd every op is out of place.
torch::Tensor LinearAttend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                           LinearAttentionState* state = nullptr);

// The definition itself, for the tests: the [n, n] matrix phi(Q) phi(K)^T masked causally, each row divided by
// its sum (plus eps), times V. O(n^2) memory.
torch::Tensor LinearAttendQuadratic(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v);

}  // namespace tscale
