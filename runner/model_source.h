// The module a job measures, and where it comes from: the Transformer built from the config (seeded random
// weights, or real ones from the config's .safetensors file), or the config's TorchScript module file.
// Building or loading it is what a result's load time covers.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <string>

#include "common/model_config.h"
#include "common/status.h"
#include "runner/transformer.h"

namespace tscale {

struct MeasuredModel {
  // input_ids [batch, seq]; decoder_input_ids [batch, dec_seq] for encoder-decoders, undefined otherwise.
  std::function<torch::Tensor(const torch::Tensor& input_ids, const torch::Tensor& decoder_input_ids)> forward;
  int64_t parameter_count = 0;       // counted from the module's tensors
  Transformer transformer{nullptr};  // the built model (generation needs it); null for a TorchScript module
  std::string note;                  // what was loaded from files, for the result's message; empty for random weights
};

// Builds or loads the model on options.device in `dtype` (the built model's parameters are created in it; a
// TorchScript module is converted), in eval mode. A bad weights or TorchScript file is an
// error status naming it; libtorch's own failures (an allocator out of memory) propagate as exceptions.
StatusOr<MeasuredModel> LoadMeasuredModel(const ModelConfig& config, const BuildOptions& options,
                                          torch::ScalarType dtype);

// "name [shape]" per line: the tscale parameter names a .safetensors file may use (built on the meta device).
std::string ParameterNamesText(const ModelConfig& config);

}  // namespace tscale
