// What a user types for `tscale-client submit`, resolved before anything is sent: model selectors ("gpt2",
// "category:BERT Family", "all"), lengths as lists or doubling ranges ("128..2048"), and the presets. A typo
// fails here with a message naming the flag and the value, so a half-meant sweep is never stored.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "tscale/v1/tscale.pb.h"

namespace tscale::client {

// Each item is a length ("512") or a doubling range ("128..2048": 128, 256, ..., the end included when the
// doubling reaches it exactly, never passed). Order is kept and repeats are removed. INVALID_ARGUMENT
// naming "--lengths" for anything else (empty, non-numeric, non-positive, a range that runs backwards).
StatusOr<std::vector<int>> ParseLengths(const std::vector<std::string>& items);

// `submit --workload forward,decode`: each item a workload's short name; order is kept and repeats are removed.
// INVALID_ARGUMENT naming "--workload" for an unknown name (the known ones are listed).
StatusOr<std::vector<v1::Workload>> ParseWorkloads(const std::vector<std::string>& items);

// `submit --checkpointing none,layers` (train): order is kept and repeats are removed. INVALID_ARGUMENT naming
// "--checkpointing" for an unknown name.
StatusOr<std::vector<v1::Checkpointing>> ParseCheckpointingList(const std::vector<std::string>& items);

// `submit --loss auto|next-token|masked-lm|seq2seq` (train; next_token is read as next-token too): auto is
// TRAIN_LOSS_UNSPECIFIED, each model's architecture decides. INVALID_ARGUMENT naming "--loss" for anything else.
StatusOr<v1::TrainLoss> ParseLossFlag(const std::string& value);

// Ids and aliases pass through unchanged (the coordinator resolves them and names unknown ones); "all" and
// "category:NAME" expand to the catalog's canonical ids. Order is kept and repeats are removed.
// INVALID_ARGUMENT naming "--models" for an unknown category (the known ones are listed).
StatusOr<std::vector<std::string>> ExpandModels(const std::vector<std::string>& selectors,
                                                const v1::ListModelsResponse& catalog);

// The presets' grids (other settings stay the user's):
//   quick      the smallest model of every catalog category at 128 and 512 tokens: minutes on a laptop CPU;
//   paper      every catalog model at 128, 512, 1024 and 2048, the study's grid including the 2048 it never ran;
//   crossover  the models of every crossover pair (report/crossover.h) at 256..16384, doubling, with workloads
//              forward and decode, attention eager and memory_efficient, and extend_context: the grid the report's
//              crossover section reads. Fails naming the pair models the catalog lacks (a pair with one side
//              missing has nothing to compare).
// The spec sets only what the preset fixes. INVALID_ARGUMENT naming "--preset" for an unknown name.
StatusOr<v1::SweepSpec> Preset(const std::string& name, const v1::ListModelsResponse& catalog);
// Lays a preset's grid over `spec` (a sweep file's, or empty): its models and lengths replace the spec's, its name
// is taken when the spec has none, and the workloads, attention and extend_context it sets (crossover's) replace
// the spec's; the rest of the spec is kept. submit's flags are applied after, and override it.
void ApplyPreset(const v1::SweepSpec& grid, v1::SweepSpec* spec);

}  // namespace tscale::client
