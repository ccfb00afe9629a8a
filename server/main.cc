// tscale-server: the coordinator. Holds the queue and results (a SQLite file, or a PostgreSQL database shared
// by several coordinators), serves TscaleService to clients and WorkerService to workers over gRPC.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <thread>
#include <vector>

#include "common/catalog.h"
#include "common/cli_flags.h"
#include "common/file_io.h"
#include "common/grpc_channel.h"
#include "common/host_info.h"
#include "common/version.h"
#include "server/auth.h"
#include "server/change_signal.h"
#include "server/inflight_calls.h"
#include "server/postgres_connection.h"
#include "server/request_validation.h"
#include "server/services.h"
#include "server/store.h"
#include "server/store_copy.h"

namespace {

bool IsLoopbackAddress(const std::string& address) {
  return address.rfind("127.", 0) == 0 || address.rfind("localhost:", 0) == 0 || address.rfind("[::1]:", 0) == 0 ||
         address.rfind("unix:", 0) == 0;
}

// The database target as logged: a URI's password (postgresql://user:secret@host, or ?password=secret) is not
// written to logs.
std::string Redacted(const std::string& target) {
  if (!tscale::sql::IsPostgresqlUri(target)) return target;
  std::string out = target;
  const size_t scheme_end = out.find("://") + 3;
  const size_t at = out.find('@', scheme_end);
  const size_t colon = out.find(':', scheme_end);
  if (at != std::string::npos && colon != std::string::npos && colon < at)
    out = out.substr(0, colon + 1) + "***" + out.substr(at);
  for (size_t key = out.find("password="); key != std::string::npos; key = out.find("password=", key + 1)) {
    const size_t value = key + 9, end = out.find('&', value);
    out = out.substr(0, value) + "***" + (end == std::string::npos ? "" : out.substr(end));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tscale-server: coordinator of tscale benchmark sweeps"};
  std::string listen = "127.0.0.1:50051";
  std::string db_path = "tscale.db";
  std::vector<std::string> catalog_dirs;
  std::string port_file;
  std::string log_level = "info";
  double lease_s = 30, heartbeat_s = 5, default_max_cv = tscale::PlannerLimits().default_max_cv;
  int max_attempts = 3, quarantine_after = 2;
  bool allow_remote = false, allow_insecure_remote = false;
  std::string tls_cert, tls_key, client_token_file, worker_token_file, copy_from;
  app.add_option("--listen", listen, "address:port to serve on (port 0 picks a free port)")->capture_default_str();
  app.add_option("--db", db_path,
                 "SQLite database file (created if missing), or postgresql://user@host:port/dbname: a PostgreSQL "
                 "database several coordinators may share (password from PGPASSWORD or ~/.pgpass)")
      ->capture_default_str();
  app.add_option("--copy-from", copy_from,
                 "copy this SQLite database into the empty PostgreSQL --db, verify the row counts, and exit")
      ->check(CLI::ExistingFile);
  app.add_option("--catalog", catalog_dirs, "model catalog directory (repeatable)")
      ->default_str(TSCALE_DEFAULT_CATALOG_DIR);
  app.add_option("--port-file", port_file, "write the bound port to this file once serving");
  app.add_option("--lease-s", lease_s, "lease duration past the last heartbeat, seconds")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 86400.0));
  app.add_option("--max-cv", default_max_cv,
                 "noise threshold for sweeps that set none: a result whose latency coefficient of variation is above "
                 "it is invalid; 0 = no noise check (a sweep's own max_cv, or -1 for off, wins)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, tscale::kMaxMaxCv));
  app.add_option("--heartbeat-s", heartbeat_s, "heartbeat interval asked of workers, seconds")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  app.add_option("--max-attempts", max_attempts, "leases per job before it ends lost")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  app.add_option("--quarantine-after", quarantine_after,
                 "worker restarts during one job's attempts before the job is quarantined")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  tscale::cli::AddLogLevelFlag(app, &log_level);
  app.add_flag("--allow-remote", allow_remote, "permit binding a non-loopback address (needs TLS and tokens)");
  app.add_flag("--allow-insecure-remote", allow_insecure_remote,
               "with --allow-remote: permit plaintext and no tokens off loopback (not recommended)");
  app.add_option("--tls-cert", tls_cert, "PEM certificate chain: serve TLS")->check(CLI::ExistingFile);
  app.add_option("--tls-key", tls_key, "PEM private key of --tls-cert")->check(CLI::ExistingFile);
  app.add_option("--client-token-file", client_token_file, "file holding the bearer token clients must present")
      ->envname("TSCALE_CLIENT_TOKEN_FILE")
      ->check(CLI::ExistingFile);
  app.add_option("--worker-token-file", worker_token_file, "file holding the bearer token workers must present")
      ->envname("TSCALE_WORKER_TOKEN_FILE")
      ->check(CLI::ExistingFile);
  tscale::cli::AddVersionFlag(app);
  if (auto code = tscale::cli::Parse(app, argc, argv)) return *code;

  tscale::cli::ApplyLogLevel(log_level);
  if (!copy_from.empty()) {
    if (!tscale::sql::IsPostgresqlUri(db_path)) {
      spdlog::error("--copy-from needs --db postgresql://...: it moves a SQLite database up to PostgreSQL");
      return 2;
    }
    tscale::CopyOptions copy_options;
    copy_options.lease_grace_ms = static_cast<int64_t>(lease_s * 1000);
    auto copied = tscale::CopySqliteToPostgresql(copy_from, db_path, copy_options);
    if (!copied.ok()) {
      spdlog::error("copy from {} to {}: {}", copy_from, Redacted(db_path), copied.status().ToString());
      return 1;
    }
    for (const auto& table : copied->tables) spdlog::info("copied {:>14} rows of {}", table.rows, table.name);
    spdlog::info("copied {} into {} in {:.1f} s; row counts verified", copy_from, Redacted(db_path), copied->seconds);
    return 0;
  }
  if (tls_cert.empty() != tls_key.empty()) {
    spdlog::error("--tls-cert and --tls-key go together");
    return 2;
  }
  auto client_token = tscale::LoadToken(client_token_file, "TSCALE_CLIENT_TOKEN");
  auto worker_token = tscale::LoadToken(worker_token_file, "TSCALE_WORKER_TOKEN");
  if (!client_token.ok() || !worker_token.ok()) {
    spdlog::error("token: {}", (!client_token.ok() ? client_token : worker_token).status().message());
    return 2;
  }
  if (!client_token->empty() && *client_token == *worker_token) {
    spdlog::error("the client and worker tokens must differ");
    return 2;
  }
  if (!IsLoopbackAddress(listen)) {
    if (!allow_remote) {
      spdlog::error("refusing to listen on {}: not a loopback address (pass --allow-remote to permit it)", listen);
      return 2;
    }
    const bool secured = !tls_cert.empty() && !client_token->empty() && !worker_token->empty();
    if (!secured && !allow_insecure_remote) {
      spdlog::error("refusing to listen on {} without TLS and both tokens (--allow-insecure-remote forces it)", listen);
      return 2;
    }
  }
  if (heartbeat_s >= lease_s) {
    spdlog::error("--heartbeat-s ({}) must be shorter than --lease-s ({})", heartbeat_s, lease_s);
    return 2;
  }

  // Block the shutdown signals in every thread; one thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  if (catalog_dirs.empty()) catalog_dirs.push_back(TSCALE_DEFAULT_CATALOG_DIR);
  tscale::Catalog catalog;
  for (const auto& dir : catalog_dirs) {
    tscale::Status loaded = catalog.LoadDirectory(dir);
    if (!loaded.ok()) {
      spdlog::error("model catalog: {}", loaded.ToString());
      return 1;
    }
  }

  tscale::StoreOptions options;
  options.lease_ms = static_cast<int64_t>(lease_s * 1000);
  options.max_attempts = max_attempts;
  options.quarantine_after = quarantine_after;
  // The test-only slow disk (server/slow_fsync_vfs.h) must never slow a real coordinator unnoticed.
  if (const char* delay = std::getenv("TSCALE_TEST_FSYNC_DELAY_MS"); delay && *delay)
    spdlog::warn("TSCALE_TEST_FSYNC_DELAY_MS={}: TEST ONLY, every database fsync is slowed by that many ms", delay);
  auto store = tscale::Store::Open(db_path, options, tscale::NowUnixMs());
  if (!store.ok()) {
    spdlog::error("database {}: {}", Redacted(db_path), store.status().ToString());
    return 1;
  }

  tscale::ChangeSignal work_signal, event_signal;
  tscale::Authenticator auth(*client_token, *worker_token);
  tscale::CoordinatorContext context;
  context.store = store->get();
  context.catalog = &catalog;
  context.auth = &auth;
  context.work_signal = &work_signal;
  context.event_signal = &event_signal;
  context.heartbeat_interval_s = heartbeat_s;
  context.planner.default_max_cv = default_max_cv;
  tscale::ClientService client_service(context);
  tscale::WorkerServiceImpl worker_service(context);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int bound_port = 0;
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (!tls_cert.empty()) {
    auto cert = tscale::ReadSecretFile(tls_cert);
    auto key = tscale::ReadSecretFile(tls_key);
    if (!cert.ok() || !key.ok()) {
      spdlog::error("TLS: {}", (!cert.ok() ? cert : key).status().message());
      return 2;
    }
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({*key, *cert});
    credentials = grpc::SslServerCredentials(ssl);
  }
  builder.AddListeningPort(listen, credentials, &bound_port);
  builder.RegisterService(&client_service);
  builder.RegisterService(&worker_service);
  builder.SetMaxReceiveMessageSize(16 * 1024 * 1024);
  tscale::InFlightCalls in_flight;
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(in_flight.InterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || bound_port == 0) {
    spdlog::error("cannot listen on {}", listen);
    return 1;
  }
  // Probes that name a service (Kubernetes' gRPC probes do) get an answer for each service, not only for "".
  if (grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService()) {
    health->SetServingStatus(tscale::v1::TscaleService::service_full_name(), true);
    health->SetServingStatus(tscale::v1::WorkerService::service_full_name(), true);
  }
  spdlog::info(
      "tscale-server {} listening on port {} ({}, client auth {}, worker auth {}; db {}, schema v{}, {} models)",
      tscale::kVersion, bound_port, tls_cert.empty() ? "plaintext" : "TLS",
      auth.enabled(tscale::Audience::kClient) ? "on" : "off", auth.enabled(tscale::Audience::kWorker) ? "on" : "off",
      Redacted(db_path), (*store)->schema_version(), catalog.size());
  // Whoever waits for the port file (a supervisor, a test) must never read half a number, nor wait forever
  // for a file that was never written: a failed write ends start-up.
  if (!port_file.empty()) {
    if (tscale::Status written = tscale::WriteFileAtomically(port_file, std::to_string(bound_port) + "\n");
        !written.ok()) {
      spdlog::error("--port-file: {}", written.message());
      server->Shutdown();
      return 1;
    }
  }

  // Leases of workers that vanished are requeued even when no other worker claims for a while.
  tscale::ChangeSignal reaper_stop;
  std::thread reaper([&] {
    const auto period = std::chrono::milliseconds(std::max<int64_t>(200, options.lease_ms / 4));
    while (!reaper_stop.WaitFor(reaper_stop.generation(), period) && !reaper_stop.shutting_down()) {
      auto expired = (*store)->ExpireLeases(tscale::NowUnixMs());
      if (!expired.ok()) {
        spdlog::error("lease expiry: {}", expired.status().ToString());
      } else if (*expired > 0) {
        spdlog::warn("{} leases expired: jobs requeued or ended", *expired);
        work_signal.Notify();
        event_signal.Notify();
      }
    }
  });

  // With PostgreSQL, other coordinators write the same queue: their commits' notifications wake this one's
  // claims and watch streams (LISTEN/NOTIFY; while the listener is disconnected it wakes them every second).
  std::unique_ptr<tscale::sql::ChangeListener> listener;
  std::thread listener_thread;
  if (tscale::sql::IsPostgresqlUri(db_path)) {
    listener = std::make_unique<tscale::sql::ChangeListener>(db_path, [&](unsigned changes) {
      if (changes & tscale::sql::kWorkQueued) work_signal.Notify();
      if (changes & tscale::sql::kEventsAppended) event_signal.Notify();
    });
    listener_thread = std::thread([&] { listener->Run(); });
  }

  std::thread signal_waiter([&] {
    int signal_number = 0;
    sigwait(&signals, &signal_number);
    spdlog::info("signal {} received: shutting down", signal_number);
    // Waiting calls return first (claims answer "no job", watches UNAVAILABLE with their cursor), then
    // whatever is still running gets a deadline. Shutdown ends as soon as those calls are done: it does not
    // wait for clients to acknowledge the GOAWAY (see server/inflight_calls.h).
    work_signal.Shutdown();
    event_signal.Shutdown();
    reaper_stop.Shutdown();
    if (listener) listener->Stop();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    if (!tscale::ServerShutdown::Run(*server, in_flight, deadline))
      spdlog::warn("calls still running at the shutdown deadline (5 s) were cancelled");
  });
  server->Wait();
  signal_waiter.join();
  reaper.join();
  if (listener_thread.joinable()) listener_thread.join();
  spdlog::info("tscale-server stopped");
  return 0;
}
