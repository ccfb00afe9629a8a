#include "worker/worker.h"

#include <google/protobuf/util/json_util.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "common/grpc_channel.h"
#include "common/host_info.h"
#include "common/outcome.h"
#include "common/runner_protocol.h"
#include "worker/outcome_classifier.h"

namespace tscale {
namespace {

namespace fs = std::filesystem;

std::chrono::milliseconds Ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000.0));
}

// Exponential backoff with full jitter, so a fleet of workers does not reconnect in lock-step.
class Backoff {
 public:
  std::chrono::milliseconds Next() {
    std::uniform_int_distribution<int64_t> jitter(current_ms_ / 2, current_ms_);
    auto wait = std::chrono::milliseconds(jitter(rng_));
    current_ms_ = std::min<int64_t>(current_ms_ * 2, 5000);
    return wait;
  }
  void Reset() { current_ms_ = 200; }

 private:
  int64_t current_ms_ = 200;
  std::mt19937_64 rng_{std::random_device{}()};
};

std::optional<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

Worker::Worker(WorkerOptions options, v1::WorkerCapabilities capabilities, std::shared_ptr<grpc::Channel> channel)
    : options_(std::move(options)), capabilities_(std::move(capabilities)), channel_(std::move(channel)) {
  stub_ = v1::WorkerService::NewStub(channel_);
}

std::unique_ptr<grpc::ClientContext> Worker::NewContext(double timeout_s) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + Ms(timeout_s));
  AddBearerToken(ctx.get(), options_.token);
  return ctx;
}

Status Worker::Register(const std::atomic<bool>& stop) {
  Backoff backoff;
  while (!stop) {
    auto ctx = NewContext(options_.rpc_timeout_s);
    v1::RegisterWorkerRequest request;
    request.set_worker_id(options_.worker_id);
    *request.mutable_capabilities() = capabilities_;
    v1::RegisterWorkerResponse response;
    grpc::Status status = stub_->RegisterWorker(ctx.get(), request, &response);
    if (status.ok()) {
      heartbeat_interval_s_ = response.heartbeat_interval_s() > 0 ? response.heartbeat_interval_s() : 5.0;
      session_ = response.session();
      spdlog::info("registered with {} as {} session {} (heartbeat every {} s)", options_.server_address,
                   options_.worker_id, session_, heartbeat_interval_s_);
      return Status::Ok();
    }
    switch (status.error_code()) {
      case grpc::StatusCode::INVALID_ARGUMENT:
      case grpc::StatusCode::UNAUTHENTICATED:
      case grpc::StatusCode::PERMISSION_DENIED:
        return Status::InvalidArgument("coordinator refused registration: " + status.error_message());
      default:
        break;
    }
    auto wait = backoff.Next();
    spdlog::warn("cannot register with {}: {}; retrying in {} ms", options_.server_address, status.error_message(),
                 wait.count());
    std::this_thread::sleep_for(wait);
  }
  return Status::Aborted("stopped before registering");
}

std::vector<std::string> Worker::ChildEnvironment(int threads) const {
  // The runner gets a scrubbed environment: nothing the worker holds (tokens, proxies) leaks into it.
  std::vector<std::string> env = {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8",
                                  "OMP_NUM_THREADS=" + std::to_string(threads),
                                  "TSCALE_WORKER_PID=" + std::to_string(getpid())};
  for (const char* keep : {"HOME", "LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH", "TMPDIR"}) {
    if (const char* value = std::getenv(keep)) env.push_back(std::string(keep) + "=" + value);
  }
  return env;
}

std::optional<v1::Result> Worker::Execute(const v1::Lease& lease) {
  const int64_t attempt_id = lease.attempt_id();
  v1::JobSpec job = lease.job();
  const int threads = job.measurement().threads() > 0 ? job.measurement().threads()
                      : options_.threads > 0          ? options_.threads
                                                      : std::max(1, capabilities_.cpu_cores());
  job.mutable_measurement()->set_threads(threads);
  job.set_device_kind(capabilities_.device_kind());

  const fs::path dir = fs::path(options_.work_dir) / ("attempt-" + std::to_string(attempt_id));
  std::error_code ec;
  fs::create_directories(dir, ec);
  const fs::path job_file = dir / "job.json", result_file = dir / "result.json";
  std::string job_json;
  google::protobuf::util::MessageToJsonString(job, &job_json);
  {
    std::ofstream out(job_file, std::ios::binary | std::ios::trunc);
    out << job_json;
    if (!out) {
      v1::Result failed;
      failed.set_outcome(v1::OUTCOME_ERROR);
      failed.set_message("worker cannot write " + job_file.string());
      return failed;
    }
  }

  ChildSpec spec;
  spec.program = options_.runner_path;
  spec.args = {"--job", job_file.string(), "--result", result_file.string()};
  spec.env = ChildEnvironment(threads);
  spec.deadline = Ms(job.measurement().timeout_s());

  // Runner progress lines become MetricEvents on one client stream per attempt. Progress is best effort:
  // if the stream breaks (coordinator away, attempt refused) the job goes on and heartbeats decide.
  auto metrics_ctx = NewContext(job.measurement().timeout_s() + 60);
  metrics_ctx->AddMetadata("tscale-worker-id", options_.worker_id);
  v1::ReportMetricsResponse metrics_response;
  std::unique_ptr<grpc::ClientWriter<v1::MetricEvent>> metrics =
      stub_->ReportMetrics(metrics_ctx.get(), &metrics_response);
  bool metrics_open = true;
  spec.on_stdout_line = [&](const std::string& line) {
    std::optional<v1::MetricEvent> event = ParseProgressLine(line);
    if (!event || !metrics_open) return;
    event->set_attempt_id(attempt_id);
    event->set_unix_ms(NowUnixMs());
    metrics_open = metrics->Write(*event);
  };

  const int64_t started_ms = NowUnixMs();
  auto heartbeat = [&]() -> bool {
    auto ctx = NewContext(std::min(options_.rpc_timeout_s, heartbeat_interval_s_));
    v1::HeartbeatRequest request;
    request.set_worker_id(options_.worker_id);
    request.add_attempt_ids(attempt_id);
    v1::HeartbeatResponse response;
    grpc::Status status = stub_->Heartbeat(ctx.get(), request, &response);
    if (!status.ok()) {
      // The coordinator being away is no reason to kill a measurement; the lease may still be live.
      spdlog::warn("heartbeat for attempt {} failed: {}", attempt_id, status.error_message());
      return true;
    }
    for (int64_t revoked : response.revoked_attempt_ids()) {
      if (revoked == attempt_id) {
        spdlog::warn("attempt {} revoked by the coordinator: killing its runner", attempt_id);
        return false;
      }
    }
    return true;
  };

  auto exit = RunChild(spec, Ms(heartbeat_interval_s_), heartbeat);
  metrics->WritesDone();
  if (grpc::Status closed = metrics->Finish(); !closed.ok())
    spdlog::debug("metrics stream of attempt {} ended: {}", attempt_id, closed.error_message());
  v1::Result result;
  if (!exit.ok()) {
    result.set_outcome(v1::OUTCOME_ERROR);
    result.set_message(exit.status().message());
  } else {
    result = ClassifyChildExit(*exit, ReadFile(result_file), job.measurement().timeout_s());
  }
  fs::remove_all(dir, ec);
  if (exit.ok() && exit->killed_by_us == KillReason::kRevoked) return std::nullopt;
  result.set_started_unix_ms(started_ms);
  result.set_finished_unix_ms(NowUnixMs());
  return result;
}

void Worker::Deliver(int64_t attempt_id, const v1::Result& result) {
  Backoff backoff;
  // A result is retried until the coordinator answers; only a definitive refusal drops it.
  for (int attempt = 0;; ++attempt) {
    auto ctx = NewContext(options_.rpc_timeout_s);
    v1::CompleteJobRequest request;
    request.set_worker_id(options_.worker_id);
    request.set_attempt_id(attempt_id);
    *request.mutable_result() = result;
    v1::CompleteJobResponse response;
    grpc::Status status = stub_->CompleteJob(ctx.get(), request, &response);
    if (status.ok()) return;
    switch (status.error_code()) {
      case grpc::StatusCode::ABORTED:
      case grpc::StatusCode::NOT_FOUND:
      case grpc::StatusCode::INVALID_ARGUMENT:
      case grpc::StatusCode::PERMISSION_DENIED:
        spdlog::warn("result of attempt {} refused: {}", attempt_id, status.error_message());
        return;
      default:
        break;
    }
    auto wait = backoff.Next();
    spdlog::warn("cannot deliver result of attempt {} ({}); retry {} in {} ms", attempt_id, status.error_message(),
                 attempt + 1, wait.count());
    std::this_thread::sleep_for(wait);
  }
}

int Worker::Run(const std::atomic<bool>& stop) {
  Status registered = Register(stop);
  if (!registered.ok()) {
    if (stop) return 0;
    spdlog::error("{}", registered.ToString());
    return 1;
  }
  Backoff backoff;
  while (!stop && (options_.max_jobs == 0 || jobs_done_ < options_.max_jobs)) {
    auto ctx = NewContext(options_.claim_wait_s + options_.rpc_timeout_s);
    v1::ClaimJobRequest request;
    request.set_worker_id(options_.worker_id);
    request.set_wait_s(options_.claim_wait_s);
    v1::ClaimJobResponse response;
    grpc::Status status = stub_->ClaimJob(ctx.get(), request, &response);
    if (!status.ok()) {
      if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
        // The coordinator lost our registration (a fresh database): register again.
        Status again = Register(stop);
        if (!again.ok() && !stop) return 1;
        continue;
      }
      auto wait = backoff.Next();
      spdlog::warn("claim failed: {}; retrying in {} ms", status.error_message(), wait.count());
      std::this_thread::sleep_for(wait);
      continue;
    }
    backoff.Reset();
    if (!response.has_job()) continue;

    const v1::Lease& lease = response.lease();
    const v1::JobSpec& job = lease.job();
    spdlog::info("attempt {}: job {} {} seq_len={} batch={}", lease.attempt_id(), job.job_id(), job.model_id(),
                 job.seq_len(), job.batch_size());
    std::optional<v1::Result> result = Execute(lease);
    ++jobs_done_;
    if (!result) continue;  // the lease was revoked: the coordinator would refuse this result
    spdlog::info("attempt {}: {} {}", lease.attempt_id(), OutcomeName(result->outcome()), result->message());
    Deliver(lease.attempt_id(), *result);
  }
  spdlog::info("worker {} stopping after {} jobs", options_.worker_id, jobs_done_);
  return 0;
}

}  // namespace tscale
