#include "runner/weights.h"

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <vector>

#include "common/families/family.h"
#include "common/safetensors.h"

namespace tscale {
namespace {

using families::HfNameRule;
using families::HfWeightNames;

// The HF name rules of config's family (common/families/), or nullptr when it has none.
const HfWeightNames* HfNamesOf(const std::string& model_type) {
  const families::FamilySpec* family = families::FindFamily(model_type);
  return family ? family->hf_weight_names : nullptr;
}

// Where one file tensor goes: a parameter, optionally after a transpose and as part `part` of `parts`.
struct Assignment {
  std::string parameter;
  bool transpose = false;
  int part = 0, parts = 1;
};

class NameMapper {
 public:
  explicit NameMapper(const HfWeightNames* family) : family_(family) {
    if (!family) return;
    for (const auto& rule : family->rules) patterns_.emplace_back(rule.pattern);
  }

  // The HF name's assignments, or none when the tensor fills no parameter.
  std::vector<Assignment> Map(std::string name) const {
    // libstdc++'s std::regex recurses per character: a hostile megabyte-long name would overflow the stack. No
    // parameter name is anywhere near this long.
    constexpr size_t kMaxNameBytes = 256;
    if (!family_ || name.size() > kMaxNameBytes) return {};
    for (const char* prefix : family_->prefixes)
      if (name.rfind(prefix, 0) == 0) name = name.substr(std::string(prefix).size());
    // Checkpoints saved by old BERT code name LayerNorm parameters gamma and beta.
    for (auto [old_suffix, suffix] : {std::pair{".gamma", ".weight"}, {".beta", ".bias"}})
      if (name.size() > std::string(old_suffix).size() &&
          name.compare(name.size() - std::string(old_suffix).size(), std::string::npos, old_suffix) == 0)
        name = name.substr(0, name.size() - std::string(old_suffix).size()) + suffix;
    for (size_t i = 0; i < patterns_.size(); ++i) {
      std::smatch match;
      if (!std::regex_match(name, match, patterns_[i])) continue;
      const HfNameRule& rule = family_->rules[i];
      std::vector<Assignment> out;
      for (size_t part = 0; part < rule.targets.size(); ++part)
        out.push_back({match.format(rule.targets[part]), rule.transpose, static_cast<int>(part),
                       static_cast<int>(rule.targets.size())});
      return out;
    }
    return {};
  }

 private:
  const HfWeightNames* family_;
  std::vector<std::regex> patterns_;
};

StatusOr<torch::ScalarType> TorchTypeOf(const std::string& dtype) {
  if (dtype == "F32") return torch::kFloat32;
  if (dtype == "F16") return torch::kFloat16;
  if (dtype == "BF16") return torch::kBFloat16;
  if (dtype == "F64") return torch::kFloat64;
  return Status::InvalidArgument("dtype " + dtype + " cannot fill a floating-point parameter");
}

std::string ShapeText(torch::IntArrayRef shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

bool HostIsLittleEndian() {
  const uint16_t probe = 1;
  return *reinterpret_cast<const unsigned char*>(&probe) == 1;
}

}  // namespace

std::string WeightsLoaded::Summary(const std::string& path) const {
  std::string random;
  for (const auto& name : kept_random) random += (random.empty() ? "" : ", ") + name;
  return "weights: " + std::to_string(tensors) + " tensors from " + path + " (" + naming + " names" +
         (skipped > 0 ? ", " + std::to_string(skipped) + " tensors that are no parameter skipped" : "") + ")" +
         (random.empty() ? "" : "; not in the file, so seeded random as HF does: " + random);
}

StatusOr<WeightsLoaded> LoadSafetensorsWeights(torch::nn::Module& model, const ModelConfig& config,
                                               const std::string& path) {
  if (!HostIsLittleEndian()) return Status::FailedPrecondition("weights: safetensors data is little-endian");
  auto header = ReadSafetensorsHeader(path);
  if (!header.ok()) return header.status().Annotated("weights: ");

  std::map<std::string, torch::Tensor> parameters;
  for (const auto& item : model.named_parameters(/*recurse=*/true)) parameters[item.key()] = item.value();
  const HfWeightNames* family = HfNamesOf(config.family);
  const NameMapper mapper(family);

  std::ifstream file(path, std::ios::binary);
  if (!file) return Status::NotFound("weights: cannot open " + path);
  const uint64_t data_start = 8 + header->header_bytes;

  WeightsLoaded loaded;
  bool used_tscale_names = false, used_hf_names = false;
  std::map<std::string, std::string> filled_by;  // parameter -> file tensor
  torch::NoGradGuard no_grad;
  for (const SafetensorsTensor& tensor : header->tensors) {
    std::vector<Assignment> assignments;
    if (parameters.count(tensor.name)) {
      assignments.push_back({tensor.name});
      used_tscale_names = true;
    } else {
      assignments = mapper.Map(tensor.name);
      used_hf_names = used_hf_names || !assignments.empty();
    }
    if (assignments.empty()) {
      ++loaded.skipped;
      continue;
    }
    const std::string where = "weights: tensor \"" + tensor.name + "\"";
    auto type = TorchTypeOf(tensor.dtype);
    if (!type.ok()) return Status::InvalidArgument(where + ": " + type.status().message());

    // Every target is checked against the header's shape before a byte is read: a wrong file fails fast, even
    // when its tensors are large.
    std::vector<torch::Tensor*> targets;
    for (const Assignment& a : assignments) {
      auto target = parameters.find(a.parameter);
      if (target == parameters.end())
        return Status::InvalidArgument(where + " maps to \"" + a.parameter + "\", which this " +
                                       std::string(ArchKindName(config.arch)) + " does not have");
      auto [previous, inserted] = filled_by.emplace(a.parameter, tensor.name);
      if (!inserted)
        return Status::InvalidArgument(where + " and \"" + previous->second + "\" both fill \"" + a.parameter + "\"");
      std::vector<int64_t> shape = tensor.shape;
      if (a.transpose && shape.size() == 2) std::swap(shape[0], shape[1]);
      if (a.parts > 1) {
        if (shape.empty() || shape[0] % a.parts != 0)
          return Status::InvalidArgument(where + " of shape " + ShapeText(shape) + " does not split into " +
                                         std::to_string(a.parts) + " equal parts");
        shape[0] /= a.parts;
      }
      if (torch::IntArrayRef(shape) != target->second.sizes())
        return Status::InvalidArgument(where + (a.parts > 1 ? " (one part of it)" : "") + " has shape " +
                                       ShapeText(shape) + " but \"" + a.parameter + "\" is " +
                                       ShapeText(target->second.sizes()));
      targets.push_back(&target->second);
    }

    auto bytes = torch::empty({static_cast<int64_t>(tensor.end - tensor.begin)}, torch::kUInt8);
    file.seekg(static_cast<std::streamoff>(data_start + tensor.begin));
    if (!file.read(reinterpret_cast<char*>(bytes.data_ptr<uint8_t>()), bytes.numel()))
      return Status::DataLoss(where + ": cannot read its " + std::to_string(bytes.numel()) + " bytes");
    torch::Tensor source = torch::from_blob(bytes.data_ptr(), tensor.shape, torch::TensorOptions().dtype(*type));
    for (size_t i = 0; i < assignments.size(); ++i) {
      const Assignment& a = assignments[i];
      torch::Tensor part = a.transpose && source.dim() == 2 ? source.t() : source;
      if (a.parts > 1) part = part.chunk(a.parts, 0)[static_cast<size_t>(a.part)];
      // Converted on the host first: a device may lack the file's dtype (MPS has no float64).
      targets[i]->copy_(part.to(targets[i]->scalar_type()));
    }
    ++loaded.tensors;
  }

  std::vector<std::string> missing;
  for (const auto& [name, tensor] : parameters) {
    if (filled_by.count(name)) continue;
    // HF's MLM checkpoints (RoBERTa's, many BERTs') have no pooler; HF itself initialises it randomly then.
    if (used_hf_names && name.rfind("pooler.", 0) == 0) {
      loaded.kept_random.push_back(name);
      continue;
    }
    // A decode job's separate LM head: base-model checkpoints (and files saved for forward jobs) have none, and
    // its values do not change the work a generation does (greedy tokens differ, the arithmetic does not).
    if (name.rfind("lm_head.", 0) == 0) {
      loaded.kept_random.push_back(name);
      continue;
    }
    missing.push_back(name);
  }
  if (!missing.empty()) {
    std::string examples;
    for (size_t i = 0; i < missing.size() && i < 4; ++i) examples += (i ? ", " : "") + missing[i];
    const std::string naming_hint =
        family ? "" : " (model_type \"" + config.family + "\" has no Hugging Face name map: use tscale names)";
    return Status::InvalidArgument("weights: " + std::to_string(missing.size()) + " of " +
                                   std::to_string(parameters.size()) + " parameters have no tensor in " + path +
                                   naming_hint + ", e.g. " + examples);
  }
  loaded.naming = used_hf_names ? (used_tscale_names ? "tscale and " + config.family : config.family) : "tscale";
  return loaded;
}

}  // namespace tscale
