// Activation checkpointing for the training workload. libtorch's C++ API has no checkpoint helper (PyTorch's is
// Python), so this is the reentrant variant written as a custom autograd function: the forward runs without
// autograd, keeping only its inputs; backward sets the random state back to what the forward saw (so dropout
// draws the same masks) and the autocast state too, runs the forward again with autograd on, and back-propagates
// the incoming gradient through that copy. Gradients of the parameters the function uses accumulate into their
// .grad as in an ordinary backward; the gradients of `x` and `memory` flow on to the graph before.
#pragma once

#include <torch/torch.h>

#include <functional>

namespace tscale {

// What a checkpointed piece computes: a block's output from its input and the encoder output (undefined for
// self-attention-only stacks). It must be a pure function of its arguments, the parameters it reads and the
// random state: it runs twice. Every tensor it captures besides parameters must not need a gradient.
using CheckpointedFn = std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& memory)>;

// fn(x, memory), keeping only x and memory for backward. With autograd off (inference) it is just fn(x, memory).
torch::Tensor Checkpointed(CheckpointedFn fn, const torch::Tensor& x, const torch::Tensor& memory);

}  // namespace tscale
