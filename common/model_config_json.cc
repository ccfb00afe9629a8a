// The tscale JSON form of a ModelConfig, read and written from one table of fields: each key appears once,
// with its member and, for integers, its range. A value outside the range is refused on read, naming the key
// and the range, so no value is ever truncated into a C++ int (a JSON 4294967308 would otherwise become 12).
#include <nlohmann/json.hpp>

#include <functional>
#include <set>

#include "common/model_config.h"

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
const EnumNames<BlockKind> kBlockNames{{{"transformer", BlockKind::kTransformer}, {"mamba", BlockKind::kMamba}}};
const EnumNames<AttentionKind> kAttentionKindNames{
    {{"softmax", AttentionKind::kSoftmax}, {"linear", AttentionKind::kLinear}}};
const EnumNames<WindowLayers> kWindowLayerNames{{{"all", WindowLayers::kAll}, {"odd", WindowLayers::kOdd}}};
const EnumNames<EmbeddingProjection> kProjectionNames{
    {{"after_norm", EmbeddingProjection::kAfterNorm}, {"in_out", EmbeddingProjection::kInOut}}};

Status Wrong(const char* key, const std::string& why) {
  return Status::InvalidArgument(std::string(key) + ": " + why);
}

// One key of the JSON object. `read` is called only for a present, non-null value.
struct Field {
  const char* key;
  bool required;
  std::function<Status(const json&, ModelConfig*)> read;
  std::function<json(const ModelConfig&)> write;
  // Integers only: the accepted range, also checked by Validate for configs built in code (HF, tests).
  std::function<Status(const ModelConfig&)> check_range;
};

constexpr bool kRequired = true;

std::string RangeText(int64_t min, int64_t max) {
  return "must be in " + std::to_string(min) + ".." + std::to_string(max);
}

template <typename Owner, typename T>
Field Int(const char* key, T Owner::*member, int64_t min, int64_t max, bool required = false) {
  auto read = [=](const json& v, ModelConfig* c) -> Status {
    if (!v.is_number_integer()) return Wrong(key, "expected an integer");
    int64_t value = 0;
    if (v.is_number_unsigned()) {
      const uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(max)) return Wrong(key, RangeText(min, max) + " (got " + std::to_string(u) + ")");
      value = static_cast<int64_t>(u);
    } else {
      value = v.get<int64_t>();
    }
    if (value < min || value > max) return Wrong(key, RangeText(min, max) + " (got " + std::to_string(value) + ")");
    c->*member = static_cast<T>(value);
    return Status::Ok();
  };
  auto check = [=](const ModelConfig& c) -> Status {
    const int64_t value = c.*member;
    if (value < min || value > max) return Wrong(key, RangeText(min, max) + " (got " + std::to_string(value) + ")");
    return Status::Ok();
  };
  return {key, required, read, [=](const ModelConfig& c) { return json(c.*member); }, check};
}

// A value stored as JSON holds it: a bool, a double (no range here: their bounds are intervals, open or half-open,
// that Validate states per field) or a string.
template <typename Owner, typename T>
Field Plain(const char* key, T Owner::*member, bool (json::*holds)() const noexcept, const char* expected,
            bool required = false) {
  auto read = [=](const json& v, ModelConfig* c) -> Status {
    if (!(v.*holds)()) return Wrong(key, expected);
    c->*member = v.get<T>();
    return Status::Ok();
  };
  return {key, required, read, [=](const ModelConfig& c) { return json(c.*member); }, nullptr};
}

template <typename Owner>
Field Bool(const char* key, bool Owner::*member) {
  return Plain(key, member, &json::is_boolean, "expected true or false");
}
template <typename Owner>
Field Double(const char* key, double Owner::*member) {
  return Plain(key, member, &json::is_number, "expected a number");
}
template <typename Owner>
Field String(const char* key, std::string Owner::*member, bool required = false) {
  return Plain(key, member, &json::is_string, "expected a string", required);
}

template <typename Owner>
Field Strings(const char* key, std::vector<std::string> Owner::*member, size_t max_items) {
  auto read = [=](const json& v, ModelConfig* c) -> Status {
    if (!v.is_array()) return Wrong(key, "expected an array of strings");
    if (v.size() > max_items) return Wrong(key, "at most " + std::to_string(max_items));
    std::vector<std::string> out;
    for (const json& item : v) {
      if (!item.is_string()) return Wrong(key, "expected an array of strings");
      out.push_back(item.get<std::string>());
    }
    c->*member = std::move(out);
    return Status::Ok();
  };
  return {key, false, read, [=](const ModelConfig& c) { return json(c.*member); }, nullptr};
}

template <typename Owner, typename E>
Field Enum(const char* key, E Owner::*member, const EnumNames<E>& names, bool required = false) {
  auto read = [=, &names](const json& v, ModelConfig* c) -> Status {
    if (!v.is_string()) return Wrong(key, "expected a string");
    const std::string text = v.get<std::string>();
    for (const auto& [name, value] : names.entries) {
      if (text == name) {
        c->*member = value;
        return Status::Ok();
      }
    }
    return Wrong(key, "unknown value \"" + text + "\" (expected one of " + names.Choices() + ")");
  };
  return {key, required, read, [=, &names](const ModelConfig& c) { return json(names.Name(c.*member)); }, nullptr};
}

constexpr int64_t kWidth = 65536, kTokens = int64_t{1} << 30;

// Every key of the format, architecture first, then the catalog entry. Cross-field rules (heads divide hidden,
// offsets inside the table, ...) stay in Validate.
const std::vector<Field>& Fields() {
  using A = ModelArchitecture;
  using E = CatalogEntry;
  static const std::vector<Field> fields = {
      Enum("arch", &A::arch, kArchNames, kRequired),
      Enum("block", &A::block, kBlockNames),
      Enum("attention_kind", &A::attention_kind, kAttentionKindNames),
      Int("layers", &A::layers, 1, 1024, kRequired),
      Int("decoder_layers", &A::decoder_layers, 0, 1024),
      Int("hidden", &A::hidden, 1, kWidth, kRequired),
      Int("heads", &A::heads, 0, kWidth, kRequired),
      Int("kv_heads", &A::kv_heads, 0, kWidth),
      Int("head_dim", &A::head_dim, 0, kWidth),
      Int("ffn", &A::ffn, 0, 1 << 20, kRequired),
      Int("vocab", &A::vocab, 1, 1 << 22, kRequired),
      Int("embedding_size", &A::embedding_size, 0, kWidth),
      Enum("embedding_projection", &A::embedding_projection, kProjectionNames),
      Enum("position", &A::position, kPositionNames, kRequired),
      Int("position_rows", &A::position_rows, 0, 1 << 22),
      Int("position_offset", &A::position_offset, 0, 1 << 22),
      Int("max_input_tokens", &A::max_input_tokens, 0, kTokens),
      Bool("position_clamp", &A::position_clamp),
      Int("trained_context", &A::trained_context, 0, kTokens),
      Int("type_vocab", &A::type_vocab, 0, 1024),
      Int("rotary_dims", &A::rotary_dims, 0, kWidth),
      Double("rotary_base", &A::rotary_base),
      Int("relative_buckets", &A::relative_buckets, 0, 1024),
      Int("relative_max_distance", &A::relative_max_distance, 0, 1 << 20),
      Bool("relative_bias_projection", &A::relative_bias_projection),
      Bool("scale_embedding", &A::scale_embedding),
      Enum("norm", &A::norm, kNormNames),
      Double("norm_eps", &A::norm_eps),
      Enum("norm_placement", &A::norm_placement, kPlacementNames),
      Bool("embedding_norm", &A::embedding_norm),
      Bool("final_norm", &A::final_norm),
      Enum("activation", &A::activation, kActivationNames),
      Bool("bias", &A::bias),
      Bool("qkv_bias", &A::qkv_bias),
      Bool("key_bias", &A::key_bias),
      Bool("attn_out_bias", &A::attn_out_bias),
      Bool("mlp_bias", &A::mlp_bias),
      Bool("pooler", &A::pooler),
      Bool("tied_head", &A::tied_head),
      Bool("head_bias", &A::head_bias),
      Bool("parallel_residual", &A::parallel_residual),
      Bool("shared_block_norm", &A::shared_block_norm),
      Int("shared_layer_groups", &A::shared_layer_groups, 0, 1024),
      Int("attention_window", &A::attention_window, 0, 1 << 24),
      Enum("window_layers", &A::window_layers, kWindowLayerNames),
      Int("global_tokens", &A::global_tokens, 0, 1 << 20),
      Bool("global_projections", &A::global_projections),
      Int("conv_groups", &A::conv_groups, 0, 1024),
      Int("relative_positions", &A::relative_positions, 0, 1 << 16),
      Int("ngram", &A::ngram, 0, 16),
      Int("ssm_state", &A::ssm_state, 0, 1024),
      Int("ssm_conv", &A::ssm_conv, 0, 64),
      Int("ssm_expand", &A::ssm_expand, 0, 16),
      Int("ssm_dt_rank", &A::ssm_dt_rank, 0, kWidth),
      Bool("ssm_conv_bias", &A::ssm_conv_bias),
      Double("dropout", &A::dropout),
      Double("attention_dropout", &A::attention_dropout),

      String("id", &E::id, kRequired),
      Strings("aliases", &E::aliases, 64),
      String("category", &E::category),
      String("family", &E::family),
      String("approximation", &E::approximation),
      String("weights", &E::weights),
      String("torchscript", &E::torchscript),
      Double("published_params_m", &E::published_params_m),
      Int("reference_params", &E::reference_params, 0, int64_t{1} << 50),
      String("params_note", &E::params_note),
      String("notes", &E::notes),
  };
  return fields;
}

bool Has(const json& doc, const char* key) {
  auto it = doc.find(key);
  return it != doc.end() && !it->is_null();
}

}  // namespace

const char* ArchKindName(ArchKind kind) {
  return kArchNames.Name(kind);
}

Status CheckFieldRanges(const ModelConfig& config) {
  for (const Field& field : Fields())
    if (field.check_range) TSCALE_RETURN_IF_ERROR(field.check_range(config));
  return Status::Ok();
}

StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text, const std::string& base_dir) {
  json doc = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status::InvalidArgument("model config: not valid JSON");
  if (!doc.is_object()) return Status::InvalidArgument("model config: top level must be a JSON object");

  // A misspelt optional key ("kv_head") would otherwise leave its default in place without a word. JSON has no
  // comments, so keys starting with "_" are the file's own notes and are skipped. A runner that meets a field
  // from a newer tscale refuses the job rather than build a different model than the one submitted.
  std::set<std::string> known;
  for (const Field& field : Fields()) known.insert(field.key);
  for (const auto& [key, value] : doc.items())
    if (!known.count(key) && key.rfind('_', 0) != 0)
      return Status::InvalidArgument(key +
                                     ": unknown field (docs/model-config.md lists them; \"_\"-keys are comments)");

  ModelConfig c;
  for (const Field& field : Fields()) {
    if (!Has(doc, field.key)) {
      if (field.required) return Wrong(field.key, "required field is missing");
      continue;
    }
    TSCALE_RETURN_IF_ERROR(field.read(doc[field.key], &c));
  }
  // The specific biases default to `bias`, and the key's to the query's and value's.
  if (!Has(doc, "qkv_bias")) c.qkv_bias = c.bias;
  if (!Has(doc, "attn_out_bias")) c.attn_out_bias = c.bias;
  if (!Has(doc, "mlp_bias")) c.mlp_bias = c.bias;
  if (!Has(doc, "key_bias")) c.key_bias = c.qkv_bias;

  for (std::string* path : {&c.weights, &c.torchscript})
    if (!path->empty() && !base_dir.empty() && (*path)[0] != '/') *path = base_dir + "/" + *path;
  TSCALE_RETURN_IF_ERROR(Validate(c));
  return c;
}

std::string ModelConfigToJson(const ModelConfig& config) {
  json doc = json::object();
  for (const Field& field : Fields()) doc[field.key] = field.write(config);
  return doc.dump(2);
}

}  // namespace tscale
