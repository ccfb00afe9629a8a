#include "common/hf_config.h"

#include <nlohmann/json.hpp>

#include "common/families/family.h"
#include "common/families/hf_reader.h"

namespace tscale {

std::vector<std::string> SupportedHfModelTypes() {
  std::vector<std::string> types;
  for (const families::FamilySpec* family : families::AllFamilies()) types.push_back(family->model_type);
  return types;
}

namespace {

// mamba_ssm's own config.json (the state-spaces/mamba-* repositories without "-hf") names no model_type; its
// d_model, n_layer and ssm_cfg say what it is.
bool IsMambaSsmConfig(const nlohmann::json& doc) {
  return !doc.contains("model_type") && doc.contains("d_model") && doc.contains("n_layer") && doc.contains("ssm_cfg");
}

}  // namespace

bool LooksLikeHfConfig(const std::string& json_text) {
  auto doc = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  return doc.is_object() && !doc.contains("arch") && (doc.contains("model_type") || IsMambaSsmConfig(doc));
}

StatusOr<ModelConfig> ParseHfConfig(const std::string& json_text, const std::string& id) {
  using nlohmann::json;
  json doc = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status::InvalidArgument("config.json: not valid JSON");
  if (!doc.is_object()) return Status::InvalidArgument("config.json: top level must be a JSON object");
  families::HfReader r(doc);
  const bool mamba_ssm = IsMambaSsmConfig(doc);
  if (!r.Has("model_type") && !mamba_ssm) return Status::InvalidArgument("model_type: required key is missing");
  const std::string type = mamba_ssm ? "mamba" : r.String("model_type", "");
  if (!r.ok()) return r.status();
  const families::FamilySpec* family = families::FindFamily(type);
  if (!family) {
    std::string supported;
    for (const std::string& name : SupportedHfModelTypes()) supported += (supported.empty() ? "" : ", ") + name;
    return Status::InvalidArgument("model_type: \"" + type + "\" is not supported (" + supported + ")");
  }

  ModelConfig c;
  // The caller's name wins: save_pretrained writes the *base* model's hub id into every fine-tuned checkpoint, so
  // _name_or_path would give two fine-tunes of one base (or a fine-tune and the catalog's base) the same id.
  // Without a name, a hub id ("org/name") is taken, never a local path ("/home/me/ckpt").
  c.id = id;
  if (c.id.empty()) {
    const std::string recorded = r.String("_name_or_path", "");
    const bool local_path = !recorded.empty() && (recorded[0] == '/' || recorded[0] == '.' || recorded[0] == '~' ||
                                                  recorded.find('\\') != std::string::npos);
    if (!local_path) c.id = recorded;
  }
  c.family = type;
  c.category = "User";
  family->layout(&c);
  family->read_hf(r, &c);
  // Every HF config may say whether the LM head is the token embedding; the family's layout holds its class default.
  c.tied_head = r.Bool("tie_word_embeddings", c.tied_head);
  if (c.tied_head) c.head_bias = false;
  TSCALE_RETURN_IF_ERROR(r.status());
  c.approximation = family->approximation ? family->approximation(c) : "";
  if (c.id.empty()) return Status::InvalidArgument("_name_or_path: no model id given (and no name from the caller)");
  TSCALE_RETURN_IF_ERROR(Validate(c));
  return c;
}

}  // namespace tscale
