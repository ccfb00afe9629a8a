// How a family reads a Hugging Face config.json: HfReader (keys with HF's defaults, range checks, the first error
// kept and named after its key) and the pieces several families share (layouts, biases, heads, tables, rotary).
// Only common/families/ includes this.
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "common/model_config.h"
#include "common/status.h"

namespace tscale::families {

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
  // A dropout rate: a number in [0, 1).
  double Probability(const char* key, double fallback) {
    const double p = Number(key, fallback);
    if (ok() && !(p >= 0 && p < 1)) Fail(key, "must be in [0, 1) (got " + json(p).dump() + ")");
    return ok() ? p : fallback;
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

// HF activation names (ACT2FN) that tscale runs as such; `key` is the family's name for the setting.
Activation Act(HfReader& r, const char* key, const char* hf_default);
// Llama-style MLPs are always gated (down(act(gate(x)) * up(x))); tscale's only gate is SiLU.
Activation GatedSilu(HfReader& r, const char* key);
// The layouts every encoder-only and every decoder-only family starts from.
void EncoderLayout(ModelArchitecture* a);
void DecoderLayout(ModelArchitecture* a);
// The Linear biases (ModelConfig::bias also gives the LayerNorms theirs, so families set it separately).
void LinearBiases(ModelArchitecture* a, bool qkv, bool out, bool mlp);
// Heads in the catalog's normal form: kv_heads and head_dim are 0 where they equal the default.
void Heads(ModelConfig* c, int heads, int kv_heads, int head_dim);
// A learned absolute table of `rows` rows whose first usable row is `offset`; `key` is where its size came from.
void LearnedTable(HfReader& r, const char* key, int rows, int offset, ModelConfig* c);
// The dropout rates from the family's keys (nullptr: HF has no such rate), each defaulting to what the layout set
// (HF's default). `embedding`: HF's separate rate after the embeddings (GPT-2's embd_pdrop), range-checked but not
// kept: tscale has one hidden rate, and takes the residual one, which HF applies twice per block.
void Dropouts(HfReader& r, const char* hidden, const char* attention, ModelConfig* c, const char* embedding = nullptr);
// The FFN width of GPT-style configs: null or absent means 4 * hidden.
int FfnOr4d(HfReader& r, const char* key, const ModelConfig& c);
// Rotary embeddings over `fraction` of each head (family keys or a transformers-5 "rope_parameters" object);
// scaled RoPE is refused.
void Rotary(HfReader& r, const char* theta_key, const char* fraction_key, double fraction_default, ModelConfig* c);
// The shape keys every family has under its own names, all required: layers, width, heads, FFN width (nullptr:
// the family derives it afterwards) and vocab_size.
struct ShapeKeys {
  const char* layers;
  const char* hidden;
  const char* heads;
  const char* ffn;
};
void ReadShape(HfReader& r, const ShapeKeys& keys, ModelConfig* c);
// Encoder-decoders (BART lineage, ProphetNet): the width, each stack's layer count, and the head count and FFN
// width, which tscale has once for both stacks (a config whose stacks differ is refused); vocab_size.
struct EncoderDecoderKeys {
  const char* hidden;
  const char* encoder_layers;
  const char* decoder_layers;
  const char* encoder_heads;
  const char* decoder_heads;
  const char* encoder_ffn;
  const char* decoder_ffn;
};
void ReadEncoderDecoderShape(HfReader& r, const EncoderDecoderKeys& keys, ModelConfig* c);
// The BERT lineage (bert.cc), which SqueezeBERT, DeBERTa, Longformer and BigBird build on (their layouts start
// from EncoderLayout): BertKeys reads the
// shape keys with the family's HF defaults for hidden_act, type_vocab_size and layer_norm_eps; BertEncoder adds
// the absolute position table.
void BertKeys(HfReader& r, const char* act, int type_vocab, double eps, ModelConfig* c);
void BertEncoder(HfReader& r, const char* act, int positions, int offset, ModelConfig* c);

}  // namespace tscale::families
