// tscale-runner: measures one job in a fresh process. Started by tscale-worker; see
// common/runner_protocol.h for the contract (arguments, files, exit codes).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <google/protobuf/util/json_util.h>

#include <sys/resource.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "common/file_io.h"
#include "common/runner_protocol.h"
#include "runner/job_runner.h"

namespace {

void Usage() {
  std::cerr << "usage: tscale-runner --job JOB.json --result RESULT.json\n"
               "       tscale-runner --probe-device\n"
               "       tscale-runner --parameter-names CONFIG.json\n"
               "Measures one tscale job (a tscale.v1.JobSpec in JSON) and writes a tscale.v1.Result; or prints the\n"
               "device libtorch sees as tscale.v1.WorkerCapabilities JSON; or lists the parameter names and shapes\n"
               "a model config (tscale or Hugging Face config.json) builds, the names a .safetensors file may use.\n";
}

// glibc gives each thread that allocates under contention an arena of its own, up to 8 per core, and every
// arena reserves 64 MiB of address space whether it is used or not: at 32 threads on a large host that is
// 2 GiB of RLIMIT_AS spent on nothing. Eight arenas keep contention low at the thread counts tscale runs and
// bound the reservation; set for every job, so limited and unlimited jobs run on one allocator setting.
constexpr int kMallocArenas = 8;
constexpr long long kArenaReserveBytes = 64LL << 20;  // glibc's HEAP_MAX_SIZE on 64-bit hosts

// VmSize: every mapping, reserved or touched, which is what RLIMIT_AS counts.
long long MappedBytes() {
  auto status = tscale::ReadWholeFile("/proc/self/status");
  if (!status.ok()) return 0;
  const size_t at = status->find("VmSize:");
  return at == std::string::npos ? 0 : std::atoll(status->c_str() + at + 7) * 1024;
}

// With a memory limit from the worker, the runner caps its own address space a little above what it has
// mapped plus the limit: an over-allocation then fails inside the allocator (reported as `oom` by the runner
// itself) instead of waiting for the worker's watchdog or the kernel to kill the process.
//
// What threads map must not count against the job: at 32 threads the intra-op and BLAS thread pools map
// 62 stacks (8 MiB each) and OpenBLAS a 128 MiB GEMM buffer per thread, about 4.3 GiB that is almost never
// touched (docs/worker.md has the measurement). Under a fixed slack a small job then failed its first
// multi-threaded matmul, and OpenBLAS, whose buffer allocation retries instead of failing, hung until the
// job's timeout. So the pools are started at the job's thread count first and the cap is taken from what
// is mapped after that; the slack covers only what is still to come: the other malloc arenas and whatever
// libraries map lazily.
void CapAddressSpace(int threads) {
#ifdef __linux__
  const char* limit_text = std::getenv("TSCALE_MEMORY_LIMIT_BYTES");
  if (!limit_text) return;
  const long long limit = std::atoll(limit_text);
  if (limit <= 0) return;
  const long long before = MappedBytes();
  if (threads > 0) at::set_num_threads(threads);
  {
    c10::InferenceMode guard;
    // Large enough for the BLAS library to use all its threads (OpenBLAS stays single-threaded below
    // about 64^3 multiply-adds), small enough to cost a few milliseconds.
    const at::Tensor a = at::ones({512, 512});
    (void)at::mm(a, a);
  }
  const long long mapped = MappedBytes();
  constexpr long long kSlack = (512LL << 20) + (kMallocArenas - 1) * kArenaReserveBytes;
  struct rlimit cap {};
  cap.rlim_cur = cap.rlim_max = static_cast<rlim_t>(mapped + limit + kSlack);
  if (setrlimit(RLIMIT_AS, &cap) != 0) return;
  // On stderr, which the worker keeps for failed jobs: what an `oom` was measured against.
  std::cerr << "tscale-runner: address space capped at " << (cap.rlim_cur >> 20) << " MiB = " << (mapped >> 20)
            << " MiB mapped (" << ((mapped - before) >> 20) << " MiB of it by " << at::get_num_threads()
            << " threads' pools) + the " << (limit >> 20) << " MiB limit + " << (kSlack >> 20) << " MiB slack\n";
#else
  (void)threads;
#endif
}

}  // namespace

int main(int argc, char** argv) {
#ifdef __GLIBC__
  mallopt(M_ARENA_MAX, kMallocArenas);  // before any thread exists (see kMallocArenas)
#endif
  std::string job_path, result_path;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--probe-device") {
      std::string json;
      google::protobuf::util::MessageToJsonString(tscale::ProbeDevice(), &json);
      std::cout << json << std::endl;
      return 0;
    }
    if (arg == "--parameter-names" && i + 1 < argc) {
      auto names = tscale::ParameterNames(argv[i + 1]);
      if (!names.ok()) {
        std::cerr << "tscale-runner: " << argv[i + 1] << ": " << names.status().message() << "\n";
        return tscale::kRunnerExitBadJob;
      }
      std::cout << *names;
      return 0;
    }
    if ((arg == "--job" || arg == "--result") && i + 1 < argc) {
      (arg == "--job" ? job_path : result_path) = argv[++i];
    } else if (arg == "--help" || arg == "-h") {
      Usage();
      return 0;
    } else {
      std::cerr << "tscale-runner: unknown argument \"" << arg << "\"\n";
      Usage();
      return tscale::kRunnerExitBadJob;
    }
  }
  if (job_path.empty() || result_path.empty()) {
    Usage();
    return tscale::kRunnerExitBadJob;
  }
#ifdef __linux__
  // If the worker dies (even by SIGKILL), the kernel kills this runner too: no orphan keeps measuring.
  // The worker passes its pid so the race with a worker that died before prctl() is closed.
  if (const char* worker_pid = std::getenv("TSCALE_WORKER_PID")) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != static_cast<pid_t>(std::atol(worker_pid))) {
      std::cerr << "tscale-runner: the worker that started this runner is gone\n";
      return tscale::kRunnerExitBadJob;
    }
  }
#endif
  // Inter-op threads can only be set before any parallel work; one keeps the measurement single-stream.
  at::set_num_interop_threads(1);

  auto job_text = tscale::ReadWholeFile(job_path, size_t{64} << 20);
  if (!job_text.ok()) {
    std::cerr << "tscale-runner: cannot read job file: " << job_text.status().message() << "\n";
    return tscale::kRunnerExitBadJob;
  }
  tscale::v1::JobSpec job;
  auto parsed = google::protobuf::util::JsonStringToMessage(*job_text, &job);
  if (!parsed.ok()) {
    std::cerr << "tscale-runner: job file " << job_path << " is not a JobSpec: " << parsed.ToString() << "\n";
    return tscale::kRunnerExitBadJob;
  }

  // CUDA reserves huge virtual address ranges when it starts, so an address-space cap would fail every GPU job:
  // the cap is for jobs whose memory is the host's.
  if (job.device_kind() == tscale::v1::DEVICE_KIND_UNSPECIFIED || job.device_kind() == tscale::v1::DEVICE_KIND_CPU)
    CapAddressSpace(job.measurement().threads());
  tscale::v1::Result result = tscale::RunJob(job);
  std::string json;
  google::protobuf::util::MessageToJsonString(result, &json);
  if (tscale::Status written = tscale::WriteFileAtomically(result_path, json, 0600); !written.ok()) {
    std::cerr << "tscale-runner: cannot write result file: " << written.message() << "\n";
    return result.outcome() == tscale::v1::OUTCOME_OOM ? tscale::kRunnerExitOutOfMemory : 1;
  }
  return tscale::kRunnerExitResultWritten;
}
