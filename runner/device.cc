#include "runner/device.h"

#include "common/outcome.h"

#include "common/host_info.h"

#if TSCALE_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <cuda_runtime_api.h>
#endif
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
#include <ATen/detail/MPSHooksInterface.h>
#define TSCALE_HAS_MPS_MEMORY 1
#else
#define TSCALE_HAS_MPS_MEMORY 0
#endif

namespace tscale {

StatusOr<torch::Device> DeviceFor(v1::DeviceKind kind) {
  switch (kind) {
    case v1::DEVICE_KIND_UNSPECIFIED:
    case v1::DEVICE_KIND_CPU:
      return torch::Device(torch::kCPU);
    case v1::DEVICE_KIND_CUDA:
      if (!torch::cuda::is_available())
        return Status::Unavailable("device cuda: libtorch " TORCH_VERSION " on this host sees no CUDA device");
      // CUDA starts lazily, and its allocator statistics throw until it has: start it now, before any is read.
      (void)torch::empty({1}, torch::TensorOptions().device(torch::kCUDA, 0));
      return torch::Device(torch::kCUDA, 0);
    case v1::DEVICE_KIND_MPS:
      if (!at::hasMPS()) return Status::Unavailable("device mps: libtorch " TORCH_VERSION " on this host has no MPS");
      return torch::Device(torch::kMPS);
    default:
      return Status::InvalidArgument("device: unknown kind " + DeviceKindName(kind));
  }
}

void SynchronizeDevice(const torch::Device& device) {
  if (device.is_cuda()) {
    torch::cuda::synchronize(device.index());
  } else if (device.is_mps()) {
    // A copy to the host waits for the MPS command queue in every libtorch that has MPS.
    (void)torch::zeros({1}, torch::TensorOptions().device(device)).cpu();
  }
}

DeviceDescription Describe(const torch::Device& device) {
  const HostFacts host = ReadHostFacts();
  DeviceDescription d;
  if (device.is_cuda()) {
    d.kind = v1::DEVICE_KIND_CUDA;
    d.name = "cuda:" + std::to_string(device.index());
#if TSCALE_WITH_CUDA
    cudaDeviceProp properties{};
    if (cudaGetDeviceProperties(&properties, device.index()) == cudaSuccess) {
      d.name = properties.name;
      d.memory_bytes = static_cast<int64_t>(properties.totalGlobalMem);
    }
#endif
  } else if (device.is_mps()) {
    d.kind = v1::DEVICE_KIND_MPS;
    d.name = "mps";
    d.memory_bytes = host.ram_bytes;  // unified memory
  } else {
    d.name = host.cpu_model;
    d.memory_bytes = host.ram_bytes;
  }
  return d;
}

DeviceMemory ReadDeviceMemory(const torch::Device& device) {
  DeviceMemory memory;
#if TSCALE_WITH_CUDA
  if (device.is_cuda()) {
    // Index 0 of each statistic is the aggregate over pool types in every libtorch version.
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(device.index()));
    memory.allocated_bytes = stats.allocated_bytes[0].current;
    memory.peak_bytes = stats.allocated_bytes[0].peak;
  }
#endif
#if TSCALE_HAS_MPS_MEMORY
  if (device.is_mps()) {
    memory.allocated_bytes = static_cast<int64_t>(at::detail::getMPSHooks().getCurrentAllocatedMemory());
    memory.peak_bytes = static_cast<int64_t>(at::detail::getMPSHooks().getDriverAllocatedMemory());
  }
#endif
  (void)device;
  return memory;
}

void ResetDevicePeak(const torch::Device& device) {
#if TSCALE_WITH_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(device.index()));
#endif
  (void)device;
}

}  // namespace tscale
