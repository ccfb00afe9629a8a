// Decides the typed Result of an attempt from how its child ended and what it wrote (SPEC section 1).
// Pure function of its inputs, so every branch is unit-tested without spawning anything.
#pragma once

#include <optional>
#include <string>

#include "tscale/v1/tscale.pb.h"
#include "worker/child_process.h"

namespace tscale {

// `result_json` is the runner's result file, if it wrote one. `deadline_s` is the job's execution limit.
v1::Result ClassifyChildExit(const ChildExit& exit, const std::optional<std::string>& result_json, double deadline_s);

}  // namespace tscale
