// The theoretical peak's formulas on fixed inputs: known parts give their datasheet figures, unknown ones 0.
#include "common/theoretical_peak.h"

#include <gtest/gtest.h>

namespace tscale {
namespace {

// Two processors on two cores of one socket, as a KVM guest shows them.
constexpr const char* kTwoCoreCpuinfo = R"(processor	: 0
vendor_id	: GenuineIntel
model name	: Intel(R) Xeon(R) CPU
cpu MHz		: 2000.000
physical id	: 0
core id		: 0
flags		: fpu sse sse2 avx fma avx2
bogomips	: 4000.00

processor	: 1
vendor_id	: GenuineIntel
model name	: Intel(R) Xeon(R) CPU
cpu MHz		: 1999.000
physical id	: 0
core id		: 1
flags		: fpu sse sse2 avx fma avx2
)";

TEST(CpuPeak, FlopsPerCycleFollowTheWidestVectorIsa) {
  EXPECT_EQ(CpuFp32FlopsPerCycle("fpu sse sse2 avx fma avx2 avx512f avx512dq"), 64);  // 2 pipes x 16 lanes x FMA
  EXPECT_EQ(CpuFp32FlopsPerCycle("fpu sse sse2 avx fma avx2"), 32);                   // 2 pipes x 8 lanes x FMA
  EXPECT_EQ(CpuFp32FlopsPerCycle("fpu sse sse2 avx"), 16);                            // 8-lane multiply + add
  EXPECT_EQ(CpuFp32FlopsPerCycle("fpu sse sse2 avx avx2"), 16);                       // avx2 without fma: no FMA
  EXPECT_EQ(CpuFp32FlopsPerCycle("fpu sse sse2"), 8);
  EXPECT_EQ(CpuFp32FlopsPerCycle("fp asimd evtstrm aes pmull sha1 sha2 crc32"), 0);  // aarch64: unknown
  EXPECT_EQ(CpuFp32FlopsPerCycle(""), 0);
  // Whole words only: "avx512fp16" alone is not "avx512f".
  EXPECT_EQ(CpuFp32FlopsPerCycle("sse2 avx512fp16"), 8);
}

TEST(CpuPeak, ParsesCoresFlagsAndClockFromCpuinfo) {
  const CpuTopology cpu = ParseCpuinfo(kTwoCoreCpuinfo);
  EXPECT_EQ(cpu.physical_cores, 2);
  EXPECT_EQ(cpu.flags, "fpu sse sse2 avx fma avx2");
  EXPECT_DOUBLE_EQ(cpu.max_mhz, 2000.0);
}

TEST(CpuPeak, Avx2FmaTwoCoresAtTwoGigahertz) {
  const CpuTopology cpu = ParseCpuinfo(kTwoCoreCpuinfo);
  // 2 cores x 32 FLOP/cycle x 2.0 GHz = 128 GFLOP/s.
  EXPECT_DOUBLE_EQ(CpuPeakFlops(cpu, /*max_khz=*/0, /*threads=*/0, /*usable_cpus=*/2, v1::DTYPE_FP32), 128e9);
  EXPECT_DOUBLE_EQ(CpuPeakFlops(cpu, 0, 0, 2, v1::DTYPE_UNSPECIFIED), 128e9);  // unspecified is fp32
  // cpufreq's maximum clock wins over cpuinfo's current one.
  EXPECT_DOUBLE_EQ(CpuPeakFlops(cpu, /*max_khz=*/3'000'000, 0, 2, v1::DTYPE_FP32), 192e9);
  // One thread uses one core; an affinity mask of one CPU, likewise.
  EXPECT_DOUBLE_EQ(CpuPeakFlops(cpu, 0, /*threads=*/1, 2, v1::DTYPE_FP32), 64e9);
  EXPECT_DOUBLE_EQ(CpuPeakFlops(cpu, 0, /*threads=*/8, /*usable_cpus=*/1, v1::DTYPE_FP32), 64e9);
}

TEST(CpuPeak, HyperthreadsShareACore) {
  // Four logical CPUs on two cores (two siblings each): the FMA pipes are the cores'.
  std::string text;
  for (int p = 0; p < 4; ++p)
    text += "processor\t: " + std::to_string(p) + "\nphysical id\t: 0\ncore id\t\t: " + std::to_string(p / 2) +
            "\ncpu MHz\t\t: 1000.0\nflags\t\t: sse2 avx fma avx2 avx512f\n\n";
  const CpuTopology cpu = ParseCpuinfo(text);
  EXPECT_EQ(cpu.physical_cores, 2);
  EXPECT_DOUBLE_EQ(CpuPeakFlops(cpu, 0, 0, 4, v1::DTYPE_FP32), 2 * 64 * 1e9);
}

TEST(CpuPeak, WithoutCoreIdsEveryProcessorIsACore) {
  const CpuTopology cpu = ParseCpuinfo("processor : 0\ncpu MHz : 1000\nflags : sse2\n\nprocessor : 1\n");
  EXPECT_EQ(cpu.physical_cores, 2);
}

TEST(CpuPeak, UnknownGivesZero) {
  const CpuTopology cpu = ParseCpuinfo(kTwoCoreCpuinfo);
  EXPECT_EQ(CpuPeakFlops(cpu, 0, 0, 2, v1::DTYPE_BF16), 0);  // reduced precision on CPU: no figure
  EXPECT_EQ(CpuPeakFlops(cpu, 0, 0, 2, v1::DTYPE_FP16), 0);
  EXPECT_EQ(CpuPeakFlops(ParseCpuinfo(""), 0, 0, 2, v1::DTYPE_FP32), 0);
  CpuTopology no_clock = cpu;
  no_clock.max_mhz = 0;
  EXPECT_EQ(CpuPeakFlops(no_clock, 0, 0, 2, v1::DTYPE_FP32), 0);
  const CpuTopology arm = ParseCpuinfo("processor : 0\nFeatures : fp asimd\nBogoMIPS : 50.00\n");
  EXPECT_EQ(CpuPeakFlops(arm, 3'000'000, 0, 1, v1::DTYPE_FP32), 0);
}

TEST(CpuPeak, ThisHostGivesAFigureOrZero) {
  const double peak = ReadCpuPeakFlops(/*threads=*/0, v1::DTYPE_FP32);
  EXPECT_GE(peak, 0);
#if defined(__linux__) && defined(__x86_64__)
  EXPECT_GT(peak, 1e9);  // any x86-64 has sse2, and a Linux host has a cpuinfo clock
#endif
}

TEST(CudaPeak, DatasheetFiguresFromSmsClockAndCapability) {
  // A100 SXM: 108 SMs, 1410 MHz, sm_80: 19.5 TFLOP/s fp32, 312 fp16/bf16 (dense tensor cores).
  EXPECT_NEAR(CudaPeakFlops(108, 1'410'000, 8, 0, v1::DTYPE_FP32), 19.49e12, 0.01e12);
  EXPECT_NEAR(CudaPeakFlops(108, 1'410'000, 8, 0, v1::DTYPE_FP16), 311.9e12, 0.1e12);
  EXPECT_NEAR(CudaPeakFlops(108, 1'410'000, 8, 0, v1::DTYPE_BF16), 311.9e12, 0.1e12);
  // H100 SXM: 132 SMs, 1980 MHz, sm_90: 66.9 TFLOP/s fp32.
  EXPECT_NEAR(CudaPeakFlops(132, 1'980'000, 9, 0, v1::DTYPE_FP32), 66.9e12, 0.1e12);
  EXPECT_NEAR(CudaPeakFlops(132, 1'980'000, 9, 0, v1::DTYPE_BF16), 1070.5e12, 0.1e12);
  // V100 SXM2: 80 SMs, 1530 MHz, sm_70: 15.7 fp32, 125 fp16; no bf16 tensor cores.
  EXPECT_NEAR(CudaPeakFlops(80, 1'530'000, 7, 0, v1::DTYPE_FP32), 15.67e12, 0.01e12);
  EXPECT_NEAR(CudaPeakFlops(80, 1'530'000, 7, 0, v1::DTYPE_FP16), 125.3e12, 0.1e12);
  EXPECT_EQ(CudaPeakFlops(80, 1'530'000, 7, 0, v1::DTYPE_BF16), 0);
  // RTX 4090: 128 SMs, 2520 MHz, sm_89: 82.6 fp32.
  EXPECT_NEAR(CudaPeakFlops(128, 2'520'000, 8, 9, v1::DTYPE_FP32), 82.6e12, 0.1e12);
}

TEST(CudaPeak, UnknownGivesZero) {
  EXPECT_EQ(CudaPeakFlops(108, 1'410'000, 3, 5, v1::DTYPE_FP32), 0);   // Kepler: not in the table
  EXPECT_EQ(CudaPeakFlops(100, 2'000'000, 11, 0, v1::DTYPE_FP32), 0);  // a capability the table predates
  EXPECT_EQ(CudaPeakFlops(148, 1'965'000, 10, 0, v1::DTYPE_FP16), 0);  // Blackwell tensor cores: no figure
  EXPECT_EQ(CudaPeakFlops(0, 1'410'000, 8, 0, v1::DTYPE_FP32), 0);
  EXPECT_EQ(CudaPeakFlops(108, 0, 8, 0, v1::DTYPE_FP32), 0);
}

TEST(AppleGpuPeak, PublishedFiguresByChip) {
  EXPECT_DOUBLE_EQ(AppleGpuPeakFlops("Apple M1", 0, v1::DTYPE_FP32), 2.6e12);
  EXPECT_DOUBLE_EQ(AppleGpuPeakFlops("Apple M1", 7, v1::DTYPE_FP32), 2.6e12 * 7 / 8);  // the binned 7-core GPU
  EXPECT_DOUBLE_EQ(AppleGpuPeakFlops("Apple M1 Max", 0, v1::DTYPE_FP32), 10.4e12);
  EXPECT_DOUBLE_EQ(AppleGpuPeakFlops("Apple M2 Pro", 0, v1::DTYPE_FP16), 6.8e12);  // fp16 at the fp32 rate
  EXPECT_DOUBLE_EQ(AppleGpuPeakFlops("Apple M2 Ultra", 0, v1::DTYPE_FP32), 27.2e12);
}

TEST(AppleGpuPeak, UnknownGivesZero) {
  EXPECT_EQ(AppleGpuPeakFlops("Apple M3 Pro", 0, v1::DTYPE_FP32), 0);  // no published figure
  EXPECT_EQ(AppleGpuPeakFlops("Apple M1", 0, v1::DTYPE_BF16), 0);
  EXPECT_EQ(AppleGpuPeakFlops("Intel(R) Core(TM) i9-9880H", 0, v1::DTYPE_FP32), 0);
  EXPECT_EQ(AppleGpuPeakFlops("", 0, v1::DTYPE_FP32), 0);
}

}  // namespace
}  // namespace tscale
