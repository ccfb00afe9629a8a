#include "common/catalog.h"

#include <algorithm>
#include <filesystem>

#include "common/families/family.h"
#include "common/file_io.h"
#include "common/hf_config.h"

namespace tscale {

Status Catalog::Add(ModelConfig config) {
  TSCALE_RETURN_IF_ERROR(Validate(config));
  std::vector<std::string> names = config.aliases;
  names.push_back(config.id);
  for (const auto& name : names) {
    if (index_.count(name)) return Status::AlreadyExists("model name \"" + name + "\" is already in the catalog");
  }
  size_t position = models_.size();
  for (const auto& name : names) index_[name] = position;
  models_.push_back(std::move(config));
  return Status::Ok();
}

namespace {

// Model configs are a few KiB: the cap only keeps a stray large file in a catalog directory from being read.
StatusOr<std::string> ReadFile(const std::filesystem::path& path) {
  return ReadWholeFile(path.string(), size_t{16} << 20);
}

// An HF model directory: config.json, and model.safetensors when the weights are there too.
StatusOr<ModelConfig> ParseHfDirectory(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  auto text = ReadFile(dir / "config.json");
  if (!text.ok()) return text.status();
  auto config = ParseHfConfig(*text, dir.filename().string());
  if (!config.ok()) return config.status();
  // A directory with weights tscale cannot read is refused rather than run with random weights unnoticed.
  std::error_code ec;
  if (fs::exists(dir / "model.safetensors", ec)) {
    config->weights = (dir / "model.safetensors").string();
  } else if (fs::exists(dir / "model.safetensors.index.json", ec)) {
    return Status::InvalidArgument(
        "sharded checkpoints (model.safetensors.index.json) are not supported; "
        "save the model as one model.safetensors");
  } else if (fs::exists(dir / "pytorch_model.bin", ec) || fs::exists(dir / "pytorch_model.bin.index.json", ec)) {
    return Status::InvalidArgument(
        "only .safetensors weights are read, and this directory has pytorch_model.bin; "
        "save it with save_pretrained(..., safe_serialization=True)");
  }
  TSCALE_RETURN_IF_ERROR(Validate(*config));
  return config;
}

}  // namespace

StatusOr<ModelConfig> ReadModelConfigFile(const std::string& path) {
  const std::filesystem::path file = std::filesystem::absolute(path);
  auto text = ReadFile(file);
  if (!text.ok()) return text.status();
  if (LooksLikeHfConfig(*text)) return ParseHfConfig(*text, file.stem().string());
  auto config = ParseModelConfig(*text, file.parent_path().string());
  // The family's home states what tscale approximates for it; a config that says nothing takes that text.
  if (config.ok() && config->approximation.empty()) config->approximation = families::FamilyApproximation(*config);
  return config;
}

Status Catalog::LoadDirectory(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Status::NotFound("model catalog directory not found: " + dir);
  const fs::path root = fs::absolute(dir, ec);
  std::vector<fs::path> files, model_dirs;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    std::error_code entry_ec;  // an unreadable entry is skipped, never thrown
    if (entry.is_regular_file(entry_ec) && entry.path().extension() == ".json") files.push_back(entry.path());
    if (entry.is_directory(entry_ec) && fs::is_regular_file(entry.path() / "config.json", entry_ec))
      model_dirs.push_back(entry.path());
  }
  if (ec) return Status::Internal("cannot list " + dir + ": " + ec.message());
  std::sort(files.begin(), files.end());
  std::sort(model_dirs.begin(), model_dirs.end());

  Catalog staged = *this;
  auto stage = [&](const fs::path& where, StatusOr<ModelConfig> config) {
    if (!config.ok()) return Status::InvalidArgument(where.string() + ": " + config.status().message());
    Status added = staged.Add(std::move(config).value());
    if (!added.ok()) return Status::InvalidArgument(where.string() + ": " + added.message());
    return Status::Ok();
  };
  for (const auto& path : files) TSCALE_RETURN_IF_ERROR(stage(path, ReadModelConfigFile(path.string())));
  for (const auto& path : model_dirs) TSCALE_RETURN_IF_ERROR(stage(path, ParseHfDirectory(path)));
  *this = std::move(staged);
  return Status::Ok();
}

const ModelConfig* Catalog::Find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &models_[it->second];
}

}  // namespace tscale
