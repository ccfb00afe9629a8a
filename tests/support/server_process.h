// A real tscale-server process on a loopback port, for integration and end-to-end tests.
#pragma once

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/test_paths.h"
#include "support/test_process.h"

namespace tscale::testing {

class ServerProcess {
 public:
  // Starts tscale-server with the test catalogs and `extra` flags, its database at `db_path`, and waits for it
  // to serve. `port` 0 picks a free port. started() is false when it did not come up within 30 s.
  ServerProcess(const std::string& dir, const std::string& db_path, std::vector<std::string> extra, int port = 0,
                const std::string& log_name = "server.log", const std::string& binary = kServerBinary) {
    port_file_ = dir + "/port";
    std::filesystem::remove(port_file_);
    std::vector<std::string> args = {"--listen",    "127.0.0.1:" + std::to_string(port),
                                     "--port-file", port_file_,
                                     "--db",        db_path,
                                     "--max-cv",    "0",  // tiny models on busy cores: no noise verdicts
                                     "--catalog",   kCatalogDir,
                                     "--catalog",   kTestModelsDir};
    args.insert(args.end(), extra.begin(), extra.end());
    process_ = std::make_unique<TestProcess>(binary, args, dir + "/" + log_name);
    for (int i = 0; i < 300 && !std::filesystem::exists(port_file_); ++i) {
      if (process_->Poll()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::ifstream(port_file_) >> port_;
  }

  bool started() const { return port_ > 0; }
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  TestProcess& process() { return *process_; }
  std::string Log() const { return process_->Log(); }

 private:
  std::string port_file_;
  int port_ = 0;
  std::unique_ptr<TestProcess> process_;
};

}  // namespace tscale::testing
