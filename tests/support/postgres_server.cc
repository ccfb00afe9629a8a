#include "support/postgres_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

extern char** environ;

namespace tscale::testing {
namespace {

constexpr const char* kSuperuser = "tscale";
constexpr const char* kDebianRoot = "/usr/lib/postgresql";
constexpr int kStartAttempts = 3;  // a new port each time, when the last one was taken before the server bound it
constexpr auto kReadyTimeout = std::chrono::seconds(60);

bool IsExecutable(const std::string& path) {
  return ::access(path.c_str(), X_OK) == 0;
}

// The last `lines` lines of `text`.
std::string Tail(const std::string& text, int lines = 30) {
  size_t start = text.size();
  if (start > 0 && text[start - 1] == '\n') --start;
  for (int seen = 0; start > 0; --start)
    if (text[start - 1] == '\n' && ++seen == lines) break;
  return text.substr(start);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool ValidName(const std::string& name) {
  return !name.empty() && name.size() <= 63 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// Where the server's binaries are, or why there are none.
struct Installation {
  std::string bin_dir;  // initdb and postgres
  std::string psql;
  std::string missing;  // empty when usable
};

std::string PgConfigBinDir() {
  FILE* pipe = ::popen("pg_config --bindir 2>/dev/null", "r");
  if (pipe == nullptr) return "";
  std::string out;
  char buf[512];
  while (size_t n = std::fread(buf, 1, sizeof(buf), pipe)) out.append(buf, n);
  ::pclose(pipe);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

Installation FindInstallation() {
  Installation found;
  auto usable = [](const std::string& dir) { return IsExecutable(dir + "/initdb") && IsExecutable(dir + "/postgres"); };
  std::vector<std::string> candidates = {std::string(kDebianRoot) + "/15/bin"};
  // Other Debian versions, newest first.
  std::vector<std::pair<int, std::string>> versions;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(kDebianRoot, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos)
      versions.emplace_back(std::stoi(name), entry.path().string() + "/bin");
  }
  std::sort(versions.rbegin(), versions.rend());
  for (const auto& [version, dir] : versions) candidates.push_back(dir);
  if (std::string dir = PgConfigBinDir(); !dir.empty()) candidates.push_back(dir);
  for (const auto& dir : candidates)
    if (usable(dir)) {
      found.bin_dir = dir;
      break;
    }
  if (found.bin_dir.empty()) {
    found.missing = "PostgreSQL server binaries not found (no initdb and postgres in " + std::string(kDebianRoot) +
                    "/15/bin, another version there, or `pg_config --bindir`); install postgresql "
                    "(scripts/install-deps.sh)";
    return found;
  }
  for (const std::string& psql : {found.bin_dir + "/psql", std::string("/usr/bin/psql")})
    if (IsExecutable(psql)) {
      found.psql = psql;
      break;
    }
  if (found.psql.empty()) found.missing = "psql not found in " + found.bin_dir + " or /usr/bin";
  if (::geteuid() == 0 && ::getpwnam("postgres") == nullptr)
    found.missing =
        "running as root, and there is no `postgres` user to run initdb and the server as "
        "(initdb refuses root; Debian's postgresql package creates the user)";
  return found;
}

const Installation& Installed() {
  static const Installation* installation = new Installation(FindInstallation());
  return *installation;
}

// Whom initdb and the server run as: this process's user, or `postgres` when that is root.
struct RunAs {
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  std::string home;
};

StatusOr<RunAs> ServerUser() {
  RunAs as;
  if (::geteuid() != 0) return as;
  const passwd* pw = ::getpwnam("postgres");
  if (pw == nullptr) return Status::FailedPrecondition("running as root and there is no `postgres` user");
  as.switch_user = true;
  as.uid = pw->pw_uid;
  as.gid = pw->pw_gid;
  as.home = pw->pw_dir;
  int n = 64;
  as.groups.resize(n);
  if (::getgrouplist("postgres", as.gid, as.groups.data(), &n) < 0) {
    as.groups.resize(n);
    ::getgrouplist("postgres", as.gid, as.groups.data(), &n);
  }
  as.groups.resize(n);
  return as;
}

// The children's environment: this one without libpq's and the locale's variables, which could point psql
// elsewhere or translate the server's messages, plus LC_ALL=C.
std::vector<std::string> ChildEnvironment(const RunAs& as) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string var = *e;
    if (var.rfind("PG", 0) == 0 || var.rfind("LC_", 0) == 0 || var.rfind("LANG", 0) == 0) continue;
    if (as.switch_user && var.rfind("HOME=", 0) == 0) continue;
    env.push_back(var);
  }
  env.push_back("LC_ALL=C");
  env.push_back("PGCONNECT_TIMEOUT=10");
  if (as.switch_user) env.push_back("HOME=" + as.home);
  return env;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (auto& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

// For the child between fork and exec: `what` and errno's number (strerror may allocate).
void WriteError(const char* what) {
  char digits[16];
  int at = sizeof(digits);
  for (int e = errno; at > 0 && (e > 0 || at == static_cast<int>(sizeof(digits))); e /= 10) digits[--at] = '0' + e % 10;
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, what, std::strlen(what));
  n = ::write(STDERR_FILENO, "errno ", 6);
  n = ::write(STDERR_FILENO, digits + at, sizeof(digits) - at);
  n = ::write(STDERR_FILENO, "\n", 1);
}

// Forks and execs argv[0] with stdin from /dev/null and stdout and stderr to `out_fd`, as `as`, every other
// descriptor closed. `die_with_parent`: SIGQUIT (postgres: immediate shutdown) when the forking thread dies.
// Between fork and exec only async-signal-safe calls: everything is prepared here.
StatusOr<pid_t> Spawn(std::vector<std::string> args, const RunAs& as, int out_fd, bool die_with_parent) {
  std::vector<std::string> env = ChildEnvironment(as);
  std::vector<char*> argv = Pointers(args), envp = Pointers(env);
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) return Status::Internal(std::string("open /dev/null: ") + std::strerror(errno));
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(null_fd);
    return Status::Internal(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    // Exec keeps ignored signals ignored and the mask as it is (gRPC ignores SIGPIPE; a test may block signals).
    for (int sig = 1; sig < NSIG; ++sig) ::signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (::dup2(null_fd, STDIN_FILENO) < 0 || ::dup2(out_fd, STDOUT_FILENO) < 0 || ::dup2(out_fd, STDERR_FILENO) < 0)
      ::_exit(127);
    if (as.switch_user) {
      if (::setgroups(as.groups.size(), as.groups.data()) != 0 || ::setgid(as.gid) != 0 || ::setuid(as.uid) != 0) {
        WriteError("postgres_server: switching to the postgres user: ");
        ::_exit(127);
      }
    }
    // After the switch: a change of credentials clears the parent-death signal.
    if (die_with_parent) {
      ::prctl(PR_SET_PDEATHSIG, SIGQUIT);
      if (::getppid() != parent) ::_exit(127);  // the parent is already gone
    }
#ifdef SYS_close_range
    if (::syscall(SYS_close_range, 3U, ~0U, 0U) != 0)
#endif
      for (int fd = 3; fd < 65536; ++fd) ::close(fd);
    ::execve(argv[0], argv.data(), envp.data());
    WriteError("postgres_server: exec: ");
    ::_exit(127);
  }
  ::close(null_fd);
  return pid;
}

// waitpid without EINTR; false while `pid` runs (when !block).
bool Reap(pid_t pid, bool block, int* status) {
  while (true) {
    const pid_t r = ::waitpid(pid, status, block ? 0 : WNOHANG);
    if (r == pid) return true;
    if (r == 0) return false;
    if (errno == EINTR) continue;
    *status = -1;  // not our child any more (SIGCHLD ignored?): treat as gone
    return true;
  }
}

std::string DescribeExit(int status) {
  if (status == -1) return "vanished";
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by ") + ::strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

struct CommandResult {
  int status = -1;
  bool timed_out = false;
  std::string output;  // stdout and stderr
  bool ok() const { return !timed_out && status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0; }
  std::string Describe() const { return timed_out ? "timed out" : DescribeExit(status); }
};

// Runs a command to completion (SIGKILL after `timeout`), its output collected.
StatusOr<CommandResult> RunCommand(const std::vector<std::string>& args, const RunAs& as,
                                   std::chrono::seconds timeout) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Status::Internal(std::string("pipe: ") + std::strerror(errno));
  auto pid = Spawn(args, as, fds[1], /*die_with_parent=*/false);
  ::close(fds[1]);
  if (!pid.ok()) {
    ::close(fds[0]);
    return pid.status();
  }
  CommandResult result;
  const auto give_up = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(give_up - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      result.timed_out = true;
      ::kill(*pid, SIGKILL);
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1000)));
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(fds[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the command (and anything it started holding the pipe) is done
    result.output.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  Reap(*pid, /*block=*/true, &result.status);
  return result;
}

// A port on 127.0.0.1 nothing listens on right now (another process may take it before the server binds it).
StatusOr<int> FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Internal(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string error = std::strerror(errno);
    ::close(fd);
    return Status::Internal("choosing a free port: " + error);
  }
  ::close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

// Whether postmaster.pid says the server accepts connections (its 8th line, "ready", as pg_ctl -w reads it).
bool ReportsReady(const std::string& data_dir, pid_t pid) {
  std::ifstream in(data_dir + "/postmaster.pid");
  std::string line;
  std::vector<std::string> lines;
  while (std::getline(in, line)) lines.push_back(line);
  return lines.size() >= 8 && lines[0] == std::to_string(pid) && lines[7].rfind("ready", 0) == 0;
}

Status MakeOwnedDirectory(const std::filesystem::path& dir, const RunAs& as) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return Status::Internal("mkdir " + dir.string() + ": " + std::strerror(errno));
  if (as.switch_user && ::chown(dir.c_str(), as.uid, as.gid) != 0)
    return Status::Internal("chown " + dir.string() + " to postgres: " + std::strerror(errno));
  return Status::Ok();
}

}  // namespace

bool PostgresAvailable() {
  return Installed().missing.empty();
}

std::string PostgresUnavailableMessage() {
  return Installed().missing;
}

StatusOr<std::unique_ptr<PostgresServer>> PostgresServer::Start(const std::string& database) {
  const Installation& installed = Installed();
  if (!installed.missing.empty()) return Status::FailedPrecondition("PostgresServer: " + installed.missing);
  if (!ValidName(database))
    return Status::InvalidArgument("PostgresServer: database name '" + database + "' is not [a-z0-9_]{1,63}");
  auto as = ServerUser();
  if (!as.ok()) return as.status().Annotated("PostgresServer: ");

  std::unique_ptr<PostgresServer> server(new PostgresServer);  // from here on, failures clean up through it
  server->database_ = database;
  const std::filesystem::path& dir = server->dir_.path();
  const std::string data_dir = (dir / "data").string(), socket_dir = (dir / "socket").string();
  const std::string log_path = (dir / "postgres.log").string();
  // The TempDir itself: initdb, as the server's user, creates data/ in it.
  if (as->switch_user && ::chown(dir.c_str(), as->uid, as->gid) != 0)
    return Status::Internal("PostgresServer: chown " + dir.string() + " to postgres: " + std::strerror(errno));
  TSCALE_RETURN_IF_ERROR(MakeOwnedDirectory(socket_dir, *as).Annotated("PostgresServer: "));

  auto initdb = RunCommand({installed.bin_dir + "/initdb", "-D", data_dir, "-U", kSuperuser, "--auth=trust",
                            "--encoding=UTF8", "--locale=C", "-N"},
                           *as, std::chrono::seconds(120));
  if (!initdb.ok()) return initdb.status().Annotated("PostgresServer: initdb: ");
  if (!initdb->ok())
    return Status::Internal("PostgresServer: initdb -D " + data_dir + " failed (" + initdb->Describe() + "):\n" +
                            Tail(initdb->output));

  for (int attempt = 1;; ++attempt) {
    auto port = FreePort();
    if (!port.ok()) return port.status().Annotated("PostgresServer: ");
    const size_t log_before = server->Log().size();  // the log is appended to across attempts
    const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) return Status::Internal("PostgresServer: open " + log_path + ": " + std::strerror(errno));
    auto pid = Spawn({installed.bin_dir + "/postgres", "-D", data_dir, "-p", std::to_string(*port), "-k", socket_dir,
                      "-c", "listen_addresses=127.0.0.1", "-c", "fsync=on", "-c", "max_connections=200"},
                     *as, log_fd, /*die_with_parent=*/true);
    ::close(log_fd);
    if (!pid.ok()) return pid.status().Annotated("PostgresServer: starting postgres: ");
    server->pid_ = *pid;
    server->port_ = *port;

    const auto give_up = std::chrono::steady_clock::now() + kReadyTimeout;
    int status = 0;
    bool exited = false;
    while (!(exited = Reap(*pid, /*block=*/false, &status)) && !ReportsReady(data_dir, *pid) &&
           std::chrono::steady_clock::now() < give_up)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (exited) {
      server->pid_ = -1;
      const std::string log = server->Log().substr(log_before);
      if (attempt < kStartAttempts && log.find("Address already in use") != std::string::npos) continue;
      return Status::Internal("PostgresServer: postgres on port " + std::to_string(*port) + " exited (" +
                              DescribeExit(status) + ") before accepting connections; server log:\n" + Tail(log));
    }
    if (!ReportsReady(data_dir, *pid)) {
      server->Stop(SIGKILL, 0);
      return Status::Unavailable("PostgresServer: postgres on port " + std::to_string(*port) +
                                 " did not accept connections within " + std::to_string(kReadyTimeout.count()) +
                                 " s; server log:\n" + Tail(server->Log()));
    }
    break;
  }

  if (database != "postgres") {
    auto created = server->CreateDatabase(database);
    if (!created.ok()) return created.status();
  }
  return server;
}

PostgresServer::~PostgresServer() {
  Stop(SIGQUIT, 10000);
}

std::string PostgresServer::UriFor(const std::string& database) const {
  return std::string("postgresql://") + kSuperuser + "@127.0.0.1:" + std::to_string(port_) + "/" + database;
}

StatusOr<std::string> PostgresServer::CreateDatabase(const std::string& name) {
  if (!ValidName(name))
    return Status::InvalidArgument("PostgresServer: database name '" + name + "' is not [a-z0-9_]{1,63}");
  if (pid_ <= 0) return Status::FailedPrecondition("PostgresServer: the server is not running");
  // psql needs no privileges: it connects over TCP as the trusted superuser.
  auto psql =
      RunCommand({Installed().psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", std::to_string(port_),
                  "-U", kSuperuser, "-d", "postgres", "-c", "CREATE DATABASE \"" + name + "\""},
                 RunAs{}, std::chrono::seconds(60));
  if (!psql.ok()) return psql.status().Annotated("PostgresServer: psql: ");
  if (!psql->ok()) {
    const std::string what = "PostgresServer: CREATE DATABASE " + name + " on port " + std::to_string(port_) +
                             " failed (psql " + psql->Describe() + "):\n" + Tail(psql->output);
    if (psql->output.find("already exists") != std::string::npos) return Status::AlreadyExists(what);
    return Status::Internal(what + "\nserver log:\n" + Tail(Log(), 10));
  }
  return UriFor(name);
}

StatusOr<std::string> PostgresServer::CreateFreshDatabase(const std::string& prefix) {
  return CreateDatabase(prefix + "_" + std::to_string(++fresh_databases_));
}

std::string PostgresServer::Log() const {
  return ReadFile((dir_.path() / "postgres.log").string());
}

void PostgresServer::Kill() {
  Stop(SIGKILL, 0);
}

void PostgresServer::Stop(int signal, int grace_ms) {
  if (pid_ <= 0) return;
  int status = 0;
  ::kill(pid_, signal);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(grace_ms);
  bool gone = false;
  while (!(gone = Reap(pid_, /*block=*/false, &status)) && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (!gone) {
    ::kill(pid_, SIGKILL);
    Reap(pid_, /*block=*/true, &status);
  }
  pid_ = -1;
}

PostgresServer* SharedPostgresServer() {
  static std::unique_ptr<PostgresServer> server = [] {
    auto started = PostgresServer::Start();
    if (!started.ok()) {
      std::fprintf(stderr, "shared PostgreSQL server: %s\n", started.status().ToString().c_str());
      return std::unique_ptr<PostgresServer>();
    }
    return std::move(started).value();
  }();
  return server.get();
}

}  // namespace tscale::testing
