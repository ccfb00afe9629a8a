// libFuzzer targets for every parser of outside input. One source, one target per TSCALE_FUZZ_TARGET value:
//   sweep_file    a sweep file (JSON SweepSpec) through the planner, as `tscale-client submit --file` + the server
//   model_config  a tscale JSON model config
//   hf_config     a Hugging Face config.json
//   safetensors   a safetensors file's header and layout
//   requests      any request a peer can send: the first byte picks the message type, the rest is its protobuf
//   progress_line a line of the runner's stdout (ParseProgressLine), forwarded by the worker as a MetricEvent
//   runner_result the runner's result file, classified as the worker does after an exit 0 (ClassifyChildExit)
//   results_csv   a results CSV read by `tscale-client report --from-csv` (report::FromCsv)
// Each target also checks an invariant where one exists (a parsed config round-trips; a valid plan is bounded).
#include <google/protobuf/util/json_util.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/catalog.h"
#include "common/hf_config.h"
#include "common/model_config.h"
#include "common/runner_protocol.h"
#include "common/safetensors.h"
#include "server/request_validation.h"
#include "server/sweep_planner.h"
#if TSCALE_FUZZ_TARGET_runner_result
#include "worker/outcome_classifier.h"
#endif
#if TSCALE_FUZZ_TARGET_results_csv
#include "client/report/csv.h"
#endif

namespace {

#define CHECK(cond) \
  do {              \
    if (!(cond)) {  \
      std::abort(); \
    }               \
  } while (0)

const tscale::Catalog& TestCatalog() {
  static const tscale::Catalog* catalog = [] {
    auto* c = new tscale::Catalog();
    CHECK(c->LoadDirectory(TSCALE_FUZZ_MODELS_DIR).ok());
    return c;
  }();
  return *catalog;
}

void PlanAndCheck(const tscale::v1::SweepSpec& spec) {
  tscale::PlannerLimits limits;
  limits.max_jobs = 2000;  // keep each execution fast; the bound itself is what is checked
  auto jobs = tscale::PlanSweep(spec, TestCatalog(), limits);
  if (jobs.ok()) {
    CHECK(!jobs->empty() && static_cast<int>(jobs->size()) <= limits.max_jobs);
    for (const auto& job : *jobs) {
      CHECK(job.spec.seq_len() > 0 && job.spec.batch_size() > 0);
      CHECK(tscale::ValidateMeasurement(job.spec.measurement(), "").ok());  // resolved settings stay in bounds
    }
  } else {
    CHECK(jobs.status().code() == tscale::Status::Code::kInvalidArgument && !jobs.status().message().empty());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
#if TSCALE_FUZZ_TARGET_sweep_file
  tscale::v1::SweepSpec spec;
  if (google::protobuf::util::JsonStringToMessage(input, &spec).ok()) PlanAndCheck(spec);
#elif TSCALE_FUZZ_TARGET_model_config
  auto config = tscale::ParseModelConfig(input);
  if (config.ok()) {
    // parse -> write -> parse must give the same config: nothing truncated, defaulted or dropped on the way.
    const std::string written = tscale::ModelConfigToJson(*config);
    auto again = tscale::ParseModelConfig(written);
    CHECK(again.ok());
    CHECK(tscale::ModelConfigToJson(*again) == written);
    CHECK(tscale::AnalyticParameterCount(*again) == tscale::AnalyticParameterCount(*config));
    (void)tscale::ForwardFlops(*config, 1, 128);
  }
#elif TSCALE_FUZZ_TARGET_hf_config
  auto config = tscale::ParseHfConfig(input, "fuzz/model");
  if (config.ok()) CHECK(tscale::Validate(*config).ok());
#elif TSCALE_FUZZ_TARGET_safetensors
  auto header = tscale::ParseSafetensors(input, input.size());
  if (header.ok()) {
    uint64_t previous_end = 0;
    for (const auto& t : header->tensors) {
      CHECK(t.end <= header->data_bytes && t.begin <= t.end);
      if (t.end > t.begin) CHECK(t.begin >= previous_end);
      previous_end = std::max(previous_end, t.end);
    }
  }
#elif TSCALE_FUZZ_TARGET_requests
  if (size == 0) return 0;
  const char* body = input.data() + 1;
  const int body_size = static_cast<int>(size - 1);
  namespace v1 = tscale::v1;
  switch (data[0] % 12) {
    case 0: {
      v1::SubmitSweepRequest m;
      if (m.ParseFromArray(body, body_size)) PlanAndCheck(m.spec());
      break;
    }
    case 1: {
      v1::RegisterWorkerRequest m;
      if (m.ParseFromArray(body, body_size)) (void)tscale::ValidateRegister(m);
      break;
    }
    case 2: {
      v1::ClaimJobRequest m;
      if (m.ParseFromArray(body, body_size)) (void)tscale::ValidateClaim(m);
      break;
    }
    case 3: {
      v1::HeartbeatRequest m;
      if (m.ParseFromArray(body, body_size)) (void)tscale::ValidateHeartbeat(m);
      break;
    }
    case 4: {
      v1::MetricEvent m;
      if (m.ParseFromArray(body, body_size)) (void)tscale::ValidateMetric(m);
      break;
    }
    case 5: {
      v1::CompleteJobRequest m;
      if (m.ParseFromArray(body, body_size)) (void)tscale::ValidateComplete(m);
      break;
    }
    case 6: {
      v1::ReleaseLeaseRequest m;
      if (m.ParseFromArray(body, body_size)) (void)tscale::ValidateRelease(m);
      break;
    }
    case 7: {
      v1::GetSweepRequest m;
      if (m.ParseFromArray(body, body_size)) (void)tscale::ValidateGetSweep(m);
      break;
    }
    case 8: {
      v1::ListSweepsRequest m;
      if (m.ParseFromArray(body, body_size)) (void)tscale::ValidateListSweeps(m);
      break;
    }
    case 9: {
      v1::ListResultsRequest m;
      if (m.ParseFromArray(body, body_size)) (void)tscale::ValidateListResults(m);
      break;
    }
    case 10: {
      v1::WatchSweepRequest m;
      if (m.ParseFromArray(body, body_size)) (void)tscale::ValidateWatch(m);
      break;
    }
    default: {
      v1::CancelRequest m;
      if (m.ParseFromArray(body, body_size)) (void)tscale::ValidateCancel(m);
      break;
    }
  }
#elif TSCALE_FUZZ_TARGET_progress_line
  auto event = tscale::ParseProgressLine(input);
  if (event) {
    // What the worker forwards must pass the coordinator's check, or the progress stream would be refused.
    event->set_attempt_id(1);
    CHECK(tscale::ValidateMetric(*event).ok());
    CHECK(!event->phase().empty() && event->last_latency_ms() >= 0);
  }
#elif TSCALE_FUZZ_TARGET_runner_result
  tscale::ChildExit exit;
  exit.exited = true;
  exit.exit_code = tscale::kRunnerExitResultWritten;
  // Whatever the file says, the worker must end up with a result the coordinator accepts: one it refuses is
  // dropped from the worker's outbox (INVALID_ARGUMENT is final), and the job runs again until it ends `lost`.
  tscale::v1::CompleteJobRequest request;
  request.set_worker_id("fuzz-worker");
  request.set_attempt_id(1);
  *request.mutable_result() = tscale::ClassifyChildExit(exit, input, 60.0);
  CHECK(tscale::ValidateComplete(request).ok());
#elif TSCALE_FUZZ_TARGET_results_csv
  auto rows = tscale::report::FromCsv(input);
  if (rows.ok()) {
    // Accepted rows write back to a CSV that reads back to the same rows (compared in canonical form).
    const std::string csv = tscale::report::ToCsv(*rows);
    auto again = tscale::report::FromCsv(csv);
    CHECK(again.ok() && again->size() == rows->size());
    CHECK(tscale::report::ToCsv(*again) == csv);
  } else {
    CHECK(rows.status().code() == tscale::Status::Code::kInvalidArgument);
  }
#else
#error "define TSCALE_FUZZ_TARGET_<name>"
#endif
  return 0;
}
