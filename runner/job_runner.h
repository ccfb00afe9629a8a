// Runs one JobSpec in this process and produces its Result, following SPEC section 2:
// context check (before anything is built) -> baseline memory -> timed build -> seeded inputs ->
// warm-up and timed loop -> statistics, memory, FLOPs -> environment fingerprint.
// Never throws: allocator failures become OUTCOME_OOM, other failures OUTCOME_ERROR.
#pragma once

#include <string>

#include "common/status.h"
#include "tscale/v1/tscale.pb.h"

namespace tscale {

v1::Result RunJob(const v1::JobSpec& job);

// The device this process's libtorch would run on: kind, name and memory (CUDA and MPS behind availability
// checks; CPU otherwise).
v1::WorkerCapabilities ProbeDevice();

// The tscale parameter names and shapes of the model config file at `path` (tscale JSON or a Hugging Face
// config.json, as a catalog reads it), one "name [shape]" per line: the names a .safetensors file may use. Built
// on the meta device (nothing allocated).
StatusOr<std::string> ParameterNames(const std::string& path);

}  // namespace tscale
