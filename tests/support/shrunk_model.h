// Catalog architectures at test size: every structural field kept, the widths and depths made tiny.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "common/catalog.h"
#include "common/model_config.h"
#include "support/test_paths.h"

namespace tscale::testing {

// The catalog (models/), loaded once per test binary.
inline const Catalog& CatalogModels() {
  static const Catalog* catalog = [] {
    auto* c = new Catalog;
    Status s = c->LoadDirectory(kCatalogDir);
    EXPECT_TRUE(s.ok()) << s.message();
    return c;
  }();
  return *catalog;
}

inline ModelConfig ShrunkCatalogModel(const std::string& id) {
  Catalog catalog;
  EXPECT_TRUE(catalog.LoadDirectory(kCatalogDir).ok());
  const ModelConfig* found = catalog.Find(id);
  EXPECT_NE(found, nullptr) << id;
  ModelConfig c = found ? *found : ModelConfig{};
  c.hidden = 64;
  if (c.mamba()) {  // no heads or FFN; the state keeps its published width, the depth shrinks
    c.vocab = 300;
    c.layers = 2;
    EXPECT_TRUE(Validate(c).ok()) << id << ": " << Validate(c).message();
    return c;
  }
  c.heads = 4;
  if (c.kv_heads > 0) c.kv_heads = 2;
  if (c.head_dim > 0) c.head_dim = 16;
  if (c.rotary_dims > 0) c.rotary_dims = 8;
  if (c.embedding_size > 0) c.embedding_size = 32;
  c.ffn = 128;
  c.vocab = 300;
  c.layers = 2;
  if (c.shared_layer_groups > 0) c.shared_layer_groups = 1;
  if (c.decoder_layers > 0) c.decoder_layers = 2;
  EXPECT_TRUE(Validate(c).ok()) << id << ": " << Validate(c).message();
  return c;
}

}  // namespace tscale::testing
