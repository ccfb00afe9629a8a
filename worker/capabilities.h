// What this worker host can run, as advertised to the coordinator.
#pragma once

#include <string>
#include <vector>

#include "tscale/v1/tscale.pb.h"

namespace tscale {

v1::WorkerCapabilities DetectCapabilities(v1::DeviceKind device, const std::vector<std::string>& labels, int slots);

}  // namespace tscale
