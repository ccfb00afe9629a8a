// What this worker host can run, as advertised to the coordinator, and how it shares its CPUs among jobs.
#pragma once

#include <string>
#include <vector>

#include "tscale/v1/tscale.pb.h"

namespace tscale {

// Host facts (OS, CPU, cores, RAM), labels and slots for a worker of device kind `device`. The device name
// and memory are filled in for a CPU worker only (the CPU model and RAM); see AdvertiseDevice.
v1::WorkerCapabilities DetectCapabilities(v1::DeviceKind device, const std::vector<std::string>& labels, int slots);

// Sets the advertised device to `kind`, with a name and memory only where they are known to describe that
// device: for a CPU, the host's CPU model and RAM unless `probed` (the runner's device probe, when one ran)
// says otherwise; for CUDA or MPS, only what `probed` reports for that same kind, else nothing. Host RAM is
// never passed off as a GPU's memory: the coordinator routes jobs by device memory.
void AdvertiseDevice(v1::WorkerCapabilities* caps, v1::DeviceKind kind, const v1::WorkerCapabilities* probed);

// Runner threads for one job.
struct ThreadChoice {
  int threads = 1;       // what the runner gets
  int requested = 0;     // what the job or --threads asked for (0: neither, the worker's share was used)
  bool clamped = false;  // `requested` was more than the worker's share
};

// The job's own thread count, else the worker's --threads, else the worker's share of the cores; never
// more than that share, max(1, cores / slots), so that `slots` jobs side by side do not oversubscribe the
// CPUs this worker may use (an oversubscribed host measures its own contention, not the model).
ThreadChoice ChooseThreads(int job_threads, int flag_threads, int cores, int slots);

}  // namespace tscale
