#include "runner/transformer.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "runner/checkpoint.h"
#include "runner/linear_attention.h"
#include "runner/mamba.h"

namespace tscale {
namespace {

int64_t Groups(const ModelConfig& c) {
  return c.conv_groups > 1 ? c.conv_groups : 1;
}

}  // namespace

// ------------------------------------------------------------------------------------------- attention

AttentionImpl::AttentionImpl(const ModelConfig& c, bool cross, bool decoder, v1::AttentionImpl impl,
                             const torch::TensorOptions& o)
    : heads_(c.heads),
      kv_heads_(c.EffectiveKvHeads()),
      head_dim_(c.EffectiveHeadDim()),
      dropout_(c.attention_dropout),
      cross_(cross),
      linear_(!cross && c.linear_attention()),
      impl_(impl) {
  const int64_t d = c.hidden, q_width = heads_ * head_dim_, kv_width = kv_heads_ * head_dim_;
  // SqueezeBERT groups q/k/v of self-attention but not the output projection (post_attention_groups = 1).
  const int64_t groups = cross ? 1 : Groups(c);
  q_ = register_module("q", Linear(d, q_width, c.qkv_bias, o, groups));
  k_ = register_module("k", Linear(d, kv_width, c.key_bias, o, groups));  // DeBERTa: no key bias
  v_ = register_module("v", Linear(d, kv_width, c.qkv_bias, o, groups));
  out_ = register_module("out", Linear(q_width, d, c.attn_out_bias, o));
  if (!cross) extras_ = AttentionExtras(*this, c, decoder, o);
}

torch::Tensor AttentionImpl::Heads(const torch::Tensor& projected, int64_t heads) const {
  return projected.view({projected.size(0), projected.size(1), heads, head_dim_}).transpose(1, 2);
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& memory, const LayerContext& context) {
  auto q = q_(x);
  if (cross_) {  // the whole encoder output, no mask; with a cache its keys and values are computed once
    q = Heads(q, heads_);
    LayerKv* kv = context.kv;
    if (!kv || !kv->cross_k.defined()) {
      auto k = Heads(k_(memory), kv_heads_), v = Heads(v_(memory), kv_heads_);
      if (!kv) return Output(Attend(q, k, v, AttentionMask{}, impl_, is_training() ? dropout_ : 0), x);
      kv->cross_k = k;
      kv->cross_v = v;
    }
    return Output(Attend(q, kv->cross_k, kv->cross_v, AttentionMask{}, impl_), x);
  }
  auto k = k_(x), v = v_(x);
  extras_.Project(x, &q, &k, &v);
  q = Heads(q, heads_);
  k = Heads(k, kv_heads_);
  v = Heads(v, kv_heads_);
  if (context.rotary_cos.defined()) {
    q = ApplyRotary(q, context.rotary_cos, context.rotary_sin);
    k = ApplyRotary(k, context.rotary_cos, context.rotary_sin);
  }
  if (linear_) return Output(LinearAttend(q, k, v, context.kv ? &context.kv->linear : nullptr), x);
  AttentionMask mask = context.mask;
  extras_.Bias(context, &mask);
  if (context.kv) {
    CachedKeys cached = AppendToCache(context.kv, context.start, k, v);
    if (cached.unmasked) mask = AttentionMask{};  // a window's ring: every cached key is visible
    return Output(Attend(q, cached.k, cached.v, mask, impl_), x);
  }
  // GQA/MQA: k and v keep their kv_heads (Attend groups queries).
  return Output(Attend(q, k, v, mask, impl_, is_training() ? dropout_ : 0), x);
}

torch::Tensor AttentionImpl::Output(const torch::Tensor& y, const torch::Tensor& x) {
  return out_(y.transpose(1, 2).reshape({x.size(0), x.size(1), heads_ * head_dim_}));
}

// --------------------------------------------------------------------------------------- feed-forward

FeedForwardImpl::FeedForwardImpl(const ModelConfig& c, const torch::TensorOptions& o) : activation_(c.activation) {
  const int64_t groups = Groups(c);  // SqueezeBERT: intermediate_groups = output_groups = conv_groups
  up_ = register_module("up", Linear(c.hidden, c.ffn, c.mlp_bias, o, groups));
  if (activation_ == Activation::kSiluGated) gate_ = register_module("gate", Linear(c.hidden, c.ffn, c.mlp_bias, o));
  down_ = register_module("down", Linear(c.ffn, c.hidden, c.mlp_bias, o, groups));
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
  throw std::logic_error("unknown activation");
}

// ----------------------------------------------------------------------------------------------- block

BlockImpl::BlockImpl(const ModelConfig& c, bool cross_attention, bool decoder, v1::AttentionImpl impl,
                     const torch::TensorOptions& o)
    : placement_(c.norm_placement), parallel_(c.parallel_residual), dropout_(c.dropout) {
  auto norm = [&] { return Norm(c.norm, c.hidden, c.norm_eps, c.bias, o); };
  attention_norm_ = register_module("attention_norm", norm());
  attention_ = register_module("attention", Attention(c, false, decoder, impl, o));
  if (cross_attention) {
    cross_norm_ = register_module("cross_norm", norm());
    cross_attention_ = register_module("cross_attention", Attention(c, true, decoder, impl, o));
  }
  // GPT-J, Phi, Falcon: one norm feeds both parallel branches.
  if (!(parallel_ && c.shared_block_norm)) mlp_norm_ = register_module("mlp_norm", norm());
  mlp_ = register_module("mlp", FeedForward(c, o));
}

torch::Tensor BlockImpl::Dropout(const torch::Tensor& x) {
  return is_training() && dropout_ > 0 ? torch::dropout(x, dropout_, /*train=*/true) : x;
}

torch::Tensor BlockImpl::forward(torch::Tensor x, const torch::Tensor& memory, const LayerContext& context) {
  // Training drops each branch's output before its residual add (HF's hidden/residual dropout).
  auto attend = [&](const torch::Tensor& in) { return Dropout(attention_(in, torch::Tensor(), context)); };
  auto cross = [&](const torch::Tensor& in) { return Dropout(cross_attention_(in, memory, context)); };
  auto mlp = [&](const torch::Tensor& in) { return Dropout(mlp_(in)); };
  if (parallel_) {  // GPT-J/NeoX, Phi, Falcon: both branches read the block input
    auto h = attention_norm_(x);
    return x + attend(h) + mlp(mlp_norm_ ? mlp_norm_(x) : h);
  }
  if (placement_ == NormPlacement::kPre) {  // GPT-2, Llama, T5, Pegasus: normalise each branch's input
    x = x + attend(attention_norm_(x));
    if (cross_attention_) x = x + cross(cross_norm_(x));
    return x + mlp(mlp_norm_(x));
  }
  x = attention_norm_(x + attend(x));  // BERT, BART: normalise after each residual add
  if (cross_attention_) x = cross_norm_(x + cross(x));
  return mlp_norm_(x + mlp(x));
}

// ----------------------------------------------------------------------------------------------- stack

StackImpl::StackImpl(const ModelConfig& c, Kind kind, v1::AttentionImpl impl, const torch::TensorOptions& o,
                     bool checkpoint_layers)
    : config_(c), kind_(kind), causal_(kind != Kind::kEncoder), checkpoint_layers_(checkpoint_layers) {
  const int64_t d = c.hidden, e = c.EffectiveEmbeddingSize();
  const bool factorised = e != d;
  const bool in_out = factorised && c.embedding_projection == EmbeddingProjection::kInOut;
  // ALBERT/ELECTRA add positions and types, and norm, at the embedding width; OPT projects to d first.
  const int64_t embed_width = factorised && !in_out ? e : d;
  if (in_out) project_in_ = register_module("project_in", Linear(e, d, false, o));
  if (c.position == PositionScheme::kLearned)
    positions_ = register_module("positions", Embedding(c.position_rows, embed_width, o));
  if (c.position == PositionScheme::kSinusoidal && c.position_rows > 0) {
    // Pegasus keeps its sinusoids in a frozen nn.Parameter, and the published count includes them.
    auto table =
        IsMeta(o) ? torch::empty({c.position_rows, embed_width}, o) : Sinusoids(c.position_rows, embed_width).to(o);
    sinusoids_ = register_parameter("sinusoids", table, /*requires_grad=*/false);
  }
  if (c.position == PositionScheme::kRelativeBuckets && c.relative_buckets > 0) {
    // T5 keeps this table in layer 0's attention and passes its bias to every layer of the stack; owning it
    // here is the same single [buckets, heads] table per stack.
    relative_bias_ = register_module("relative_attention_bias", Embedding(c.relative_buckets, c.heads, o));
  }
  if (c.relative_positions > 0)  // DeBERTa: one table of relative embeddings for the whole encoder
    relative_embeddings_ = register_module("relative_embeddings", Embedding(2 * c.relative_positions, d, o));
  if (kind == Kind::kCrossDecoder && c.ngram > 0) {
    // ProphetNet's n-gram stream embeddings: counted, but the predict streams they feed are not run (only the
    // main stream is), which the catalog's `approximation` states.
    ngram_ = register_module("ngram_embeddings", Embedding(c.ngram, d, o));
  }
  if (kind == Kind::kEncoder && c.type_vocab > 0)
    token_types_ = register_module("token_types", Embedding(c.type_vocab, embed_width, o));
  if (c.embedding_norm)
    embedding_norm_ = register_module("embedding_norm", Norm(c.norm, embed_width, c.norm_eps, c.bias, o));
  if (factorised && !in_out) embedding_projection_ = register_module("embedding_projection", Linear(e, d, c.bias, o));

  const int layers = kind == Kind::kCrossDecoder ? c.decoder_layers : c.layers;
  const int sets = c.shared_layer_groups > 0 ? std::min(c.shared_layer_groups, layers) : layers;
  blocks_ = register_module("blocks", torch::nn::ModuleList());
  for (int i = 0; i < sets; ++i) {
    if (c.mamba())
      blocks_->push_back(std::make_shared<MambaBlockImpl>(c, o));
    else
      blocks_->push_back(Block(c, /*cross_attention=*/kind == Kind::kCrossDecoder, /*decoder=*/causal_, impl, o));
  }
  // ALBERT: layer i runs parameter group i / (layers / groups); with no sharing, block i.
  for (int i = 0; i < layers; ++i) block_of_layer_.push_back(static_cast<int>(int64_t{i} * sets / layers));

  if (c.final_norm) final_norm_ = register_module("final_norm", Norm(c.norm, d, c.norm_eps, c.bias, o));
  if (in_out) project_out_ = register_module("project_out", Linear(d, e, false, o));
}

LayerContext StackImpl::Context(const torch::Tensor& x, int64_t start) const {
  LayerContext context;
  context.mask.causal = causal_;
  const int64_t n = x.size(1);
  if (config_.position == PositionScheme::kAlibi) context.mask.alibi_slopes = AlibiSlopes(config_.heads).to(x.device());
  if (relative_bias_) {
    context.mask.relative_bias = relative_bias_->weight();
    context.mask.relative_buckets = config_.relative_buckets;
    context.mask.relative_max_distance = config_.relative_max_distance;
  }
  if (relative_embeddings_) context.relative_embeddings = relative_embeddings_->weight();
  if (config_.position == PositionScheme::kRotary) RotaryTables(config_, n, x, &context, start);
  context.start = start;
  return context;
}

torch::Tensor StackImpl::forward(torch::Tensor x, const torch::Tensor& memory, KvCache* cache) {
  const int64_t n = x.size(1), start = cache ? cache->length() : 0;
  if (cache && !causal_) throw std::logic_error("KV cache: an encoder stack does not generate");
  if (project_in_) x = project_in_(x);
  if (positions_) x = x + positions_(PositionIds(config_, n, x.device(), start)).unsqueeze(0);
  if (sinusoids_.defined()) {
    x = x + sinusoids_.index_select(0, PositionIds(config_, n, x.device(), start)).unsqueeze(0);
  } else if (config_.position == PositionScheme::kSinusoidal) {  // no table: computed for these positions
    x = x + Sinusoids(n, x.size(-1), start).to(x.options()).unsqueeze(0);
  }
  if (token_types_) x = x + token_types_->weight()[0];  // every token has type 0
  if (embedding_norm_) x = embedding_norm_(x);
  if (embedding_projection_) x = embedding_projection_(x);
  if (is_training() && config_.dropout > 0) x = torch::dropout(x, config_.dropout, /*train=*/true);

  LayerContext context = Context(x, start);
  for (size_t layer = 0; layer < block_of_layer_.size(); ++layer) {
    context.kv = cache ? &cache->layer(layer) : nullptr;
    // GPT-Neo windows odd layers only; Mistral, Longformer and BigBird every layer (window + global tokens).
    const bool windowed = config_.WindowedLayer(static_cast<int>(layer));
    context.mask.window = windowed ? config_.attention_window : 0;
    context.mask.global_tokens = windowed ? config_.global_tokens : 0;
    auto block = std::static_pointer_cast<StackLayer>((*blocks_)[block_of_layer_[layer]]);
    if (checkpoint_layers_ && is_training()) {
      // The layer's context by value: backward reruns the block after this loop has moved on.
      x = Checkpointed([block, context](const torch::Tensor& in,
                                        const torch::Tensor& mem) mutable { return block->forward(in, mem, context); },
                       x, memory);
    } else {
      x = block->forward(x, memory, context);
    }
  }
  if (final_norm_) x = final_norm_(x);
  if (project_out_) x = project_out_(x);
  return x;
}

// ----------------------------------------------------------------------------------------- transformer

TransformerImpl::TransformerImpl(const ModelConfig& c, const BuildOptions& options) : config_(c) {
  const auto o = torch::TensorOptions().dtype(options.dtype).device(options.device);
  tokens_ = register_module("tokens", Embedding(c.vocab, c.EffectiveEmbeddingSize(), o));
  if (c.arch == ArchKind::kDecoder) {
    stack_ = register_module("decoder",
                             Stack(c, StackImpl::Kind::kDecoderOnly, options.attention, o, options.checkpoint_layers));
  } else {
    stack_ = register_module("encoder",
                             Stack(c, StackImpl::Kind::kEncoder, options.attention, o, options.checkpoint_layers));
  }
  if (c.arch == ArchKind::kEncoderDecoder)
    decoder_ = register_module(
        "decoder", Stack(c, StackImpl::Kind::kCrossDecoder, options.attention, o, options.checkpoint_layers));
  if (c.pooler) pooler_ = register_module("pooler", Linear(c.hidden, c.hidden, true, o));
  if (options.lm_head && !c.tied_head)
    lm_head_ = register_module("lm_head", Linear(OutputWidth(), c.vocab, c.head_bias, o));
  if (options.lm_head && c.tied_head && OutputWidth() != c.EffectiveEmbeddingSize())
    head_projection_ = register_module("head_projection", Linear(OutputWidth(), c.EffectiveEmbeddingSize(), true, o));
}

torch::Tensor TransformerImpl::Embed(const torch::Tensor& ids) {
  auto x = tokens_(ids);
  return config_.scale_embedding ? x * std::sqrt(static_cast<double>(config_.hidden)) : x;
}

torch::Tensor TransformerImpl::forward(const torch::Tensor& input_ids, const torch::Tensor& decoder_input_ids) {
  auto x = stack_(Embed(input_ids), torch::Tensor());
  if (decoder_) return decoder_(Embed(decoder_input_ids.defined() ? decoder_input_ids : input_ids), x);
  if (pooler_) {
    // The pooled first token is part of the base model's work; its value is not needed here.
    (void)torch::tanh(pooler_(x.select(1, 0)));
  }
  return x;
}

torch::Tensor TransformerImpl::ForwardCached(const torch::Tensor& ids, KvCache* cache,
                                             const torch::Tensor& encoder_ids) {
  if (config_.arch == ArchKind::kEncoder)
    throw std::invalid_argument(config_.id + " is an encoder: it has no causal stack to generate with");
  torch::Tensor x;
  if (decoder_) {
    // The encoder runs once, with the prompt; later steps read its keys and values from the cache.
    const torch::Tensor memory = cache->length() == 0 ? stack_(Embed(encoder_ids), torch::Tensor()) : torch::Tensor();
    x = decoder_(Embed(ids), memory, cache);
  } else {
    x = stack_(Embed(ids), torch::Tensor(), cache);
  }
  cache->Advance(ids.size(1));
  return x;
}

torch::Tensor TransformerImpl::Logits(const torch::Tensor& hidden) {
  if (config_.tied_head) {
    if (head_projection_) return torch::matmul(head_projection_(hidden), tokens_->weight().t());
    if (OutputWidth() != config_.EffectiveEmbeddingSize())
      throw std::logic_error(config_.id + ": its tied LM head needs the projection BuildOptions::lm_head builds");
    return torch::matmul(hidden, tokens_->weight().t());
  }
  if (!lm_head_)
    throw std::logic_error(config_.id + ": its LM head is not tied and was not built (BuildOptions::lm_head)");
  return lm_head_(hidden);
}

int64_t TransformerImpl::ParameterCount() const {
  int64_t total = 0;
  for (const auto& p : parameters()) total += p.numel();
  return total;
}

int64_t TransformerImpl::OutputWidth() const {
  const bool in_out =
      config_.EffectiveEmbeddingSize() != config_.hidden && config_.embedding_projection == EmbeddingProjection::kInOut;
  return in_out ? config_.EffectiveEmbeddingSize() : config_.hidden;
}

int64_t MetaParameterCount(const ModelConfig& config) {
  BuildOptions options;
  options.device = torch::kMeta;
  Transformer model(config, options);
  return model->ParameterCount();
}

}  // namespace tscale
