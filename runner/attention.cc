#include "runner/attention.h"

#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace tscale {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
// Query and key block sizes of the memory-efficient path: one block of scores is
// batch * heads * 256 * 256 floats (3 MiB for 12 heads), whatever the sequence length.
constexpr int64_t kQueryBlock = 256;
constexpr int64_t kKeyBlock = 256;

// Positions: query row i sits at position i + offset, offset = k_len - q_len (the queries are the latest
// positions, as with a key/value cache); key column j sits at position j. For self-attention offset = 0.

// True (hidden) where query position p in [p0, p0 + nq) may not see key j in [j0, j0 + nk); an undefined
// tensor when the mask has no rule. Built from [nq, 1] and [1, nk] position vectors: the only [nq, nk]
// tensors are booleans.
torch::Tensor HiddenBlock(const AttentionMask& m, int64_t p0, int64_t nq, int64_t j0, int64_t nk,
                          const torch::Device& device) {
  if (!m.causal && m.window <= 0) return {};
  auto opts = torch::TensorOptions().dtype(torch::kLong).device(device);
  auto p = torch::arange(p0, p0 + nq, opts).unsqueeze(1);
  auto j = torch::arange(j0, j0 + nk, opts).unsqueeze(0);
  torch::Tensor hard, soft;
  if (m.causal) hard = j > p;
  if (m.window > 0) {
    if (m.causal) {
      soft = j <= p - m.window;  // the `window` latest keys, the query's own included
    } else {
      const int64_t half = m.window / 2;
      soft = (j > p + half).logical_or_(j < p - half);
    }
    if (m.global_tokens > 0) {
      auto global = (p < m.global_tokens).logical_or(j < m.global_tokens);
      soft.logical_and_(global.logical_not_());
    }
  }
  if (!hard.defined()) return soft;
  if (!soft.defined()) return hard;
  return hard.logical_or_(soft);
}

// Adds the ALiBi and relative-position biases of the block to scores [batch, heads, nq, nk] in place.
void AddBiasBlock(torch::Tensor& scores, const AttentionMask& m, int64_t p0, int64_t nq, int64_t j0, int64_t nk) {
  const int64_t heads = scores.size(1);
  if (m.alibi_slopes.defined()) {
    auto fopts = torch::TensorOptions().dtype(torch::kFloat).device(scores.device());
    // slope_h * (j - p): one [nq, nk] distance matrix, added per head so no [heads, nq, nk] temporary exists.
    auto rel = (torch::arange(j0, j0 + nk, fopts).unsqueeze(0) - torch::arange(p0, p0 + nq, fopts).unsqueeze(1))
                   .to(scores.scalar_type());
    auto slopes = m.alibi_slopes.to(torch::kCPU, torch::kDouble).contiguous();
    const double* s = slopes.data_ptr<double>();
    for (int64_t h = 0; h < heads; ++h) scores.select(1, h).add_(rel, s[h]);
  }
  if (m.relative_bias.defined()) {
    // Distances in the block run from dmin = j0 - (p0 + nq - 1) to dmax = j0 + nk - 1 - p0; their biases form
    // a [heads, nq + nk - 1] table u, and the block's bias is the Toeplitz view u[h][(nq - 1 - i) + j],
    // flipped along i. No index tensor of [nq, nk] is built.
    const int64_t d = nq + nk - 1;
    const int64_t dmin = j0 - (p0 + nq - 1);
    std::vector<int64_t> buckets(static_cast<size_t>(d));
    for (int64_t t = 0; t < d; ++t)
      buckets[static_cast<size_t>(t)] =
          RelativeBucket(dmin + t, !m.causal, m.relative_buckets, m.relative_max_distance);
    auto index = torch::tensor(buckets, torch::TensorOptions().dtype(torch::kLong)).to(m.relative_bias.device());
    auto u = m.relative_bias.index_select(0, index).t().contiguous().to(scores.device(), scores.scalar_type());
    auto bias = u.as_strided({heads, nq, nk}, {d, 1, 1}).flip({1});
    scores.add_(bias);
  }
}

void CheckInputs(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const AttentionMask& m) {
  if (q.dim() != 4 || k.dim() != 4 || v.dim() != 4)
    throw std::invalid_argument("attention: q, k, v must be [batch, heads, length, head_dim]");
  if (k.size(0) != q.size(0) || v.size(0) != q.size(0) || k.size(1) != v.size(1) || k.size(1) == 0 ||
      q.size(1) % k.size(1) != 0)
    throw std::invalid_argument("attention: q, k, v must agree in batch, and k and v heads must divide q heads");
  if (k.size(2) != v.size(2) || k.size(3) != q.size(3))
    throw std::invalid_argument("attention: k and v lengths, or q and k head dims, differ");
  const int64_t heads = q.size(1);
  if (m.alibi_slopes.defined() && m.alibi_slopes.numel() != heads)
    throw std::invalid_argument("attention: alibi_slopes must have one slope per head");
  if (m.relative_bias.defined()) {
    if (m.relative_bias.dim() != 2 || m.relative_bias.size(1) != heads)
      throw std::invalid_argument("attention: relative_bias must be [buckets, heads]");
    if (m.relative_buckets <= 0 || m.relative_buckets > m.relative_bias.size(0) || m.relative_max_distance <= 0)
      throw std::invalid_argument("attention: relative_bias needs relative_buckets and relative_max_distance");
  }
  if (m.window < 0 || m.global_tokens < 0) throw std::invalid_argument("attention: negative window or global tokens");
}

[[maybe_unused]] bool HasBias(const AttentionMask& m) {
  return m.alibi_slopes.defined() || m.relative_bias.defined();
}

// GQA/MQA without expanding k and v: query head h uses key/value head h / group (repeat_interleave's order), so
// the `group` query heads of one key head are folded into one [group * nq] matrix multiplied by that head's keys.
// k and v are never copied per query head; q is copied once when it is a strided view (as the model's is).
torch::Tensor GroupedScores(const torch::Tensor& q, const torch::Tensor& k) {
  const int64_t batch = q.size(0), heads = q.size(1), nq = q.size(2), kv_heads = k.size(1);
  if (kv_heads == heads) return torch::matmul(q, k.transpose(-2, -1));
  auto folded = q.reshape({batch, kv_heads, heads / kv_heads * nq, q.size(3)});
  return torch::matmul(folded, k.transpose(-2, -1)).view({batch, heads, nq, k.size(2)});
}

// probs [batch, heads, nq, nk] times v [batch, kv_heads, nk, dv] -> [batch, heads, nq, dv], grouped as above.
torch::Tensor GroupedValues(const torch::Tensor& probs, const torch::Tensor& v) {
  const int64_t batch = probs.size(0), heads = probs.size(1), nq = probs.size(2), kv_heads = v.size(1);
  if (kv_heads == heads) return torch::matmul(probs, v);
  auto folded = probs.reshape({batch, kv_heads, heads / kv_heads * nq, probs.size(3)});
  return torch::matmul(folded, v).view({batch, heads, nq, v.size(3)});
}

torch::Tensor Eager(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const AttentionMask& m) {
  const int64_t nq = q.size(2), nk = k.size(2), offset = nk - nq;
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(3)));
  auto scores = GroupedScores(q * scale, k);  // [batch, heads, nq, nk]
  AddBiasBlock(scores, m, offset, nq, 0, nk);
  auto hidden = HiddenBlock(m, offset, nq, 0, nk, q.device());
  if (hidden.defined()) {
    scores.masked_fill_(hidden, kNegInf);
    hidden.reset();
  }
  auto probs = torch::softmax(scores, -1, torch::kFloat);
  scores.reset();
  // A query row with every key hidden (only possible with causal and more queries than keys) gets zeros.
  if (m.causal && offset < 0) probs.nan_to_num_(0.0);
  if (probs.scalar_type() != v.scalar_type()) probs = probs.to(v.scalar_type());
  return GroupedValues(probs, v);
}

torch::Tensor MemoryEfficient(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                              const AttentionMask& m) {
  const int64_t batch = q.size(0), heads = q.size(1), nq_total = q.size(2), nk_total = k.size(2);
  const int64_t offset = nk_total - nq_total, dv = v.size(3);
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(3)));
  // Accumulate in fp32 whatever the input dtype; copies are O(n * head_dim).
  auto qf = q.to(torch::kFloat) * scale;
  auto kf = k.to(torch::kFloat);
  auto vf = v.to(torch::kFloat);
  auto out = torch::empty({batch, heads, nq_total, dv}, q.options());
  auto fopts = qf.options();

  const bool window = m.window > 0;
  // Band of visible distances d = key - query position, before global tokens: the causal bound is hard, the
  // window's can be lifted by global tokens.
  const int64_t kBig = std::numeric_limits<int64_t>::max() / 4;
  const int64_t soft_upper = !window ? kBig : (m.causal ? kBig : m.window / 2);
  const int64_t soft_lower = !window ? -kBig : (m.causal ? -(static_cast<int64_t>(m.window) - 1) : -(m.window / 2));

  for (int64_t i0 = 0; i0 < nq_total; i0 += kQueryBlock) {
    const int64_t nq = std::min(kQueryBlock, nq_total - i0);
    const int64_t p0 = i0 + offset, p1 = p0 + nq - 1;  // first and last query position
    auto qb = qf.narrow(2, i0, nq);
    auto row_max = torch::full({batch, heads, nq, 1}, kNegInf, fopts);
    auto row_sum = torch::zeros({batch, heads, nq, 1}, fopts);
    auto acc = torch::zeros({batch, heads, nq, dv}, fopts);
    for (int64_t j0 = 0; j0 < nk_total; j0 += kKeyBlock) {
      const int64_t nk = std::min(kKeyBlock, nk_total - j0);
      const int64_t dmin = j0 - p1, dmax = j0 + nk - 1 - p0;
      if (m.causal && dmin > 0) break;  // this and every later key block lie after the whole query block
      const bool soft_all_hidden = dmin > soft_upper || dmax < soft_lower;
      const bool touches_global = m.global_tokens > 0 && (j0 < m.global_tokens || p0 < m.global_tokens);
      if (soft_all_hidden && !touches_global) continue;
      const bool need_mask = (m.causal && dmax > 0) || (window && !(dmin >= soft_lower && dmax <= soft_upper));

      auto s = GroupedScores(qb, kf.narrow(2, j0, nk));  // [batch, heads, nq, nk]
      AddBiasBlock(s, m, p0, nq, j0, nk);
      if (need_mask) s.masked_fill_(HiddenBlock(m, p0, nq, j0, nk, q.device()), kNegInf);

      auto new_max = torch::maximum(row_max, std::get<0>(s.max(-1, /*keepdim=*/true)));
      // Rows with nothing visible yet keep max -inf; subtract 0 there so exp gives 0, not NaN.
      auto safe_max = new_max.masked_fill(new_max == kNegInf, 0.0);
      s.sub_(safe_max).exp_();
      auto correction = (row_max - safe_max).exp_();
      row_sum.mul_(correction).add_(s.sum(-1, /*keepdim=*/true));
      acc.mul_(correction).add_(GroupedValues(s, vf.narrow(2, j0, nk)));
      row_max = new_max;
    }
    // Rows that saw no key have sum 0 and acc 0: clamping the divisor leaves them 0.
    acc.div_(row_sum.clamp_min_(std::numeric_limits<float>::min()));
    out.narrow(2, i0, nq).copy_(acc);
  }
  return out;
}

torch::Tensor Fused(const torch::Tensor& q, const torch::Tensor& k_in, const torch::Tensor& v_in,
                    const AttentionMask& m) {
#if TORCH_VERSION_MAJOR >= 2
  // scaled_dot_product_attention takes grouped k and v only from 2.5 (enable_gqa): expand them here.
  const int64_t group = q.size(1) / k_in.size(1);
  const auto k = group == 1 ? k_in : k_in.repeat_interleave(group, /*dim=*/1);
  const auto v = group == 1 ? v_in : v_in.repeat_interleave(group, /*dim=*/1);
  const int64_t nq = q.size(2), nk = k.size(2), offset = nk - nq;
  const bool rules = m.causal || m.window > 0;
  if (!rules && !HasBias(m)) return torch::scaled_dot_product_attention(q, k, v);
  // is_causal aligns the mask top-left, which matches ours only for q_len == k_len.
  if (m.causal && m.window <= 0 && !HasBias(m) && nq == nk)
    return torch::scaled_dot_product_attention(q, k, v, {}, 0.0, /*is_causal=*/true);
  // Explicit additive mask [1 or heads, nq, nk]: the bias plus -inf where hidden.
  const int64_t mask_heads = HasBias(m) ? q.size(1) : 1;
  auto additive = torch::zeros({1, mask_heads, nq, nk}, q.options());
  AddBiasBlock(additive, m, offset, nq, 0, nk);
  auto hidden = HiddenBlock(m, offset, nq, 0, nk, q.device());
  if (hidden.defined()) additive.masked_fill_(hidden, kNegInf);
  return torch::scaled_dot_product_attention(q, k, v, additive);
#else
  (void)q;
  (void)k_in;
  (void)v_in;
  (void)m;
  throw std::runtime_error("attention fused: this libtorch (" + std::to_string(TORCH_VERSION_MAJOR) + "." +
                           std::to_string(TORCH_VERSION_MINOR) +
                           ") has no scaled_dot_product_attention; use eager or memory_efficient");
#endif
}

}  // namespace

torch::Tensor Attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const AttentionMask& mask,
                     v1::AttentionImpl impl) {
  CheckInputs(q, k, v, mask);
  switch (impl) {
    case v1::ATTENTION_IMPL_UNSPECIFIED:
    case v1::ATTENTION_IMPL_EAGER:
      return Eager(q, k, v, mask);
    case v1::ATTENTION_IMPL_MEMORY_EFFICIENT:
      return MemoryEfficient(q, k, v, mask);
    case v1::ATTENTION_IMPL_FUSED:
      return Fused(q, k, v, mask);
    default:
      throw std::invalid_argument("attention: unknown implementation " + std::to_string(static_cast<int>(impl)));
  }
}

int64_t RelativeBucket(int64_t relative_position, bool bidirectional, int buckets, int max_distance) {
  // HF T5 _relative_position_bucket, with its float32 arithmetic for the logarithmic buckets.
  int64_t result = 0;
  int64_t n = buckets;
  int64_t rp = relative_position;
  if (bidirectional) {
    n /= 2;
    if (rp > 0) result += n;
    rp = rp < 0 ? -rp : rp;
  } else {
    rp = rp < 0 ? -rp : 0;
  }
  const int64_t max_exact = n / 2;
  if (rp < max_exact) return result + rp;
  const float log_ratio =
      static_cast<float>(std::log(static_cast<double>(max_distance) / static_cast<double>(max_exact)));
  const float scaled =
      std::log(static_cast<float>(rp) / static_cast<float>(max_exact)) / log_ratio * static_cast<float>(n - max_exact);
  const int64_t large = std::min<int64_t>(max_exact + static_cast<int64_t>(scaled), n - 1);
  return result + large;
}

torch::Tensor AlibiSlopes(int heads) {
  // BLOOM's build_alibi_tensor slopes: the geometric sequence for the closest power of two, then every
  // other slope of the next power of two's sequence for the remaining heads.
  if (heads <= 0) throw std::invalid_argument("AlibiSlopes: heads must be positive");
  int64_t closest = 1;
  while (closest * 2 <= heads) closest *= 2;
  const double base = std::pow(2.0, -std::pow(2.0, -(std::log2(static_cast<double>(closest)) - 3.0)));
  std::vector<float> slopes;
  for (int64_t p = 1; p <= closest; ++p) slopes.push_back(static_cast<float>(std::pow(base, static_cast<double>(p))));
  if (closest != heads) {
    const double extra_base = std::pow(2.0, -std::pow(2.0, -(std::log2(static_cast<double>(2 * closest)) - 3.0)));
    const int64_t remaining = std::min<int64_t>(closest, heads - closest);
    for (int64_t p = 1; p < 1 + 2 * remaining; p += 2)
      slopes.push_back(static_cast<float>(std::pow(extra_base, static_cast<double>(p))));
  }
  return torch::tensor(slopes, torch::TensorOptions().dtype(torch::kFloat));
}

bool FusedAttentionAvailable() {
#if TORCH_VERSION_MAJOR >= 2
  return true;
#else
  return false;
#endif
}

}  // namespace tscale
