#include "common/model_config.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>

namespace tscale {
namespace {

using nlohmann::json;

template <typename Enum>
struct EnumNames {
  std::vector<std::pair<const char*, Enum>> entries;

  const char* Name(Enum value) const {
    for (const auto& [name, v] : entries)
      if (v == value) return name;
    return "?";
  }
  std::string Choices() const {
    std::string out;
    for (const auto& [name, v] : entries) out += (out.empty() ? "" : ", ") + std::string(name);
    return out;
  }
};

const EnumNames<ArchKind> kArchNames{
    {{"encoder", ArchKind::kEncoder}, {"decoder", ArchKind::kDecoder}, {"encoder-decoder", ArchKind::kEncoderDecoder}}};
const EnumNames<PositionScheme> kPositionNames{{{"learned", PositionScheme::kLearned},
                                                {"sinusoidal", PositionScheme::kSinusoidal},
                                                {"rotary", PositionScheme::kRotary},
                                                {"alibi", PositionScheme::kAlibi},
                                                {"relative_buckets", PositionScheme::kRelativeBuckets},
                                                {"none", PositionScheme::kNone}}};
const EnumNames<NormType> kNormNames{{{"layernorm", NormType::kLayerNorm}, {"rmsnorm", NormType::kRmsNorm}}};
const EnumNames<NormPlacement> kPlacementNames{{{"pre", NormPlacement::kPre}, {"post", NormPlacement::kPost}}};
const EnumNames<Activation> kActivationNames{{{"gelu", Activation::kGelu},
                                              {"gelu_tanh", Activation::kGeluTanh},
                                              {"relu", Activation::kRelu},
                                              {"silu_gated", Activation::kSiluGated}}};

// Reads optional fields with type checks; the first failure is kept and names the field.
class FieldReader {
 public:
  explicit FieldReader(const json& obj) : obj_(obj) {}

  template <typename T>
  void Get(const char* key, T* out, bool required = false) {
    if (!status_.ok()) return;
    auto it = obj_.find(key);
    if (it == obj_.end() || it->is_null()) {
      if (required) status_ = Status::InvalidArgument(std::string(key) + ": required field is missing");
      return;
    }
    try {
      if constexpr (std::is_same_v<T, bool>) {
        if (!it->is_boolean()) throw std::invalid_argument("expected true or false");
      } else if constexpr (std::is_integral_v<T>) {
        if (!it->is_number_integer()) throw std::invalid_argument("expected an integer");
      } else if constexpr (std::is_floating_point_v<T>) {
        if (!it->is_number()) throw std::invalid_argument("expected a number");
      } else if constexpr (std::is_same_v<T, std::string>) {
        if (!it->is_string()) throw std::invalid_argument("expected a string");
      }
      *out = it->get<T>();
    } catch (const std::exception& e) {
      status_ = Status::InvalidArgument(std::string(key) + ": " + e.what());
    }
  }

  template <typename Enum>
  void GetEnum(const char* key, const EnumNames<Enum>& names, Enum* out, bool required = false) {
    std::string text;
    bool present = obj_.contains(key);
    Get(key, &text, required);
    if (!status_.ok() || !present) return;
    for (const auto& [name, value] : names.entries) {
      if (text == name) {
        *out = value;
        return;
      }
    }
    status_ = Status::InvalidArgument(std::string(key) + ": unknown value \"" + text + "\" (expected one of " +
                                      names.Choices() + ")");
  }

  const Status& status() const { return status_; }

 private:
  const json& obj_;
  Status status_;
};

int64_t NormParams(const ModelConfig& c, int64_t width) {
  return c.norm == NormType::kLayerNorm ? 2 * width : width;
}

int64_t LinearParams(const ModelConfig& c, int64_t in, int64_t out) {
  return in * out + (c.bias ? out : 0);
}

}  // namespace

const char* ArchKindName(ArchKind kind) {
  return kArchNames.Name(kind);
}

Status Validate(const ModelConfig& c) {
  auto bad = [](const std::string& field, const std::string& why) {
    return Status::InvalidArgument(field + ": " + why);
  };
  if (c.id.empty()) return bad("id", "must not be empty");
  if (c.layers <= 0 || c.layers > 1024) return bad("layers", "must be in 1..1024");
  if (c.hidden <= 0 || c.hidden > 65536) return bad("hidden", "must be in 1..65536");
  if (c.heads <= 0 || c.heads > c.hidden) return bad("heads", "must be in 1..hidden");
  if (c.head_dim == 0 && c.hidden % c.heads != 0)
    return bad("heads", "must divide hidden (" + std::to_string(c.hidden) + ") when head_dim is not set");
  if (c.head_dim < 0) return bad("head_dim", "must not be negative");
  if (c.kv_heads < 0 || c.kv_heads > c.heads) return bad("kv_heads", "must be in 0..heads");
  if (c.kv_heads > 0 && c.heads % c.kv_heads != 0) return bad("kv_heads", "must divide heads");
  if (c.ffn <= 0 || c.ffn > 1 << 20) return bad("ffn", "must be in 1..1048576");
  if (c.vocab <= 0 || c.vocab > 1 << 22) return bad("vocab", "must be in 1..4194304");
  if (c.embedding_size < 0 || c.embedding_size > c.hidden) return bad("embedding_size", "must be in 0..hidden");
  if (c.position == PositionScheme::kLearned && c.position_rows <= 0)
    return bad("position_rows", "a learned position table needs at least one row");
  if (c.position_rows < 0) return bad("position_rows", "must not be negative");
  if (c.position_offset < 0 || (c.position_rows > 0 && c.position_offset >= c.position_rows))
    return bad("position_offset", "must be in 0..position_rows-1");
  if (c.max_input_tokens < 0) return bad("max_input_tokens", "must not be negative");
  if (c.position == PositionScheme::kLearned && c.max_input_tokens > c.position_rows - c.position_offset)
    return bad("max_input_tokens", "exceeds the usable rows of the position table");
  if (c.type_vocab < 0 || c.type_vocab > 1024) return bad("type_vocab", "must be in 0..1024");
  if (!(c.norm_eps > 0 && c.norm_eps < 1)) return bad("norm_eps", "must be in (0, 1)");
  if (c.published_params_m < 0) return bad("published_params_m", "must not be negative");
  if (c.reference_params < 0) return bad("reference_params", "must not be negative");
  return Status::Ok();
}

StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text) {
  json doc = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status::InvalidArgument("model config: not valid JSON");
  if (!doc.is_object()) return Status::InvalidArgument("model config: top level must be a JSON object");

  ModelConfig c;
  FieldReader r(doc);
  r.Get("id", &c.id, /*required=*/true);
  r.Get("aliases", &c.aliases);
  r.Get("category", &c.category);
  r.Get("family", &c.family);
  r.GetEnum("arch", kArchNames, &c.arch, /*required=*/true);
  r.Get("layers", &c.layers, true);
  r.Get("hidden", &c.hidden, true);
  r.Get("heads", &c.heads, true);
  r.Get("kv_heads", &c.kv_heads);
  r.Get("head_dim", &c.head_dim);
  r.Get("ffn", &c.ffn, true);
  r.Get("vocab", &c.vocab, true);
  r.Get("embedding_size", &c.embedding_size);
  r.GetEnum("position", kPositionNames, &c.position, true);
  r.Get("position_rows", &c.position_rows);
  r.Get("position_offset", &c.position_offset);
  r.Get("max_input_tokens", &c.max_input_tokens);
  r.Get("type_vocab", &c.type_vocab);
  r.GetEnum("norm", kNormNames, &c.norm);
  r.Get("norm_eps", &c.norm_eps);
  r.GetEnum("norm_placement", kPlacementNames, &c.norm_placement);
  r.Get("embedding_norm", &c.embedding_norm);
  r.Get("final_norm", &c.final_norm);
  r.GetEnum("activation", kActivationNames, &c.activation);
  r.Get("bias", &c.bias);
  r.Get("pooler", &c.pooler);
  r.Get("published_params_m", &c.published_params_m);
  r.Get("reference_params", &c.reference_params);
  r.Get("notes", &c.notes);
  if (!r.status().ok()) return r.status();
  if (c.aliases.size() > 64) return Status::InvalidArgument("aliases: at most 64");
  TSCALE_RETURN_IF_ERROR(Validate(c));
  return c;
}

std::string ModelConfigToJson(const ModelConfig& c) {
  json j = {
      {"id", c.id},
      {"aliases", c.aliases},
      {"category", c.category},
      {"family", c.family},
      {"arch", kArchNames.Name(c.arch)},
      {"layers", c.layers},
      {"hidden", c.hidden},
      {"heads", c.heads},
      {"kv_heads", c.kv_heads},
      {"head_dim", c.head_dim},
      {"ffn", c.ffn},
      {"vocab", c.vocab},
      {"embedding_size", c.embedding_size},
      {"position", kPositionNames.Name(c.position)},
      {"position_rows", c.position_rows},
      {"position_offset", c.position_offset},
      {"max_input_tokens", c.max_input_tokens},
      {"type_vocab", c.type_vocab},
      {"norm", kNormNames.Name(c.norm)},
      {"norm_eps", c.norm_eps},
      {"norm_placement", kPlacementNames.Name(c.norm_placement)},
      {"embedding_norm", c.embedding_norm},
      {"final_norm", c.final_norm},
      {"activation", kActivationNames.Name(c.activation)},
      {"bias", c.bias},
      {"pooler", c.pooler},
      {"published_params_m", c.published_params_m},
      {"reference_params", c.reference_params},
      {"notes", c.notes},
  };
  return j.dump(2);
}

int64_t AnalyticParameterCount(const ModelConfig& c) {
  const int64_t d = c.hidden, e = c.EffectiveEmbeddingSize(), f = c.ffn;
  const int64_t q_width = int64_t{c.heads} * c.EffectiveHeadDim();
  const int64_t kv_width = int64_t{c.EffectiveKvHeads()} * c.EffectiveHeadDim();

  int64_t embeddings = int64_t{c.vocab} * e;
  if (c.position == PositionScheme::kLearned) embeddings += int64_t{c.position_rows} * e;
  embeddings += int64_t{c.type_vocab} * e;
  if (c.embedding_norm) embeddings += NormParams(c, e);
  if (e != d) embeddings += LinearParams(c, e, d);

  int64_t attention = LinearParams(c, d, q_width) + 2 * LinearParams(c, d, kv_width) + LinearParams(c, q_width, d);
  int64_t mlp = LinearParams(c, d, f) + LinearParams(c, f, d);
  if (c.activation == Activation::kSiluGated) mlp += LinearParams(c, d, f);
  int64_t block = attention + mlp + 2 * NormParams(c, d);

  int64_t total = embeddings + c.layers * block;
  if (c.final_norm) total += NormParams(c, d);
  if (c.pooler) total += d * d + d;
  return total;
}

double ForwardFlops(const ModelConfig& c, int batch, int seq_len) {
  const double tokens = static_cast<double>(batch) * seq_len;
  const double d = c.hidden, f = c.ffn, e = c.EffectiveEmbeddingSize();
  const double q_width = static_cast<double>(c.heads) * c.EffectiveHeadDim();
  const double kv_width = static_cast<double>(c.EffectiveKvHeads()) * c.EffectiveHeadDim();
  const double ffn_mats = c.activation == Activation::kSiluGated ? 3.0 : 2.0;
  const double weights_per_layer = d * q_width + 2 * d * kv_width + q_width * d + ffn_mats * d * f;
  double flops = 2.0 * tokens * weights_per_layer * c.layers;
  flops += 2.0 * 2.0 * batch * static_cast<double>(seq_len) * seq_len * q_width * c.layers;  // QK^T and AV
  if (e != d) flops += 2.0 * tokens * e * d;
  if (c.pooler) flops += 2.0 * batch * d * d;
  return flops;
}

Status CheckContext(const ModelConfig& c, int seq_len, bool extend_context) {
  if (seq_len <= 0) return Status::InvalidArgument("seq_len: must be positive");
  if (extend_context || c.max_input_tokens == 0 || seq_len <= c.max_input_tokens) return Status::Ok();
  return Status::OutOfRange("sequence length " + std::to_string(seq_len) + " exceeds " + c.id +
                            "'s position limit of " + std::to_string(c.max_input_tokens) + " tokens");
}

}  // namespace tscale
