// Analytic counts of the two linear-time families (docs/measurement.md, "Linear-time models"): Mamba's blocks
// (BlockKind::kMamba) and causal linear attention (AttentionKind::kLinear). model_config.cc's counts
// (AnalyticParameterCount, ForwardFlops, KvCacheBytes, DecodeStepFlops, DecodeStepBytes) dispatch here for these
// configs, so every caller — the runner's verdict, the decode result, the report — reads one definition. FLOPs
// count 2 per multiply-add of the matrix products, as for transformers, plus the scan's element work; norms and
// activations (exp, softplus, SiLU) are not counted. No libtorch here.
#pragma once

#include <cstdint>

#include "common/model_config.h"

namespace tscale {

// Linear attention's prefill runs in chunks of this many positions (runner/linear_attention.h): within a chunk
// the causal quadratic form, across chunks the prefix-sum state. The count below is of that algorithm.
constexpr int kLinearAttentionChunk = 64;

// The recurrent state of both families is kept in fp32 whatever the model's dtype (a bf16 prefix sum over
// thousands of tokens drifts), except Mamba's conv window, which holds the model's own inputs.
constexpr int kStateElementBytes = 4;

// ------------------------------------------------------------------------------------------------ Mamba
// One Mamba layer's parameters: norm, in_proj [2 d_inner, d], conv1d [d_inner, 1, d_conv] (+ bias), x_proj
// [dt_rank + 2 N, d_inner], dt_proj [d_inner, dt_rank] + bias, A_log [d_inner, N], D [d_inner], out_proj
// [d, d_inner]; in_proj and out_proj with a bias when `bias`.
int64_t MambaLayerParams(const ModelConfig& config);
// FLOPs per token of one layer's products (in_proj, conv, x_proj, dt_proj, out_proj) and of its scan: 7 per
// (channel, state) element — dA = Delta * A, Delta * B * u (2), h = dA * h + that (2), y += C * h (2).
double MambaLayerFlopsPerToken(const ModelConfig& config);
// The scan's part of that: 7 * d_inner * N.
double MambaScanFlopsPerToken(const ModelConfig& config);
// Bytes of the decode state of `batch` sequences: per layer the conv window [d_inner, d_conv] in the model's
// `element_bytes` and the SSM state [d_inner, N] in fp32. Independent of the context depth.
int64_t MambaStateBytes(const ModelConfig& config, int batch, int element_bytes);

// ------------------------------------------------------------------------------------- linear attention
// FLOPs of one linear-attention layer's mixing (the part that replaces QK^T and AV) over `t` tokens per
// sequence, chunked: per head, within each chunk phi(Q) phi(K)^T masked and its product with V, the chunk's
// queries against the carried state (hd x hd) and the state's update by the chunk's keys and values, plus the
// normaliser's products.
double LinearAttentionMixFlops(const ModelConfig& config, double batch, double t);
// FLOPs of one decode step's mixing in one layer, one token per sequence: the state update k v^T, the query's
// product with it, and the normaliser's (per head, 2 * (2 hd^2 + 2 hd)).
double LinearAttentionStepMixFlops(const ModelConfig& config, double batch);
// Bytes of the decode state: per layer and head the hd x hd prefix sum and the hd-wide normaliser, in fp32.
int64_t LinearAttentionStateBytes(const ModelConfig& config, int batch);

}  // namespace tscale
