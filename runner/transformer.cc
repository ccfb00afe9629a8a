#include "runner/transformer.h"

#include <cmath>

namespace tscale {
namespace {

torch::nn::Linear MakeLinear(int64_t in, int64_t out, bool bias) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias));
}

}  // namespace

NormImpl::NormImpl(NormType type, int64_t width, double eps) : type_(type), eps_(eps) {
  weight_ = register_parameter("weight", torch::ones({width}));
  if (type_ == NormType::kLayerNorm) bias_ = register_parameter("bias", torch::zeros({width}));
}

torch::Tensor NormImpl::forward(const torch::Tensor& x) {
  if (type_ == NormType::kLayerNorm) return torch::layer_norm(x, {x.size(-1)}, weight_, bias_, eps_);
  auto variance = x.pow(2).mean(-1, /*keepdim=*/true);
  return x * torch::rsqrt(variance + eps_) * weight_;
}

SelfAttentionImpl::SelfAttentionImpl(const ModelConfig& c)
    : heads_(c.heads), kv_heads_(c.EffectiveKvHeads()), head_dim_(c.EffectiveHeadDim()), causal_(c.causal()) {
  q_ = register_module("q", MakeLinear(c.hidden, heads_ * head_dim_, c.bias));
  k_ = register_module("k", MakeLinear(c.hidden, kv_heads_ * head_dim_, c.bias));
  v_ = register_module("v", MakeLinear(c.hidden, kv_heads_ * head_dim_, c.bias));
  out_ = register_module("out", MakeLinear(heads_ * head_dim_, c.hidden, c.bias));
}

torch::Tensor SelfAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t batch = x.size(0), seq = x.size(1);
  auto q = q_(x).view({batch, seq, heads_, head_dim_}).transpose(1, 2);
  auto k = k_(x).view({batch, seq, kv_heads_, head_dim_}).transpose(1, 2);
  auto v = v_(x).view({batch, seq, kv_heads_, head_dim_}).transpose(1, 2);
  if (kv_heads_ != heads_) {  // GQA/MQA: each key/value head serves heads/kv_heads query heads
    k = k.repeat_interleave(heads_ / kv_heads_, /*dim=*/1);
    v = v.repeat_interleave(heads_ / kv_heads_, /*dim=*/1);
  }
  // Eager attention: the full [batch, heads, seq, seq] score matrix is materialised.
  auto scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(head_dim_));
  if (causal_) {
    auto future = torch::ones({seq, seq}, torch::TensorOptions().dtype(torch::kBool).device(x.device())).triu(1);
    scores = scores.masked_fill(future, -std::numeric_limits<float>::infinity());
  }
  auto y = torch::matmul(torch::softmax(scores, -1), v);
  return out_(y.transpose(1, 2).contiguous().view({batch, seq, heads_ * head_dim_}));
}

FeedForwardImpl::FeedForwardImpl(const ModelConfig& c) : activation_(c.activation) {
  up_ = register_module("up", MakeLinear(c.hidden, c.ffn, c.bias));
  if (activation_ == Activation::kSiluGated) gate_ = register_module("gate", MakeLinear(c.hidden, c.ffn, c.bias));
  down_ = register_module("down", MakeLinear(c.ffn, c.hidden, c.bias));
}

torch::Tensor FeedForwardImpl::forward(const torch::Tensor& x) {
  switch (activation_) {
    case Activation::kGelu:
      return down_(torch::gelu(up_(x)));
    case Activation::kGeluTanh:
      return down_(torch::gelu(up_(x), "tanh"));
    case Activation::kRelu:
      return down_(torch::relu(up_(x)));
    case Activation::kSiluGated:
      return down_(torch::silu(gate_(x)) * up_(x));
  }
  return x;
}

BlockImpl::BlockImpl(const ModelConfig& c) : placement_(c.norm_placement) {
  norm1_ = register_module("norm1", Norm(c.norm, c.hidden, c.norm_eps));
  attention_ = register_module("attention", SelfAttention(c));
  norm2_ = register_module("norm2", Norm(c.norm, c.hidden, c.norm_eps));
  mlp_ = register_module("mlp", FeedForward(c));
}

torch::Tensor BlockImpl::forward(torch::Tensor x) {
  if (placement_ == NormPlacement::kPre) {  // GPT-2: normalise the branch input
    x = x + attention_(norm1_(x));
    return x + mlp_(norm2_(x));
  }
  x = norm1_(x + attention_(x));  // BERT: normalise after each residual add
  return norm2_(x + mlp_(x));
}

TransformerImpl::TransformerImpl(const ModelConfig& c) : config_(c) {
  const int64_t e = c.EffectiveEmbeddingSize();
  tokens_ = register_module("tokens", torch::nn::Embedding(c.vocab, e));
  if (c.position == PositionScheme::kLearned)
    positions_ = register_module("positions", torch::nn::Embedding(c.position_rows, e));
  if (c.type_vocab > 0) token_types_ = register_module("token_types", torch::nn::Embedding(c.type_vocab, e));
  if (c.embedding_norm) embedding_norm_ = register_module("embedding_norm", Norm(c.norm, e, c.norm_eps));
  if (e != c.hidden) embedding_projection_ = register_module("embedding_projection", MakeLinear(e, c.hidden, c.bias));
  blocks_ = register_module("blocks", torch::nn::ModuleList());
  for (int i = 0; i < c.layers; ++i) blocks_->push_back(Block(c));
  if (c.final_norm) final_norm_ = register_module("final_norm", Norm(c.norm, c.hidden, c.norm_eps));
  if (c.pooler) pooler_ = register_module("pooler", MakeLinear(c.hidden, c.hidden, true));
}

torch::Tensor TransformerImpl::PositionIds(int64_t seq_len, const torch::Device& device) const {
  auto ids = torch::arange(seq_len, torch::TensorOptions().dtype(torch::kLong).device(device));
  const int64_t usable = config_.position_rows - config_.position_offset;
  // Past the table (extended context) positions wrap: the arithmetic and memory are those of a model
  // whose table was extended, which is what an extended-context run measures.
  if (seq_len > usable) ids = ids.remainder(usable);
  return ids + config_.position_offset;
}

torch::Tensor TransformerImpl::forward(const torch::Tensor& input_ids) {
  auto x = tokens_(input_ids);
  if (positions_) x = x + positions_(PositionIds(input_ids.size(1), input_ids.device())).unsqueeze(0);
  if (token_types_) x = x + token_types_(torch::zeros_like(input_ids));
  if (embedding_norm_) x = embedding_norm_(x);
  if (embedding_projection_) x = embedding_projection_(x);
  for (const auto& block : *blocks_) x = block->as<Block>()->forward(x);
  if (final_norm_) x = final_norm_(x);
  if (pooler_) {
    // The pooled first token is part of the base model's work; its value is not needed here.
    (void)torch::tanh(pooler_(x.select(1, 0)));
  }
  return x;
}

int64_t TransformerImpl::ParameterCount() const {
  int64_t total = 0;
  for (const auto& p : parameters()) total += p.numel();
  return total;
}

}  // namespace tscale
