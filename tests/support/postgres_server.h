// A real, throwaway PostgreSQL server for tests: its own cluster in a temporary directory, on a free loopback
// port, gone (process and files) when the object goes away. Tests of code that speaks to PostgreSQL (the
// scale-out store backend) run against the real server rather than a fake, as the SQLite tests do against a
// real file; each test can have an empty database of its own (CreateDatabase) for the cost of one CREATE
// DATABASE rather than a cluster.
//
// Start() runs initdb into a new TempDir (superuser `tscale`, trust authentication, UTF8, locale C), then the
// postmaster itself as a child of this process, listening on 127.0.0.1 only, its unix socket inside the same
// directory, and waits until it reports itself ready. It runs postgres directly rather than through pg_ctl so
// that the postmaster stays this process's child: it is reaped here, and it is asked to shut down (SIGQUIT,
// "immediate") when the thread that started it dies, so that a crashed or killed test leaves no server behind.
// Start it from a thread that outlives it (a test's main thread, as gtest runs tests).
//
// initdb refuses to run as root, and tests run as root in CI: then initdb and the server run as the `postgres`
// user (which Debian's postgresql package creates), and the directory is handed to that user. Otherwise they
// run as the current user. The server's binaries come from /usr/lib/postgresql/15/bin (another version there
// when 15 is absent), else from `pg_config --bindir`.
//
// No libpq here: databases are created with psql, so only the code under test links libpq.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>

#include "common/status.h"
#include "support/temp_dir.h"

namespace tscale::testing {

// True when PostgreSQL server binaries (initdb, postgres) and psql are installed, preferably version 15.
// Tests that need a server GTEST_SKIP when false, saying so (see PostgresUnavailableMessage).
bool PostgresAvailable();
// Why PostgresAvailable() is false, for the skip message.
std::string PostgresUnavailableMessage();

class PostgresServer {
 public:
  // Starts a fresh cluster (see above) and creates database `database` in it ([a-z0-9_], at most 63 bytes).
  // A port another process takes between choosing and binding it is retried with a new port. On failure
  // nothing is left running or on disk, and the status names the step that failed, with the tail of that
  // step's output or of the server log.
  static StatusOr<std::unique_ptr<PostgresServer>> Start(const std::string& database = "tscale");

  // Immediate shutdown (SIGQUIT; SIGKILL if the postmaster is still there after 10 s), then the directory is
  // removed.
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // libpq URI for the database Start() created: postgresql://tscale@127.0.0.1:PORT/NAME.
  std::string uri() const { return UriFor(database_); }
  // The same for another database on this server (it need not exist).
  std::string UriFor(const std::string& database) const;
  // Creates an empty database `name` ([a-z0-9_], at most 63 bytes) and returns its URI. ALREADY_EXISTS when
  // it exists, INVALID_ARGUMENT for a name outside the alphabet, otherwise INTERNAL with psql's output.
  StatusOr<std::string> CreateDatabase(const std::string& name);
  // CreateDatabase of a name not used before on this server: `prefix` (as for names) and a counter. For tests that
  // share the server and each want an empty database.
  StatusOr<std::string> CreateFreshDatabase(const std::string& prefix);

  int port() const { return port_; }
  const std::string& database() const { return database_; }
  // The postmaster's pid (-1 once it has been stopped).
  pid_t pid() const { return pid_; }
  // The cluster's directory: data/ (the cluster), socket/ (the unix socket) and postgres.log.
  const std::filesystem::path& dir() const { return dir_.path(); }
  // The server's log so far.
  std::string Log() const;

  // SIGKILL to the postmaster, as a crash would, and reaps it: the port stops accepting connections at once,
  // and backends exit on their own as they notice the postmaster is gone. The server cannot be started again;
  // the destructor then only removes the directory.
  void Kill();

 private:
  PostgresServer() = default;
  // Stops the postmaster with `signal`, waits for it (SIGKILL after `grace_ms`) and reaps it.
  void Stop(int signal, int grace_ms);

  TempDir dir_;  // first, so that it is removed after the server is stopped
  std::string database_;
  int port_ = 0;
  int fresh_databases_ = 0;  // CreateFreshDatabase's counter
  pid_t pid_ = -1;
};

// One server for the whole test process, started on first use from the calling (test's main) thread and stopped
// at exit; null when it could not start (the reason is logged to stderr). For suites whose every case wants a
// database of its own (CreateDatabase) rather than a cluster of its own.
PostgresServer* SharedPostgresServer();

}  // namespace tscale::testing
