// Hugging Face config.json -> ModelConfig, for users who add models without recompiling.
//
// Supported model_type values: bert, roberta, xlm-roberta, distilbert, gpt2 (the architectures the runner
// builds today). Anything else is INVALID_ARGUMENT naming model_type and listing what is supported. Field
// errors name the config key ("n_embd: expected an integer"). The result passes Validate().
#pragma once

#include <string>

#include "common/model_config.h"
#include "common/status.h"

namespace tscale {

// `id` names the model when the config has no "_name_or_path".
StatusOr<ModelConfig> ParseHfConfig(const std::string& json_text, const std::string& id);

}  // namespace tscale
