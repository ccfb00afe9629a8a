// The theoretical peak FLOP/s of a device: what its structure allows at most (units × lanes × FLOP per
// instruction × clock), stored in a result's environment beside the measured peak (runner/gemm_probe.h). It is
// a ceiling to read the measured figure against, never the `invalid` gate (runner/verdict.h uses the measured
// peak: what this libtorch and BLAS reach here). No libtorch: the formulas are unit-tested from fixed inputs.
//
// Every function returns 0 for "unknown": a dtype, ISA, compute capability or chip the tables below do not
// cover yields no figure rather than a guess. Where a table entry spans parts that differ (one or two FMA
// pipes, binned GPU core counts), it takes the larger, so a figure stays a ceiling; the comments say where.
#pragma once

#include <string>

#include "tscale/v1/tscale.pb.h"

namespace tscale {

// ---- CPU (x86-64, Linux) ----
//
//   peak = cores × FLOP per cycle per core × clock
//   FLOP per cycle per core = FMA pipes × fp32 lanes per vector × 2 (an FMA is a multiply and an add)
//
// fp32 only: libtorch runs bf16 matmuls on CPU through kernels whose rate these flags do not determine (AMX,
// AVX512-BF16 dot products, or conversion to fp32), and has no fp16 CPU matmul in 1.13; those dtypes are 0.
//
//   flags              lanes  FMA pipes  FLOP/cycle  parts
//   avx512f            16     2          64          Skylake-SP Gold/Platinum, Ice Lake-SP, Sapphire Rapids, Zen 5.
//                                                    Parts with one 512-bit pipe (Xeon Bronze/Silver, client Ice
//                                                    Lake, Zen 4's double-pumped 256-bit) reach half: a ceiling.
//   avx2 + fma         8      2          32          Haswell and later, Zen 1-3 (Zen 1 has 2 × 128-bit: half)
//   avx (no fma)       8      1 mul+1 add 16         Sandy/Ivy Bridge: a 256-bit multiply and add each cycle
//   sse2               4      1 mul+1 add 8          any x86-64
//
// A flags line without sse2 (another ISA: aarch64's "Features") gives 0: NEON/SVE pipe counts vary per core.
int CpuFp32FlopsPerCycle(const std::string& flags_line);

struct CpuTopology {
  std::string flags;       // the first "flags" line's value
  int physical_cores = 0;  // distinct (physical id, core id) pairs; the processor count when there are none
  double max_mhz = 0;      // the largest "cpu MHz" over all processors
};
CpuTopology ParseCpuinfo(const std::string& cpuinfo_text);

// Cores: the smallest of the job's threads (a forward with t threads runs on at most t cores), the physical
// cores (SMT siblings share one core's FMA pipes, so logical CPUs would double-count) and the logical CPUs
// this process may use. `threads` <= 0 = no cap. Clock: `max_khz` (cpufreq's cpuinfo_max_freq, the highest
// clock the core may reach: the ceiling) when > 0, else cpuinfo's "cpu MHz" (the current clock; in a VM the
// host's nominal one, which turbo can exceed, so that figure may read below what the core reaches).
double CpuPeakFlops(const CpuTopology& cpu, double max_khz, int threads, int usable_cpus, v1::DType dtype);

// This host's CPU: /proc/cpuinfo, /sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq and the process's
// affinity. 0 elsewhere: macOS's CPU matmuls run in Accelerate on Apple's undocumented matrix unit (AMX),
// whose rate has no published figure.
double ReadCpuPeakFlops(int threads, v1::DType dtype);

// ---- CUDA ----
//
//   peak = SMs × clock × FLOP per cycle per SM (compute capability)
//
// fp32: 2 × the FP32 lanes per SM (CUDA cores). libtorch runs fp32 matmuls without TF32 by default
// (allow_tf32 is off for matmul since 1.12), so the CUDA-core rate is the fp32 ceiling.
//   5.x 128 lanes; 6.0 64; 6.1/6.2 128; 7.0/7.2/7.5 64; 8.0 64; 8.6/8.7/8.9 128; 9.0 128; 10.0 128; 12.0 128
// fp16/bf16: dense tensor-core FLOP per cycle per SM:
//   7.0/7.2/7.5 1024 (fp16 only); 8.0 2048; 8.6/8.9 1024 (GeForce parts halve it with fp32 accumulation: a
//   ceiling); 9.0 4096. Others 0 (unknown).
// `clock_khz` is cudaDevAttrClockRate: the maximum (boost) SM clock, in kHz. A100 (8.0, 108 SMs, 1410 MHz):
// 19.5 TFLOP/s fp32, 312 fp16; H100 SXM (9.0, 132 SMs, 1980 MHz): 66.9 fp32.
double CudaPeakFlops(int sm_count, int clock_khz, int major, int minor, v1::DType dtype);

// ---- Apple GPUs (MPS) ----
//
//   peak = Apple's published fp32 figure for the chip's largest GPU × gpu_cores / that GPU's cores
//
// `chip` is the CPU brand string ("Apple M1 Pro": sysctl machdep.cpu.brand_string). Apple published fp32 TFLOP/s
// for M1 (2.6, 8 cores), M1 Pro (5.2, 16), M1 Max (10.4, 32), M1 Ultra (21, 64), M2 (3.6, 10), M2 Pro (6.8, 19),
// M2 Max (13.6, 38) and M2 Ultra (27.2, 76): 128 ALUs per core × 2 × the GPU clock. The M3 and later have no
// published figure: 0. fp16 runs at the fp32 rate on these GPUs; bf16 has no figure (0). `gpu_cores` <= 0 =
// unknown (IOKit's "gpu-core-count" is not read): the largest configuration, a ceiling for binned parts.
double AppleGpuPeakFlops(const std::string& chip, int gpu_cores, v1::DType dtype);

}  // namespace tscale
