#include "common/catalog.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

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

Status Catalog::LoadDirectory(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Status::NotFound("model catalog directory not found: " + dir);
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".json") files.push_back(entry.path());
  }
  if (ec) return Status::Internal("cannot list " + dir + ": " + ec.message());
  std::sort(files.begin(), files.end());

  Catalog staged = *this;
  for (const auto& path : files) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    if (!in.good() && !in.eof()) return Status::Internal("cannot read " + path.string());
    auto config = ParseModelConfig(text.str());
    if (!config.ok()) return Status::InvalidArgument(path.string() + ": " + config.status().message());
    Status added = staged.Add(std::move(config).value());
    if (!added.ok()) return Status::InvalidArgument(path.string() + ": " + added.message());
  }
  *this = std::move(staged);
  return Status::Ok();
}

const ModelConfig* Catalog::Find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &models_[it->second];
}

}  // namespace tscale
