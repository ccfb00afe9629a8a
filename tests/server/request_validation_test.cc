#include "server/request_validation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

namespace tscale {
namespace {

void ExpectField(const Status& status, const std::string& field) {
  EXPECT_EQ(status.code(), Status::Code::kInvalidArgument) << field;
  EXPECT_EQ(status.message().rfind(field, 0), 0u) << status.message();
}

TEST(RequestValidation, WorkerRequests) {
  v1::RegisterWorkerRequest reg;
  reg.set_worker_id("w");
  reg.mutable_capabilities()->set_device_kind(v1::DEVICE_KIND_CPU);
  EXPECT_TRUE(ValidateRegister(reg).ok());
  reg.mutable_capabilities()->add_labels(std::string(200, 'x'));
  ExpectField(ValidateRegister(reg), "capabilities.labels");
  reg.set_worker_id(std::string(129, 'w'));
  ExpectField(ValidateRegister(reg), "worker_id");

  v1::ClaimJobRequest claim;
  claim.set_worker_id("w");
  claim.set_wait_s(std::nan(""));
  ExpectField(ValidateClaim(claim), "wait_s");

  v1::HeartbeatRequest hb;
  hb.set_worker_id("w");
  for (int i = 0; i < 1025; ++i) hb.add_attempt_ids(i + 1);
  ExpectField(ValidateHeartbeat(hb), "attempt_ids");

  v1::CompleteJobRequest complete;
  complete.set_worker_id("w");
  complete.set_attempt_id(3);
  ExpectField(ValidateComplete(complete), "result.outcome");
  complete.mutable_result()->set_outcome(v1::OUTCOME_OK);
  EXPECT_TRUE(ValidateComplete(complete).ok());
  complete.mutable_result()->add_samples_ms(std::numeric_limits<double>::infinity());
  ExpectField(ValidateComplete(complete), "result.samples_ms");
  complete.mutable_result()->clear_samples_ms();
  complete.mutable_result()->set_stderr_tail(std::string(64 * 1024 + 1, 'e'));
  ExpectField(ValidateComplete(complete), "result.stderr_tail");
  complete.mutable_result()->clear_stderr_tail();
  complete.mutable_result()->set_outcome(static_cast<v1::Outcome>(99));
  ExpectField(ValidateComplete(complete), "result.outcome");
  complete.mutable_result()->set_outcome(v1::OUTCOME_INVALID);
  for (int i = 0; i < 65; ++i) complete.mutable_result()->add_invalid_reasons("r");
  ExpectField(ValidateComplete(complete), "result.invalid_reasons");
  complete.mutable_result()->clear_invalid_reasons();
  complete.mutable_result()->set_message(std::string(64 * 1024 + 1, 'm'));
  ExpectField(ValidateComplete(complete), "result.message");
  complete.mutable_result()->clear_message();
  // The rules are common/result_validation.h's, which the worker applies to runner result files too.
  complete.mutable_result()->mutable_environment()->set_hostname("bad \xff");
  ExpectField(ValidateComplete(complete), "result.environment.hostname");
  complete.mutable_result()->clear_environment();
  EXPECT_TRUE(ValidateComplete(complete).ok());

  v1::MetricEvent metric;
  ExpectField(ValidateMetric(metric), "attempt_id");
}

TEST(RequestValidation, ClientRequests) {
  v1::WatchSweepRequest watch;
  watch.set_sweep_id(1);
  watch.set_keepalive_s(-1);
  ExpectField(ValidateWatch(watch), "keepalive_s");
  v1::CancelRequest cancel;
  ExpectField(ValidateCancel(cancel), "sweep_id");
  v1::ListResultsRequest list;
  list.set_outcome(static_cast<v1::Outcome>(99));
  ExpectField(ValidateListResults(list), "outcome");
  list.set_outcome(v1::OUTCOME_OK);
  EXPECT_TRUE(ValidateListResults(list).ok());
  list.set_limit(kMaxListResults);
  EXPECT_TRUE(ValidateListResults(list).ok());
  list.set_limit(kMaxListResults + 1);  // 0 is the default page, so a bound is always in force
  ExpectField(ValidateListResults(list), "limit");
  list.set_limit(0);
  list.set_after_job_id(-1);
  ExpectField(ValidateListResults(list), "after_job_id");
  v1::ListSweepsRequest sweeps;
  sweeps.set_limit(1'000'000);
  ExpectField(ValidateListSweeps(sweeps), "limit");
}

TEST(RequestValidation, EveryMeasurementSettingIsBounded) {
  using M = v1::MeasurementSettings;
  struct Case {
    const char* field;
    std::function<void(M*)> set;
  };
  const double huge = 1e300;
  const std::vector<Case> too_large = {
      {"warmup_iters", [](M* m) { m->set_warmup_iters(kMaxWarmupIters + 1); }},
      {"warmup_min_s", [&](M* m) { m->set_warmup_min_s(huge); }},
      {"min_iters", [](M* m) { m->set_min_iters(kMaxMeasuredIters + 1); }},
      {"min_time_s", [&](M* m) { m->set_min_time_s(huge); }},
      {"max_iters", [](M* m) { m->set_max_iters(kMaxMeasuredIters + 1); }},
      {"max_time_s", [&](M* m) { m->set_max_time_s(huge); }},
      {"max_time_s", [](M* m) { m->set_max_time_s(std::nan("")); }},
      {"max_time_s", [](M* m) { m->set_max_time_s(INFINITY); }},
      {"threads", [](M* m) { m->set_threads(kMaxThreads + 1); }},
      {"memory_limit_bytes", [](M* m) { m->set_memory_limit_bytes(kMaxMemoryLimitBytes + 1); }},
      {"memory_limit_bytes", [](M* m) { m->set_memory_limit_bytes(1000); }},
      {"timeout_s", [&](M* m) { m->set_timeout_s(huge); }},
      {"max_cv", [](M* m) { m->set_max_cv(kMaxMaxCv * 2); }},
      {"max_cv", [](M* m) { m->set_max_cv(-0.5); }},
      {"max_cv", [](M* m) { m->set_max_cv(std::nan("")); }},
  };
  const std::vector<Case> negative = {
      {"warmup_iters", [](M* m) { m->set_warmup_iters(-1); }},
      {"warmup_min_s", [](M* m) { m->set_warmup_min_s(-1); }},
      {"min_iters", [](M* m) { m->set_min_iters(-1); }},
      {"min_time_s", [](M* m) { m->set_min_time_s(-1); }},
      {"max_iters", [](M* m) { m->set_max_iters(-1); }},
      {"max_time_s", [](M* m) { m->set_max_time_s(-1); }},
      {"threads", [](M* m) { m->set_threads(-1); }},
      {"memory_limit_bytes", [](M* m) { m->set_memory_limit_bytes(-1); }},
      {"timeout_s", [](M* m) { m->set_timeout_s(-1); }},
  };
  for (const auto* cases : {&too_large, &negative}) {
    for (const auto& c : *cases) {
      M m;
      c.set(&m);
      ExpectField(ValidateMeasurement(m, "spec.measurement."), std::string("spec.measurement.") + c.field);
    }
  }
  // The largest accepted values, and the explicit "no noise check".
  M edge;
  edge.set_warmup_iters(kMaxWarmupIters);
  edge.set_warmup_min_s(kMaxTimingS);
  edge.set_min_iters(kMaxMeasuredIters);
  edge.set_min_time_s(kMaxTimingS);
  edge.set_max_iters(kMaxMeasuredIters);
  edge.set_max_time_s(kMaxTimingS);
  edge.set_threads(kMaxThreads);
  edge.set_seed(UINT64_MAX);
  edge.set_memory_limit_bytes(kMaxMemoryLimitBytes);
  edge.set_timeout_s(kMaxTimeoutS);
  edge.set_max_cv(kMaxCvOff);
  EXPECT_TRUE(ValidateMeasurement(edge, "").ok()) << ValidateMeasurement(edge, "").message();
  EXPECT_TRUE(ValidateMeasurement(M(), "").ok());  // all defaults
}

}  // namespace
}  // namespace tscale
