#include "client/sweep_request.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <map>
#include <set>

#include "client/report/crossover.h"
#include "common/outcome.h"

namespace tscale::client {
namespace {

// The coordinator refuses longer sequences anyway; bounding here keeps a doubling range finite.
constexpr long kMaxLength = 1 << 24;

StatusOr<int> ParseLength(const std::string& text, const std::string& item) {
  errno = 0;
  char* end = nullptr;
  const long value = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || end != text.c_str() + text.size() || errno != 0 || value <= 0 || value > kMaxLength)
    return Status::InvalidArgument("--lengths: \"" + item + "\" is not a length between 1 and " +
                                   std::to_string(kMaxLength) + " (use N or FROM..TO)");
  return static_cast<int>(value);
}

template <typename T>
void AppendOnce(std::vector<T>* out, std::set<T>* seen, const T& value) {
  if (seen->insert(value).second) out->push_back(value);
}

}  // namespace

StatusOr<std::vector<int>> ParseLengths(const std::vector<std::string>& items) {
  std::vector<int> lengths;
  std::set<int> seen;
  for (const auto& item : items) {
    const auto dots = item.find("..");
    if (dots == std::string::npos) {
      auto length = ParseLength(item, item);
      if (!length.ok()) return length.status();
      AppendOnce(&lengths, &seen, *length);
      continue;
    }
    auto from = ParseLength(item.substr(0, dots), item);
    if (!from.ok()) return from.status();
    auto to = ParseLength(item.substr(dots + 2), item);
    if (!to.ok()) return to.status();
    if (*to < *from) return Status::InvalidArgument("--lengths: range \"" + item + "\" runs backwards");
    for (long n = *from; n <= *to; n *= 2) AppendOnce(&lengths, &seen, static_cast<int>(n));
  }
  if (lengths.empty()) return Status::InvalidArgument("--lengths: no length given");
  return lengths;
}

StatusOr<std::vector<v1::Workload>> ParseWorkloads(const std::vector<std::string>& items) {
  std::vector<v1::Workload> workloads;
  std::set<v1::Workload> seen;
  for (const auto& item : items) {
    auto workload = ParseWorkload(item);
    if (!workload)
      return Status::InvalidArgument("--workload: unknown workload \"" + item + "\" (forward, decode, train)");
    AppendOnce(&workloads, &seen, *workload);
  }
  if (workloads.empty()) return Status::InvalidArgument("--workload: no workload given");
  return workloads;
}

StatusOr<std::vector<v1::Checkpointing>> ParseCheckpointingList(const std::vector<std::string>& items) {
  std::vector<v1::Checkpointing> values;
  std::set<v1::Checkpointing> seen;
  for (const auto& item : items) {
    auto value = ParseCheckpointing(item);
    if (!value) return Status::InvalidArgument("--checkpointing: unknown value \"" + item + "\" (none, layers)");
    AppendOnce(&values, &seen, *value);
  }
  if (values.empty()) return Status::InvalidArgument("--checkpointing: no value given");
  return values;
}

StatusOr<v1::TrainLoss> ParseLossFlag(const std::string& value) {
  if (value == "auto") return v1::TRAIN_LOSS_UNSPECIFIED;
  auto loss = ParseTrainLoss(value);
  if (!loss)
    return Status::InvalidArgument("--loss: unknown loss \"" + value + "\" (auto, next-token, masked-lm, seq2seq)");
  return *loss;
}

StatusOr<std::vector<std::string>> ExpandModels(const std::vector<std::string>& selectors,
                                                const v1::ListModelsResponse& catalog) {
  std::vector<std::string> models;
  std::set<std::string> seen;
  for (const auto& selector : selectors) {
    if (selector == "all") {
      for (const auto& m : catalog.models()) AppendOnce(&models, &seen, m.id());
      continue;
    }
    if (selector.rfind("category:", 0) == 0) {
      const std::string category = selector.substr(9);
      std::set<std::string> known;
      bool found = false;
      for (const auto& m : catalog.models()) {
        known.insert(m.category());
        if (m.category() != category) continue;
        found = true;
        AppendOnce(&models, &seen, m.id());
      }
      if (!found) {
        std::string list;
        for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
        return Status::InvalidArgument("--models: no catalog model has category \"" + category + "\" (known: " + list +
                                       ")");
      }
      continue;
    }
    AppendOnce(&models, &seen, selector);
  }
  if (models.empty()) return Status::InvalidArgument("--models: no model given");
  return models;
}

StatusOr<v1::SweepSpec> Preset(const std::string& name, const v1::ListModelsResponse& catalog) {
  v1::SweepSpec spec;
  spec.set_name(name);
  if (name == "quick") {
    std::map<std::string, const v1::ModelInfo*> smallest;  // category -> model
    for (const auto& m : catalog.models()) {
      auto& best = smallest[m.category()];
      if (best == nullptr || m.parameter_count() < best->parameter_count() ||
          (m.parameter_count() == best->parameter_count() && m.id() < best->id()))
        best = &m;
    }
    for (const auto& [category, model] : smallest) spec.add_models(model->id());
    for (int n : {128, 512}) spec.add_seq_lengths(n);
  } else if (name == "paper") {
    for (const auto& m : catalog.models()) spec.add_models(m.id());
    for (int n : {128, 512, 1024, 2048}) spec.add_seq_lengths(n);
  } else if (name == "crossover") {
    std::set<std::string> in_catalog, seen;
    for (const auto& m : catalog.models()) in_catalog.insert(m.id());
    std::string missing;
    for (const auto& pair : report::CrossoverPairs())
      for (const std::string& id : {pair.linear_model, pair.transformer}) {
        if (!seen.insert(id).second) continue;
        if (in_catalog.count(id))
          spec.add_models(id);
        else
          missing += (missing.empty() ? "" : ", ") + id;
      }
    if (!missing.empty() && catalog.models_size() > 0)
      return Status::InvalidArgument("--preset crossover: the coordinator's catalog lacks " + missing);
    // 256 is where a transformer's attention starts to show; by 16384 eager attention's n^2 scores pass most
    // devices' memory, so the wall and the crossover both fall inside the grid.
    for (int n = 256; n <= 16384; n *= 2) spec.add_seq_lengths(n);
    spec.add_workloads(v1::WORKLOAD_FORWARD);
    spec.add_workloads(v1::WORKLOAD_DECODE);
    // Eager against memory-efficient: whether the crossover is the transformer's attention memory or its
    // compute. The linear-time models run once (the coordinator plans one cell for both).
    spec.add_attention(v1::ATTENTION_IMPL_EAGER);
    spec.add_attention(v1::ATTENTION_IMPL_MEMORY_EFFICIENT);
    // GPT-2's 1024 positions and Pythia's 2048 end well inside the grid.
    spec.set_extend_context(true);
  } else {
    return Status::InvalidArgument("--preset: unknown preset \"" + name + "\" (quick, paper, crossover)");
  }
  if (spec.models().empty()) return Status::InvalidArgument("--preset: the coordinator's catalog is empty");
  return spec;
}

void ApplyPreset(const v1::SweepSpec& grid, v1::SweepSpec* spec) {
  *spec->mutable_models() = grid.models();
  *spec->mutable_seq_lengths() = grid.seq_lengths();
  if (spec->name().empty()) spec->set_name(grid.name());
  // Only what the preset sets: quick and paper leave a sweep file's workloads and attention alone.
  if (!grid.workloads().empty()) *spec->mutable_workloads() = grid.workloads();
  if (!grid.attention().empty()) *spec->mutable_attention() = grid.attention();
  if (grid.extend_context()) spec->set_extend_context(true);
}

}  // namespace tscale::client
