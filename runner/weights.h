// Real weights for a built Transformer, from a local .safetensors file.
//
// A file tensor fills a parameter when its name is the parameter's own tscale name (`tscale-runner
// --parameter-names CONFIG` lists them) or, for the families whose home in common/families/ has HF weight names,
// its Hugging Face name, with HF's layout undone (GPT-2's Conv1D weights are transposed and its fused c_attn is
// split into q, k, v): today bert, roberta, xlm-roberta (optionally under "bert."/"roberta."), gpt2 (optionally
// under "transformer."), llama, mistral (under "model.").
// File tensors that fill no parameter (LM heads, position-id buffers) are skipped and counted.
//
// Contract: either every parameter of the model was filled exactly once from a tensor of its shape (converted
// to the parameter's dtype) - except a BERT-style pooler missing from an HF-named file, which keeps its seeded
// weights as HF's own loader does and is listed in kept_random - or an error names what is wrong: a malformed or
// truncated file, a parameter no tensor fills, two tensors for one parameter, a shape or dtype mismatch. Nothing
// crashes on a hostile file; on error the model's weights are unspecified (the job ends, nothing is measured).
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "common/model_config.h"
#include "common/status.h"

namespace tscale {

struct WeightsLoaded {
  int tensors = 0;                       // file tensors copied into parameters
  int skipped = 0;                       // file tensors that are no parameter of the model
  std::string naming;                    // "tscale" or the HF family whose names were read
  std::vector<std::string> kept_random;  // HF files only: parameters HF also leaves random when absent (pooler)
  std::string Summary(const std::string& path) const;  // one line for the result's message
};

StatusOr<WeightsLoaded> LoadSafetensorsWeights(torch::nn::Module& model, const ModelConfig& config,
                                               const std::string& path);

}  // namespace tscale
