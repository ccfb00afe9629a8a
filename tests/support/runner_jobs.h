// JobSpecs for the runner's tests: a test model (tests/data/models) or a catalog model shrunk to test size,
// with a short measurement so a job takes well under a second.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "common/catalog.h"
#include "common/model_config.h"
#include "support/shrunk_model.h"
#include "support/test_paths.h"
#include "tscale/v1/tscale.pb.h"

namespace tscale::testing {

inline v1::JobSpec TinyJob(const std::string& model, int seq_len) {
  Catalog catalog;
  EXPECT_TRUE(catalog.LoadDirectory(kTestModelsDir).ok());
  const ModelConfig* config = catalog.Find(model);
  EXPECT_NE(config, nullptr);
  v1::JobSpec job;
  job.set_job_id(1);
  job.set_model_id(config ? config->id : model);
  job.set_model_config_json(config ? ModelConfigToJson(*config) : "");
  job.set_seq_len(seq_len);
  job.set_batch_size(2);
  auto* m = job.mutable_measurement();
  m->set_warmup_iters(2);
  m->set_min_iters(5);
  m->set_min_time_s(0.05);
  m->set_max_iters(1000);
  m->set_max_time_s(10);
  m->set_threads(1);
  m->set_seed(42);
  return job;
}

// A catalog model shrunk to test size, as a job.
inline v1::JobSpec ShrunkJob(const std::string& model, int seq_len) {
  const ModelConfig c = ShrunkCatalogModel(model);
  v1::JobSpec job = TinyJob("tiny-gpt2", seq_len);
  job.set_model_id(c.id);
  job.set_model_config_json(ModelConfigToJson(c));
  return job;
}

}  // namespace tscale::testing
