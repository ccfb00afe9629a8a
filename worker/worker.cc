#include "worker/worker.h"

#include <google/protobuf/util/json_util.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "common/cli_flags.h"
#include "common/file_io.h"
#include "common/grpc_channel.h"
#include "common/host_info.h"
#include "common/outcome.h"
#include "common/runner_protocol.h"
#include "worker/capabilities.h"
#include "worker/outcome_classifier.h"

namespace tscale {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;

std::chrono::milliseconds Ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000.0));
}

// The runner's result file, if it wrote one. The runner is not trusted with the worker's memory: a result
// is a few KiB, so anything past the cap is refused (and classified as no result).
std::optional<std::string> ReadResultFile(const fs::path& path) {
  constexpr size_t kMaxResultBytes = 64 << 20;
  auto text = ReadWholeFile(path.string(), kMaxResultBytes);
  if (text.ok()) return std::move(text).value();
  if (text.status().code() != Status::Code::kNotFound) spdlog::warn("result file: {}", text.status().message());
  return std::nullopt;
}

template <typename Response>
struct Reply {
  grpc::Status status;
  Response response;
};

// Codes after which retrying the same call cannot help.
bool IsDefinitive(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNAUTHENTICATED:
      return true;
    default:
      return false;
  }
}

// This daemon's instance id, kept in its state directory so that a restart of the same daemon presents the same
// one to the coordinator, and a second daemon started with the same worker id (another state directory) does not.
std::string InstanceId(const std::string& state_dir) {
  const std::string path = (fs::path(state_dir) / "instance-id").string();
  if (auto kept = ReadWholeFile(path, 256); kept.ok() && !kept->empty()) return *kept;
  std::random_device random;
  char id[33];
  for (int i = 0; i < 4; ++i) std::snprintf(id + 8 * i, 9, "%08x", static_cast<unsigned>(random()));
  if (Status written = WriteFileAtomically(path, id, 0600); !written.ok()) {
    spdlog::warn("{}: registering without an instance id (duplicate worker ids go undetected)", written.message());
    return "";
  }
  return id;
}

}  // namespace

struct Worker::Attempt {
  explicit Attempt(asio::thread_pool& pool) : strand(asio::make_strand(pool)) {}
  v1::Lease lease;
  v1::JobSpec job;  // as run: threads and device filled in
  std::shared_ptr<JobExecution> execution;
  fs::path dir;
  int64_t started_ms = 0;
  // The progress stream is touched only on `strand`, one call at a time, off the event loop.
  asio::strand<asio::thread_pool::executor_type> strand;
  std::unique_ptr<grpc::ClientContext> metrics_ctx;
  v1::ReportMetricsResponse metrics_response;
  std::unique_ptr<grpc::ClientWriter<v1::MetricEvent>> metrics;
  bool metrics_open = false;
};

Worker::Worker(WorkerOptions options, v1::WorkerCapabilities capabilities, std::shared_ptr<grpc::Channel> channel)
    : options_(std::move(options)),
      capabilities_(std::move(capabilities)),
      channel_(std::move(channel)),
      stub_(v1::WorkerService::NewStub(channel_)),
      outbox_((fs::path(options_.state_dir) / "outbox").string()),
      signals_(io_, SIGCHLD, SIGTERM, SIGINT),
      heartbeat_timer_(io_),
      drain_timer_(io_),
      setup_backoff_timer_(io_),
      idle_timer_(io_) {}

Worker::~Worker() {
  rpc_pool_.stop();
  rpc_pool_.join();
}

template <typename Result>
void Worker::Rpc(std::function<Result()> call, std::function<void(Result)> done) {
  asio::post(rpc_pool_, [this, call = std::move(call), done = std::move(done)]() mutable {
    Result result = call();
    asio::post(io_, [done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); });
  });
}

std::unique_ptr<grpc::ClientContext> Worker::NewContext(double timeout_s) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + Ms(timeout_s));
  AddBearerToken(ctx.get(), options_.token);
  return ctx;
}

void Worker::RetryLater(std::function<void()> what) {
  // Exponential backoff with jitter, so a fleet of workers does not reconnect in lock-step.
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  const double wait_ms = std::uniform_real_distribution<double>(backoff_ms_ / 2, backoff_ms_)(rng);
  backoff_ms_ = std::min(backoff_ms_ * 2, 5000.0);
  auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(static_cast<int64_t>(wait_ms)));
  timer->async_wait([timer, what = std::move(what), this](const boost::system::error_code& ec) {
    if (!ec && !stopping_) what();
  });
}

int64_t Worker::MemoryLimitFor(const v1::JobSpec& job) const {
  return job.measurement().memory_limit_bytes() > 0 ? job.measurement().memory_limit_bytes()
                                                    : options_.memory_limit_bytes;
}

std::vector<std::string> Worker::ChildEnvironment(int threads, int64_t memory_limit) const {
  // The runner gets a scrubbed environment: nothing the worker holds (tokens, proxies) leaks into it.
  std::vector<std::string> env = {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8",
                                  "OMP_NUM_THREADS=" + std::to_string(threads),
                                  "TSCALE_WORKER_PID=" + std::to_string(getpid())};
  if (memory_limit > 0) env.push_back("TSCALE_MEMORY_LIMIT_BYTES=" + std::to_string(memory_limit));
  // The runner caches host measurements (its matmul peak probe) here, so only the first job pays for them.
  env.push_back("TSCALE_CACHE_DIR=" + (fs::path(options_.state_dir) / "cache").string());
  if (options_.peak_flops > 0) env.push_back("TSCALE_PEAK_FLOPS=" + std::to_string(options_.peak_flops));
  for (const char* keep : {"HOME", "LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH", "TMPDIR"}) {
    if (const char* value = std::getenv(keep)) env.push_back(std::string(keep) + "=" + value);
  }
  return env;
}

int Worker::Run() {
  // Host measurements the runner cached (its matmul peak) hold for one worker run: the host's speed changes.
  std::error_code cleared;
  fs::remove_all(fs::path(options_.state_dir) / "cache", cleared);
  if (Status opened = outbox_.Open(); !opened.ok()) {
    spdlog::error("{}", opened.ToString());
    return 1;
  }
  auto cgroup = CgroupV2::Detect();
  if (cgroup.ok()) {
    cgroup_ = *cgroup;
    spdlog::info("memory limits: cgroup v2 (memory.max) under {}", cgroup_->root());
  } else {
    spdlog::info("memory limits: RSS watchdog over each job's process group ({})", cgroup.status().message());
  }
  signals_.async_wait([this](const boost::system::error_code& ec, int signal_number) {
    if (!ec) OnSignal(signal_number);
  });
  asio::post(io_, [this] { DeliverOutboxThenRegister(); });
  ArmIdleTimer();
  io_.run();
  return exit_code_;
}

void Worker::OnSignal(int signal_number) {
  if (signal_number == SIGCHLD) {
    ReapChildren();
  } else {
    spdlog::info("signal {}: draining (no new jobs; {} running)", signal_number, running_.size());
    BeginDrain();
  }
  if (!stopping_)
    signals_.async_wait([this](const boost::system::error_code& ec, int next) {
      if (!ec) OnSignal(next);
    });
}

void Worker::ReapChildren() {
  // Peek, then reap: a runner's process group is killed while the exited runner is still a zombie (see
  // JobExecution::ReapExited), never after its pid, which is also the group id, could have been reused.
  pid_t pid;
  while ((pid = PeekExitedChild()) > 0) {
    std::shared_ptr<JobExecution> owner;
    for (auto& [id, attempt] : running_)
      if (attempt->execution && attempt->execution->pid() == pid && !attempt->execution->reaped())
        owner = attempt->execution;
    if (owner) {
      owner->ReapExited();
      if (!owner->reaped()) break;  // cannot happen after a peek; never spin on it
      continue;
    }
    // Not a runner of a live attempt: reap it all the same, or it would be peeked again forever.
    int status = 0;
    struct rusage usage {};
    if (!ReapChild(pid, /*wait=*/false, &status, &usage)) break;
  }
}

void Worker::DeliverOutboxThenRegister() {
  // Results of a previous run go first: registering starts a new session, which ends that run's leases.
  int skipped = 0;
  const size_t pending = outbox_.Pending(&skipped).size();
  if (skipped > 0) spdlog::warn("outbox: {} unreadable result files skipped", skipped);
  if (pending == 0) return Register();
  spdlog::info("outbox: {} results from a previous run to deliver", pending);
  DeliverPending([this] { Register(); });
}

void Worker::Register() {
  v1::RegisterWorkerRequest request;
  request.set_worker_id(options_.worker_id);
  *request.mutable_capabilities() = capabilities_;
  request.set_instance_id(InstanceId(options_.state_dir));
  Rpc<Reply<v1::RegisterWorkerResponse>>(
      [this, request] {
        Reply<v1::RegisterWorkerResponse> reply;
        reply.status = stub_->RegisterWorker(NewContext(options_.rpc_timeout_s).get(), request, &reply.response);
        return reply;
      },
      [this](Reply<v1::RegisterWorkerResponse> reply) {
        if (stopping_) return;
        if (!reply.status.ok()) {
          if (reply.status.error_code() == grpc::StatusCode::ALREADY_EXISTS) {
            // Retrying would only fight the other daemon for the id (each registration ends the other's jobs).
            spdlog::error("worker id {} is already in use by another live worker: {}; exiting with code {}",
                          options_.worker_id, reply.status.error_message(), cli::kExitWorkerIdInUse);
            exit_code_ = cli::kExitWorkerIdInUse;
            draining_ = true;
            return MaybeStop();
          }
          if (IsDefinitive(reply.status.error_code())) {
            spdlog::error("coordinator refused registration: {}", reply.status.error_message());
            exit_code_ = 1;
            draining_ = true;
            return MaybeStop();
          }
          spdlog::warn("cannot register with {}: {}; retrying", options_.server_address, reply.status.error_message());
          return RetryLater([this] { Register(); });
        }
        backoff_ms_ = 200;
        registered_ = ever_registered_ = true;
        heartbeat_interval_s_ = reply.response.heartbeat_interval_s() > 0 ? reply.response.heartbeat_interval_s() : 5;
        spdlog::info("registered with {} as {} session {} ({} slots, heartbeat every {} s)", options_.server_address,
                     options_.worker_id, reply.response.session(), options_.slots, heartbeat_interval_s_);
        Heartbeat();
        FillSlots();
      });
}

void Worker::FillSlots() {
  if (!registered_ || draining_ || idle_done_ || stopping_ || claims_paused_) return MaybeStop();
  while (static_cast<int>(running_.size()) + claims_in_flight_ < options_.slots &&
         (options_.max_jobs == 0 || started_jobs_ + claims_in_flight_ < options_.max_jobs))
    Claim();
  MaybeStop();
}

void Worker::Claim() {
  ++claims_in_flight_;
  v1::ClaimJobRequest request;
  request.set_worker_id(options_.worker_id);
  request.set_wait_s(options_.claim_wait_s);
  Rpc<Reply<v1::ClaimJobResponse>>(
      [this, request] {
        Reply<v1::ClaimJobResponse> reply;
        reply.status =
            stub_->ClaimJob(NewContext(options_.claim_wait_s + options_.rpc_timeout_s).get(), request, &reply.response);
        return reply;
      },
      [this](Reply<v1::ClaimJobResponse> reply) {
        --claims_in_flight_;
        if (!reply.status.ok()) {
          if (reply.status.error_code() == grpc::StatusCode::NOT_FOUND) {
            spdlog::warn("the coordinator does not know this worker (a new database?): registering again");
            registered_ = false;
            return Register();
          }
          spdlog::warn("claim failed: {}; retrying", reply.status.error_message());
          last_claim_failed_ = true;
          return RetryLater([this] { FillSlots(); });
        }
        backoff_ms_ = 200;
        last_claim_failed_ = false;
        if (reply.response.has_job()) {
          if (draining_ || idle_done_ || stopping_) {
            // Claimed as the worker stopped: given back at once, without counting an attempt.
            Release(reply.response.lease().attempt_id(), "the worker is draining");
          } else {
            StartAttempt(reply.response.lease());
          }
        }
        FillSlots();
      });
}

void Worker::StartAttempt(const v1::Lease& lease) {
  const int64_t attempt_id = lease.attempt_id();
  idle_timer_.cancel();  // a job was claimed: not idle (re-armed once nothing runs)
  auto attempt = std::make_shared<Attempt>(rpc_pool_);
  attempt->lease = lease;
  attempt->job = lease.job();
  attempt->started_ms = NowUnixMs();
  // The runner reports the threads it actually used in its result's environment, so a clamped job says so.
  const ThreadChoice choice =
      ChooseThreads(attempt->job.measurement().threads(), options_.threads, capabilities_.cpu_cores(), options_.slots);
  const int threads = choice.threads;
  if (choice.clamped)
    spdlog::warn("attempt {}: {} threads asked for, {} given: {} cores shared by {} slots", attempt_id,
                 choice.requested, threads, capabilities_.cpu_cores(), options_.slots);
  attempt->job.mutable_measurement()->set_threads(threads);
  attempt->job.set_device_kind(capabilities_.device_kind());
  const int64_t memory_limit = MemoryLimitFor(attempt->job);
  ++started_jobs_;
  spdlog::info("attempt {}: job {} {} seq_len={} batch={} threads={} memory limit {}", attempt_id,
               attempt->job.job_id(), attempt->job.model_id(), attempt->job.seq_len(), attempt->job.batch_size(),
               threads, memory_limit > 0 ? std::to_string(memory_limit >> 20) + " MiB" : "none");

  attempt->dir = fs::path(options_.state_dir) / "attempts" / ("attempt-" + std::to_string(attempt_id));
  std::error_code ec;
  fs::create_directories(attempt->dir, ec);
  std::string job_json;
  google::protobuf::util::MessageToJsonString(attempt->job, &job_json);
  // A job file the worker cannot write (a full or read-only disk) is the host's failure, not the job's: the
  // runner would reject the missing file and the job be stored `error` for good.
  const Status job_written = ec ? Status::Unavailable("cannot create " + attempt->dir.string() + ": " + ec.message())
                                : WriteFileAtomically((attempt->dir / "job.json").string(), job_json, 0600);
  if (!job_written.ok()) {
    fs::remove_all(attempt->dir, ec);
    return AbandonAttempt(attempt_id, "job file: " + job_written.message());
  }

  ExecutionOptions exec;
  exec.spec.program = options_.runner_path;
  exec.spec.args = {"--job", (attempt->dir / "job.json").string(), "--result", (attempt->dir / "result.json").string()};
  exec.spec.env = ChildEnvironment(threads, memory_limit);
  exec.spec.deadline = Ms(attempt->job.measurement().timeout_s());
  exec.memory_limit_bytes = memory_limit;
  std::optional<std::string> exec_cgroup;  // removed here if the runner cannot be started
  if (cgroup_ && memory_limit > 0) {
    auto group = cgroup_->CreateJobGroup(std::to_string(attempt_id), memory_limit);
    if (group.ok()) {
      exec.cgroup = *group;
      exec_cgroup = *group;
    } else {
      spdlog::warn("{}; falling back to the RSS watchdog", group.status().message());
    }
  }

  // Progress lines become MetricEvents on one client stream per attempt (opened below, once the runner is
  // up). Progress is best effort: if the stream breaks (coordinator away, attempt refused) the job goes on
  // and heartbeats decide its fate.
  std::weak_ptr<Attempt> weak = attempt;
  exec.spec.on_stdout_line = [weak, attempt_id](const std::string& line) {
    auto a = weak.lock();
    std::optional<v1::MetricEvent> event = ParseProgressLine(line);
    if (!a || !event) return;
    event->set_attempt_id(attempt_id);
    event->set_unix_ms(NowUnixMs());
    asio::post(a->strand, [a, event = *event] {
      if (a->metrics_open) a->metrics_open = a->metrics->Write(event);
    });
  };

  auto execution = JobExecution::Start(
      io_, std::move(exec), [this, attempt_id](ChildExit exit) { OnAttemptDone(attempt_id, std::move(exit)); });
  if (!execution.ok()) {
    // Not the job's failure: no result is reported for it (the classifier never sees it).
    fs::remove_all(attempt->dir, ec);
    if (exec_cgroup) CgroupV2::Remove(*exec_cgroup);
    return AbandonAttempt(attempt_id, execution.status().message());
  }
  attempt->execution = *execution;
  running_[attempt_id] = attempt;
  // Posted before any progress line can be (those come from later reads on the loop), so it runs first.
  asio::post(attempt->strand, [this, attempt] {
    attempt->metrics_ctx = NewContext(attempt->job.measurement().timeout_s() + 60);
    attempt->metrics_ctx->AddMetadata("tscale-worker-id", options_.worker_id);
    attempt->metrics = stub_->ReportMetrics(attempt->metrics_ctx.get(), &attempt->metrics_response);
    attempt->metrics_open = true;
  });
}

void Worker::AbandonAttempt(int64_t attempt_id, const std::string& why) {
  // SPEC section 1: a runner the worker cannot start (or contain) is an infrastructure failure, which counts
  // towards `lost`; it is never reported as the job's outcome. Releasing the lease would not count: the
  // coordinator takes a released lease as given back, not failed, and would hand the job out again forever.
  // So the lease is left to expire (it is no longer heartbeated): the coordinator then requeues the job with
  // the attempt counted, and ends it `lost` past its attempt cap.
  //
  // Claims pause for a while, longer after each such failure in a row, so that a worker whose runner cannot
  // start does not take, and fail, every queued job before a healthy worker gets to them.
  --started_jobs_;  // --max-jobs counts jobs that ran
  ++setup_failures_;
  const double pause_s = std::min(60.0, 2.0 * setup_failures_);
  spdlog::error(
      "attempt {}: {}; an infrastructure failure: the lease is left to expire (it counts towards the job's "
      "attempt cap) and claims pause for {} s",
      attempt_id, why, pause_s);
  claims_paused_ = true;
  ArmIdleTimer();
  setup_backoff_timer_.expires_after(Ms(pause_s));
  setup_backoff_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    claims_paused_ = false;
    FillSlots();
  });
}

void Worker::OnAttemptDone(int64_t attempt_id, ChildExit exit) {
  auto it = running_.find(attempt_id);
  if (it == running_.end()) return;
  std::shared_ptr<Attempt> attempt = it->second;
  running_.erase(it);
  ArmIdleTimer();
  asio::post(attempt->strand, [attempt] {
    if (!attempt->metrics) return;
    attempt->metrics->WritesDone();
    grpc::Status closed = attempt->metrics->Finish();
    if (!closed.ok()) spdlog::debug("progress stream ended: {}", closed.error_message());
  });

  const std::optional<std::string> result_json = ReadResultFile(attempt->dir / "result.json");
  std::error_code ec;
  fs::remove_all(attempt->dir, ec);

  if (exit.killed_by_us == KillReason::kRevoked) {
    spdlog::warn("attempt {}: runner killed, the coordinator revoked the lease", attempt_id);
  } else if (exit.killed_by_us == KillReason::kDrain) {
    spdlog::warn("attempt {}: runner killed at the drain deadline; releasing the lease", attempt_id);
    Release(attempt_id, "the worker's drain deadline passed");
  } else if (exit.killed_by_us == KillReason::kSetupFailed) {
    AbandonAttempt(attempt_id, "runner killed: " + exit.kill_detail);
  } else {
    setup_failures_ = 0;
    v1::Result result = ClassifyChildExit(exit, result_json, attempt->job.measurement().timeout_s());
    result.set_started_unix_ms(attempt->started_ms);
    result.set_finished_unix_ms(NowUnixMs());
    if (attempt->execution && result.memory().peak_rss_bytes() == 0)
      result.mutable_memory()->set_peak_rss_bytes(attempt->execution->peak_group_rss_bytes());
    // The wall finder's prediction needs the memory the job was allowed, which only the worker knows.
    result.mutable_memory()->set_limit_bytes(MemoryLimitFor(attempt->job));
    ApplyMemoryBudget(MemoryLimitFor(attempt->job), &result);
    spdlog::info("attempt {}: {} {}", attempt_id, OutcomeName(result.outcome()), result.message());
    if (Status stored = outbox_.Put(attempt_id, result); stored.code() == Status::Code::kDataLoss)
      spdlog::warn("outbox: {}: delivering it now; a power loss before then would lose it", stored.ToString());
    else if (!stored.ok())
      spdlog::error("outbox: {}: the result is lost; its lease will expire and the job run again", stored.ToString());
    DeliverPending();
  }
  FillSlots();
}

void Worker::DeliverPending(std::function<void()> then) {
  if (!delivery_.Request()) {  // a round is running: another follows it (see DeliveryRounds)
    if (then) then();
    return;
  }
  Rpc<int>(
      [this] {
        // Oldest first; stop at the first transient failure and retry the rest later.
        int remaining = 0;
        for (const auto& [attempt_id, result] : outbox_.Pending()) {
          if (remaining > 0) {
            ++remaining;
            continue;
          }
          v1::CompleteJobRequest request;
          request.set_worker_id(options_.worker_id);
          request.set_attempt_id(attempt_id);
          *request.mutable_result() = result;
          v1::CompleteJobResponse response;
          grpc::Status status = stub_->CompleteJob(NewContext(options_.rpc_timeout_s).get(), request, &response);
          if (status.ok()) {
            if (response.duplicate()) spdlog::info("attempt {}: the coordinator already had this result", attempt_id);
            outbox_.Remove(attempt_id);
          } else if (IsDefinitive(status.error_code())) {
            spdlog::warn("attempt {}: result refused: {}", attempt_id, status.error_message());
            outbox_.Remove(attempt_id);
          } else {
            spdlog::warn("attempt {}: cannot deliver the result yet: {}", attempt_id, status.error_message());
            remaining = 1;
          }
        }
        return remaining;
      },
      [this, then = std::move(then)](int remaining) {
        const bool asked_again = delivery_.Finish();
        if (then) then();  // at start-up: register whether or not the coordinator took everything
        if (remaining > 0) {
          if (draining_ && running_.empty()) {
            spdlog::warn("outbox: {} results left for the next run", remaining);
            return MaybeStop();
          }
          return RetryLater([this] { DeliverPending(); });  // that round reads the outbox afresh too
        }
        if (asked_again) return DeliverPending();  // results stored while this round ran
        MaybeStop();
      });
}

void Worker::Heartbeat() {
  if (stopping_) return;
  heartbeat_timer_.expires_after(Ms(heartbeat_interval_s_));
  heartbeat_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    Heartbeat();
  });
  if (running_.empty()) return;
  v1::HeartbeatRequest request;
  request.set_worker_id(options_.worker_id);
  for (const auto& [id, attempt] : running_) request.add_attempt_ids(id);
  Rpc<Reply<v1::HeartbeatResponse>>(
      [this, request] {
        Reply<v1::HeartbeatResponse> reply;
        reply.status = stub_->Heartbeat(NewContext(std::min(options_.rpc_timeout_s, heartbeat_interval_s_)).get(),
                                        request, &reply.response);
        return reply;
      },
      [this](Reply<v1::HeartbeatResponse> reply) {
        if (!reply.status.ok()) {
          // The coordinator being away is no reason to kill a measurement; the lease may still be live.
          spdlog::warn("heartbeat failed: {}", reply.status.error_message());
          return;
        }
        for (int64_t revoked : reply.response.revoked_attempt_ids()) {
          auto it = running_.find(revoked);
          if (it != running_.end() && it->second->execution) {
            spdlog::warn("attempt {} revoked by the coordinator: killing its runner", revoked);
            it->second->execution->Kill(KillReason::kRevoked, "");
          }
        }
      });
}

void Worker::Release(int64_t attempt_id, const std::string& reason) {
  v1::ReleaseLeaseRequest request;
  request.set_worker_id(options_.worker_id);
  request.set_attempt_id(attempt_id);
  request.set_reason(reason);
  ++releases_in_flight_;  // keeps the loop alive until the coordinator has the lease back
  Rpc<grpc::Status>(
      [this, request] {
        v1::ReleaseLeaseResponse response;
        return stub_->ReleaseLease(NewContext(options_.rpc_timeout_s).get(), request, &response);
      },
      [this, attempt_id](grpc::Status status) {
        --releases_in_flight_;
        if (status.ok())
          spdlog::info("attempt {}: lease released", attempt_id);
        else
          spdlog::warn("attempt {}: release failed ({}); the lease will expire", attempt_id, status.error_message());
        MaybeStop();
      });
}

void Worker::BeginDrain() {
  if (draining_) return MaybeStop();
  draining_ = true;
  if (!running_.empty()) {
    drain_timer_.expires_after(Ms(options_.drain_timeout_s));
    drain_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      for (auto& [id, attempt] : running_)
        if (attempt->execution) attempt->execution->Kill(KillReason::kDrain, "");
    });
  }
  MaybeStop();
}

void Worker::ArmIdleTimer() {
  if (options_.idle_exit_s <= 0 || stopping_ || draining_ || idle_done_ || !running_.empty()) return;
  // A countdown that already expired has its handler queued, and cancel() cannot stop it: the generation
  // tells that stale handler it no longer counts.
  const uint64_t generation = ++idle_generation_;
  idle_timer_.expires_after(Ms(options_.idle_exit_s));  // restarts a countdown already running
  idle_timer_.async_wait([this, generation](const boost::system::error_code& ec) {
    if (ec || generation != idle_generation_ || stopping_ || draining_ || idle_done_ || !running_.empty()) return;
    if (!ever_registered_ || last_claim_failed_) {
      // Exit 0 would read as "nothing to do" to whoever launched the worker (a batch array): a coordinator that
      // could not be reached for the whole idle window is a failure.
      spdlog::error("{} {} for {} s (--idle-exit-s): stopping",
                    ever_registered_ ? "cannot reach" : "not registered with", options_.server_address,
                    options_.idle_exit_s);
      exit_code_ = cli::kExitFailure;
    } else {
      spdlog::info("no job for {} s (--idle-exit-s): stopping", options_.idle_exit_s);
    }
    idle_done_ = true;
    // Stop as a drain does: one delivery round for the outbox, and what the coordinator does not take stays in
    // it for the next run, rather than retrying for ever against a coordinator that may be gone.
    draining_ = true;
    MaybeStop();
  });
}

void Worker::MaybeStop() {
  const bool done_with_jobs = draining_ || idle_done_ || (options_.max_jobs > 0 && started_jobs_ >= options_.max_jobs);
  if (stopping_ || !done_with_jobs || !running_.empty() || claims_in_flight_ > 0 || releases_in_flight_ > 0 ||
      delivery_.running())
    return;
  if (!draining_ && !outbox_.Pending().empty()) return;  // max_jobs reached or idle: deliver first
  stopping_ = true;
  spdlog::info("worker {} stopping after {} jobs", options_.worker_id, started_jobs_);
  boost::system::error_code ignored;
  signals_.cancel(ignored);
  heartbeat_timer_.cancel();
  drain_timer_.cancel();
  setup_backoff_timer_.cancel();
  idle_timer_.cancel();
  io_.stop();
}

}  // namespace tscale
