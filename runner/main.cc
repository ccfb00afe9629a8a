// tscale-runner: measures one job in a fresh process. Started by tscale-worker; see
// common/runner_protocol.h for the contract (arguments, files, exit codes).
#include <ATen/Parallel.h>
#include <google/protobuf/util/json_util.h>

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
               "Measures one tscale job (a tscale.v1.JobSpec in JSON) and writes a tscale.v1.Result.\n";
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

  tscale::v1::Result result = tscale::RunJob(job);
  std::string json;
  google::protobuf::util::MessageToJsonString(result, &json);
  if (!WriteAtomically(result_path, json)) {
    std::cerr << "tscale-runner: cannot write result file " << result_path << "\n";
    return result.outcome() == tscale::v1::OUTCOME_OOM ? tscale::kRunnerExitOutOfMemory : 1;
  }
  return tscale::kRunnerExitResultWritten;
}
