// tscale-server: the coordinator. Holds the SQLite queue and results, serves TscaleService to clients
// and WorkerService to workers over gRPC.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <fstream>
#include <thread>

#include "common/catalog.h"
#include "common/version.h"
#include "server/services.h"
#include "server/store.h"
#include "server/work_signal.h"

namespace {

bool IsLoopbackAddress(const std::string& address) {
  return address.rfind("127.", 0) == 0 || address.rfind("localhost:", 0) == 0 || address.rfind("[::1]:", 0) == 0 ||
         address.rfind("unix:", 0) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tscale-server: coordinator of tscale benchmark sweeps"};
  std::string listen = "127.0.0.1:50051";
  std::string db_path = "tscale.db";
  std::vector<std::string> catalog_dirs;
  std::string port_file;
  std::string log_level = "info";
  double lease_s = 30, heartbeat_s = 5;
  int max_attempts = 3;
  bool allow_remote = false;
  app.add_option("--listen", listen, "address:port to serve on (port 0 picks a free port)")->capture_default_str();
  app.add_option("--db", db_path, "SQLite database file (created if missing)")->capture_default_str();
  app.add_option("--catalog", catalog_dirs, "model catalog directory (repeatable)")
      ->default_str(TSCALE_DEFAULT_CATALOG_DIR);
  app.add_option("--port-file", port_file, "write the bound port to this file once serving");
  app.add_option("--lease-s", lease_s, "lease duration past the last heartbeat, seconds")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 86400.0));
  app.add_option("--heartbeat-s", heartbeat_s, "heartbeat interval asked of workers, seconds")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  app.add_option("--max-attempts", max_attempts, "leases per job before it ends lost")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")->capture_default_str();
  app.add_flag("--allow-remote", allow_remote, "permit binding a non-loopback address");
  app.set_version_flag("--version", tscale::kVersion);
  CLI11_PARSE(app, argc, argv);

  spdlog::set_level(spdlog::level::from_str(log_level));
  if (!IsLoopbackAddress(listen) && !allow_remote) {
    spdlog::error("refusing to listen on {}: not a loopback address (pass --allow-remote to permit it)", listen);
    return 2;
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
  auto store = tscale::Store::Open(db_path, options);
  if (!store.ok()) {
    spdlog::error("database {}: {}", db_path, store.status().ToString());
    return 1;
  }

  tscale::WorkSignal work_signal;
  tscale::CoordinatorContext context;
  context.store = store->get();
  context.catalog = &catalog;
  context.work_signal = &work_signal;
  context.heartbeat_interval_s = heartbeat_s;
  tscale::ClientService client_service(context);
  tscale::WorkerServiceImpl worker_service(context);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &bound_port);
  builder.RegisterService(&client_service);
  builder.RegisterService(&worker_service);
  builder.SetMaxReceiveMessageSize(16 * 1024 * 1024);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || bound_port == 0) {
    spdlog::error("cannot listen on {}", listen);
    return 1;
  }
  spdlog::info("tscale-server {} listening on port {} (db {}, schema v{}, {} models)", tscale::kVersion, bound_port,
               db_path, (*store)->schema_version(), catalog.size());
  if (!port_file.empty()) {
    std::ofstream(port_file + ".tmp") << bound_port << "\n";
    std::rename((port_file + ".tmp").c_str(), port_file.c_str());
  }

  std::thread signal_waiter([&] {
    int signal_number = 0;
    sigwait(&signals, &signal_number);
    spdlog::info("signal {} received: shutting down", signal_number);
    work_signal.Shutdown();
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  });
  server->Wait();
  signal_waiter.join();
  spdlog::info("tscale-server stopped");
  return 0;
}
