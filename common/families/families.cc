#include "common/families/family.h"

#include <nlohmann/json.hpp>

namespace tscale::families {

const std::vector<const FamilySpec*>& AllFamilies() {
  static const std::vector<const FamilySpec*> families = {
      &kBert,    &kRoberta, &kXlmRoberta, &kDistilBert, &kAlbert,  &kElectra,    &kSqueezeBert, &kDeberta, &kLongformer,
      &kBigBird, &kGpt2,    &kGptNeo,     &kGptj,       &kGptNeox, &kOpt,        &kBloom,       &kLlama,   &kMistral,
      &kPhi,     &kFalcon,  &kMamba,      &kBart,       &kPegasus, &kBlenderbot, &kProphetNet,  &kT5,
  };
  return families;
}

const FamilySpec* FindFamily(const std::string& model_type) {
  for (const FamilySpec* family : AllFamilies())
    if (model_type == family->model_type) return family;
  return nullptr;
}

std::string FamilyApproximation(const ModelConfig& config) {
  const FamilySpec* family = FindFamily(config.family);
  return family && family->approximation ? family->approximation(config) : "";
}

std::string FamilyLayoutJson(const FamilySpec& family) {
  using nlohmann::json;
  ModelConfig defaults, layout;
  family.layout(&layout);
  const json base = json::parse(ModelConfigToJson(defaults));
  json out = json::object();
  // arch, position and norm_placement are stated even at their defaults: a reader of a catalog file sees them.
  const json mine = json::parse(ModelConfigToJson(layout));
  for (const auto& [key, value] : mine.items())
    if (key == "arch" || key == "position" || key == "norm_placement" || value != base.at(key)) out[key] = value;
  return out.dump();
}

}  // namespace tscale::families
