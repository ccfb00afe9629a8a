// tscale-client: submit sweeps to a tscale-server, follow them, and read their results and reports.
// Each subcommand lives in its own file (commands.h); exit codes are in common/cli_flags.h and the README.
#include <CLI/CLI.hpp>

#include "client/commands.h"
#include "common/cli_flags.h"

int main(int argc, char** argv) {
  using namespace tscale::client;
  CLI::App app{"tscale-client: submit transformer scaling sweeps and read their results"};
  app.require_subcommand(1);
  // The connection flags may come after the subcommand too (`tscale-client status --server H`): a subcommand
  // hands the flags it does not know to this parent.
  app.fallthrough();
  Connection conn;
  tscale::cli::AddServerFlags(app, &conn.server, "TSCALE_TOKEN_FILE", "TSCALE_TOKEN");
  app.add_option("--timeout-s", conn.timeout_s, "deadline of each call to the server, seconds")
      ->capture_default_str()
      ->check(tscale::cli::PositiveSeconds(86400));
  tscale::cli::AddVersionFlag(app);

  const Command commands[] = {AddSubmitCommand(app),  AddResultsCommand(app), AddReportCommand(app),
                              AddStatusCommand(app),  AddWatchCommand(app),   AddCancelCommand(app),
                              AddWorkersCommand(app), AddModelsCommand(app),  AddFamiliesCommand(app),
                              AddCompareCommand(app)};
  if (auto code = tscale::cli::Parse(app, argc, argv)) return *code;
  for (const auto& command : commands)
    if (*command.app && !command.needs_server) return command.run(conn);
  if (tscale::Status opened = conn.Open(); !opened.ok()) return UsageError(opened);
  for (const auto& command : commands)
    if (*command.app) return command.run(conn);
  return kExitUsage;
}
