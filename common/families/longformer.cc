// Longformer: a sliding window plus global attention with its own projections.
#include "common/families/family.h"
#include "common/families/hf_reader.h"

namespace tscale::families {
namespace {

std::string Approximation(const ModelConfig& c) {
  const std::string w = std::to_string(c.attention_window);
  return "Longformer: a sliding window of " + w + " (" + std::to_string(c.attention_window / 2) +
         " each side) plus global attention on the first token ([CLS]), whose queries, keys and values come from "
         "the separate global projections (HF uses them for the global rows over all keys); HF's chunked banded "
         "computation and padding to a multiple of " +
         w + " are replaced by a masked (eager) or blocked window.";
}

void LongformerLayout(ModelArchitecture* a) {
  EncoderLayout(a);
  a->position_offset = 2;     // HF's default pad_token_id 1, plus one
  a->attention_window = 512;  // HF's default
  a->global_tokens = 1;       // HF takes global tokens from each input's global_attention_mask; tscale uses [CLS]
  a->global_projections = true;
}
void Longformer(HfReader& r, ModelConfig* c) {
  BertEncoder(r, "gelu", 512, r.Int("pad_token_id", 1) + 1, c);
  // attention_window: one window for every layer (an int, or a list of num_hidden_layers equal values).
  int window = 512;
  if (const json* value = r.Find("attention_window"); value && value->is_array()) {
    if (value->size() != static_cast<size_t>(c->layers))
      r.Fail("attention_window", "needs one entry per layer (" + std::to_string(c->layers) + ")");
    for (const json& w : *value) {
      if (!w.is_number_integer() || w != value->front())
        r.Fail("attention_window", "per-layer windows must be one integer (tscale has one window for all layers)");
    }
    if (r.ok() && !value->empty()) window = r.Derived("attention_window", value->front().get<int64_t>());
  } else {
    window = r.Int("attention_window", 512);
  }
  if (r.ok() && (window <= 0 || window % 2 != 0)) r.Fail("attention_window", "must be a positive even number");
  c->attention_window = window;
}

}  // namespace

const FamilySpec kLongformer{"longformer", LongformerLayout, Longformer, nullptr, Approximation};
}  // namespace tscale::families
