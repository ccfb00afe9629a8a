// The parameter counts of the layers every architecture is built from, shared by model_config.cc (transformers)
// and linear_time.cc (Mamba), so a Linear or a norm is counted by one rule. Internal to common/.
#pragma once

#include <cstdint>

#include "common/model_config.h"

namespace tscale::internal {

// A norm of `width`: RMSNorm has a weight only; a LayerNorm with `bias` also its bias.
inline int64_t NormParams(const ModelConfig& c, int64_t width) {
  return c.norm == NormType::kLayerNorm && c.bias ? 2 * width : width;
}

// A (possibly grouped) linear map: groups > 1 splits input and output into that many independent blocks.
inline int64_t LinearParams(int64_t in, int64_t out, bool bias, int64_t groups = 1) {
  return in * out / groups + (bias ? out : 0);
}

}  // namespace tscale::internal
