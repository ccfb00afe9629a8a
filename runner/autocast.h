// Mixed precision for the training workload: autocast to bf16 over fp32 master weights and optimizer state.
// libtorch's autocast switches moved from per-device functions (1.13: set_cpu_enabled, set_enabled for CUDA) to
// functions taking the device type (2.4: set_autocast_enabled); this file is the one place that knows both.
#pragma once

#include <torch/torch.h>

#include "common/status.h"

namespace tscale {

struct AutocastState {
  bool enabled = false;
};

// Whether autocast is on for `device`'s type in this thread.
AutocastState CurrentAutocast(const torch::Device& device);

// Turns autocast to bf16 on (or leaves it off when `enabled` is false) for `device`'s type for the scope's
// lifetime, then restores the previous state and clears autocast's cast cache when it was turned on here.
class AutocastScope {
 public:
  AutocastScope(const torch::Device& device, bool enabled);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  torch::DeviceType type_;
  bool changed_ = false, previous_ = false;
  at::ScalarType previous_dtype_ = at::kFloat;
};

// OK when bf16 autocast works on `device` with the linked libtorch: a matmul of fp32 tensors under it yields bf16.
// Otherwise an error naming the device, the libtorch version and what is missing.
Status CheckBf16Autocast(const torch::Device& device);

}  // namespace tscale
