// The coordinator's planner and store over a real SQLite file, for the suites that plan sweeps of one workload and
// store them (tests/server/workload_test.cc, train_test.cc): the test models and the catalog, a store in a
// temporary directory with one CPU worker, and the schema fixtures older databases are made from.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "common/catalog.h"
#include "common/file_io.h"
#include "server/store.h"
#include "server/sweep_planner.h"
#include "support/temp_dir.h"
#include "support/test_paths.h"

namespace tscale::testing {

// The SQL text of a schema fixture (tests/data/schema_vN.sql).
inline std::string ReadSchemaFixture(const std::string& path) {
  auto text = ReadWholeFile(path);
  EXPECT_TRUE(text.ok()) << text.status().ToString();
  return text.ok() ? *text : "";
}

class PlannerStoreTest : public ::testing::Test {
 protected:
  static constexpr int64_t kNow = 1'000'000;

  void SetUp() override {
    ASSERT_TRUE(catalog_.LoadDirectory(kTestModelsDir).ok());
    ASSERT_TRUE(catalog_.LoadDirectory(kCatalogDir).ok());  // for an encoder-decoder (BART)
  }

  // Opens (or upgrades) tscale.db in the test's directory and registers worker w1 (CPU).
  void OpenStore() {
    auto opened = Store::Open(dir_.File("tscale.db"));
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(opened).value();
    v1::WorkerCapabilities cpu;
    cpu.set_device_kind(v1::DEVICE_KIND_CPU);
    ASSERT_TRUE(store_->RegisterWorker("w1", cpu, kNow).ok());
  }

  // Plans `spec` and stores it as a sweep; its id, 0 on failure (the failure is an EXPECT).
  int64_t Submit(const v1::SweepSpec& spec) {
    auto jobs = PlanSweep(spec, catalog_);
    EXPECT_TRUE(jobs.ok()) << jobs.status().ToString();
    auto id = store_->CreateSweep(spec, jobs.ok() ? *jobs : std::vector<PlannedJob>{}, kNow);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : 0;
  }

  std::vector<v1::JobView> List(v1::Workload workload = v1::WORKLOAD_UNSPECIFIED, bool samples = false) {
    ResultFilter filter;
    filter.workload = workload;
    filter.include_samples = samples;
    auto page = store_->ListJobs(filter);
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    return page.ok() ? page->jobs : std::vector<v1::JobView>{};
  }

  Catalog catalog_;
  TempDir dir_;
  std::unique_ptr<Store> store_;
};

}  // namespace tscale::testing
