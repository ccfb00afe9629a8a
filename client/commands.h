// tscale-client's subcommands. Each Add*Command registers a subcommand and its flags on `app` and returns the
// function that runs it once the command line is parsed; that function returns the process exit code
// (connection.h). main() only wires them together.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

#include "client/connection.h"

namespace tscale::client {

struct Command {
  CLI::App* app = nullptr;  // parsed when *app is true
  std::function<int(Connection&)> run;
  bool needs_server = true;  // false: runs before (and without) opening the connection
};

Command AddSubmitCommand(CLI::App& app);    // submit_command.cc
Command AddResultsCommand(CLI::App& app);   // results_commands.cc
Command AddReportCommand(CLI::App& app);    // results_commands.cc
Command AddStatusCommand(CLI::App& app);    // sweep_commands.cc
Command AddWatchCommand(CLI::App& app);     // sweep_commands.cc
Command AddCancelCommand(CLI::App& app);    // sweep_commands.cc
Command AddWorkersCommand(CLI::App& app);   // cluster_commands.cc
Command AddModelsCommand(CLI::App& app);    // cluster_commands.cc
Command AddFamiliesCommand(CLI::App& app);  // families_command.cc
Command AddCompareCommand(CLI::App& app);   // compare_command.cc

// The results table of the jobs matching `request` (every page), and the walls of any wall-finder probes.
int PrintResultsTable(Connection& conn, const v1::ListResultsRequest& request);

// "sweep 3: 10/12 finished, 1 running, 1 queued [ok=9, oom=1]; waiting: ..." (submit --wait and status).
std::string SweepStatusLine(const v1::SweepStatus& status);

}  // namespace tscale::client
