// tscale-worker: one daemon per host. Claims jobs from the coordinator and runs each in an isolated
// tscale-runner child process. See worker/worker.h for the lifecycle.
#include <google/protobuf/util/json_util.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#ifdef __APPLE__
#include <mach-o/dyld.h>
#endif

#include <CLI/CLI.hpp>
#include <filesystem>

#include "common/byte_size.h"
#include "common/cli_flags.h"
#include "common/grpc_channel.h"
#include "common/host_info.h"
#include "common/outcome.h"
#include "common/version.h"
#include "worker/capabilities.h"
#include "worker/child_process.h"
#include "worker/state_dir.h"
#include "worker/worker.h"

namespace {

// tscale-runner next to this executable.
std::string DefaultRunnerPath() {
#ifdef __APPLE__
  char path[4096];
  uint32_t size = sizeof(path);
  if (_NSGetExecutablePath(path, &size) != 0) return "tscale-runner";
  return (std::filesystem::path(path).parent_path() / "tscale-runner").string();
#else
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "tscale-runner";
  return (self.parent_path() / "tscale-runner").string();
#endif
}

// Asks the runner which device libtorch sees (the worker itself does not link libtorch).
tscale::StatusOr<tscale::v1::WorkerCapabilities> ProbeDevice(const std::string& runner) {
  tscale::ChildSpec spec;
  spec.program = runner;
  spec.args = {"--probe-device"};
  spec.env = {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"};
  spec.deadline = std::chrono::seconds(60);
  auto exit = tscale::RunChild(spec, std::chrono::seconds(1), nullptr);
  if (!exit.ok()) return exit.status();
  if (!exit->exited || exit->exit_code != 0)
    return tscale::Status::Unavailable("device probe failed: " + exit->stderr_tail);
  tscale::v1::WorkerCapabilities device;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(exit->stdout_tail, &device, options).ok())
    return tscale::Status::Unavailable("device probe printed no capabilities: " + exit->stdout_tail);
  return device;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tscale-worker: runs tscale benchmark jobs on this host"};
  tscale::WorkerOptions options;
  options.runner_path = DefaultRunnerPath();
  options.worker_id = tscale::ReadHostFacts().hostname;
  std::vector<std::string> labels;
  std::string device = "auto", memory_limit, log_level = "info";
  tscale::cli::ServerFlags server;
  server.address = options.server_address;
  tscale::cli::AddServerFlags(app, &server, "TSCALE_WORKER_TOKEN_FILE", "TSCALE_WORKER_TOKEN");
  app.add_option("--id", options.worker_id, "stable worker id (default: hostname)")->capture_default_str();
  app.add_option("--runner", options.runner_path, "path of tscale-runner")->capture_default_str();
  app.add_option("--state-dir", options.state_dir,
                 "private directory for the outbox and per-job files; keep it across restarts (default: "
                 "worker-<id> under $STATE_DIRECTORY, else $XDG_STATE_HOME/tscale, else ~/.local/state/tscale)");
  app.add_option("--slots", options.slots, "jobs run at once (benchmarks should not share a device)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--threads", options.threads, "runner threads when a job does not set them (0 = cores / slots)")
      ->check(CLI::Range(0, 1024));
  app.add_option("--memory-limit", memory_limit, "per-job memory limit when the job sets none (e.g. 4G)");
  app.add_option("--peak-flops", options.peak_flops,
                 "the device's peak FLOP/s for validity checks (default: measured once by a matmul probe and cached)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--drain-timeout-s", options.drain_timeout_s,
                 "after SIGTERM, how long running jobs may finish before their leases are released")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 7 * 86400.0));
  app.add_option("--label", labels, "capability label to advertise (repeatable)");
  app.add_option("--device", device, "device to advertise: auto (ask libtorch), cpu, cuda or mps")
      ->capture_default_str();
  app.add_option("--max-jobs", options.max_jobs, "exit after this many jobs (0 = until stopped)")
      ->check(CLI::Range(0, 1 << 30));
  app.add_option("--idle-exit-s", options.idle_exit_s,
                 "exit (code 0) after this many seconds with no job claimed and none running, once the outbox is "
                 "delivered; 0 = never (for batch allocations: Slurm, Kubernetes Jobs)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 7 * 86400.0));
  app.add_option("--claim-wait-s", options.claim_wait_s, "long-poll length of a claim")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 60.0));
  tscale::cli::AddLogLevelFlag(app, &log_level);
  tscale::cli::AddVersionFlag(app);
  if (auto code = tscale::cli::Parse(app, argc, argv)) return *code;
  tscale::cli::ApplyLogLevel(log_level);
  options.server_address = server.address;

  if (access(options.runner_path.c_str(), X_OK) != 0) {
    spdlog::error("--runner: {} is not an executable file", options.runner_path);
    return 2;
  }
  if (!memory_limit.empty()) {
    auto bytes = tscale::ParseByteSize(memory_limit);
    if (!bytes.ok()) {
      spdlog::error("--memory-limit: {}", bytes.status().message());
      return 2;
    }
    options.memory_limit_bytes = *bytes;
  }
  if (options.state_dir.empty()) {
    auto state_dir = tscale::DefaultStateDir(options.worker_id);
    if (!state_dir.ok()) {
      spdlog::error("--state-dir: {}", state_dir.status().message());
      return 2;
    }
    options.state_dir = *state_dir;
  }
  // Before anything reads or writes there: a directory another user can write to is refused (see state_dir.h).
  if (tscale::Status prepared = tscale::PrepareStateDir(options.state_dir); !prepared.ok()) {
    spdlog::error("--state-dir: {}", prepared.message());
    return 2;
  }
  // Held until the process exits. A second daemon with this id on this host would share the directory, and
  // with it the instance id that lets the coordinator refuse it, so it is refused here.
  auto lock = tscale::LockStateDir(options.state_dir);
  if (!lock.ok()) {
    spdlog::error("worker id {}: {}", options.worker_id, lock.status().message());
    return lock.status().code() == tscale::Status::Code::kAlreadyExists ? tscale::cli::kExitWorkerIdInUse : 1;
  }
  spdlog::info("state directory {}", options.state_dir);

  tscale::v1::WorkerCapabilities caps = tscale::DetectCapabilities(tscale::v1::DEVICE_KIND_CPU, labels, options.slots);
  if (device == "auto") {
    auto probed = ProbeDevice(options.runner_path);
    if (!probed.ok()) {
      spdlog::error("{}", probed.status().message());
      return 1;
    }
    tscale::AdvertiseDevice(&caps, probed->device_kind(), &*probed);
  } else {
    auto kind = tscale::ParseDeviceKind(device);
    if (!kind) {
      spdlog::error("--device: unknown device \"{}\" (auto, cpu, cuda, mps)", device);
      return 2;
    }
    // No probe: a GPU's name and memory stay unknown rather than borrowed from the CPU and RAM.
    tscale::AdvertiseDevice(&caps, *kind, nullptr);
  }
  spdlog::info(
      "device: {} ({}, {})", tscale::DeviceKindName(caps.device_kind()),
      caps.device_name().empty() ? "name unknown" : caps.device_name(),
      caps.device_memory_bytes() > 0 ? std::to_string(caps.device_memory_bytes() >> 20) + " MiB" : "memory unknown");

  auto token = tscale::LoadToken(server.token_file, "TSCALE_WORKER_TOKEN");
  if (!token.ok()) {
    spdlog::error("worker token: {}", token.status().message());
    return 2;
  }
  options.token = *token;
  // The runner must never see the token: it is not in the child's environment, and it leaves ours too.
  unsetenv("TSCALE_WORKER_TOKEN");
  auto channel = tscale::MakeChannel({options.server_address, server.tls_ca, options.token});
  if (!channel.ok()) {
    spdlog::error("{}", channel.status().message());
    return 2;
  }
  tscale::Worker worker(options, caps, *channel);
  return worker.Run();
}
