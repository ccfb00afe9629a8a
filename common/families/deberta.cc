// DeBERTa v1: relative attention approximated by one shared relative-position bias table.
#include "common/families/family.h"
#include "common/families/hf_reader.h"

namespace tscale::families {
namespace {

std::string Approximation(const ModelConfig& c) {
  return "DeBERTa's disentangled attention: the relative embeddings go through pos_proj/pos_q_proj as in HF, but the "
         "content-to-position and position-to-content (c2p/p2c) terms are replaced by one [2 x " +
         std::to_string(c.relative_positions) +
         ", heads] relative-position bias shared by all queries; their per-query gathers and O(n x 2k x head_dim) "
         "products are not computed.";
}

// DeBERTa v1 as the catalog builds it: relative attention (c2p and p2c) and no absolute position table.
void DebertaLayout(ModelArchitecture* a) {
  EncoderLayout(a);
  a->pooler = false;    // DebertaModel has none (the ContextPooler belongs to the task heads)
  a->key_bias = false;  // fused in_proj without bias, plus separate q_bias and v_bias
  a->position = PositionScheme::kNone;
  a->relative_positions = 512;  // HF's defaults: max_relative_positions -1, so max_position_embeddings (512)
}
void Deberta(HfReader& r, ModelConfig* c) {
  BertKeys(r, "gelu", 0, 1e-7, c);
  r.Expect("relative_attention", false, true, "tscale's DeBERTa is the relative-attention model");
  r.Expect("position_biased_input", true, false, "tscale's DeBERTa has no absolute position table");
  if (r.Int("embedding_size", c->hidden) != c->hidden)
    r.Fail("embedding_size", "must equal hidden_size (DeBERTa's bias-free embed_proj is not expressible)");
  // "c2p|p2c" (a string in old configs) or ["c2p", "p2c"]: both terms, as the relative projections are counted.
  std::vector<std::string> terms;
  if (const json* types = r.Find("pos_att_type"); types && types->is_string()) {
    std::string text = types->get<std::string>();
    for (size_t start = 0, bar; start <= text.size(); start = bar + 1) {
      bar = text.find('|', start);
      if (bar == std::string::npos) bar = text.size();
      terms.push_back(text.substr(start, bar - start));
    }
  } else if (types && types->is_array()) {
    for (const json& term : *types) terms.push_back(term.is_string() ? term.get<std::string>() : "?");
  }
  for (std::string& term : terms)
    for (char& ch : term) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  const bool c2p_p2c =
      terms.size() == 2 && ((terms[0] == "c2p" && terms[1] == "p2c") || (terms[0] == "p2c" && terms[1] == "c2p"));
  if (!c2p_p2c) r.Fail("pos_att_type", "only \"c2p|p2c\" is expressible");
  // max_relative_positions < 1 means max_position_embeddings, as in HF.
  const int relative = r.Int("max_relative_positions", -1, /*min=*/-kMaxInt);
  c->relative_positions = relative >= 1 ? relative : r.Int("max_position_embeddings", 512);
}

}  // namespace

const FamilySpec kDeberta{"deberta", DebertaLayout, Deberta, nullptr, Approximation};
}  // namespace tscale::families
