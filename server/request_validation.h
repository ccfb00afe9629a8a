// Checks of every request that arrives from the network, before anything is stored. Pure functions of the
// request, so they are unit-tested and fuzzed directly (tests/fuzz). Each error is INVALID_ARGUMENT naming the
// field. Sweeps are checked by the sweep planner (sweep_planner.h), which also needs the catalog.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/result_validation.h"
#include "common/status.h"
#include "tscale/v1/tscale.pb.h"

namespace tscale {

// Bounds on everything a peer controls.
inline constexpr size_t kMaxWorkerIdLength = 128;
inline constexpr int kMaxHeartbeatAttempts = 1024;
// The bounds on a completion's Result (kMaxSamplesPerResult, kMaxStderrTail, ...) are in
// common/result_validation.h, which the worker checks its results against too.
inline constexpr int kMaxLabels = 64;  // worker capabilities and sweep requirements alike
inline constexpr size_t kMaxLabelLength = 128;
// ListResults pages: `limit` 0 means kDefaultListResults; above kMaxListResults is refused. A page also ends
// before the job that would take it past kMaxListResultsSamples samples or kMaxListResultsBytes (the client
// accepts 64 MiB); the response's next_after_job_id leads to the rest.
inline constexpr int kDefaultListResults = 1000;
inline constexpr int kMaxListResults = 10'000;
inline constexpr int64_t kMaxListResultsSamples = 1'000'000;
inline constexpr int64_t kMaxListResultsBytes = 32 << 20;

// A sweep's MeasurementSettings, field by field (0 = the coordinator's default for every field). Any larger value
// is refused with INVALID_ARGUMENT naming the field, so no setting can hold a worker for nonsense (max_time_s
// 1e300 would keep timing until the job's timeout killed it).
inline constexpr int kMaxWarmupIters = 10'000;
inline constexpr int kMaxMeasuredIters = 1'000'000;  // min_iters and max_iters
inline constexpr double kMaxTimingS = 3600;          // warmup_min_s, min_time_s, max_time_s
inline constexpr int kMaxThreads = 1024;
inline constexpr int64_t kMinMemoryLimitBytes = 1 << 20;  // memory_limit_bytes: 0, or 1 MiB..1 PiB
inline constexpr int64_t kMaxMemoryLimitBytes = int64_t{1} << 50;
inline constexpr double kMaxTimeoutS = 7 * 24 * 3600;  // timeout_s: a week
inline constexpr double kMaxMaxCv = 10;                // max_cv: 0 = default, -1 = off, else (0, 10]
inline constexpr double kMaxCvOff = -1;
// Decode jobs: tokens generated per job (SweepSpec.new_tokens). 0 on the wire means kDefaultNewTokens: proto3
// cannot tell an explicit 0 from an unset field, so tscale-client refuses `--new-tokens 0` itself.
inline constexpr int kMaxNewTokens = 4096;
inline constexpr int kDefaultNewTokens = 128;
// `prefix` names the message's place, e.g. "spec.measurement.". Checks each field alone; how fields relate
// (max_iters >= min_iters, ...) is checked by the planner once the defaults are filled in.
Status ValidateMeasurement(const v1::MeasurementSettings& m, const std::string& prefix);

Status ValidateWorkerId(const std::string& id);
Status ValidateRegister(const v1::RegisterWorkerRequest& request);
Status ValidateClaim(const v1::ClaimJobRequest& request);
Status ValidateHeartbeat(const v1::HeartbeatRequest& request);
Status ValidateMetric(const v1::MetricEvent& metric);
// The result is checked by ValidateResult (common/result_validation.h), its fields named "result.<field>".
Status ValidateComplete(const v1::CompleteJobRequest& request);
Status ValidateRelease(const v1::ReleaseLeaseRequest& request);
Status ValidateGetSweep(const v1::GetSweepRequest& request);
Status ValidateListSweeps(const v1::ListSweepsRequest& request);
Status ValidateListResults(const v1::ListResultsRequest& request);
Status ValidateWatch(const v1::WatchSweepRequest& request);
Status ValidateCancel(const v1::CancelRequest& request);

}  // namespace tscale
