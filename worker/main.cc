// tscale-worker: one daemon per host. Claims jobs from the coordinator and runs each in an isolated
// tscale-runner child process.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <filesystem>

#include "common/grpc_channel.h"
#include "common/host_info.h"
#include "common/outcome.h"
#include "common/version.h"
#include "worker/capabilities.h"
#include "worker/worker.h"

namespace {

std::atomic<bool> g_stop{false};

void OnStopSignal(int) {
  g_stop = true;
}

std::string DefaultRunnerPath() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "tscale-runner";
  return (self.parent_path() / "tscale-runner").string();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tscale-worker: runs tscale benchmark jobs on this host"};
  tscale::WorkerOptions options;
  options.runner_path = DefaultRunnerPath();
  options.worker_id = tscale::ReadHostFacts().hostname;
  std::vector<std::string> labels;
  std::string device = "cpu";
  std::string log_level = "info";
  std::string tls_ca, token_file;
  app.add_option("--server", options.server_address, "coordinator address")
      ->envname("TSCALE_SERVER")
      ->capture_default_str();
  app.add_option("--id", options.worker_id, "stable worker id (default: hostname)")->capture_default_str();
  app.add_option("--runner", options.runner_path, "path of tscale-runner")->capture_default_str();
  app.add_option("--work-dir", options.work_dir, "directory for per-job files (default: a temporary directory)");
  app.add_option("--threads", options.threads, "runner threads when a job does not set them (0 = all cores)")
      ->check(CLI::Range(0, 1024));
  app.add_option("--label", labels, "capability label to advertise (repeatable)");
  app.add_option("--device", device, "device kind to advertise: cpu, cuda or mps")->capture_default_str();
  app.add_option("--max-jobs", options.max_jobs, "exit after this many jobs (0 = until stopped)")
      ->check(CLI::Range(0, 1 << 30));
  app.add_option("--claim-wait-s", options.claim_wait_s, "long-poll length of a claim")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 60.0));
  app.add_option("--tls-ca", tls_ca, "PEM roots to verify the coordinator's TLS certificate")
      ->envname("TSCALE_TLS_CA")
      ->check(CLI::ExistingFile);
  app.add_option("--token-file", token_file, "file holding the worker bearer token (or env TSCALE_WORKER_TOKEN)")
      ->envname("TSCALE_WORKER_TOKEN_FILE")
      ->check(CLI::ExistingFile);
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")->capture_default_str();
  app.set_version_flag("--version", tscale::kVersion);
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::from_str(log_level));

  auto device_kind = tscale::ParseDeviceKind(device);
  if (!device_kind) {
    spdlog::error("--device: unknown device kind \"{}\" (cpu, cuda, mps)", device);
    return 2;
  }
  if (access(options.runner_path.c_str(), X_OK) != 0) {
    spdlog::error("--runner: {} is not an executable file", options.runner_path);
    return 2;
  }
  if (options.work_dir.empty()) {
    options.work_dir = (std::filesystem::temp_directory_path() /
                        ("tscale-worker-" + options.worker_id + "-" + std::to_string(getpid())))
                           .string();
  }

  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto token = tscale::LoadToken(token_file, "TSCALE_WORKER_TOKEN");
  if (!token.ok()) {
    spdlog::error("worker token: {}", token.status().message());
    return 2;
  }
  options.token = *token;
  // The runner must never see the token: it is not in the child's environment (worker.cc), and the
  // variable is dropped from ours too.
  unsetenv("TSCALE_WORKER_TOKEN");
  auto channel = tscale::MakeChannel({options.server_address, tls_ca, options.token});
  if (!channel.ok()) {
    spdlog::error("{}", channel.status().message());
    return 2;
  }
  tscale::Worker worker(options, tscale::DetectCapabilities(*device_kind, labels, /*slots=*/1), *channel);
  int code = worker.Run(g_stop);
  std::error_code ec;
  std::filesystem::remove_all(options.work_dir, ec);
  return code;
}
