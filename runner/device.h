// The device a job runs on, and the three things that differ between CPU, CUDA and MPS: waiting for queued
// work before a clock stops, and reading the device allocator's peak (CPU memory is read from the process:
// common/host_info.h). CUDA and MPS code sits behind availability checks and version guards, so the runner
// builds against Debian's CPU-only libtorch 1.13 and against libtorch 2.x with CUDA or MPS.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "common/status.h"
#include "tscale/v1/tscale.pb.h"

namespace tscale {

// The torch device for a job's device kind (unspecified = CPU), started (CUDA initialises lazily); UNAVAILABLE
// when this host's libtorch cannot run on it, naming what is missing.
StatusOr<torch::Device> DeviceFor(v1::DeviceKind kind);

struct DeviceDescription {
  v1::DeviceKind kind = v1::DEVICE_KIND_CPU;
  std::string name;          // CPU model; the CUDA device's name (or "cuda:N" without CUDA headers); "mps"
  int64_t memory_bytes = 0;  // RAM; the CUDA device's total memory (0 when unknown); MPS: RAM (unified memory)
};
DeviceDescription Describe(const torch::Device& device);

// Returns when the work queued on `device` has finished (CUDA and MPS run asynchronously; on the CPU a
// forward has finished when it returns).
void SynchronizeDevice(const torch::Device& device);

// What the device allocator holds, in bytes; both 0 on the CPU, or when this libtorch has no way to read them.
struct DeviceMemory {
  int64_t allocated_bytes = 0;  // for live tensors now (CUDA, MPS >= 2.1)
  // The peak since the last reset. CUDA: the caching allocator's peak of allocated bytes. MPS (libtorch >= 2.1):
  // the driver-allocated memory, which holds the allocator's cached heap and so never shrinks during a run; the
  // caller samples it after each forward.
  int64_t peak_bytes = 0;
};
DeviceMemory ReadDeviceMemory(const torch::Device& device);
void ResetDevicePeak(const torch::Device& device);

}  // namespace tscale
