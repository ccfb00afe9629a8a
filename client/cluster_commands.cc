// tscale-client workers and models: what the coordinator knows about its workers and its catalog.
#include <chrono>
#include <iostream>
#include <set>

#include "client/commands.h"
#include "client/table.h"
#include "common/model_config.h"
#include "common/outcome.h"

namespace tscale::client {

Command AddWorkersCommand(CLI::App& app) {
  CLI::App* c = app.add_subcommand("workers", "list the workers the coordinator knows");
  return {c, [](Connection& conn) {
            v1::ListWorkersRequest request;
            v1::ListWorkersResponse response;
            auto ctx = conn.Context();
            grpc::Status rpc = conn.stub->ListWorkers(ctx.get(), request, &response);
            if (!rpc.ok()) return conn.Fail(rpc);
            TextTable table;
            for (const char* h : {"worker", "device", "host", "cores", "ram_GiB", "labels", "running", "last_seen_s"})
              table.AddColumn(h);
            const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count();
            for (const auto& w : response.workers()) {
              const auto& caps = w.capabilities();
              std::string labels;
              for (const auto& l : caps.labels()) labels += (labels.empty() ? "" : ",") + l;
              table.AddRow({w.worker_id(), DeviceKindName(caps.device_kind()), caps.hostname(),
                            std::to_string(caps.cpu_cores()),
                            FormatFixed(static_cast<double>(caps.ram_bytes()) / (1 << 30), 1), labels,
                            std::to_string(w.running_jobs()), std::to_string((now - w.last_seen_unix_ms()) / 1000)});
            }
            std::cout << table.Render();
            return kExitOk;
          }};
}

Command AddModelsCommand(CLI::App& app) {
  auto category = std::make_shared<std::string>();
  CLI::App* c = app.add_subcommand("models", "list the model catalog");
  c->add_option("--category", *category, "only this category");
  return {c, [category](Connection& conn) {
            v1::ListModelsRequest request;
            request.set_category(*category);
            v1::ListModelsResponse response;
            auto ctx = conn.Context();
            grpc::Status rpc = conn.stub->ListModels(ctx.get(), request, &response);
            if (!rpc.ok()) return conn.Fail(rpc);
            // A mistyped category must not look like an empty catalog.
            if (!category->empty() && response.models().empty()) {
              int code = kExitOk;
              auto all = FetchModels(conn, &code);
              if (!all) return code;
              std::set<std::string> known;
              for (const auto& m : all->models()) known.insert(m.category());
              std::string list;
              for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
              return UsageError("models: --category: no catalog model has category \"" + *category +
                                "\" (known: " + list + ")");
            }
            TextTable table;
            table.AddColumn("id");
            table.AddColumn("category");
            table.AddColumn("arch");
            table.AddColumn("params", TextTable::Align::kRight);
            table.AddColumn("max_len", TextTable::Align::kRight);
            table.AddColumn("trained", TextTable::Align::kRight);  // pretraining length, where no table bounds it
            for (const auto& m : response.models()) {
              auto config = ParseModelConfig(m.config_json());
              const int trained = config.ok() ? config->trained_context : 0;
              table.AddRow({m.id(), m.category(), m.arch_kind(), FormatMillions(m.parameter_count()),
                            m.max_positions() > 0 ? std::to_string(m.max_positions()) : "none",
                            trained > 0 ? std::to_string(trained) : "-"});
            }
            std::cout << table.Render();
            return kExitOk;
          }};
}

}  // namespace tscale::client
