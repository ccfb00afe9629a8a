// tscale-runner: measures one job in a fresh process. Started by tscale-worker; see
// common/runner_protocol.h for the contract (arguments, files, exit codes).
#include <ATen/Parallel.h>
#include <google/protobuf/util/json_util.h>

#include <sys/resource.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

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

// With a memory limit from the worker, the runner caps its own address space a little above what it has
// mapped now plus the limit: an over-allocation then fails inside the allocator (reported as `oom` by the
// runner itself) instead of waiting for the worker's watchdog or the kernel to kill the process.
void CapAddressSpace() {
#ifdef __linux__
  const char* limit_text = std::getenv("TSCALE_MEMORY_LIMIT_BYTES");
  if (!limit_text) return;
  const long long limit = std::atoll(limit_text);
  if (limit <= 0) return;
  std::ifstream status("/proc/self/status");
  std::string line;
  long long mapped_kb = 0;
  while (std::getline(status, line))
    if (line.rfind("VmSize:", 0) == 0) mapped_kb = std::atoll(line.c_str() + 7);
  constexpr long long kSlack = 512LL << 20;  // thread stacks and allocator arenas created later
  struct rlimit cap {};
  cap.rlim_cur = cap.rlim_max = static_cast<rlim_t>(mapped_kb * 1024 + limit + kSlack);
  setrlimit(RLIMIT_AS, &cap);
#endif
}

bool WriteAtomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace

int main(int argc, char** argv) {
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

  std::ifstream in(job_path, std::ios::binary);
  if (!in) {
    std::cerr << "tscale-runner: cannot read job file " << job_path << "\n";
    return tscale::kRunnerExitBadJob;
  }
  std::stringstream job_text;
  job_text << in.rdbuf();
  tscale::v1::JobSpec job;
  auto parsed = google::protobuf::util::JsonStringToMessage(job_text.str(), &job);
  if (!parsed.ok()) {
    std::cerr << "tscale-runner: job file " << job_path << " is not a JobSpec: " << parsed.ToString() << "\n";
    return tscale::kRunnerExitBadJob;
  }

  // CUDA reserves huge virtual address ranges when it starts, so an address-space cap would fail every GPU job:
  // the cap is for jobs whose memory is the host's.
  if (job.device_kind() == tscale::v1::DEVICE_KIND_UNSPECIFIED || job.device_kind() == tscale::v1::DEVICE_KIND_CPU)
    CapAddressSpace();
  tscale::v1::Result result = tscale::RunJob(job);
  std::string json;
  google::protobuf::util::MessageToJsonString(result, &json);
  if (!WriteAtomically(result_path, json)) {
    std::cerr << "tscale-runner: cannot write result file " << result_path << "\n";
    return result.outcome() == tscale::v1::OUTCOME_OOM ? tscale::kRunnerExitOutOfMemory : 1;
  }
  return tscale::kRunnerExitResultWritten;
}
