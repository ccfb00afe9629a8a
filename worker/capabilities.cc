#include "worker/capabilities.h"

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
  caps.set_device_kind(device);
  if (device == v1::DEVICE_KIND_CPU) {
    caps.set_device_name(host.cpu_model);
    caps.set_device_memory_bytes(host.ram_bytes);
  }
  for (const auto& label : labels) caps.add_labels(label);
  caps.set_slots(slots);
  caps.set_version(kVersion);
  return caps;
}

}  // namespace tscale
