#include "common/hf_config.h"

#include <nlohmann/json.hpp>

#include <cctype>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace tscale {
namespace {

using nlohmann::json;

constexpr int64_t kMaxInt = int64_t{1} << 30;  // any size or count above this is an error, not a model

// Reads the keys of an HF config, with HF's default where a key is absent or null. The first failure is kept and
// names the key; later reads return their fallback, so a family reads all its keys and the caller reports once.
class HfReader {
 public:
  explicit HfReader(const json& doc) : doc_(doc) {}

  // The key's value; nullptr when the key is absent or null.
  const json* Find(const char* key) const {
    auto it = doc_.find(key);
    return it == doc_.end() || it->is_null() ? nullptr : &*it;
  }
  bool Has(const char* key) const { return Find(key) != nullptr; }
  bool IsNull(const char* key) const { return doc_.contains(key) && doc_.at(key).is_null(); }
  // The first of `keys` the config has (old configs spell some keys differently), else the first.
  const char* Pick(std::initializer_list<const char*> keys) const {
    for (const char* key : keys)
      if (Has(key)) return key;
    return *keys.begin();
  }

  int Int(const char* key, int fallback, int64_t min = 0) {
    const json* value = Find(key);
    if (!ok() || !value) return fallback;
    if (!value->is_number_integer()) {
      Fail(key, "expected an integer");
      return fallback;
    }
    const bool huge = value->is_number_unsigned() && value->get<uint64_t>() > uint64_t(kMaxInt);
    const int64_t v = huge ? 0 : value->get<int64_t>();
    if (huge || v < min || v > kMaxInt) {
      Fail(key, value->dump() + " is out of range");
      return fallback;
    }
    return static_cast<int>(v);
  }
  // A shape key: published configs always carry it, and a guessed default would give another model.
  int RequiredInt(const char* key) {
    if (ok() && !Has(key)) Fail(key, "required key is missing");
    return Int(key, 0);
  }
  // A size computed from keys (4 * hidden, window blocks): range-checked like a key, named after `key`.
  int Derived(const char* key, int64_t value) {
    if (ok() && (value < 0 || value > kMaxInt)) Fail(key, "gives " + std::to_string(value) + ", out of range");
    return ok() ? static_cast<int>(value) : 0;
  }
  double Number(const char* key, double fallback) {
    const json* value = Find(key);
    if (!ok() || !value) return fallback;
    if (!value->is_number() || !std::isfinite(value->get<double>())) {
      Fail(key, "expected a number");
      return fallback;
    }
    return value->get<double>();
  }
  bool Bool(const char* key, bool fallback) {
    const json* value = Find(key);
    if (!ok() || !value) return fallback;
    if (!value->is_boolean()) {
      Fail(key, "expected true or false");
      return fallback;
    }
    return value->get<bool>();
  }
  std::string String(const char* key, const std::string& fallback) {
    const json* value = Find(key);
    if (!ok() || !value) return fallback;
    if (!value->is_string()) {
      Fail(key, "expected a string");
      return fallback;
    }
    return value->get<std::string>();
  }
  // A boolean setting tscale has no field for: only the value the architecture is built with is accepted.
  void Expect(const char* key, bool hf_default, bool expressible, const std::string& why) {
    if (Bool(key, hf_default) != expressible)
      Fail(key, std::string(expressible ? "false" : "true") + " is not expressible: " + why);
  }

  void Fail(const std::string& key, const std::string& why) {
    if (ok()) status_ = Status::InvalidArgument(key + ": " + why);
  }
  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }

 private:
  const json& doc_;
  Status status_;
};

// --- Pieces several families share ----------------------------------------------------------------------------

// HF activation names (ACT2FN) that tscale runs as such; `key` is the family's name for the setting.
Activation Act(HfReader& r, const char* key, const char* hf_default) {
  const std::string name = r.String(key, hf_default);
  if (name == "gelu") return Activation::kGelu;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return Activation::kGeluTanh;
  if (name == "relu") return Activation::kRelu;
  r.Fail(key, "activation \"" + name + "\" is not supported (gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu)");
  return Activation::kGelu;
}

// Llama-style MLPs are always gated (down(act(gate(x)) * up(x))); tscale's only gate is SiLU.
Activation GatedSilu(HfReader& r, const char* key) {
  const std::string name = r.String(key, "silu");
  if (name != "silu" && name != "swish")
    r.Fail(key, "\"" + name + "\" is not expressible: the MLP is gated and tscale gates only with silu (silu_gated)");
  return Activation::kSiluGated;
}

// gen_catalog.py's ENCODER and DECODER: the layout of every encoder-only and every decoder-only family.
void EncoderLayout(ModelConfig* c) {
  c->arch = ArchKind::kEncoder;
  c->norm_placement = NormPlacement::kPost;
  c->embedding_norm = true;
  c->pooler = true;
}
void DecoderLayout(ModelConfig* c) {
  c->arch = ArchKind::kDecoder;
  c->norm_placement = NormPlacement::kPre;
  c->final_norm = true;
}

// The Linear biases (ModelConfig::bias also gives the LayerNorms theirs, so families set it separately).
void LinearBiases(ModelConfig* c, bool qkv, bool out, bool mlp) {
  c->qkv_bias = c->key_bias = qkv;
  c->attn_out_bias = out;
  c->mlp_bias = mlp;
}

// Heads in the catalog's normal form: kv_heads and head_dim are 0 where they equal the default.
void Heads(ModelConfig* c, int heads, int kv_heads, int head_dim) {
  c->heads = heads;
  c->kv_heads = kv_heads == heads ? 0 : kv_heads;
  c->head_dim = int64_t{head_dim} * heads == c->hidden ? 0 : head_dim;
}

// A learned absolute table of `rows` rows whose first usable row is `offset`; `key` is where its size came from.
void LearnedTable(HfReader& r, const char* key, int rows, int offset, ModelConfig* c) {
  c->position = PositionScheme::kLearned;
  c->position_rows = rows;
  c->position_offset = offset;
  if (rows <= offset) return r.Fail(key, "must exceed the position offset (" + std::to_string(offset) + ")");
  c->max_input_tokens = rows - offset;
}

// The FFN width of GPT-style configs: null or absent means 4 * hidden.
int FfnOr4d(HfReader& r, const char* key, const ModelConfig& c) {
  const int ffn = r.Int(key, 0);
  return ffn > 0 ? ffn : r.Derived(key, 4 * int64_t{c.hidden});
}

// Rotary embeddings over `fraction` of each head. Theta and the fraction come from the family's own keys or from
// a transformers-5 "rope_parameters" object. Scaled RoPE (linear, dynamic, yarn, llama3, ...) changes the angles,
// which tscale cannot express, so any rope_scaling other than "default" is refused.
void Rotary(HfReader& r, const char* theta_key, const char* fraction_key, double fraction_default, ModelConfig* c) {
  c->position = PositionScheme::kRotary;
  c->rotary_base = r.Number(theta_key, 10000);
  double fraction = fraction_key ? r.Number(fraction_key, fraction_default) : 1.0;
  for (const char* key : {"rope_scaling", "rope_parameters"}) {
    const json* rope = r.Find(key);
    if (!r.ok() || !rope) continue;
    if (!rope->is_object()) return r.Fail(key, "expected an object");
    HfReader sub(*rope);
    const std::string type = sub.String(sub.Pick({"rope_type", "type"}), "default");
    if (type != "default")
      return r.Fail(key, "rope_type \"" + type + "\" is not expressible: tscale runs unscaled rotary embeddings");
    c->rotary_base = sub.Number("rope_theta", c->rotary_base);
    fraction = sub.Number("partial_rotary_factor", fraction);
    if (!sub.ok()) return r.Fail(key, sub.status().message());
  }
  if (!r.ok()) return;
  if (!(fraction > 0 && fraction <= 1))
    return r.Fail(fraction_key ? fraction_key : "partial_rotary_factor", "must be in (0, 1]");
  // HF rotates int(fraction * head_dim) dims (Python int() truncates, as the cast does).
  const int head_dim = c->EffectiveHeadDim();
  const int dims = static_cast<int>(fraction * head_dim);
  if (dims == 0) return r.Fail(fraction_key ? fraction_key : "partial_rotary_factor", "rotates no dimension");
  c->rotary_dims = dims == head_dim ? 0 : dims;
}

// --- Approximated families: the same text as gen_catalog.py's APPROXIMATIONS for the published settings ----------

std::string SqueezeBertApproximation(int groups) {
  return "SqueezeBERT's grouped 1x1 convolutions (q/k/v and FFN, groups=" + std::to_string(groups) +
         ") run as grouped linear layers: the same weights and arithmetic; the attention output projection stays "
         "dense (groups=1).";
}

std::string DebertaApproximation(int relative_positions) {
  return "DeBERTa's disentangled attention: the relative embeddings go through pos_proj/pos_q_proj as in HF, but the "
         "content-to-position and position-to-content (c2p/p2c) terms are replaced by one [2 x " +
         std::to_string(relative_positions) +
         ", heads] relative-position bias shared by all queries; their per-query gathers and O(n x 2k x head_dim) "
         "products are not computed.";
}

std::string LongformerApproximation(int window) {
  const std::string w = std::to_string(window);
  return "Longformer: a sliding window of " + w + " (" + std::to_string(window / 2) +
         " each side) plus global attention on the first token ([CLS]), whose queries, keys and values come from "
         "the separate global projections (HF uses them for the global rows over all keys); HF's chunked banded "
         "computation and padding to a multiple of " +
         w + " are replaced by a masked (eager) or blocked window.";
}

// BigBird: each query block sees 3 sliding, `random` random and 2 global blocks of `block` tokens.
std::string BigBirdApproximation(int block, int random, int window, int global) {
  const std::string b = std::to_string(block), r = std::to_string(random), g = std::to_string(global);
  const std::string keys = std::to_string(int64_t{window} + global);
  const std::string full = std::to_string((5 + 2 * int64_t{random}) * block);  // HF's switch to full attention
  return "BigBird's block-sparse attention (block " + b + ": 3 sliding + " + r +
         " random + 2 global blocks per query block) is approximated by a " + std::to_string(window) +
         "-token sliding window (3 sliding + " + r + " random blocks' worth of keys) plus " + g +
         " global tokens (the first and last global blocks taken as the first " + g + " tokens): about the same " +
         keys + " keys per query, without the random block placement. HF uses full attention at <= " + full +
         " tokens.";
}

const char* kProphetNetApproximation =
    "ProphetNet n-gram streams: only the main stream runs; the n-gram predict streams are not run (their embeddings "
    "are allocated and counted). The decoder's relative-position logits come from the bucket projection's bias as "
    "one [buckets, heads] table instead of a per-token projection.";

// --- Encoders ------------------------------------------------------------------------------------------------

// The shape keys of BERT and the encoders derived from it; `act`, `type_vocab` and `eps` are the family's HF
// defaults for hidden_act, type_vocab_size and layer_norm_eps.
void BertKeys(HfReader& r, const char* act, int type_vocab, double eps, ModelConfig* c) {
  EncoderLayout(c);
  c->layers = r.RequiredInt("num_hidden_layers");
  c->hidden = r.RequiredInt("hidden_size");
  c->heads = r.RequiredInt("num_attention_heads");
  c->ffn = r.RequiredInt("intermediate_size");
  c->vocab = r.RequiredInt("vocab_size");
  c->type_vocab = r.Int("type_vocab_size", type_vocab);
  c->norm_eps = r.Number("layer_norm_eps", eps);
  c->activation = Act(r, "hidden_act", act);
}

// BertKeys plus the absolute position table; relative_key(_query) adds distance embeddings tscale has no field for.
void BertEncoder(HfReader& r, const char* act, int positions, int offset, ModelConfig* c) {
  BertKeys(r, act, 2, 1e-12, c);
  const std::string scheme = r.String("position_embedding_type", "absolute");
  if (scheme != "absolute")
    r.Fail("position_embedding_type", "\"" + scheme + "\" is not expressible (only \"absolute\")");
  LearnedTable(r, "max_position_embeddings", r.Int("max_position_embeddings", positions), offset, c);
}

void Bert(HfReader& r, ModelConfig* c) {
  BertEncoder(r, "gelu", 512, 0, c);
}

// RoBERTa numbers positions from padding_idx + 1, so pad_token_id 1 leaves rows 0 and 1 unused.
void Roberta(HfReader& r, ModelConfig* c) {
  BertEncoder(r, "gelu", 512, r.Int("pad_token_id", 1) + 1, c);
}

void DistilBert(HfReader& r, ModelConfig* c) {
  EncoderLayout(c);
  c->pooler = false;
  c->layers = r.RequiredInt("n_layers");
  c->hidden = r.RequiredInt("dim");
  c->heads = r.RequiredInt("n_heads");
  c->ffn = r.RequiredInt("hidden_dim");
  c->vocab = r.RequiredInt("vocab_size");
  c->norm_eps = 1e-12;  // hard-coded in DistilBERT
  c->activation = Act(r, "activation", "gelu");
  // DistilBERT's sinusoidal table interleaves sin and cos; tscale's (Pegasus's) puts them in two halves.
  r.Expect("sinusoidal_pos_embds", false, false, "DistilBERT's interleaved sinusoids differ from tscale's");
  LearnedTable(r, "max_position_embeddings", r.Int("max_position_embeddings", 512), 0, c);
}

void Albert(HfReader& r, ModelConfig* c) {
  BertEncoder(r, "gelu_new", 512, 0, c);
  // AlbertModel always has embedding_hidden_mapping_in; tscale adds the projection only when E < d.
  const int e = r.Int("embedding_size", 128);
  if (r.ok() && e == c->hidden)
    r.Fail("embedding_size", "equal to hidden_size is not expressible (ALBERT still projects E -> d)");
  c->embedding_size = e;
  c->shared_layer_groups = r.Int("num_hidden_groups", 1);
  if (r.ok() && (c->shared_layer_groups < 1 || c->layers % c->shared_layer_groups != 0))
    r.Fail("num_hidden_groups", "must divide num_hidden_layers (" + std::to_string(c->layers) + ")");
  if (r.Int("inner_group_num", 1) != 1)
    r.Fail("inner_group_num", "only 1 is expressible (one layer per shared parameter group)");
}

void Electra(HfReader& r, ModelConfig* c) {
  BertEncoder(r, "gelu", 512, 0, c);
  c->pooler = false;
  const int e = r.Int("embedding_size", 128);
  c->embedding_size = e == c->hidden ? 0 : e;  // ElectraModel projects only when E != d
}

void SqueezeBert(HfReader& r, ModelConfig* c) {
  BertEncoder(r, "gelu", 512, 0, c);
  if (r.Int("embedding_size", 768) != c->hidden)
    r.Fail("embedding_size", "must equal hidden_size (SqueezeBERT has no embedding projection)");
  // tscale has one group count for q, k, v and both FFN convolutions, and a dense attention output.
  const int groups = r.Int("q_groups", 4);
  for (const char* key : {"k_groups", "v_groups", "intermediate_groups", "output_groups"})
    if (r.Int(key, 4) != groups) r.Fail(key, "must equal q_groups (" + std::to_string(groups) + ")");
  if (r.Int("post_attention_groups", 1) != 1)
    r.Fail("post_attention_groups", "only 1 is expressible (the attention output projection is dense)");
  if (r.ok() && groups < 1) r.Fail("q_groups", "must be at least 1");
  c->conv_groups = groups > 1 ? groups : 0;
  c->approximation = SqueezeBertApproximation(groups);
}

// DeBERTa v1 as the catalog builds it: relative attention (c2p and p2c) and no absolute position table.
void Deberta(HfReader& r, ModelConfig* c) {
  BertKeys(r, "gelu", 0, 1e-7, c);
  c->pooler = false;    // DebertaModel has none (the ContextPooler belongs to the task heads)
  c->key_bias = false;  // fused in_proj without bias, plus separate q_bias and v_bias
  c->position = PositionScheme::kNone;
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
  c->approximation = DebertaApproximation(c->relative_positions);
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
  c->global_tokens = 1;  // HF takes global tokens from each input's global_attention_mask; tscale uses [CLS]
  c->global_projections = true;
  c->approximation = LongformerApproximation(window);
}

void BigBird(HfReader& r, ModelConfig* c) {
  BertEncoder(r, "gelu_new", 4096, 0, c);
  const bool qkv_bias = r.Bool("use_bias", true);  // BigBird's use_bias covers only query, key and value
  LinearBiases(c, qkv_bias, true, true);
  c->scale_embedding = r.Bool("rescale_embeddings", false);
  const std::string type = r.String("attention_type", "block_sparse");
  if (type == "original_full") return;
  if (type != "block_sparse") return r.Fail("attention_type", "expected block_sparse or original_full");
  const int block = r.Int("block_size", 64), random = r.Int("num_random_blocks", 3);
  if (r.ok() && block < 1) return r.Fail("block_size", "must be at least 1");
  c->attention_window = r.Derived("num_random_blocks", (3 + int64_t{random}) * block);
  c->global_tokens = r.Derived("block_size", 2 * int64_t{block});
  c->approximation = BigBirdApproximation(block, random, c->attention_window, c->global_tokens);
}

// --- Decoders ------------------------------------------------------------------------------------------------

void Gpt2(HfReader& r, ModelConfig* c) {
  DecoderLayout(c);
  c->layers = r.RequiredInt("n_layer");
  c->hidden = r.RequiredInt("n_embd");
  c->heads = r.RequiredInt("n_head");
  c->ffn = FfnOr4d(r, "n_inner", *c);
  c->vocab = r.RequiredInt("vocab_size");
  c->norm_eps = r.Number("layer_norm_epsilon", 1e-5);
  c->activation = Act(r, "activation_function", "gelu_new");
  r.Expect("scale_attn_weights", true, true, "tscale always scales scores by 1/sqrt(head_dim)");
  r.Expect("scale_attn_by_inverse_layer_idx", false, false, "tscale has no per-layer score scaling");
  LearnedTable(r, "n_positions", r.Int("n_positions", 1024), 0, c);
}

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

void GptNeo(HfReader& r, ModelConfig* c) {
  DecoderLayout(c);
  c->layers = r.RequiredInt("num_layers");
  c->hidden = r.RequiredInt("hidden_size");
  c->heads = r.RequiredInt("num_heads");
  c->ffn = FfnOr4d(r, "intermediate_size", *c);
  c->vocab = r.RequiredInt("vocab_size");
  c->norm_eps = r.Number("layer_norm_epsilon", 1e-5);
  c->activation = Act(r, "activation_function", "gelu_new");
  LinearBiases(c, false, true, true);  // q/k/v bias-free
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
  if (all_global) return;  // window_size unused
  // tscale's window_layers: every layer, or the odd ones (global first, as GPT-Neo's published models).
  if (!all_local && !alternating)
    return r.Fail("attention_types", "only all global, all local or global/local alternation is expressible");
  c->window_layers = all_local ? WindowLayers::kAll : WindowLayers::kOdd;
  // HF's local layers let a query see itself and the window_size - 1 keys before it, as tscale's window does.
  c->attention_window = r.Int("window_size", 256);
  if (r.ok() && c->attention_window < 1) r.Fail("window_size", "must be at least 1");
}

void Gptj(HfReader& r, ModelConfig* c) {
  DecoderLayout(c);
  c->parallel_residual = c->shared_block_norm = true;
  c->layers = r.RequiredInt("n_layer");
  c->hidden = r.RequiredInt("n_embd");
  c->heads = r.RequiredInt("n_head");
  c->ffn = FfnOr4d(r, "n_inner", *c);
  c->vocab = r.RequiredInt("vocab_size");
  c->norm_eps = r.Number("layer_norm_epsilon", 1e-5);
  c->activation = Act(r, "activation_function", "gelu_new");
  LinearBiases(c, false, false, true);  // attention bias-free, MLP biased
  c->position = PositionScheme::kRotary;
  // rotary_dim: absent means 64, null means the whole head. Theta is fixed at 10000 in GPT-J.
  const int rotary = r.IsNull("rotary_dim") ? 0 : r.Int("rotary_dim", 64, 1);
  c->rotary_dims = c->heads > 0 && rotary == c->hidden / c->heads ? 0 : rotary;
  // HF gathers sin/cos from an n_positions-row buffer, so longer inputs fail: a hard limit without a table.
  c->max_input_tokens = r.Int("n_positions", 2048);
}

void GptNeox(HfReader& r, ModelConfig* c) {
  DecoderLayout(c);
  c->layers = r.RequiredInt("num_hidden_layers");
  c->hidden = r.RequiredInt("hidden_size");
  c->heads = r.RequiredInt("num_attention_heads");
  c->ffn = r.RequiredInt("intermediate_size");
  c->vocab = r.RequiredInt("vocab_size");
  c->norm_eps = r.Number("layer_norm_eps", 1e-5);
  c->activation = Act(r, "hidden_act", "gelu");
  // use_parallel_residual false is the sequential pre-norm block: the same two norms, so it maps directly.
  c->parallel_residual = r.Bool("use_parallel_residual", true);
  const bool attention_bias = r.Bool("attention_bias", true);
  LinearBiases(c, attention_bias, attention_bias, true);
  if (!r.ok() || c->heads == 0) return;
  Rotary(r, "rotary_emb_base", "rotary_pct", 0.25, c);
}

void Opt(HfReader& r, ModelConfig* c) {
  DecoderLayout(c);
  c->layers = r.RequiredInt("num_hidden_layers");
  c->hidden = r.RequiredInt("hidden_size");
  c->heads = r.RequiredInt("num_attention_heads");
  c->ffn = r.RequiredInt("ffn_dim");
  c->vocab = r.RequiredInt("vocab_size");
  c->activation = Act(r, "activation_function", "relu");
  // OPTLearnedPositionalEmbedding allocates max_position_embeddings + 2 rows and skips the first two.
  LearnedTable(r, "max_position_embeddings", r.Int("max_position_embeddings", 2048) + 2, 2, c);
  // word_embed_proj_dim < hidden_size: bias-free project_in/project_out around the blocks (OPT-350m).
  c->embedding_projection = EmbeddingProjection::kInOut;
  const int e = r.Int("word_embed_proj_dim", c->hidden);
  c->embedding_size = e == c->hidden ? 0 : e;
  const bool pre = r.Bool("do_layer_norm_before", true);
  c->norm_placement = pre ? NormPlacement::kPre : NormPlacement::kPost;
  c->final_norm = pre && !r.Bool("_remove_final_layer_norm", false);  // post-LN OPT has no final norm
  // enable_bias covers the Linear layers; the LayerNorms keep their biases.
  const bool bias = r.Bool("enable_bias", true);
  LinearBiases(c, bias, bias, bias);
  r.Expect("layer_norm_elementwise_affine", true, true, "tscale's LayerNorms have a weight and a bias");
}

void Bloom(HfReader& r, ModelConfig* c) {
  DecoderLayout(c);
  c->embedding_norm = true;  // word_embeddings_layernorm
  c->position = PositionScheme::kAlibi;
  c->layers = r.RequiredInt(r.Pick({"n_layer", "num_hidden_layers"}));
  c->hidden = r.RequiredInt(r.Pick({"hidden_size", "n_embed"}));
  c->heads = r.RequiredInt(r.Pick({"n_head", "num_attention_heads"}));
  c->ffn = r.Derived("hidden_size", 4 * int64_t{c->hidden});  // BloomMLP is always 4d (HF ignores n_inner)
  c->vocab = r.RequiredInt("vocab_size");
  c->norm_eps = r.Number("layer_norm_epsilon", 1e-5);
  c->activation = Activation::kGeluTanh;  // bloom_gelu, the tanh approximation
  r.Expect("apply_residual_connection_post_layernorm", false, false,
           "tscale's residual adds the block input, not the normed input");
}

// Llama and Mistral: RMSNorm, SwiGLU, rotary, GQA and no biases.
void LlamaLike(HfReader& r, ModelConfig* c) {
  DecoderLayout(c);
  c->norm = NormType::kRmsNorm;
  c->bias = false;
  c->layers = r.RequiredInt("num_hidden_layers");
  c->hidden = r.RequiredInt("hidden_size");
  const int heads = r.RequiredInt("num_attention_heads");
  c->ffn = r.RequiredInt("intermediate_size");
  c->vocab = r.RequiredInt("vocab_size");
  c->norm_eps = r.Number("rms_norm_eps", 1e-6);
  c->activation = GatedSilu(r, "hidden_act");
  if (!r.ok() || heads == 0) return;
  Heads(c, heads, r.Int("num_key_value_heads", heads, 1), r.Int("head_dim", c->hidden / heads, 1));
  Rotary(r, "rope_theta", nullptr, 1.0, c);
}

void Llama(HfReader& r, ModelConfig* c) {
  LlamaLike(r, c);
  const bool attention_bias = r.Bool("attention_bias", false);  // q, k, v and o together
  LinearBiases(c, attention_bias, attention_bias, r.Bool("mlp_bias", false));
}

void Mistral(HfReader& r, ModelConfig* c) {
  LlamaLike(r, c);
  LinearBiases(c, false, false, false);
  // sliding_window is the causal window (attention_window, as in the catalog); null means full attention.
  c->attention_window = r.Int("sliding_window", r.IsNull("sliding_window") ? 0 : 4096);
}

void Phi(HfReader& r, ModelConfig* c) {
  DecoderLayout(c);
  c->parallel_residual = c->shared_block_norm = true;
  c->layers = r.RequiredInt("num_hidden_layers");
  c->hidden = r.RequiredInt("hidden_size");
  const int heads = r.RequiredInt("num_attention_heads");
  c->ffn = r.RequiredInt("intermediate_size");
  c->vocab = r.RequiredInt("vocab_size");
  c->norm_eps = r.Number("layer_norm_eps", 1e-5);
  c->activation = Act(r, "hidden_act", "gelu_new");
  r.Expect("qk_layernorm", false, false, "tscale has no LayerNorm on queries and keys");
  if (!r.ok() || heads == 0) return;
  Heads(c, heads, r.Int("num_key_value_heads", heads, 1), c->hidden / heads);
  Rotary(r, "rope_theta", "partial_rotary_factor", 0.5, c);
}

void Falcon(HfReader& r, ModelConfig* c) {
  DecoderLayout(c);
  c->layers = r.RequiredInt(r.Pick({"num_hidden_layers", "n_layer"}));
  c->hidden = r.RequiredInt(r.Pick({"hidden_size", "n_embed"}));
  const int heads = r.RequiredInt(r.Pick({"num_attention_heads", "n_head"}));
  c->vocab = r.RequiredInt("vocab_size");
  c->ffn = FfnOr4d(r, "ffn_hidden_size", *c);
  c->norm_eps = r.Number("layer_norm_epsilon", 1e-5);
  c->activation = Act(r, "activation", "gelu");
  // Falcon adds its ALiBi bias before the 1/sqrt(head_dim) scaling, BLOOM (tscale's alibi) after it.
  r.Expect("alibi", false, false, "Falcon's ALiBi is scaled with the scores, unlike tscale's (BLOOM's)");
  const bool bias = r.Bool("bias", false);  // the Linear layers; the LayerNorms keep theirs
  LinearBiases(c, bias, bias, bias);
  // The block: new_decoder_architecture (40B/180B) is parallel with num_ln_in_parallel_attn norms (default 2) and
  // num_kv_heads; the 7B layout is parallel_attn with one shared norm, and multi_query means one K/V head.
  const bool new_arch = r.Bool("new_decoder_architecture", false);
  const bool multi_query = r.Bool("multi_query", true);
  const bool parallel = r.Bool("parallel_attn", true);
  const int norms = r.Int("num_ln_in_parallel_attn", new_arch ? 2 : 1);
  if (new_arch && !parallel) r.Fail("parallel_attn", "false with new_decoder_architecture is not a Falcon layout");
  if (!new_arch && parallel && norms != 1)
    r.Fail("num_ln_in_parallel_attn", "only 1 is valid without new_decoder_architecture");
  if (new_arch && norms != 1 && norms != 2) r.Fail("num_ln_in_parallel_attn", "must be 1 or 2");
  c->parallel_residual = parallel;
  c->shared_block_norm = parallel && norms == 1;
  const int kv_heads = new_arch ? r.Int(r.Pick({"num_kv_heads", "n_head_kv"}), heads, 1) : multi_query ? 1 : heads;
  if (!r.ok() || heads == 0) return;
  Heads(c, heads, kv_heads, c->hidden / heads);
  Rotary(r, "rope_theta", nullptr, 1.0, c);
}

// --- Encoder-decoders ----------------------------------------------------------------------------------------

// tscale has one head count and one FFN width for both stacks.
int SameInBothStacks(HfReader& r, const char* encoder_key, const char* decoder_key) {
  const int encoder = r.RequiredInt(encoder_key), decoder = r.RequiredInt(decoder_key);
  if (r.ok() && encoder != decoder)
    r.Fail(decoder_key, "must equal " + std::string(encoder_key) + " (" + std::to_string(encoder) +
                            "): tscale uses one value for both stacks");
  return encoder;
}

// BART, Pegasus and Blenderbot share their keys; nn.LayerNorm's default eps (1e-5) is not in the config.
void BartKeys(HfReader& r, ModelConfig* c) {
  c->arch = ArchKind::kEncoderDecoder;
  c->hidden = r.RequiredInt("d_model");
  c->layers = r.RequiredInt("encoder_layers");
  c->decoder_layers = r.RequiredInt("decoder_layers");
  c->heads = SameInBothStacks(r, "encoder_attention_heads", "decoder_attention_heads");
  c->ffn = SameInBothStacks(r, "encoder_ffn_dim", "decoder_ffn_dim");
  c->vocab = r.RequiredInt("vocab_size");
  c->activation = Act(r, "activation_function", "gelu");
  c->scale_embedding = r.Bool("scale_embedding", false);
}

// Legacy keys in some configs (normalize_before, add_final_layer_norm, normalize_embedding) are not read by the
// current HF classes, whose layout is fixed per model_type; they are ignored here as there.
void Bart(HfReader& r, ModelConfig* c) {
  BartKeys(r, c);
  c->norm_placement = NormPlacement::kPost;
  c->embedding_norm = true;  // layernorm_embedding
  // BartLearnedPositionalEmbedding: max_position_embeddings + 2 rows, the first two skipped.
  LearnedTable(r, "max_position_embeddings", r.Int("max_position_embeddings", 1024) + 2, 2, c);
}

void Pegasus(HfReader& r, ModelConfig* c) {
  BartKeys(r, c);
  c->norm_placement = NormPlacement::kPre;
  c->final_norm = true;
  // Fixed sinusoids stored as a frozen max_position_embeddings-row parameter per stack (counted, and a hard limit).
  c->position = PositionScheme::kSinusoidal;
  c->position_rows = c->max_input_tokens = r.Int("max_position_embeddings", 1024);
  if (r.ok() && c->position_rows < 1) r.Fail("max_position_embeddings", "must be at least 1");
}

void Blenderbot(HfReader& r, ModelConfig* c) {
  BartKeys(r, c);
  c->norm_placement = NormPlacement::kPre;
  c->final_norm = true;
  LearnedTable(r, "max_position_embeddings", r.Int("max_position_embeddings", 128), 0, c);
}

void ProphetNet(HfReader& r, ModelConfig* c) {
  c->arch = ArchKind::kEncoderDecoder;
  c->norm_placement = NormPlacement::kPost;
  c->embedding_norm = true;
  c->hidden = r.RequiredInt("hidden_size");
  c->layers = r.RequiredInt("num_encoder_layers");
  c->decoder_layers = r.RequiredInt("num_decoder_layers");
  c->heads = SameInBothStacks(r, "num_encoder_attention_heads", "num_decoder_attention_heads");
  c->ffn = SameInBothStacks(r, "encoder_ffn_dim", "decoder_ffn_dim");
  c->vocab = r.RequiredInt("vocab_size");
  c->activation = Act(r, "activation_function", "gelu");
  c->ngram = r.Int("ngram", 2);
  // The decoder's self-attention projects each token to num_buckets x heads relative-position logits.
  c->relative_bias_projection = true;
  c->relative_buckets = r.Int("num_buckets", 32);
  c->relative_max_distance = r.Int("relative_max_distance", 128);
  // Positions start at padding_idx + 1 and are clamped to the last row: no hard length limit.
  LearnedTable(r, "max_position_embeddings", r.Int("max_position_embeddings", 512), r.Int("pad_token_id", 0) + 1, c);
  c->position_clamp = true;
  c->max_input_tokens = 0;
  c->approximation = kProphetNetApproximation;
}

void T5(HfReader& r, ModelConfig* c) {
  c->arch = ArchKind::kEncoderDecoder;
  c->norm = NormType::kRmsNorm;
  c->norm_placement = NormPlacement::kPre;
  c->final_norm = true;
  c->bias = false;
  LinearBiases(c, false, false, false);
  c->hidden = r.RequiredInt("d_model");
  c->layers = r.RequiredInt("num_layers");
  c->decoder_layers = r.Int("num_decoder_layers", c->layers);
  const int heads = r.RequiredInt("num_heads");
  c->ffn = r.RequiredInt("d_ff");
  c->vocab = r.RequiredInt("vocab_size");
  c->norm_eps = r.Number("layer_norm_epsilon", 1e-6);
  c->position = PositionScheme::kRelativeBuckets;
  c->relative_buckets = r.Int("relative_attention_num_buckets", 32);
  c->relative_max_distance = r.Int("relative_attention_max_distance", 128);
  // feed_forward_proj is "ACT" or "gated-ACT"; HF runs "gated-gelu" as a gated gelu_new (GeGLU).
  const std::string ffn = r.String("feed_forward_proj", "relu");
  const bool gated = ffn.rfind("gated-", 0) == 0;
  const std::string act = gated ? ffn.substr(6) : ffn;
  if (gated && act != "silu" && act != "swish") {
    r.Fail("feed_forward_proj", "\"" + ffn + "\" is not expressible: tscale gates only with silu (\"gated-silu\")");
  } else if (gated) {
    c->activation = Activation::kSiluGated;  // wo(silu(wi_0 x) * wi_1 x), SwiGLU
  } else if (act == "gelu" || act == "gelu_new" || act == "relu") {
    c->activation = act == "relu" ? Activation::kRelu : act == "gelu" ? Activation::kGelu : Activation::kGeluTanh;
  } else if (r.ok()) {
    r.Fail("feed_forward_proj", "\"" + ffn + "\" is not supported (relu, gelu, gelu_new, gated-silu)");
  }
  // Saved configs repeat the parsed form; some transformers versions let it override feed_forward_proj.
  if (r.Has("is_gated_act") && r.Bool("is_gated_act", gated) != gated)
    r.Fail("is_gated_act", "disagrees with feed_forward_proj");
  if (!r.ok() || heads == 0) return;
  Heads(c, heads, heads, r.Int("d_kv", 64, 1));  // the attention width is num_heads x d_kv, which may differ from d
}

// --- The table -----------------------------------------------------------------------------------------------

struct Family {
  const char* model_type;
  void (*map)(HfReader&, ModelConfig*);
};

constexpr Family kFamilies[] = {
    {"bert", Bert},
    {"roberta", Roberta},
    {"xlm-roberta", Roberta},
    {"distilbert", DistilBert},
    {"albert", Albert},
    {"electra", Electra},
    {"squeezebert", SqueezeBert},
    {"deberta", Deberta},
    {"longformer", Longformer},
    {"big_bird", BigBird},
    {"gpt2", Gpt2},
    {"gpt_neo", GptNeo},
    {"gptj", Gptj},
    {"gpt_neox", GptNeox},
    {"opt", Opt},
    {"bloom", Bloom},
    {"llama", Llama},
    {"mistral", Mistral},
    {"phi", Phi},
    {"falcon", Falcon},
    {"bart", Bart},
    {"pegasus", Pegasus},
    {"blenderbot", Blenderbot},
    {"prophetnet", ProphetNet},
    {"t5", T5},
};

}  // namespace

std::vector<std::string> SupportedHfModelTypes() {
  std::vector<std::string> types;
  for (const Family& family : kFamilies) types.push_back(family.model_type);
  return types;
}

StatusOr<ModelConfig> ParseHfConfig(const std::string& json_text, const std::string& id) {
  json doc = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status::InvalidArgument("config.json: not valid JSON");
  if (!doc.is_object()) return Status::InvalidArgument("config.json: top level must be a JSON object");
  HfReader r(doc);
  if (!r.Has("model_type")) return Status::InvalidArgument("model_type: required key is missing");
  const std::string type = r.String("model_type", "");
  if (!r.ok()) return r.status();
  const Family* family = nullptr;
  for (const Family& f : kFamilies)
    if (type == f.model_type) family = &f;
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
  family->map(r, &c);
  TSCALE_RETURN_IF_ERROR(r.status());
  if (c.id.empty()) return Status::InvalidArgument("_name_or_path: no model id given (and no name from the caller)");
  TSCALE_RETURN_IF_ERROR(Validate(c));
  return c;
}

}  // namespace tscale
