// One layer of a Stack (runner/transformer.h): a transformer Block or a Mamba block (runner/mamba.h). The stack
// runs its layers through this one interface, so a new kind of layer is one new class, not a branch in the stack.
#pragma once

#include <torch/torch.h>

#include "runner/positions.h"

namespace tscale {

class StackLayer : public torch::nn::Module {
 public:
  // x [batch, n, hidden]; memory: the encoder output for a cross-attending decoder, else undefined; context: the
  // stack's per-forward context, with this layer's generation cache in context.kv.
  virtual torch::Tensor forward(torch::Tensor x, const torch::Tensor& memory, const LayerContext& context) = 0;
};

}  // namespace tscale
