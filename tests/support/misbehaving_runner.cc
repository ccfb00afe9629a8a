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
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
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
  std::ifstream in(job_path);
  std::stringstream text;
  text << in.rdbuf();
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
  std::cerr << "misbehaving runner: unknown behaviour " << what << "\n";
  return 2;
}
