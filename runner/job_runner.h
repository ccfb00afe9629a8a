// Runs one JobSpec in this process and produces its Result, following SPEC section 2:
// context check (before anything is built) -> baseline memory -> timed build -> seeded inputs ->
// warm-up and timed loop -> statistics, memory, FLOPs -> environment fingerprint.
// Never throws: allocator failures become OUTCOME_OOM, other failures OUTCOME_ERROR.
#pragma once

#include "tscale/v1/tscale.pb.h"

namespace tscale {

v1::Result RunJob(const v1::JobSpec& job);

}  // namespace tscale
