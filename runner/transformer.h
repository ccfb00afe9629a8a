// A transformer built from a ModelConfig, in the spirit of nanoGPT: one readable file, with every
// architecture variant of the catalog selected by config data, not by per-model classes:
//
//   Transformer   shared token embedding + one Stack (encoder, or decoder-only) + a cross-attending decoder
//                 Stack for encoder-decoders + the BERT-style pooler;
//   Stack         position scheme, token types, embedding norm/projection, its layers (runner/stack_layer.h),
//                 final norm;
//   Block         pre-LN / post-LN / parallel residual, optional cross-attention; a Mamba model's layers are
//                 runner/mamba.h's MambaBlock instead;
//   Attention     self- or cross-attention: MHA/GQA/MQA, rotary, per-projection biases; the attention itself is
//                 runner/attention.h's Attend (softmax) or runner/linear_attention.h's LinearAttend (linear),
//                 the family approximations runner/attention_extras.h;
//   FeedForward   GELU / GELU-tanh / ReLU / SwiGLU, dense or grouped (SqueezeBERT).
//
// Layers (Linear, Embedding, Norm) are runner/layers.h, position schemes runner/positions.h. Every layer takes
// TensorOptions, so the same code builds the model with real random weights (seeded by the
// caller through torch::manual_seed) or shape-only on the meta device (torch::kMeta: nothing allocated), which
// is how models too large for this machine are counted. forward() returns the last hidden states; generation
// goes through ForwardCached with a KvCache (runner/kv_cache.h) and Logits, the LM head.
#pragma once

#include <torch/torch.h>

#include "common/model_config.h"
#include "runner/attention.h"
#include "runner/attention_extras.h"
#include "runner/kv_cache.h"
#include "runner/layers.h"
#include "runner/positions.h"
#include "runner/stack_layer.h"
#include "tscale/v1/tscale.pb.h"

namespace tscale {

struct BuildOptions {
  // torch::kCPU (or another real device): random weights. torch::kMeta: shapes only, for counting parameters.
  torch::Device device = torch::kCPU;
  // The parameters' dtype, used from the start: no fp32 copy to convert afterwards (which would double a bf16
  // model's memory during the build and leave freed fp32 pages in the after-load RSS).
  torch::ScalarType dtype = torch::kFloat;
  v1::AttentionImpl attention = v1::ATTENTION_IMPL_EAGER;
  // Generation: build the LM head too when it is not the token embedding (ModelArchitecture::tied_head). Off by
  // default, so ParameterCount() is the base model's, as the catalog counts it.
  bool lm_head = false;
  // Training: each block's forward runs through runner/checkpoint.h (its activations recomputed in backward).
  bool checkpoint_layers = false;
};

// Multi-head attention, self or cross: MHA/GQA/MQA, rotary, per-projection biases; the attention itself is
// runner/attention.h's Attend. Family approximations (Longformer, DeBERTa, ProphetNet) are AttentionExtras.
class AttentionImpl : public torch::nn::Module {
 public:
  // cross: queries from x, keys and values from the encoder output (no mask, no positions, no extras).
  // decoder: this attention is in a causal (decoder) stack.
  AttentionImpl(const ModelConfig& config, bool cross, bool decoder, v1::AttentionImpl impl,
                const torch::TensorOptions& options);
  // memory: the encoder output for cross-attention, undefined for self-attention.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& memory, const LayerContext& context);

 private:
  torch::Tensor Heads(const torch::Tensor& projected, int64_t heads) const;  // [b, n, h*hd] -> [b, h, n, hd]
  torch::Tensor Output(const torch::Tensor& y, const torch::Tensor& x);      // [b, h, n, hd] -> out([b, n, d])

  int64_t heads_, kv_heads_, head_dim_;
  double dropout_;  // on the attention probabilities, in train mode
  bool cross_;
  bool linear_;  // attention_kind linear (runner/linear_attention.h): the job's attention implementation is unused
  v1::AttentionImpl impl_;
  Linear q_{nullptr}, k_{nullptr}, v_{nullptr}, out_{nullptr};
  AttentionExtras extras_;
};
TORCH_MODULE(Attention);

class FeedForwardImpl : public torch::nn::Module {
 public:
  FeedForwardImpl(const ModelConfig& config, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  Activation activation_;
  Linear up_{nullptr}, gate_{nullptr}, down_{nullptr};
};
TORCH_MODULE(FeedForward);

class BlockImpl : public StackLayer {
 public:
  BlockImpl(const ModelConfig& config, bool cross_attention, bool decoder, v1::AttentionImpl impl,
            const torch::TensorOptions& options);
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& memory, const LayerContext& context) override;

 private:
  torch::Tensor Dropout(const torch::Tensor& x);  // the hidden dropout on a branch's output, in train mode

  NormPlacement placement_;
  bool parallel_;
  double dropout_;
  Norm attention_norm_{nullptr}, cross_norm_{nullptr}, mlp_norm_{nullptr};  // mlp_norm_ absent when shared
  Attention attention_{nullptr}, cross_attention_{nullptr};
  FeedForward mlp_{nullptr};
};
TORCH_MODULE(Block);

// One stack of blocks with its own position embedding, norms and projections.
class StackImpl : public torch::nn::Module {
 public:
  enum class Kind { kEncoder, kDecoderOnly, kCrossDecoder };
  StackImpl(const ModelConfig& config, Kind kind, v1::AttentionImpl impl, const torch::TensorOptions& options,
            bool checkpoint_layers = false);
  // token_embeddings: [b, n, embedding_size] from the shared table; memory: encoder output (kCrossDecoder).
  // cache: generation's KV cache (a causal stack only): the tokens sit at positions cache->length() onwards.
  torch::Tensor forward(torch::Tensor token_embeddings, const torch::Tensor& memory, KvCache* cache = nullptr);

 private:
  LayerContext Context(const torch::Tensor& x, int64_t start) const;

  ModelConfig config_;
  Kind kind_;
  bool causal_;
  bool checkpoint_layers_;
  Embedding positions_{nullptr}, token_types_{nullptr}, relative_bias_{nullptr}, relative_embeddings_{nullptr};
  Embedding ngram_{nullptr};
  torch::Tensor sinusoids_;  // Pegasus: a frozen parameter (counted in the published total)
  Norm embedding_norm_{nullptr}, final_norm_{nullptr};
  Linear embedding_projection_{nullptr}, project_in_{nullptr}, project_out_{nullptr};
  torch::nn::ModuleList blocks_;
  std::vector<int> block_of_layer_;  // layer -> index in blocks_ (ALBERT reuses one block for every layer)
  torch::Tensor alibi_slopes_;       // not a parameter: a function of the head count
};
TORCH_MODULE(Stack);

class TransformerImpl : public torch::nn::Module {
 public:
  explicit TransformerImpl(const ModelConfig& config, const BuildOptions& options = {});
  // input_ids: [batch, seq] int64. Encoder-decoders also take decoder_input_ids [batch, dec_seq] (undefined:
  // input_ids) and return the decoder's hidden states. Returns [batch, seq, OutputWidth()].
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& decoder_input_ids = {});
  // Generation: appends `ids` [batch, n] to the decoder — the prompt on the first call, then one token per call
  // — and returns the decoder's hidden states for them [batch, n, OutputWidth()], advancing `cache`. An
  // encoder-decoder encodes `encoder_ids` on the first call (its keys and values are then cached per layer) and
  // takes the decoder's own tokens as `ids`. Throws std::invalid_argument for an encoder-only model.
  torch::Tensor ForwardCached(const torch::Tensor& ids, KvCache* cache, const torch::Tensor& encoder_ids = {});
  // The LM head: logits [..., vocab] of hidden states [..., OutputWidth()], through the token embedding when
  // tied, else the lm_head built with BuildOptions::lm_head.
  torch::Tensor Logits(const torch::Tensor& hidden);
  int64_t ParameterCount() const;
  int64_t OutputWidth() const;

 private:
  torch::Tensor Embed(const torch::Tensor& ids);

  ModelConfig config_;
  Embedding tokens_{nullptr};  // shared by encoder and decoder, counted once
  Stack stack_{nullptr};       // the encoder, or the decoder of a decoder-only model
  Stack decoder_{nullptr};     // encoder-decoder only
  Linear pooler_{nullptr};
  Linear lm_head_{nullptr};          // generation with an untied head only
  Linear head_projection_{nullptr};  // a tied head over a factorised embedding (ALBERT): hidden -> embedding width
};
TORCH_MODULE(Transformer);

// The number of parameters of `config`'s model, from tensors built on the meta device (nothing allocated).
int64_t MetaParameterCount(const ModelConfig& config);

}  // namespace tscale
