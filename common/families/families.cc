#include "common/families/family.h"

namespace tscale::families {

const std::vector<const FamilySpec*>& AllFamilies() {
  static const std::vector<const FamilySpec*> families = {
      &kBert,    &kRoberta,    &kXlmRoberta, &kDistilBert, &kAlbert, &kElectra, &kSqueezeBert,
      &kDeberta, &kLongformer, &kBigBird,    &kGpt2,       &kGptNeo, &kGptj,    &kGptNeox,
      &kOpt,     &kBloom,      &kLlama,      &kMistral,    &kPhi,    &kFalcon,  &kBart,
      &kPegasus, &kBlenderbot, &kProphetNet, &kT5,
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

}  // namespace tscale::families
