// The catalog model a bench program measures, by id or alias: one lookup for every bench that takes --model.
#pragma once

#include <cstdio>
#include <optional>
#include <string>

#include "common/catalog.h"
#include "common/model_config.h"

namespace tscale {

// The model `id` of the catalog in `dir`; on failure prints why (a bad catalog, an unknown id) and returns none.
inline std::optional<ModelConfig> LoadBenchModel(const std::string& dir, const std::string& id) {
  Catalog catalog;
  if (Status loaded = catalog.LoadDirectory(dir); !loaded.ok()) {
    std::fprintf(stderr, "%s\n", loaded.ToString().c_str());
    return std::nullopt;
  }
  const ModelConfig* config = catalog.Find(id);
  if (!config) {
    std::fprintf(stderr, "unknown model %s\n", id.c_str());
    return std::nullopt;
  }
  return *config;
}

}  // namespace tscale
