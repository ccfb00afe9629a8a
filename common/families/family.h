// A model family's one home. Each file in common/families/ holds, for the HF model_type values it serves:
//   * its layout (`layout`): the structure HF's modelling class fixes for the model_type, with HF's defaults where
//     a config key may change it. ParseHfConfig applies it before `read_hf`, and scripts/gen_catalog.py reads it
//     (`tscale-client families --json`) to build the catalog, so the catalog and HF import share one layout;
//   * how a Hugging Face config.json maps onto a ModelConfig (the `read_hf` function, with HF's defaults);
//   * how its Hugging Face tensor names map onto tscale parameter names (`hf_weight_names`; data, applied by
//     runner/weights.cc), when real weights can be loaded by HF name;
//   * the text stating what tscale approximates for it (`approximation`, a function of the architecture), which
//     the catalog and the HF reader both take from here.
// read_hf must undo any layout default its keys switch off (BigBird's original_full drops the window).
// Adding a family: one new file here defining its FamilySpec, its declaration below and its line in
// families.cc's table (kept explicit: a static library drops self-registering objects nobody references).
#pragma once

#include <string>
#include <vector>

#include "common/model_config.h"

namespace tscale::families {

class HfReader;

// One Hugging Face tensor-name pattern (std::regex, matched whole) and the tscale parameter(s) it fills. With
// several targets the tensor is split into that many equal parts along its first dimension (after the
// transpose): GPT-2's fused c_attn is q, k, v.
struct HfNameRule {
  const char* pattern;
  std::vector<const char*> targets;  // regex replacement formats ($1, $2 are the pattern's groups)
  bool transpose = false;            // GPT-2's Conv1D stores [in, out]; tscale's Linear stores [out, in]
};

struct HfWeightNames {
  std::vector<const char*> prefixes;  // head-model checkpoints nest the base model under one of these
  std::vector<HfNameRule> rules;
};

struct FamilySpec {
  const char* model_type;                                   // the HF model_type it serves
  void (*layout)(ModelArchitecture* a);                     // fixed structure and HF-default layout facts
  void (*read_hf)(HfReader& reader, ModelConfig* config);   // config.json keys -> architecture
  const HfWeightNames* hf_weight_names;                     // nullptr: weights load by tscale names only
  std::string (*approximation)(const ModelConfig& config);  // nullptr: built faithfully
};

// Every family, in the order error messages list them.
const std::vector<const FamilySpec*>& AllFamilies();
// nullptr for a model_type no family serves.
const FamilySpec* FindFamily(const std::string& model_type);
// The approximation text of config's family (its `family` field), "" when it has none.
std::string FamilyApproximation(const ModelConfig& config);
// The family's layout as tscale config JSON: `arch`, `position` and `norm_placement`, and every other field the
// layout sets to something other than ModelArchitecture's default.
std::string FamilyLayoutJson(const FamilySpec& family);

// The families: each in common/families/NAME.cc (kLlama and kMistral in llama.cc, the BERT lineage in bert.cc).
extern const FamilySpec kBert, kRoberta, kXlmRoberta, kDistilBert, kAlbert, kElectra;  // bert.cc
extern const FamilySpec kSqueezeBert, kDeberta, kLongformer, kBigBird;
extern const FamilySpec kGpt2, kGptNeo, kGptj, kGptNeox, kOpt, kBloom, kLlama, kMistral, kPhi, kFalcon;
extern const FamilySpec kMamba;                        // mamba.cc: selective state-space blocks (BlockKind::kMamba)
extern const FamilySpec kBart, kPegasus, kBlenderbot;  // bart.cc
extern const FamilySpec kProphetNet, kT5;

}  // namespace tscale::families
