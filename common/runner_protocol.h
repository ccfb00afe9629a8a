// The contract between tscale-worker and tscale-runner (documented in docs/runner-protocol.md).
//
//   tscale-runner --job JOB.json --result RESULT.json
//
// JOB.json holds a tscale.v1.JobSpec in protobuf JSON form. The runner writes a tscale.v1.Result in the same
// form to RESULT.json (atomically: written to a temporary name, then renamed) and exits with one of the
// codes below. Anything the runner prints goes to stderr; the worker keeps its tail for failures.
#pragma once

#include <optional>
#include <string>

#include "tscale/v1/tscale.pb.h"

namespace tscale {

// The result file is complete; its outcome says what happened (ok, exceeds_context, oom, error, ...).
inline constexpr int kRunnerExitResultWritten = 0;
// The job file was missing or malformed; no result file.
inline constexpr int kRunnerExitBadJob = 2;
// The allocator failed and the result file could not be written either.
inline constexpr int kRunnerExitOutOfMemory = 3;

// Progress: while it runs, the runner writes lines "tscale-progress PHASE DONE LAST_MS RSS_BYTES" to stdout
// (phases: loading, warmup, measuring). The worker forwards them to the coordinator as MetricEvents.
std::string FormatProgressLine(const std::string& phase, int done, double last_ms, int64_t rss_bytes);
// nullopt for any line that is not a well-formed progress line.
std::optional<v1::MetricEvent> ParseProgressLine(const std::string& line);

}  // namespace tscale
