// Scaled dot-product attention in the implementations a job can ask for (SPEC section 3):
//   eager             scores = q k^T materialised for the whole sequence: O(n^2) memory, what HF's eager path does;
//   memory_efficient  exact, query and key blocks with an online (running max and sum) softmax: O(n * block)
//                     extra memory, never the n x n matrix;
//   fused             libtorch's scaled_dot_product_attention where the linked libtorch has it (2.0+); a job
//                     asking for it on 1.13 gets a clear error, not a silent fallback.
// All three apply the same mask and bias, so they agree within floating-point tolerance.
#pragma once

#include <torch/torch.h>

#include <optional>
#include <string>

#include "tscale/v1/tscale.pb.h"

namespace tscale {

// Which key positions each query may see, and what is added to its scores. Everything is described by
// rule, not by an n x n tensor, so the memory-efficient path can build each block's part on the fly.
struct AttentionMask {
  bool causal = false;
  int window = 0;         // > 0: a query sees keys within the window (causal: the `window` latest, itself
                          // included; bidirectional: window / 2 on each side); 0 = no window
  int global_tokens = 0;  // with a window: the first N positions see and are seen by every position
  // ALiBi: a per-head slope; the score of (query i, key j) gets slope_h * (j - i). Shape [heads], or undefined.
  torch::Tensor alibi_slopes;
  // Relative position bias (T5, ProphetNet): bias[h][bucket(j - i)] is added to the score; `buckets` and
  // `max_distance` as in T5 (bidirectional unless causal). Shape [buckets, heads], or undefined.
  torch::Tensor relative_bias;
  int relative_buckets = 0, relative_max_distance = 0;
};

// q: [batch, heads, q_len, head_dim]; k, v: [batch, kv_heads, k_len, head_dim], kv_heads dividing heads (GQA/MQA
// unexpanded: query head h uses key/value head h / (heads / kv_heads); eager and memory_efficient never copy k
// and v per query head). Returns [batch, heads, q_len, head_dim]. Scores are scaled by 1/sqrt(head_dim). For
// cross-attention pass an AttentionMask{} (no mask) and k_len != q_len. `dropout` (training) drops attention
// probabilities with that probability. Throws std::runtime_error for fused on a libtorch without it, and for
// memory_efficient when autograd would record it (its in-place online softmax has no backward of its own).
torch::Tensor Attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const AttentionMask& mask,
                     v1::AttentionImpl impl, double dropout = 0);

// The T5 bucket of a relative position (key minus query), exposed for tests.
int64_t RelativeBucket(int64_t relative_position, bool bidirectional, int buckets, int max_distance);

// ALiBi slopes for `heads` heads (the geometric sequence of the ALiBi paper, as BLOOM computes it).
torch::Tensor AlibiSlopes(int heads);

// True when `Attend(..., ATTENTION_IMPL_FUSED)` works with the linked libtorch.
bool FusedAttentionAvailable();

// How Attend(..., ATTENTION_IMPL_FUSED) runs these inputs: the scaled_dot_product_attention call it makes and the
// backend the linked libtorch selects for that call. Builds no mask. For benchmarks and docs.
struct FusedPath {
  bool available = false;  // false on a libtorch without SDPA (the rest is then empty)
  std::string call;     // "no mask", "is_causal" or "mask [1,H,Q,K] N MiB"; for GQA ", enable_gqa" or ", k/v expanded"
  std::string backend;  // flash_attention, efficient_attention, cudnn_attention, math, ...
  int64_t mask_bytes = 0;  // the additive mask fused materialises (0 without one)
};
FusedPath DescribeFusedPath(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                            const AttentionMask& mask);

}  // namespace tscale
