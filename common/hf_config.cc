#include "common/hf_config.h"

#include <nlohmann/json.hpp>

namespace tscale {
namespace {

using nlohmann::json;

// Reads integer/number/string keys of an HF config; the first failure is kept and names the key.
class HfReader {
 public:
  explicit HfReader(const json& doc) : doc_(doc) {}

  int Int(const char* key, int fallback, bool required = false) {
    if (!status_.ok()) return fallback;
    auto it = doc_.find(key);
    if (it == doc_.end() || it->is_null()) {
      if (required) status_ = Status::InvalidArgument(std::string(key) + ": required key is missing");
      return fallback;
    }
    if (!it->is_number_integer()) {
      status_ = Status::InvalidArgument(std::string(key) + ": expected an integer");
      return fallback;
    }
    const int64_t value = it->get<int64_t>();
    if (value < 0 || value > (1 << 30)) {
      status_ = Status::InvalidArgument(std::string(key) + ": " + std::to_string(value) + " is out of range");
      return fallback;
    }
    return static_cast<int>(value);
  }
  double Number(const char* key, double fallback) {
    if (!status_.ok()) return fallback;
    auto it = doc_.find(key);
    if (it == doc_.end() || it->is_null()) return fallback;
    if (!it->is_number()) {
      status_ = Status::InvalidArgument(std::string(key) + ": expected a number");
      return fallback;
    }
    return it->get<double>();
  }
  std::string String(const char* key, const std::string& fallback) {
    if (!status_.ok()) return fallback;
    auto it = doc_.find(key);
    if (it == doc_.end() || it->is_null()) return fallback;
    if (!it->is_string()) {
      status_ = Status::InvalidArgument(std::string(key) + ": expected a string");
      return fallback;
    }
    return it->get<std::string>();
  }
  const Status& status() const { return status_; }

 private:
  const json& doc_;
  Status status_;
};

StatusOr<Activation> MapActivation(const std::string& key, const std::string& name) {
  if (name == "gelu") return Activation::kGelu;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return Activation::kGeluTanh;
  if (name == "relu") return Activation::kRelu;
  return Status::InvalidArgument(key + ": activation \"" + name + "\" is not supported (gelu, gelu_new, relu)");
}

Status BertFamily(HfReader& r, const std::string& type, ModelConfig* c) {
  c->arch = ArchKind::kEncoder;
  c->layers = r.Int("num_hidden_layers", 0, true);
  c->hidden = r.Int("hidden_size", 0, true);
  c->heads = r.Int("num_attention_heads", 0, true);
  c->ffn = r.Int("intermediate_size", 0, true);
  c->vocab = r.Int("vocab_size", 0, true);
  c->position_rows = r.Int("max_position_embeddings", 512);
  c->type_vocab = r.Int("type_vocab_size", 2);
  c->norm_eps = r.Number("layer_norm_eps", 1e-12);
  auto act = MapActivation("hidden_act", r.String("hidden_act", "gelu"));
  if (!act.ok()) return act.status();
  c->activation = *act;
  // RoBERTa-style models start positions after the padding index (padding_idx + 1 = 2 with pad 1).
  c->position_offset = (type == "roberta" || type == "xlm-roberta") ? r.Int("pad_token_id", 1) + 1 : 0;
  c->norm_placement = NormPlacement::kPost;
  c->embedding_norm = true;
  c->pooler = true;
  return r.status();
}

Status DistilBert(HfReader& r, ModelConfig* c) {
  c->arch = ArchKind::kEncoder;
  c->layers = r.Int("n_layers", 0, true);
  c->hidden = r.Int("dim", 0, true);
  c->heads = r.Int("n_heads", 0, true);
  c->ffn = r.Int("hidden_dim", 0, true);
  c->vocab = r.Int("vocab_size", 0, true);
  c->position_rows = r.Int("max_position_embeddings", 512);
  c->norm_eps = 1e-12;
  auto act = MapActivation("activation", r.String("activation", "gelu"));
  if (!act.ok()) return act.status();
  c->activation = *act;
  c->norm_placement = NormPlacement::kPost;
  c->embedding_norm = true;
  return r.status();
}

Status Gpt2(HfReader& r, ModelConfig* c) {
  c->arch = ArchKind::kDecoder;
  c->layers = r.Int("n_layer", 0, true);
  c->hidden = r.Int("n_embd", 0, true);
  c->heads = r.Int("n_head", 0, true);
  c->ffn = r.Int("n_inner", 0);
  if (c->ffn == 0) c->ffn = 4 * c->hidden;  // n_inner: null means 4 * n_embd
  c->vocab = r.Int("vocab_size", 0, true);
  c->position_rows = r.Int("n_positions", 1024);
  c->norm_eps = r.Number("layer_norm_epsilon", 1e-5);
  auto act = MapActivation("activation_function", r.String("activation_function", "gelu_new"));
  if (!act.ok()) return act.status();
  c->activation = *act;
  c->norm_placement = NormPlacement::kPre;
  c->final_norm = true;
  return r.status();
}

}  // namespace

StatusOr<ModelConfig> ParseHfConfig(const std::string& json_text, const std::string& id) {
  json doc = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status::InvalidArgument("config.json: not valid JSON");
  if (!doc.is_object()) return Status::InvalidArgument("config.json: top level must be a JSON object");
  HfReader r(doc);
  const std::string type = r.String("model_type", "");
  if (!r.status().ok()) return r.status();
  ModelConfig c;
  c.id = r.String("_name_or_path", "");
  if (c.id.empty()) c.id = id;
  c.family = type;
  c.category = "User";
  c.position = PositionScheme::kLearned;
  Status mapped;
  if (type == "bert" || type == "roberta" || type == "xlm-roberta") {
    mapped = BertFamily(r, type, &c);
  } else if (type == "distilbert") {
    mapped = DistilBert(r, &c);
  } else if (type == "gpt2") {
    mapped = Gpt2(r, &c);
  } else {
    return Status::InvalidArgument("model_type: \"" + type +
                                   "\" is not supported yet (bert, roberta, xlm-roberta, distilbert, gpt2)");
  }
  TSCALE_RETURN_IF_ERROR(mapped);
  if (c.position_rows <= c.position_offset)
    return Status::InvalidArgument("max_position_embeddings: must exceed the position offset");
  c.max_input_tokens = c.position_rows - c.position_offset;
  if (c.id.empty()) return Status::InvalidArgument("_name_or_path: no model id given");
  TSCALE_RETURN_IF_ERROR(Validate(c));
  return c;
}

}  // namespace tscale
