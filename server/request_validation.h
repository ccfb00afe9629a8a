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
