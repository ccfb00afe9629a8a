#include "runner/attention_extras.h"

#include <algorithm>
#include <cmath>

namespace tscale {

AttentionExtras::AttentionExtras(torch::nn::Module& owner, const ModelConfig& config, bool decoder,
                                 const torch::TensorOptions& o)
    : heads_(config.heads), head_dim_(config.EffectiveHeadDim()), global_tokens_(config.global_tokens) {
  const int64_t d = config.hidden, q_width = heads_ * head_dim_, kv_width = config.EffectiveKvHeads() * head_dim_;
  if (config.global_projections) {
    q_global_ = owner.register_module("q_global", Linear(d, q_width, config.qkv_bias, o));
    k_global_ = owner.register_module("k_global", Linear(d, kv_width, config.qkv_bias, o));
    v_global_ = owner.register_module("v_global", Linear(d, kv_width, config.qkv_bias, o));
  }
  if (config.relative_positions > 0) {  // DeBERTa: pos_proj (no bias) and pos_q_proj (bias)
    relative_positions_ = config.relative_positions;
    pos_key_ = owner.register_module("pos_key", Linear(d, q_width, false, o));
    pos_query_ = owner.register_module("pos_query", Linear(d, q_width, true, o));
  }
  if (decoder && config.relative_bias_projection && config.relative_buckets > 0) {  // ProphetNet decoder self-attention
    relative_buckets_ = config.relative_buckets;
    relative_max_distance_ = config.relative_max_distance;
    relative_projection_ =
        owner.register_module("relative_projection", Linear(d, config.relative_buckets * heads_, true, o));
  }
}

// Longformer approximated: its global tokens (the first global_tokens positions) take their queries, keys and
// values from the separate global projections; every other token uses the local ones.
void AttentionExtras::Project(const torch::Tensor& x, torch::Tensor* q, torch::Tensor* k, torch::Tensor* v) {
  if (!q_global_) return;
  const int64_t n = x.size(1), g = std::min<int64_t>(global_tokens_, n);
  if (g == 0) return;
  auto head = x.narrow(1, 0, g);
  *q = torch::cat({q_global_(head), q->narrow(1, g, n - g)}, 1);
  *k = torch::cat({k_global_(head), k->narrow(1, g, n - g)}, 1);
  *v = torch::cat({v_global_(head), v->narrow(1, g, n - g)}, 1);
}

void AttentionExtras::Bias(const LayerContext& context, AttentionMask* mask) {
  if (relative_projection_) {
    // ProphetNet approximated: HF projects every query's hidden state to its own bucket logits. Attend takes one
    // [buckets, heads] table, and one built from the hidden states would mix later tokens (or other batch
    // items) into earlier outputs; the table is the projection's response to a zero state (its bias). The
    // omitted per-token projection is 2 * d * buckets * heads FLOPs per token.
    mask->relative_bias = relative_projection_->bias().view({relative_buckets_, heads_});
    mask->relative_buckets = relative_buckets_;
    mask->relative_max_distance = relative_max_distance_;
  }
  if (pos_key_) {
    // DeBERTa approximated: the relative embeddings go through pos_proj and pos_q_proj as in HF (the same
    // parameters and projection work), and their per-head product becomes a [2k, heads] bias that Attend adds
    // by relative position. HF's content-to-position and position-to-content terms gather a different bias
    // per query, which one shared table cannot express; their O(n * 2k * head_dim) products are omitted.
    const int64_t rows = context.relative_embeddings.size(0);
    auto pos_key = pos_key_(context.relative_embeddings).view({rows, heads_, head_dim_});
    auto pos_query = pos_query_(context.relative_embeddings).view({rows, heads_, head_dim_});
    mask->relative_bias = (pos_key * pos_query).sum(-1) / std::sqrt(static_cast<double>(head_dim_));
    mask->relative_buckets = static_cast<int>(rows);
    mask->relative_max_distance = relative_positions_;
  }
}

}  // namespace tscale
