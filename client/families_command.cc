// tscale-client families: the Hugging Face model_types tscale reads, each family's layout, whether real weights
// load by their HF names, and what it approximates. Local: it needs no coordinator. scripts/gen_catalog.py reads
// the --json form, so the catalog takes each family's layout from its one home (common/families/).
#include <nlohmann/json.hpp>

#include <iostream>

#include "client/commands.h"
#include "client/table.h"
#include "common/families/family.h"

namespace tscale::client {

Command AddFamiliesCommand(CLI::App& app) {
  auto as_json = std::make_shared<bool>(false);
  CLI::App* c = app.add_subcommand("families", "list the HF model families tscale reads (no server needed)");
  c->add_flag("--json", *as_json, "one JSON object: {model_type: {layout, hf_weight_names, approximation}}");
  return {c,
          [as_json](Connection&) {
            nlohmann::json doc = nlohmann::json::object();
            TextTable table;
            for (const char* h : {"model_type", "arch", "position", "hf_weights", "approximated"}) table.AddColumn(h);
            for (const families::FamilySpec* family : families::AllFamilies()) {
              const auto layout = nlohmann::json::parse(families::FamilyLayoutJson(*family));
              ModelConfig config;
              family->layout(&config);
              const std::string approximation = family->approximation ? family->approximation(config) : "";
              doc[family->model_type] = {{"layout", layout},
                                         {"hf_weight_names", family->hf_weight_names != nullptr},
                                         {"approximation", approximation}};
              table.AddRow({family->model_type, layout.at("arch").get<std::string>(),
                            layout.at("position").get<std::string>(), family->hf_weight_names ? "yes" : "no",
                            approximation.empty() ? "no" : "yes"});
            }
            if (*as_json)
              std::cout << doc.dump(2) << "\n";
            else
              std::cout << table.Render();
            return kExitOk;
          },
          /*needs_server=*/false};
}

}  // namespace tscale::client
