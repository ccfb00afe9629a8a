#include "runner/attention.h"

#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
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

torch::Tensor Eager(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const AttentionMask& m,
                    double dropout) {
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
  if (dropout > 0) probs = torch::dropout(probs, dropout, /*train=*/true);
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

// The fused path hands the rules to torch::scaled_dot_product_attention (SDPA) as below; which kernel SDPA runs is
// its own choice (`at::_fused_sdp_choice`; DescribeFusedPath and bench/attention_impls.cc print it):
//   no mask, no bias (any q_len, k_len)  no attn_mask;
//   causal alone, q_len == k_len          is_causal, no attn_mask (is_causal aligns top-left, so only then); the
//                                         kernels skip the key blocks after each query block;
//   anything else: a window, global tokens, causal with q_len != k_len, ALiBi, T5
//                                         an additive float mask [1, mask_heads, q_len, k_len] in q's dtype, the bias
//                                         plus -inf where hidden: SDPA has no window or bias rule, so the mask is the
//                                         only way to say it. mask_heads = 1 for rules alone (a window at 8192 tokens:
//                                         256 MiB in fp32, whatever the batch and heads, plus a 64 MiB boolean while it
//                                         is built); = heads with ALiBi or T5, the size of eager's whole score matrix
//                                         (heads * n^2 * 4 bytes): SDPA cannot take a per-head bias any cheaper.
//   A window wider than the sequence hides nothing and is dropped first (Mistral's 4096 up to 4096 tokens: is_causal).
// libtorch 2.6 on the CPU (checked, bench/attention_impls.cc): every one of these calls runs the CPU flash kernel,
// masks included; with a mask it reads the mask block by block but visits every key block, so a window costs the
// full n^2 work there (memory_efficient skips the blocks outside the band). On CUDA (read from libtorch's sources,
// not run here): no mask or is_causal takes flash / memory-efficient / cuDNN; a float mask the memory-efficient
// kernel where its checks pass, else the math path, which materialises the scores (O(heads * n^2), as eager).
// GQA/MQA: k and v go unexpanded with enable_gqa (libtorch >= 2.5) when SDPA picks a fused kernel for that call;
// otherwise they are expanded here, since the math path would expand them anyway (2.6's CPU flash kernel does not
// take enable_gqa, so on the CPU they are expanded).
#if TORCH_VERSION_MAJOR >= 2
constexpr bool kSdpaHasGqa = TORCH_VERSION_MAJOR > 2 || TORCH_VERSION_MINOR >= 5;

struct FusedCall {
  torch::Tensor mask;  // undefined: no attn_mask
  bool is_causal = false;
  bool enable_gqa = false;  // k and v passed unexpanded
};

// SDPA's backend for a call (-1 error, 0 math, 1 flash, 2 efficient, 3 cuDNN, 4 overrideable); -2 where the
// device has no _fused_sdp_choice (MPS: SDPA picks its own kernel there).
int64_t SdpaChoice(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const FusedCall& call) {
  if (!q.device().is_cpu() && !q.device().is_cuda()) return -2;
    // `{}` for the optional arguments: before 2.4 they are c10::optional, which a std::optional does not convert to.
#if TORCH_VERSION_MAJOR > 2 || TORCH_VERSION_MINOR >= 5
  if (call.mask.defined()) return at::_fused_sdp_choice(q, k, v, call.mask, 0.0, call.is_causal, {}, call.enable_gqa);
  return at::_fused_sdp_choice(q, k, v, {}, 0.0, call.is_causal, {}, call.enable_gqa);
#else
  if (call.mask.defined()) return at::_fused_sdp_choice(q, k, v, call.mask, 0.0, call.is_causal);
  return at::_fused_sdp_choice(q, k, v, {}, 0.0, call.is_causal);
#endif
}

torch::Tensor Sdpa(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const FusedCall& call,
                   double dropout = 0) {
#if TORCH_VERSION_MAJOR > 2 || TORCH_VERSION_MINOR >= 5
  if (call.mask.defined())
    return torch::scaled_dot_product_attention(q, k, v, call.mask, dropout, call.is_causal, {}, call.enable_gqa);
  return torch::scaled_dot_product_attention(q, k, v, {}, dropout, call.is_causal, {}, call.enable_gqa);
#else
  if (call.mask.defined()) return torch::scaled_dot_product_attention(q, k, v, call.mask, dropout, call.is_causal);
  return torch::scaled_dot_product_attention(q, k, v, {}, dropout, call.is_causal);
#endif
}

// What Fused passes to SDPA. With materialise false the mask is a broadcast zero of the right shape (no memory),
// enough for SdpaChoice, which looks only at shapes.
FusedCall PlanFused(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const AttentionMask& m,
                    bool materialise) {
  FusedCall call;
  const int64_t nq = q.size(2), nk = k.size(2), offset = nk - nq;
  // A window that hides nothing at this length (Mistral's 4096 at up to 4096 tokens) is dropped, so such a call
  // stays maskless (is_causal) instead of paying for an [n, n] mask. Distances |key - query| reach max(nq, nk) - 1.
  const bool window_hides = m.causal ? m.window < nk : m.window / 2 < std::max(nq, nk) - 1;
  AttentionMask rules = m;
  if (!window_hides) rules.window = rules.global_tokens = 0;
  const int window = rules.window;
  if (!m.causal && window <= 0 && !HasBias(m)) {
    // No attn_mask.
  } else if (m.causal && window <= 0 && !HasBias(m) && nq == nk) {
    call.is_causal = true;  // is_causal aligns the mask top-left, which matches ours only for q_len == k_len
  } else {
    const int64_t mask_heads = HasBias(m) ? q.size(1) : 1;
    if (!materialise) {
      // Last-dim stride 1 like the real mask, in case a kernel's check looks at it.
      call.mask = torch::zeros({1, 1, 1, nk}, q.options()).expand({1, mask_heads, nq, nk});
    } else {
      call.mask = torch::zeros({1, mask_heads, nq, nk}, q.options());
      AddBiasBlock(call.mask, rules, offset, nq, 0, nk);
      auto hidden = HiddenBlock(rules, offset, nq, 0, nk, q.device());
      if (hidden.defined()) call.mask.masked_fill_(hidden, kNegInf);
    }
  }
  if (kSdpaHasGqa && k.size(1) != q.size(1)) {
    FusedCall grouped = call;
    grouped.enable_gqa = true;
    const int64_t backend = SdpaChoice(q, k, v, grouped);
    call.enable_gqa = backend > 0;  // a fused kernel takes the grouped heads; math (0) would expand them itself
  }
  return call;
}

const char* BackendName(int64_t backend) {
  switch (backend) {
    case 0:
      return "math";
    case 1:
      return "flash_attention";
    case 2:
      return "efficient_attention";
    case 3:
      return "cudnn_attention";
    case 4:
      return "overrideable";
    case -2:
      return "chosen by the device's SDPA (no _fused_sdp_choice here)";
    default:
      return "none (error)";
  }
}
#endif

torch::Tensor Fused(const torch::Tensor& q, const torch::Tensor& k_in, const torch::Tensor& v_in,
                    const AttentionMask& m, double dropout) {
#if TORCH_VERSION_MAJOR >= 2
  const FusedCall call = PlanFused(q, k_in, v_in, m, /*materialise=*/true);
  const int64_t group = q.size(1) / k_in.size(1);
  const bool expand = group > 1 && !call.enable_gqa;
  const auto k = expand ? k_in.repeat_interleave(group, /*dim=*/1) : k_in;
  const auto v = expand ? v_in.repeat_interleave(group, /*dim=*/1) : v_in;
  return Sdpa(q, k, v, call, dropout);
#else
  (void)dropout;
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
                     v1::AttentionImpl impl, double dropout) {
  CheckInputs(q, k, v, mask);
  switch (impl) {
    case v1::ATTENTION_IMPL_UNSPECIFIED:
    case v1::ATTENTION_IMPL_EAGER:
      return Eager(q, k, v, mask, dropout);
    case v1::ATTENTION_IMPL_MEMORY_EFFICIENT:
      // Autograd through the online softmax would keep every block's scores (the n x n memory it avoids) and
      // trips over its in-place updates; a recomputing backward is not written yet.
      if (torch::GradMode::is_enabled() && (q.requires_grad() || k.requires_grad() || v.requires_grad()))
        throw std::runtime_error(
            "attention memory_efficient: has no backward pass (train with eager, or fused on libtorch 2.x)");
      if (dropout > 0) throw std::runtime_error("attention memory_efficient: attention dropout is not supported");
      return MemoryEfficient(q, k, v, mask);
    case v1::ATTENTION_IMPL_FUSED:
      return Fused(q, k, v, mask, dropout);
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

FusedPath DescribeFusedPath(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                            const AttentionMask& mask) {
  CheckInputs(q, k, v, mask);
  FusedPath path;
#if TORCH_VERSION_MAJOR >= 2
  const FusedCall call = PlanFused(q, k, v, mask, /*materialise=*/false);
  path.available = true;
  path.call = call.is_causal ? "is_causal" : "no mask";
  if (call.mask.defined()) {
    path.mask_bytes = call.mask.numel() * static_cast<int64_t>(call.mask.element_size());
    char buffer[96];
    std::snprintf(buffer, sizeof buffer, "mask [1,%lld,%lld,%lld] %.0f MiB", static_cast<long long>(call.mask.size(1)),
                  static_cast<long long>(call.mask.size(2)), static_cast<long long>(call.mask.size(3)),
                  static_cast<double>(path.mask_bytes) / (1024.0 * 1024.0));
    path.call = buffer;
  }
  if (k.size(1) != q.size(1)) path.call += call.enable_gqa ? ", enable_gqa" : ", k/v expanded";
  // The backend for the call as Fused makes it, with k and v expanded where it expands them (a broadcast view:
  // the choice reads shapes, not data).
  torch::Tensor k_call = k, v_call = v;
  if (k.size(1) != q.size(1) && !call.enable_gqa) {
    k_call = k.narrow(1, 0, 1).expand({k.size(0), q.size(1), k.size(2), k.size(3)});
    v_call = v.narrow(1, 0, 1).expand({v.size(0), q.size(1), v.size(2), v.size(3)});
  }
  path.backend = BackendName(SdpaChoice(q, k_call, v_call, call));
#endif
  return path;
}

}  // namespace tscale
