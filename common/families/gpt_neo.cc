// GPT-Neo: global and local (windowed) layers.
#include "common/families/family.h"
#include "common/families/hf_reader.h"

namespace tscale::families {
namespace {

// attention_types [[["global", "local"], 6]] expands to global, local, ... for 12 layers.
std::vector<std::string> GptNeoLayerTypes(HfReader& r) {
  std::vector<std::string> layers;
  json fallback = json::parse(R"([[["global", "local"], 12]])");  // HF's default (24 layers)
  const json* types = r.Find("attention_types");
  if (!types) types = &fallback;
  bool well_formed = types->is_array();
  // Expansion stops past 1024 layers (more than any model; the layer-count check then fails) to bound the work.
  for (const json& item : well_formed ? *types : json::array()) {
    well_formed = item.is_array() && item.size() == 2 && item[0].is_array() && item[1].is_number_integer() &&
                  item[1].get<int64_t>() >= 0 && item[1].get<int64_t>() <= 1024;
    if (!well_formed) break;
    for (int64_t repeat = 0; repeat < item[1].get<int64_t>() && layers.size() <= 1024; ++repeat)
      for (const json& type : item[0]) layers.push_back(type.is_string() ? type.get<std::string>() : "?");
  }
  if (!well_formed) r.Fail("attention_types", "expected [[[\"global\", \"local\"], count], ...]");
  return layers;
}

// HF's default attention_types alternate global and local layers, with window_size 256.
void GptNeoLayout(ModelArchitecture* a) {
  DecoderLayout(a);
  LinearBiases(a, false, true, true);  // q/k/v bias-free
  a->window_layers = WindowLayers::kOdd;
  a->attention_window = 256;
}
void GptNeo(HfReader& r, ModelConfig* c) {
  ReadShape(r, {"num_layers", "hidden_size", "num_heads", nullptr}, c);
  c->ffn = FfnOr4d(r, "intermediate_size", *c);
  c->norm_eps = r.Number("layer_norm_epsilon", 1e-5);
  c->activation = Act(r, "activation_function", "gelu_new");
  Dropouts(r, "resid_dropout", "attention_dropout", c, "embed_dropout");  // HF's defaults 0
  LearnedTable(r, "max_position_embeddings", r.Int("max_position_embeddings", 2048), 0, c);
  const std::vector<std::string> types = GptNeoLayerTypes(r);
  if (!r.ok()) return;
  if (types.size() != static_cast<size_t>(c->layers))
    return r.Fail("attention_types",
                  "describes " + std::to_string(types.size()) + " layers, num_layers is " + std::to_string(c->layers));
  // A saved attention_layers (the expansion) overrides attention_types in some transformers versions.
  if (const json* saved = r.Find("attention_layers"); saved && *saved != json(types))
    return r.Fail("attention_layers", "disagrees with attention_types");
  bool all_global = true, all_local = true, alternating = true;
  for (size_t i = 0; i < types.size(); ++i) {
    if (types[i] != "global" && types[i] != "local")
      return r.Fail("attention_types", "unknown attention type \"" + types[i] + "\" (global, local)");
    all_global &= types[i] == "global";
    all_local &= types[i] == "local";
    alternating &= types[i] == (i % 2 == 0 ? "global" : "local");
  }
  if (all_global) {  // window_size unused
    c->attention_window = 0;
    c->window_layers = WindowLayers::kAll;
    return;
  }
  // tscale's window_layers: every layer, or the odd ones (global first, as GPT-Neo's published models).
  if (!all_local && !alternating)
    return r.Fail("attention_types", "only all global, all local or global/local alternation is expressible");
  c->window_layers = all_local ? WindowLayers::kAll : WindowLayers::kOdd;
  // HF's local layers let a query see itself and the window_size - 1 keys before it, as tscale's window does.
  c->attention_window = r.Int("window_size", 256);
  if (r.ok() && c->attention_window < 1) r.Fail("window_size", "must be at least 1");
}

}  // namespace

const FamilySpec kGptNeo{"gpt_neo", GptNeoLayout, GptNeo, nullptr, nullptr};
}  // namespace tscale::families
