#include "worker/capabilities.h"

#include <gtest/gtest.h>
#ifdef __linux__
#include <sched.h>
#endif

#include <algorithm>
#include <thread>

#include "common/host_info.h"

namespace tscale {
namespace {

v1::WorkerCapabilities Host() {
  v1::WorkerCapabilities caps;
  caps.set_cpu_model("AMD EPYC 7B13");
  caps.set_cpu_cores(8);
  caps.set_ram_bytes(64LL << 30);
  return caps;
}

TEST(AdvertiseDevice, CpuIsTheHostsCpuAndRam) {
  v1::WorkerCapabilities caps = Host();
  AdvertiseDevice(&caps, v1::DEVICE_KIND_CPU, nullptr);
  EXPECT_EQ(caps.device_kind(), v1::DEVICE_KIND_CPU);
  EXPECT_EQ(caps.device_name(), "AMD EPYC 7B13");
  EXPECT_EQ(caps.device_memory_bytes(), 64LL << 30);
}

// --device cuda without a probe: the GPU's name and memory are unknown, not the CPU's and the host's RAM
// (the coordinator would route a job needing 40 GiB of GPU memory to a 16 GiB GPU on a 64 GiB host).
TEST(AdvertiseDevice, GpuWithoutProbeAdvertisesNoNameOrMemory) {
  for (v1::DeviceKind kind : {v1::DEVICE_KIND_CUDA, v1::DEVICE_KIND_MPS}) {
    v1::WorkerCapabilities caps = Host();
    AdvertiseDevice(&caps, v1::DEVICE_KIND_CPU, nullptr);  // as DetectCapabilities starts out
    AdvertiseDevice(&caps, kind, nullptr);
    EXPECT_EQ(caps.device_kind(), kind);
    EXPECT_TRUE(caps.device_name().empty()) << caps.device_name();
    EXPECT_EQ(caps.device_memory_bytes(), 0);
    EXPECT_EQ(caps.ram_bytes(), 64LL << 30);  // host facts stay
  }
}

TEST(AdvertiseDevice, GpuTakesWhatTheProbeReports) {
  v1::WorkerCapabilities probed;
  probed.set_device_kind(v1::DEVICE_KIND_CUDA);
  probed.set_device_name("NVIDIA H100");
  probed.set_device_memory_bytes(80LL << 30);
  v1::WorkerCapabilities caps = Host();
  AdvertiseDevice(&caps, v1::DEVICE_KIND_CUDA, &probed);
  EXPECT_EQ(caps.device_name(), "NVIDIA H100");
  EXPECT_EQ(caps.device_memory_bytes(), 80LL << 30);

  // A probe that names the device but cannot size it (MPS shares the host's memory): name only.
  probed.set_device_kind(v1::DEVICE_KIND_MPS);
  probed.set_device_name("Apple M2");
  probed.clear_device_memory_bytes();
  caps = Host();
  AdvertiseDevice(&caps, v1::DEVICE_KIND_MPS, &probed);
  EXPECT_EQ(caps.device_name(), "Apple M2");
  EXPECT_EQ(caps.device_memory_bytes(), 0);
}

TEST(AdvertiseDevice, ProbeOfAnotherKindSaysNothing) {
  v1::WorkerCapabilities probed;
  probed.set_device_kind(v1::DEVICE_KIND_CPU);
  probed.set_device_name("AMD EPYC 7B13");
  probed.set_device_memory_bytes(64LL << 30);
  v1::WorkerCapabilities caps = Host();
  AdvertiseDevice(&caps, v1::DEVICE_KIND_CUDA, &probed);
  EXPECT_TRUE(caps.device_name().empty());
  EXPECT_EQ(caps.device_memory_bytes(), 0);
}

TEST(ChooseThreads, DefaultIsTheSlotsShareOfTheCores) {
  EXPECT_EQ(ChooseThreads(0, 0, 8, 1).threads, 8);
  EXPECT_EQ(ChooseThreads(0, 0, 8, 2).threads, 4);
  EXPECT_EQ(ChooseThreads(0, 0, 8, 3).threads, 2);
  EXPECT_EQ(ChooseThreads(0, 0, 2, 4).threads, 1);  // never 0
  EXPECT_EQ(ChooseThreads(0, 0, 0, 1).threads, 1);  // cores unknown
  EXPECT_FALSE(ChooseThreads(0, 0, 8, 2).clamped);
}

TEST(ChooseThreads, JobBeatsFlagWithinTheShare) {
  EXPECT_EQ(ChooseThreads(2, 3, 8, 1).threads, 2);
  EXPECT_EQ(ChooseThreads(0, 3, 8, 1).threads, 3);
  EXPECT_FALSE(ChooseThreads(2, 3, 8, 1).clamped);
}

// slots x threads never exceeds the cores, whoever asked for more.
TEST(ChooseThreads, MoreThanTheShareIsClamped) {
  const ThreadChoice job = ChooseThreads(16, 0, 8, 2);
  EXPECT_EQ(job.threads, 4);
  EXPECT_EQ(job.requested, 16);
  EXPECT_TRUE(job.clamped);
  const ThreadChoice flag = ChooseThreads(0, 64, 8, 1);
  EXPECT_EQ(flag.threads, 8);
  EXPECT_TRUE(flag.clamped);
  for (int slots = 1; slots <= 8; ++slots)
    for (int asked : {0, 1, 3, 100}) EXPECT_LE(slots * ChooseThreads(asked, asked, 8, slots).threads, 8);
}

TEST(HostFacts, CoresAreTheOnesThisProcessMayUse) {
  const int cores = UsableCpuCores();
  EXPECT_GE(cores, 1);
  EXPECT_LE(cores, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  EXPECT_EQ(ReadHostFacts().cpu_cores, cores);
#ifdef __linux__
  // Pinned to one CPU, this process may use exactly one, whatever the host has.
  cpu_set_t saved, one;
  ASSERT_EQ(sched_getaffinity(0, sizeof(saved), &saved), 0);
  CPU_ZERO(&one);
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &saved)) {
      CPU_SET(cpu, &one);
      break;
    }
  ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
  EXPECT_EQ(UsableCpuCores(), 1);
  ASSERT_EQ(sched_setaffinity(0, sizeof(saved), &saved), 0);
#endif
}

}  // namespace
}  // namespace tscale
