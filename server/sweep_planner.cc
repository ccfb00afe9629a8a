#include "server/sweep_planner.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <set>
#include <utility>

#include "common/model_config.h"
#include "common/outcome.h"
#include "common/wall_search.h"
#include "server/request_validation.h"

namespace tscale {
namespace {

Status Field(const std::string& name, const std::string& why) {
  return Status::InvalidArgument("spec." + name + ": " + why);
}

template <typename List>
Status CheckAxisSize(const char* name, const List& list, const PlannerLimits& limits) {
  if (list.size() > limits.max_axis_values)
    return Field(name, "at most " + std::to_string(limits.max_axis_values) + " values");
  return Status::Ok();
}

// Checks `m` field by field, fills zero fields from the defaults, then checks how the fields relate.
Status ResolveMeasurement(v1::MeasurementSettings* m, double default_max_cv) {
  TSCALE_RETURN_IF_ERROR(ValidateMeasurement(*m, "spec.measurement."));
  const v1::MeasurementSettings d = DefaultMeasurement();
  if (m->warmup_iters() == 0) m->set_warmup_iters(d.warmup_iters());
  if (m->min_iters() == 0) m->set_min_iters(d.min_iters());
  if (m->min_time_s() == 0) m->set_min_time_s(d.min_time_s());
  if (m->max_iters() == 0) m->set_max_iters(std::max(d.max_iters(), m->min_iters()));
  if (m->max_time_s() == 0) m->set_max_time_s(std::max(d.max_time_s(), m->min_time_s()));
  if (m->seed() == 0) m->set_seed(d.seed());
  if (m->timeout_s() == 0) m->set_timeout_s(d.timeout_s());
  if (m->max_cv() == 0) m->set_max_cv(default_max_cv);
  // A job's settings say "no noise check" one way only: -1 (the runner checks only a positive threshold).
  if (m->max_cv() <= 0) m->set_max_cv(kMaxCvOff);
  if (m->max_iters() < m->min_iters()) return Field("measurement.max_iters", "must be >= min_iters");
  if (m->max_time_s() < m->min_time_s()) return Field("measurement.max_time_s", "must be >= min_time_s");
  // The timed loop cannot stop before warmup_min_s + min_time_s: at or past the deadline, every job times out.
  if (m->warmup_min_s() + m->min_time_s() >= m->timeout_s()) {
    char text[96];
    std::snprintf(text, sizeof text, "%g s must be longer than warmup_min_s + min_time_s (%g s)", m->timeout_s(),
                  m->warmup_min_s() + m->min_time_s());
    return Field("measurement.timeout_s", text);
  }
  return Status::Ok();
}

const char* ArchPhrase(ArchKind arch) {
  switch (arch) {
    case ArchKind::kDecoder:
      return "a decoder-only model";
    case ArchKind::kEncoder:
      return "an encoder-only model";
    case ArchKind::kEncoderDecoder:
      return "an encoder-decoder";
  }
  return "this model";
}

}  // namespace

v1::MeasurementSettings DefaultMeasurement() {
  v1::MeasurementSettings m;
  m.set_warmup_iters(2);
  m.set_min_iters(5);
  m.set_min_time_s(1.0);
  m.set_max_iters(10'000);
  m.set_max_time_s(60.0);
  m.set_seed(1234);
  m.set_timeout_s(1800.0);
  return m;
}

StatusOr<std::vector<PlannedJob>> PlanSweep(const v1::SweepSpec& spec, const Catalog& catalog,
                                            const PlannerLimits& limits, SkippedCells* skipped) {
  if (spec.models().empty()) return Field("models", "at least one model is required");
  if (spec.find_wall() && !spec.seq_lengths().empty())
    return Field("seq_lengths", "not used with find_wall: the search starts at wall.start_length");
  if (!spec.find_wall() && spec.has_wall()) return Field("wall", "only used with find_wall");
  if (!spec.find_wall() && spec.seq_lengths().empty())
    return Field("seq_lengths", "at least one sequence length is required");
  TSCALE_RETURN_IF_ERROR(CheckAxisSize("models", spec.models(), limits));
  TSCALE_RETURN_IF_ERROR(CheckAxisSize("seq_lengths", spec.seq_lengths(), limits));
  TSCALE_RETURN_IF_ERROR(CheckAxisSize("batch_sizes", spec.batch_sizes(), limits));
  TSCALE_RETURN_IF_ERROR(CheckAxisSize("dtypes", spec.dtypes(), limits));
  TSCALE_RETURN_IF_ERROR(CheckAxisSize("attention", spec.attention(), limits));
  TSCALE_RETURN_IF_ERROR(CheckAxisSize("workloads", spec.workloads(), limits));
  TSCALE_RETURN_IF_ERROR(CheckAxisSize("checkpointing", spec.checkpointing(), limits));
  if (spec.name().size() > 256) return Field("name", "at most 256 characters");
  if (spec.labels_size() > kMaxLabels) return Field("labels", "at most " + std::to_string(kMaxLabels) + " tags");
  for (const auto& [key, value] : spec.labels())
    if (key.empty() || key.size() > kMaxLabelLength || value.size() > 1024)
      return Field("labels", "tag names are 1..128 characters, values at most 1024");

  std::vector<const ModelConfig*> models;
  std::vector<int> model_index;  // where each model is first named in spec.models
  std::set<std::string> seen_models;
  for (int i = 0; i < spec.models_size(); ++i) {
    const ModelConfig* model = catalog.Find(spec.models(i));
    if (!model)
      return Field("models[" + std::to_string(i) + "]",
                   "unknown model \"" + spec.models(i) + "\" (tscale-client models lists the catalog)");
    if (seen_models.insert(model->id).second) {
      models.push_back(model);
      model_index.push_back(i);
    }
  }
  for (int i = 0; i < spec.seq_lengths_size(); ++i) {
    int n = spec.seq_lengths(i);
    if (n < 1 || n > limits.max_seq_len)
      return Field("seq_lengths[" + std::to_string(i) + "]",
                   std::to_string(n) + " is not in 1.." + std::to_string(limits.max_seq_len));
  }
  std::vector<int> batches(spec.batch_sizes().begin(), spec.batch_sizes().end());
  if (batches.empty()) batches.push_back(1);
  for (size_t i = 0; i < batches.size(); ++i) {
    if (batches[i] < 1 || batches[i] > limits.max_batch)
      return Field("batch_sizes[" + std::to_string(i) + "]",
                   std::to_string(batches[i]) + " is not in 1.." + std::to_string(limits.max_batch));
  }
  std::vector<v1::DType> dtypes;
  for (int d : spec.dtypes()) dtypes.push_back(d == v1::DTYPE_UNSPECIFIED ? v1::DTYPE_FP32 : static_cast<v1::DType>(d));
  if (dtypes.empty()) dtypes.push_back(v1::DTYPE_FP32);
  for (size_t i = 0; i < dtypes.size(); ++i)
    if (!v1::DType_IsValid(dtypes[i])) return Field("dtypes[" + std::to_string(i) + "]", "unknown dtype");
  std::vector<v1::AttentionImpl> attention;
  for (int a : spec.attention())
    attention.push_back(a == v1::ATTENTION_IMPL_UNSPECIFIED ? v1::ATTENTION_IMPL_EAGER
                                                            : static_cast<v1::AttentionImpl>(a));
  if (attention.empty()) attention.push_back(v1::ATTENTION_IMPL_EAGER);
  for (size_t i = 0; i < attention.size(); ++i)
    if (!v1::AttentionImpl_IsValid(attention[i]))
      return Field("attention[" + std::to_string(i) + "]", "unknown attention implementation");
  std::vector<v1::Workload> workloads;
  for (int w : spec.workloads())
    workloads.push_back(w == v1::WORKLOAD_UNSPECIFIED ? v1::WORKLOAD_FORWARD : static_cast<v1::Workload>(w));
  if (workloads.empty()) workloads.push_back(v1::WORKLOAD_FORWARD);
  for (size_t i = 0; i < workloads.size(); ++i)
    if (!v1::Workload_IsValid(workloads[i]))
      return Field("workloads[" + std::to_string(i) + "]", "unknown workload (forward, decode, train)");
  const bool decodes = std::count(workloads.begin(), workloads.end(), v1::WORKLOAD_DECODE) > 0;
  if (spec.new_tokens() < 0 || spec.new_tokens() > kMaxNewTokens)
    return Field("new_tokens", std::to_string(spec.new_tokens()) + " is not in 1.." + std::to_string(kMaxNewTokens) +
                                   " (0 = the default, " + std::to_string(kDefaultNewTokens) + ")");
  // Like wall settings without find_wall: a setting nothing would read is a mistake worth naming.
  if (spec.new_tokens() != 0 && !decodes) return Field("new_tokens", "only used with the decode workload");
  const int new_tokens = spec.new_tokens() == 0 ? kDefaultNewTokens : spec.new_tokens();
  // Training's settings, checked like new_tokens: checkpointing is an axis of the train cells only (forward and
  // decode cells leave it and the loss unspecified), and neither is accepted without a train workload.
  const bool trains = std::count(workloads.begin(), workloads.end(), v1::WORKLOAD_TRAIN) > 0;
  std::vector<v1::Checkpointing> checkpointing;
  for (int i = 0; i < spec.checkpointing_size(); ++i) {
    const int value = spec.checkpointing(i);
    if (!v1::Checkpointing_IsValid(value))
      return Field("checkpointing[" + std::to_string(i) + "]",
                   "unknown value " + std::to_string(value) + " (none, layers)");
    const auto c =
        value == v1::CHECKPOINTING_UNSPECIFIED ? v1::CHECKPOINTING_NONE : static_cast<v1::Checkpointing>(value);
    // A repeat counts once, as a repeated model does: it would plan every train cell twice (and start two
    // probes of one wall search).
    if (std::find(checkpointing.begin(), checkpointing.end(), c) == checkpointing.end()) checkpointing.push_back(c);
  }
  if (!checkpointing.empty() && !trains) return Field("checkpointing", "only used with the train workload");
  if (checkpointing.empty()) checkpointing.push_back(v1::CHECKPOINTING_NONE);
  if (!v1::TrainLoss_IsValid(spec.loss()))
    return Field("loss", "unknown value " + std::to_string(spec.loss()) +
                             " (next_token, masked_lm, seq2seq; 0 = by each model's architecture)");
  if (spec.loss() != v1::TRAIN_LOSS_UNSPECIFIED && !trains) return Field("loss", "only used with the train workload");
  // A TorchScript module is run as it was exported: there are no modules of tscale's to put in train mode,
  // checkpoint and step an optimizer over. Refused rather than skipped: every train cell of it would fail.
  if (trains)
    for (size_t m = 0; m < models.size(); ++m)
      if (!models[m]->torchscript.empty())
        return Field("workloads", "train with \"" + models[m]->id + "\" (spec.models[" +
                                      std::to_string(model_index[m]) +
                                      "]): a TorchScript module cannot be trained: tscale trains models it builds "
                                      "from their config");
  const int repetitions = spec.repetitions() == 0 ? 1 : spec.repetitions();
  if (repetitions < 1 || repetitions > limits.max_repetitions)
    return Field("repetitions", "must be in 1.." + std::to_string(limits.max_repetitions));
  if (spec.decoder_length() < 0 || spec.decoder_length() > limits.max_seq_len)
    return Field("decoder_length", "must be in 0.." + std::to_string(limits.max_seq_len));
  if (spec.requirements().min_device_memory_bytes() < 0)
    return Field("requirements.min_device_memory_bytes", "must not be negative");
  if (!v1::DeviceKind_IsValid(spec.requirements().device_kind()))
    return Field("requirements.device_kind", "unknown device kind");
  // The same bounds as a worker's advertised labels: each job stores these, and every claim compares them.
  if (spec.requirements().labels_size() > kMaxLabels)
    return Field("requirements.labels", "at most " + std::to_string(kMaxLabels) + " labels");
  for (int i = 0; i < spec.requirements().labels_size(); ++i) {
    const std::string& label = spec.requirements().labels(i);
    if (label.empty() || label.size() > kMaxLabelLength)
      return Field("requirements.labels[" + std::to_string(i) + "]",
                   "1.." + std::to_string(kMaxLabelLength) + " characters");
  }
  // A wall-finder sweep starts one search per cell at the start length; the coordinator adds each next probe
  // as results arrive (docs/wall-finder.md).
  std::vector<int> lengths(spec.seq_lengths().begin(), spec.seq_lengths().end());
  v1::WallSearch wall;
  if (spec.find_wall()) {
    wall.set_start_length(spec.wall().start_length() == 0 ? 128 : spec.wall().start_length());
    wall.set_max_length(spec.wall().max_length() == 0 ? limits.max_seq_len : spec.wall().max_length());
    wall.set_resolution(spec.wall().resolution() == 0 ? wall::kDefaultResolution : spec.wall().resolution());
    if (wall.max_length() < 1 || wall.max_length() > limits.max_seq_len)
      return Field("wall.max_length",
                   std::to_string(wall.max_length()) + " is not in 1.." + std::to_string(limits.max_seq_len));
    if (wall.start_length() < 1 || wall.start_length() > wall.max_length())
      return Field("wall.start_length", std::to_string(wall.start_length()) + " is not in 1.." +
                                            std::to_string(wall.max_length()) + " (the maximum)");
    if (wall.resolution() < 1 || wall.resolution() > wall.max_length())
      return Field("wall.resolution", std::to_string(wall.resolution()) + " is not in 1.." +
                                          std::to_string(wall.max_length()) + " (the maximum)");
    lengths = {wall.start_length()};
  }

  // An encoder-only model has no generation to time: its decode cells are left out, counted and named (the
  // runner would only fail them with an error). Likewise a model's train cells when the sweep's explicit loss
  // is not its architecture's objective.
  const double cells_per_variant = static_cast<double>(lengths.size()) * static_cast<double>(batches.size()) *
                                   static_cast<double>(dtypes.size()) * static_cast<double>(attention.size()) *
                                   repetitions;
  // A train workload is one variant per checkpointing value; forward and decode are one each.
  auto variants = [&](v1::Workload workload) {
    return workload == v1::WORKLOAD_TRAIN ? checkpointing.size() : size_t{1};
  };
  auto loss_of = [&](const ModelConfig& model) {
    return spec.loss() == v1::TRAIN_LOSS_UNSPECIFIED ? TrainLossFor(model.arch) : spec.loss();
  };
  // Why a (model, workload) pair has no cells; empty when it runs.
  auto skip_reason = [&](const ModelConfig& model, v1::Workload workload) -> std::string {
    if (workload == v1::WORKLOAD_DECODE && model.arch == ArchKind::kEncoder)
      return "an encoder-only model does not generate tokens";
    if (workload == v1::WORKLOAD_TRAIN && loss_of(model) != TrainLossFor(model.arch))
      return "the " + TrainLossName(spec.loss()) + " loss does not fit " + ArchPhrase(model.arch) + " (its loss is " +
             TrainLossName(TrainLossFor(model.arch)) + ")";
    return "";
  };
  SkippedCells left_out;
  double skipped_cells = 0;  // in double, as the product is: the axes' bounds multiply past int
  for (const ModelConfig* model : models)
    for (v1::Workload workload : workloads) {
      const std::string why = skip_reason(*model, workload);
      if (why.empty()) continue;
      const double cells = cells_per_variant * static_cast<double>(variants(workload));
      skipped_cells += cells;
      left_out.reasons.push_back(model->id + " x " + WorkloadName(workload) + ": " +
                                 std::to_string(static_cast<int64_t>(cells)) + " cells skipped, " + why);
    }
  // A linear-time model (Mamba, linear attention) has no softmax attention for the implementation to change: it
  // runs the first implementation asked for, once, and the others' cells are skipped, counted and named, so the
  // report never compares a model with itself under another name.
  auto attention_for = [&](const ModelConfig& model) {
    return model.linear_time() ? std::vector<v1::AttentionImpl>{attention.front()} : attention;
  };
  if (attention.size() > 1)
    for (const ModelConfig* model : models) {
      if (!model->linear_time()) continue;
      double cells = 0;
      for (v1::Workload workload : workloads)
        if (skip_reason(*model, workload).empty())
          cells += cells_per_variant * static_cast<double>(variants(workload)) *
                   static_cast<double>(attention.size() - 1) / static_cast<double>(attention.size());
      if (cells <= 0) continue;
      std::string others;
      for (size_t i = 1; i < attention.size(); ++i) others += (i > 1 ? ", " : "") + AttentionName(attention[i]);
      skipped_cells += cells;
      left_out.reasons.push_back(model->id + " has no softmax attention: one cell for all attention implementations (" +
                                 AttentionName(attention.front()) + " runs; " +
                                 std::to_string(static_cast<int64_t>(cells)) + " cells of " + others + " skipped)");
    }
  left_out.cells = static_cast<int>(std::min<double>(skipped_cells, std::numeric_limits<int>::max()));

  // The product of the axes, each named with its size, so the user sees which one to shrink. Checkpointing
  // multiplies the train workload only: "workloads (forward + train x checkpointing (2) = 3)".
  size_t workload_variants = 0;
  std::string workload_terms;
  for (v1::Workload workload : workloads) {
    workload_variants += variants(workload);
    workload_terms += (workload_terms.empty() ? "" : " + ") + WorkloadName(workload) +
                      (variants(workload) > 1 ? " x checkpointing (" + std::to_string(variants(workload)) + ")" : "");
  }
  const std::string workload_axis =
      workload_variants == workloads.size()
          ? "workloads (" + std::to_string(workloads.size()) + ")"
          : "workloads (" + workload_terms + " = " + std::to_string(workload_variants) + ")";
  auto axis = [](const char* name, size_t size) { return std::string(name) + " (" + std::to_string(size) + ")"; };
  const std::pair<std::string, size_t> axes[] = {{axis("models", models.size()), models.size()},
                                                 {workload_axis, workload_variants},
                                                 {axis("seq_lengths", lengths.size()), lengths.size()},
                                                 {axis("batch_sizes", batches.size()), batches.size()},
                                                 {axis("dtypes", dtypes.size()), dtypes.size()},
                                                 {axis("attention", attention.size()), attention.size()},
                                                 {axis("repetitions", repetitions), static_cast<size_t>(repetitions)}};
  double product_jobs = 1;
  std::string product;
  for (const auto& [shown, size] : axes) {
    product_jobs *= static_cast<double>(size);
    if (size > 1 || product.empty()) product += (product.empty() ? "" : " x ") + shown;
  }
  const double total = product_jobs - skipped_cells;
  if (total > limits.max_jobs) {
    const std::string less =
        skipped_cells > 0 ? " - " + std::to_string(static_cast<int64_t>(skipped_cells)) + " skipped" : "";
    return Status::InvalidArgument("spec: " + product + less + " = " + std::to_string(static_cast<int64_t>(total)) +
                                   " jobs exceeds the limit of " + std::to_string(limits.max_jobs) + " jobs per sweep");
  }
  if (total <= 0) {
    std::string why;
    for (const auto& reason : left_out.reasons) why += (why.empty() ? "" : "; ") + reason;
    return Field("workloads", "no cell left to run (" + why + ")");
  }

  v1::MeasurementSettings measurement = spec.measurement();
  TSCALE_RETURN_IF_ERROR(ResolveMeasurement(&measurement, limits.default_max_cv));

  std::vector<PlannedJob> jobs;
  jobs.reserve(static_cast<size_t>(total));
  const std::vector<v1::Checkpointing> not_training = {v1::CHECKPOINTING_UNSPECIFIED};
  for (const ModelConfig* model : models) {
    const std::string config_json = ModelConfigToJson(*model);
    const std::vector<v1::AttentionImpl> impls = attention_for(*model);
    for (v1::Workload workload : workloads) {
      if (!skip_reason(*model, workload).empty()) continue;
      const bool training = workload == v1::WORKLOAD_TRAIN;
      for (v1::Checkpointing ckpt : training ? checkpointing : not_training)
        for (int seq_len : lengths)
          for (int batch : batches)
            for (v1::DType dtype : dtypes)
              for (v1::AttentionImpl impl : impls)
                for (int rep = 0; rep < repetitions; ++rep) {
                  PlannedJob job;
                  job.category = model->category;
                  v1::JobSpec& s = job.spec;
                  s.set_model_id(model->id);
                  s.set_model_config_json(config_json);
                  s.set_workload(workload);
                  // Whether seq_len + new_tokens fits the model's positions is the runner's context check
                  // (exceeds_context), as seq_len alone is for a forward job.
                  if (workload == v1::WORKLOAD_DECODE) s.set_new_tokens(new_tokens);
                  if (training) {
                    s.set_checkpointing(ckpt);
                    s.set_loss(loss_of(*model));
                  }
                  s.set_seq_len(seq_len);
                  s.set_batch_size(batch);
                  s.set_dtype(dtype);
                  s.set_attention(impl);
                  s.set_repetition(rep);
                  s.set_extend_context(spec.extend_context());
                  s.set_decoder_length(spec.decoder_length());
                  *s.mutable_measurement() = measurement;
                  *s.mutable_requirements() = spec.requirements();
                  if (spec.find_wall()) *s.mutable_wall() = wall;
                  jobs.push_back(std::move(job));
                }
    }
  }
  if (skipped) *skipped = std::move(left_out);
  return jobs;
}

}  // namespace tscale
