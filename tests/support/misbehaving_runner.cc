// A stand-in for tscale-runner that misbehaves on purpose, for the worker's containment tests. It speaks the
// runner protocol (--job FILE --result FILE). For a job whose model id is "misbehave/<what>" it does <what>;
// for any other job it execs the real tscale-runner with the same arguments, so one worker can show that
// it still runs a normal job after each misbehaviour.
//
//   alloc  touch memory in 32 MiB steps until something stops it
//   segv   die on SIGSEGV          abort  die on SIGABRT
//   hang   sleep forever           exit7  print an error line and exit 7
//   flood  write 8 MiB to stderr, then exit 1
//   env    write its whole environment to stderr, then exit 9
//   fds    write every open descriptor other than 0, 1 and 2 to stderr, then their count; exit 8
//   orphan         fork a grandchild that sleeps forever, then hang (until the job's deadline)
//   orphan-exit    fork a grandchild that sleeps forever holding stdout/stderr, then exit 5 at once
// The orphan modes write the grandchild's pid to <state dir>/orphan.pid (the state directory is two levels
// above the job file: <state>/attempts/attempt-N/job.json), where the test reads it.
#include <dirent.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

// Deliberately free of tscale libraries: under the sanitizer build everything else is instrumented, and this
// stand-in must crash like an uninstrumented runner would. It only needs the model id from the job's JSON.
int main(int argc, char** argv) {
  std::string job_path;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--job") job_path = argv[i + 1];
  std::stringstream text;
  {
    std::ifstream in(job_path);  // closed at once: `fds` must see only what the worker passed down
    text << in.rdbuf();
  }
  const std::string json = text.str();
  const std::string key = "\"modelId\":\"misbehave/";
  const size_t at = json.find(key);
  if (at == std::string::npos) {
    argv[0] = const_cast<char*>(TSCALE_REAL_RUNNER);
    execv(TSCALE_REAL_RUNNER, argv);
    std::perror("execv " TSCALE_REAL_RUNNER);
    return 127;
  }
  const size_t start = at + key.size();
  const std::string what = json.substr(start, json.find('"', start) - start);
  if (what == "alloc") {
    std::vector<char*> blocks;
    while (true) {
      char* block = static_cast<char*>(std::malloc(32 << 20));
      if (!block) {
        std::cerr << "misbehaving runner: malloc failed\n";
        return 3;
      }
      std::memset(block, 1, 32 << 20);  // resident, not just reserved
      blocks.push_back(block);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  if (what == "segv") std::raise(SIGSEGV);
  if (what == "abort") std::abort();
  if (what == "hang")
    while (true) pause();
  if (what == "exit7") {
    std::cerr << "misbehaving runner: simulated failure\n";
    return 7;
  }
  if (what == "flood") {
    const std::string line(1023, 'x');
    for (int i = 0; i < 8192; ++i) std::cerr << line << "\n";
    std::cerr << "END-OF-FLOOD\n";
    return 1;
  }
  if (what == "env") {
    for (char** e = environ; *e; ++e) std::cerr << *e << "\n";
    return 9;
  }
  if (what == "fds") {
    // The worker gives the runner stdin (/dev/null) and its two output pipes, nothing else: no gRPC
    // socket, no log file, nothing inherited from whoever started the worker.
    DIR* dir = opendir("/proc/self/fd");
    if (!dir) {
      std::perror("misbehaving runner: opendir /proc/self/fd");
      return 2;
    }
    int inherited = 0;
    while (dirent* entry = readdir(dir)) {
      const std::string name = entry->d_name;
      if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
      const int fd = std::stoi(name);
      if (fd <= 2 || fd == dirfd(dir)) continue;
      char target[512] = {};
      const ssize_t n = readlink(("/proc/self/fd/" + name).c_str(), target, sizeof(target) - 1);
      std::cerr << "inherited fd " << fd << " -> " << (n > 0 ? std::string(target, n) : "?") << "\n";
      ++inherited;
    }
    closedir(dir);
    std::cerr << "fds: " << inherited << " descriptors beyond stdio\n";
    return 8;
  }
  if (what == "orphan" || what == "orphan-exit") {
    const std::string pid_file =
        (std::filesystem::path(job_path).parent_path().parent_path().parent_path() / "orphan.pid").string();
    const pid_t grandchild = fork();
    if (grandchild < 0) {
      std::perror("misbehaving runner: fork");
      return 2;
    }
    if (grandchild == 0)
      while (true) pause();
    { std::ofstream(pid_file + ".tmp") << grandchild << "\n"; }
    std::rename((pid_file + ".tmp").c_str(), pid_file.c_str());
    if (what == "orphan-exit") {
      std::cerr << "misbehaving runner: exiting, grandchild " << grandchild << " left behind\n";
      return 5;
    }
    while (true) pause();
  }
  std::cerr << "misbehaving runner: unknown behaviour " << what << "\n";
  return 2;
}
