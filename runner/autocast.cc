#include "runner/autocast.h"

#include <ATen/autocast_mode.h>

#include <string>

// libtorch 2.4 replaced the per-device switches with ones taking the device type (the old ones are deprecated).
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define TSCALE_AUTOCAST_BY_DEVICE_TYPE 1
#else
#define TSCALE_AUTOCAST_BY_DEVICE_TYPE 0
#endif

namespace tscale {
namespace {

// Whether this libtorch has an autocast switch for the device type at all.
bool HasAutocast(torch::DeviceType type) {
#if TSCALE_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::is_autocast_available(type);
#else
  return type == torch::kCPU || type == torch::kCUDA;
#endif
}

bool IsEnabled(torch::DeviceType type) {
#if TSCALE_AUTOCAST_BY_DEVICE_TYPE
  return HasAutocast(type) && at::autocast::is_autocast_enabled(type);
#else
  if (type == torch::kCPU) return at::autocast::is_cpu_enabled();
  if (type == torch::kCUDA) return at::autocast::is_enabled();
  return false;
#endif
}

void SetEnabled(torch::DeviceType type, bool enabled) {
#if TSCALE_AUTOCAST_BY_DEVICE_TYPE
  at::autocast::set_autocast_enabled(type, enabled);
#else
  if (type == torch::kCPU) at::autocast::set_cpu_enabled(enabled);
  if (type == torch::kCUDA) at::autocast::set_enabled(enabled);
#endif
}

at::ScalarType GetDtype(torch::DeviceType type) {
#if TSCALE_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::get_autocast_dtype(type);
#else
  return type == torch::kCUDA ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
#endif
}

void SetDtype(torch::DeviceType type, at::ScalarType dtype) {
#if TSCALE_AUTOCAST_BY_DEVICE_TYPE
  at::autocast::set_autocast_dtype(type, dtype);
#else
  if (type == torch::kCPU) at::autocast::set_autocast_cpu_dtype(dtype);
  if (type == torch::kCUDA) at::autocast::set_autocast_gpu_dtype(dtype);
#endif
}

}  // namespace

AutocastState CurrentAutocast(const torch::Device& device) {
  return AutocastState{IsEnabled(device.type())};
}

AutocastScope::AutocastScope(const torch::Device& device, bool enabled) : type_(device.type()) {
  if (!enabled || !HasAutocast(type_)) return;
  previous_ = IsEnabled(type_);
  previous_dtype_ = GetDtype(type_);
  SetDtype(type_, at::kBFloat16);
  SetEnabled(type_, true);
  at::autocast::increment_nesting();
  changed_ = true;
}

AutocastScope::~AutocastScope() {
  if (!changed_) return;
  // The cast cache holds bf16 copies of the weights; leaving it would keep them alive past the step.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  SetEnabled(type_, previous_);
  SetDtype(type_, previous_dtype_);
}

Status CheckBf16Autocast(const torch::Device& device) {
  const std::string where = device.str() + " with libtorch " TORCH_VERSION;
  if (!HasAutocast(device.type()))
    return Status::InvalidArgument("dtype bf16 training (mixed precision) needs autocast, which " + where +
                                   " does not have (MPS autocast needs libtorch 2.5 or later)");
  try {
    auto a = torch::ones({4, 4}, torch::TensorOptions().device(device));
    torch::Tensor y;
    {
      AutocastScope scope(device, true);
      y = torch::matmul(a, a);
    }
    if (y.scalar_type() != torch::kBFloat16)
      return Status::InvalidArgument("dtype bf16 training (mixed precision): autocast on " + where +
                                     " does not compute a matmul in bf16 (got " + c10::toString(y.scalar_type()) + ")");
  } catch (const std::exception& e) {
    std::string why = e.what();
    return Status::InvalidArgument("dtype bf16 training (mixed precision): autocast fails on " + where + ": " +
                                   why.substr(0, why.find('\n')));
  }
  return Status::Ok();
}

}  // namespace tscale
