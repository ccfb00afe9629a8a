// Hugging Face config.json -> ModelConfig, for users who add models without recompiling.
//
// Supported model_type values (SupportedHfModelTypes): bert, roberta, xlm-roberta, distilbert, albert, electra,
// squeezebert, deberta (v1), longformer, big_bird, gpt2, gpt_neo, gptj, gpt_neox, opt, bloom, llama, mistral,
// phi, falcon, mamba, bart, pegasus, blenderbot, prophetnet, t5: every family of the shipped catalog. For a published
// config the result is the catalog's architecture for that model (what scripts/gen_catalog.py derives from the
// facts file, approximation text included), so AnalyticParameterCount gives the catalog's reference_params.
// Identity and study fields are not in a config.json: category is "User", trained_context 0 (unknown), no counts.
//
// Contract:
//   * The result passes Validate(), or the call returns INVALID_ARGUMENT.
//   * The shape keys a count depends on (layers, width, heads, FFN width, vocabulary, per family) are required;
//     a missing one is "n_layer: required key is missing". Every other key, when absent or null, takes the default
//     of that model_type's HF config class.
//   * Errors name the config key: "n_embd: expected an integer", "vocab_size: -3 is out of range". Shape
//     combinations Validate() rejects name the tscale field ("heads: must divide hidden (768) ...").
//   * An HF setting that changes the network in a way ModelConfig cannot express is an error naming its key, never
//     ignored: e.g. rope_scaling (any type but "default"), falcon alibi, T5 feed_forward_proj "gated-gelu" (a
//     gated GELU; tscale gates only with SiLU), phi qk_layernorm, different encoder/decoder head counts. Keys the
//     HF modeling code itself ignores (legacy BART-era keys of Pegasus/Blenderbot, BLOOM n_inner) are ignored.
//   * An unknown model_type is an error naming model_type and listing the supported ones.
#pragma once

#include <string>
#include <vector>

#include "common/model_config.h"
#include "common/status.h"

namespace tscale {

// `id` names the model (a catalog passes the file or directory name). Only when it is empty is the config's
// "_name_or_path" used, and only when that is a hub id, not a local path ("/home/me/ckpt").
StatusOr<ModelConfig> ParseHfConfig(const std::string& json_text, const std::string& id);

// Whether a JSON text is a config ParseHfConfig reads rather than a tscale config: an object with no tscale `arch`
// that names a model_type, or mamba_ssm's own config.json (d_model, n_layer, ssm_cfg; read as model_type mamba).
bool LooksLikeHfConfig(const std::string& json_text);

// The model_type values ParseHfConfig accepts, in the order its error message lists them.
std::vector<std::string> SupportedHfModelTypes();

}  // namespace tscale
