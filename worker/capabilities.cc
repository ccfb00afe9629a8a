#include "worker/capabilities.h"

#include <algorithm>

#include "common/host_info.h"
#include "common/version.h"

namespace tscale {

v1::WorkerCapabilities DetectCapabilities(v1::DeviceKind device, const std::vector<std::string>& labels, int slots) {
  const HostFacts host = ReadHostFacts();
  v1::WorkerCapabilities caps;
  caps.set_hostname(host.hostname);
  caps.set_os(host.os);
  caps.set_cpu_model(host.cpu_model);
  caps.set_cpu_cores(host.cpu_cores);
  caps.set_ram_bytes(host.ram_bytes);
  AdvertiseDevice(&caps, device, nullptr);
  for (const auto& label : labels) caps.add_labels(label);
  caps.set_slots(slots);
  caps.set_version(kVersion);
  return caps;
}

void AdvertiseDevice(v1::WorkerCapabilities* caps, v1::DeviceKind kind, const v1::WorkerCapabilities* probed) {
  caps->set_device_kind(kind);
  if (kind == v1::DEVICE_KIND_CPU) {
    caps->set_device_name(caps->cpu_model());
    caps->set_device_memory_bytes(caps->ram_bytes());
  } else {
    caps->clear_device_name();
    caps->clear_device_memory_bytes();
  }
  // A probe of another kind (it saw no GPU, say, while --device asked for one) says nothing about this one.
  if (!probed || probed->device_kind() != kind) return;
  if (!probed->device_name().empty()) caps->set_device_name(probed->device_name());
  if (probed->device_memory_bytes() > 0) caps->set_device_memory_bytes(probed->device_memory_bytes());
}

ThreadChoice ChooseThreads(int job_threads, int flag_threads, int cores, int slots) {
  const int share = std::max(1, std::max(1, cores) / std::max(1, slots));
  ThreadChoice choice;
  choice.requested = job_threads > 0 ? job_threads : flag_threads > 0 ? flag_threads : 0;
  choice.threads = choice.requested > 0 ? std::min(choice.requested, share) : share;
  choice.clamped = choice.requested > share;
  return choice;
}

}  // namespace tscale
