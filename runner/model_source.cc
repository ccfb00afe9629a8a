#include "runner/model_source.h"

#include <torch/script.h>

#include <filesystem>
#include <memory>

#include "runner/weights.h"

namespace tscale {
namespace {

StatusOr<MeasuredModel> LoadTorchScript(const ModelConfig& config, const BuildOptions& options,
                                        torch::ScalarType dtype) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(config.torchscript, ec))
    return Status::NotFound("torchscript: cannot read " + config.torchscript);
  std::shared_ptr<torch::jit::Module> module;
  try {
    module = std::make_shared<torch::jit::Module>(torch::jit::load(config.torchscript, options.device));
  } catch (const c10::Error& e) {
    std::string why = e.what_without_backtrace();
    return Status::InvalidArgument("torchscript: " + config.torchscript +
                                   " is not a loadable TorchScript module: " + why.substr(0, why.find('\n')));
  }
  if (dtype != torch::kFloat32) module->to(dtype);
  module->eval();
  MeasuredModel model;
  for (const auto& parameter : module->parameters()) model.parameter_count += parameter.numel();
  // The module's forward takes the same inputs as the built models: the token ids, and the decoder's for an
  // encoder-decoder. What it returns is not inspected.
  const bool seq2seq = config.arch == ArchKind::kEncoderDecoder;
  model.forward = [module, seq2seq](const torch::Tensor& ids, const torch::Tensor& decoder_ids) {
    std::vector<torch::jit::IValue> inputs{ids};
    if (seq2seq) inputs.emplace_back(decoder_ids);
    auto out = module->forward(inputs);
    return out.isTensor() ? out.toTensor() : torch::Tensor();
  };
  model.note = "torchscript: " + config.torchscript;
  return model;
}

}  // namespace

StatusOr<MeasuredModel> LoadMeasuredModel(const ModelConfig& config, const BuildOptions& options,
                                          torch::ScalarType dtype) {
  if (!config.torchscript.empty()) return LoadTorchScript(config, options, dtype);
  BuildOptions in_dtype = options;
  in_dtype.dtype = dtype;
  Transformer transformer(config, in_dtype);
  MeasuredModel model;
  if (!config.weights.empty()) {  // the file's tensors are converted to the parameters' dtype as they are copied
    auto loaded = LoadSafetensorsWeights(*transformer, config, config.weights);
    if (!loaded.ok()) return loaded.status();
    model.note = loaded->Summary(config.weights);
  }
  transformer->eval();
  model.parameter_count = transformer->ParameterCount();
  model.transformer = transformer;
  model.forward = [transformer](const torch::Tensor& ids, const torch::Tensor& decoder_ids) mutable {
    return transformer->forward(ids, decoder_ids);
  };
  return model;
}

std::string ParameterNamesText(const ModelConfig& config) {
  BuildOptions options;
  options.device = torch::kMeta;
  Transformer transformer(config, options);
  std::string text;
  for (const auto& item : transformer->named_parameters(/*recurse=*/true)) {
    text += item.key() + " [";
    const auto sizes = item.value().sizes();
    for (size_t i = 0; i < sizes.size(); ++i) text += (i ? ", " : "") + std::to_string(sizes[i]);
    text += "]\n";
  }
  return text;
}

}  // namespace tscale
