// Catalog: the set of model architectures the coordinator can schedule, loaded from directories of model
// files. Lookups accept the canonical id or any alias.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/model_config.h"
#include "common/status.h"

namespace tscale {

class Catalog {
 public:
  // Adds every model in `dir`:
  //   NAME.json          a tscale config (docs/model-config.md), or a Hugging Face config.json (it has a
  //                      model_type and no arch) with id NAME;
  //   NAME/config.json   a Hugging Face model directory with id NAME; NAME/model.safetensors, when present,
  //                      becomes the model's weights (a directory with only PyTorch .bin weights is refused).
  // Fails on the first bad file (naming it) or on an id/alias that is already taken; on failure the catalog
  // is left unchanged.
  Status LoadDirectory(const std::string& dir);
  Status Add(ModelConfig config);

  // nullptr when neither an id nor an alias matches.
  const ModelConfig* Find(const std::string& name) const;
  const std::vector<ModelConfig>& models() const { return models_; }
  size_t size() const { return models_.size(); }

 private:
  std::vector<ModelConfig> models_;
  std::map<std::string, size_t> index_;  // id and aliases -> position in models_
};

// One model config file: a tscale config (its relative weights/torchscript paths resolved against the file's
// directory) or a Hugging Face config.json (it has a model_type and no arch), whose id is the file's name.
StatusOr<ModelConfig> ReadModelConfigFile(const std::string& path);

}  // namespace tscale
