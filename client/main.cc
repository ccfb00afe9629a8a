// tscale-client: submit sweeps to a tscale-server, follow them, and read their results and reports.
// Each subcommand lives in its own file (commands.h); exit codes are in connection.h and the README.
#include <CLI/CLI.hpp>

#include "client/commands.h"
#include "common/version.h"

int main(int argc, char** argv) {
  using namespace tscale::client;
  CLI::App app{"tscale-client: submit transformer scaling sweeps and read their results"};
  app.require_subcommand(1);
  Connection conn;
  app.add_option("--server", conn.address, "tscale-server address")->envname("TSCALE_SERVER")->capture_default_str();
  app.add_option("--timeout-s", conn.timeout_s, "deadline of each call to the server")->capture_default_str();
  app.add_option("--tls-ca", conn.tls_ca, "PEM roots to verify the server's TLS certificate (enables TLS)")
      ->envname("TSCALE_TLS_CA")
      ->check(CLI::ExistingFile);
  app.add_option("--token-file", conn.token_file, "file holding the client bearer token (or env TSCALE_TOKEN)")
      ->envname("TSCALE_TOKEN_FILE")
      ->check(CLI::ExistingFile);
  app.set_version_flag("--version", tscale::kVersion);

  const Command commands[] = {AddSubmitCommand(app),  AddResultsCommand(app), AddReportCommand(app),
                              AddStatusCommand(app),  AddWatchCommand(app),   AddCancelCommand(app),
                              AddWorkersCommand(app), AddModelsCommand(app)};
  CLI11_PARSE(app, argc, argv);
  if (tscale::Status opened = conn.Open(); !opened.ok()) return UsageError(opened);
  for (const auto& command : commands)
    if (*command.app) return command.run(conn);
  return kExitUsage;
}
