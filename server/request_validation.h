// Checks of every request that arrives from the network, before anything is stored. Pure functions of the
// request, so they are unit-tested and fuzzed directly (tests/fuzz). Each error is INVALID_ARGUMENT naming the
// field. Sweeps are checked by the sweep planner (sweep_planner.h), which also needs the catalog.
#pragma once

#include "common/status.h"
#include "tscale/v1/tscale.pb.h"

namespace tscale {

// Bounds on everything a peer controls.
inline constexpr size_t kMaxWorkerIdLength = 128;
inline constexpr int kMaxHeartbeatAttempts = 1024;
inline constexpr int kMaxSamplesPerResult = 1'000'000;
inline constexpr size_t kMaxStderrTail = 64 * 1024;
inline constexpr size_t kMaxMessageText = 64 * 1024;
inline constexpr int kMaxLabels = 64;
inline constexpr size_t kMaxLabelLength = 128;

Status ValidateWorkerId(const std::string& id);
Status ValidateRegister(const v1::RegisterWorkerRequest& request);
Status ValidateClaim(const v1::ClaimJobRequest& request);
Status ValidateHeartbeat(const v1::HeartbeatRequest& request);
Status ValidateMetric(const v1::MetricEvent& metric);
Status ValidateComplete(const v1::CompleteJobRequest& request);
Status ValidateRelease(const v1::ReleaseLeaseRequest& request);
Status ValidateGetSweep(const v1::GetSweepRequest& request);
Status ValidateListSweeps(const v1::ListSweepsRequest& request);
Status ValidateListResults(const v1::ListResultsRequest& request);
Status ValidateWatch(const v1::WatchSweepRequest& request);
Status ValidateCancel(const v1::CancelRequest& request);

}  // namespace tscale
