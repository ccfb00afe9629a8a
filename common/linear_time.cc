#include "common/linear_time.h"

#include "common/parameter_counts.h"

namespace tscale {

using internal::LinearParams;
using internal::NormParams;

// ------------------------------------------------------------------------------------------------ Mamba

int64_t MambaLayerParams(const ModelConfig& c) {
  const int64_t d = c.hidden, inner = c.SsmInner(), n = c.ssm_state, k = c.ssm_conv, r = c.EffectiveDtRank();
  return NormParams(c, d) + LinearParams(d, 2 * inner, c.bias)  // norm; in_proj: x and the gate z
         + inner * k + (c.ssm_conv_bias ? inner : 0)            // depthwise conv1d [d_inner, 1, d_conv]
         + LinearParams(inner, r + 2 * n, false)                // x_proj: Delta's low rank, B and C
         + LinearParams(r, inner, true)                         // dt_proj always has its bias (Delta's offset)
         + inner * n + inner                                    // A_log and D
         + LinearParams(inner, d, c.bias);                      // out_proj
}

double MambaScanFlopsPerToken(const ModelConfig& c) {
  return 7.0 * static_cast<double>(c.SsmInner()) * c.ssm_state;
}

double MambaLayerFlopsPerToken(const ModelConfig& c) {
  const double d = c.hidden, inner = static_cast<double>(c.SsmInner()), n = c.ssm_state, k = c.ssm_conv;
  const double r = c.EffectiveDtRank();
  // Multiply-adds per token: in_proj, the conv's k taps per channel, x_proj, dt_proj, out_proj.
  const double macs = d * 2 * inner + inner * k + inner * (r + 2 * n) + r * inner + inner * d;
  return 2 * macs + MambaScanFlopsPerToken(c);
}

int64_t MambaStateBytes(const ModelConfig& c, int batch, int element_bytes) {
  const int64_t inner = c.SsmInner();
  const int64_t per_layer = inner * c.ssm_conv * element_bytes + inner * c.ssm_state * kStateElementBytes;
  return per_layer * c.layers * batch;
}

// ------------------------------------------------------------------------------------- linear attention

double LinearAttentionMixFlops(const ModelConfig& c, double batch, double t) {
  if (t <= 0) return 0;
  const double hd = c.EffectiveHeadDim(), heads = c.heads, chunk = kLinearAttentionChunk;
  // Full chunks and the last, partial one: the sum of the chunk lengths is t, the sum of their squares is what
  // the within-chunk products cost.
  const double full = static_cast<double>(static_cast<int64_t>(t) / kLinearAttentionChunk);
  const double rest = t - full * chunk;
  const double squares = full * chunk * chunk + rest * rest;
  // Per head and position of a chunk: its query against the carried state (hd x hd) and its key and value
  // into the state's update (hd x hd), each 2 hd^2; the normaliser's query against the carried key sum and the
  // key's addition to it, 2 hd each.
  const double per_token = 4 * hd * hd + 4 * hd;
  // Per query/key pair inside a chunk (the whole c x c square, masked afterwards, as it is computed):
  // phi(q) . phi(k) and the weighted value, 2 hd each, and the pair's term of the normaliser's row sum, 2.
  const double per_pair = 4 * hd + 2;
  return batch * heads * (per_token * t + per_pair * squares);
}

double LinearAttentionStepMixFlops(const ModelConfig& c, double batch) {
  const double hd = c.EffectiveHeadDim();
  // The state update k v^T and the query's product with the state (hd^2 multiply-adds each), the normaliser's
  // update and the query's product with it (hd each).
  return batch * c.heads * 2 * (2 * hd * hd + 2 * hd);
}

int64_t LinearAttentionStateBytes(const ModelConfig& c, int batch) {
  const int64_t hd = c.EffectiveHeadDim();
  return (hd * hd + hd) * kStateElementBytes * c.heads * c.layers * batch;
}

}  // namespace tscale
