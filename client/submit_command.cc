// tscale-client submit: a sweep from flags, a preset or a sweep file; optionally waits and shows the results.
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <thread>

#include "client/commands.h"
#include "client/sweep_request.h"
#include "common/byte_size.h"
#include "common/file_io.h"
#include "common/outcome.h"

namespace tscale::client {
namespace {

// MeasurementSettings.max_cv's explicit "no noise check" (proto/tscale/v1/tscale.proto).
constexpr double kMaxCvOff = -1;

struct SubmitOptions {
  std::string sweep_file, preset, name, device, min_device_memory, max_cv, loss;
  std::vector<std::string> models, categories, lengths, dtypes, attention, workloads, checkpointing, required_labels,
      tags;
  std::vector<int> batches;
  int repetitions = 1, warmup = 0, min_iters = 0, threads = 0, new_tokens = 0;
  double min_time_s = 0, job_timeout_s = 0, wait_max_s = 0;
  bool extend_context = false, wait = false, show_results = false;
  bool find_wall = false;
  int wall_start = 0, wall_max = 0, wall_resolution = 0;
  CLI::App* command = nullptr;
};

// Polls the sweep until every job has finished; prints a line whenever progress changes. A coordinator that is
// briefly unreachable (restarting, say) is waited for, as `watch` does; only --wait-max-s ends the wait early.
int WaitForSweep(Connection& conn, int64_t sweep_id, double max_wait_s) {
  const auto give_up =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(max_wait_s * 1000));
  std::string last_line;
  int failures = 0;
  while (true) {
    v1::GetSweepRequest request;
    request.set_sweep_id(sweep_id);
    v1::SweepStatus status;
    auto ctx = conn.Context();
    grpc::Status rpc = conn.stub->GetSweep(ctx.get(), request, &status);
    const bool timed_out = max_wait_s > 0 && std::chrono::steady_clock::now() > give_up;
    if (!rpc.ok()) {
      if (timed_out || !RetryTransient(rpc, "wait for sweep " + std::to_string(sweep_id), &failures))
        return conn.Fail(rpc);
      continue;
    }
    failures = 0;
    std::string line = SweepStatusLine(status);
    if (line != last_line) std::cout << line << std::endl;
    last_line = line;
    if (status.done()) return kExitOk;
    if (timed_out) {
      std::cerr << "tscale-client: sweep " << sweep_id << " not finished after " << max_wait_s << " s\n";
      return kExitWaitTimeout;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

// Everything the flags say, layered over the sweep file and the preset; 0 or an exit code.
int BuildSpec(Connection& conn, SubmitOptions& o, v1::SweepSpec* spec) {
  if (!o.sweep_file.empty()) {
    auto text = ReadWholeFile(o.sweep_file, size_t{64} << 20);
    if (!text.ok()) return UsageError("sweep file: " + text.status().message());
    auto parsed = google::protobuf::util::JsonStringToMessage(*text, spec);
    if (!parsed.ok()) return UsageError("sweep file " + o.sweep_file + ": " + std::string(parsed.message()));
  }
  std::vector<std::string> models = o.models;
  for (const auto& c : o.categories) models.push_back("category:" + c);
  const bool needs_catalog = !o.preset.empty() || std::any_of(models.begin(), models.end(), [](const std::string& m) {
    return m == "all" || m.rfind("category:", 0) == 0;
  });
  std::optional<v1::ListModelsResponse> catalog;
  if (needs_catalog) {
    int code = kExitOk;
    catalog = FetchModels(conn, &code);
    if (!catalog) return code;
  }
  if (!o.preset.empty()) {
    auto grid = Preset(o.preset, *catalog);
    if (!grid.ok()) return UsageError(grid.status());
    ApplyPreset(*grid, spec);  // the flags below override it as they override a sweep file
  }
  if (spec->models().empty() && models.empty())
    return UsageError("submit: --models, --category or --preset (or a sweep file with \"models\") is required");
  if (o.find_wall) {
    spec->set_find_wall(true);
    if (o.wall_start) spec->mutable_wall()->set_start_length(o.wall_start);
    if (o.wall_max) spec->mutable_wall()->set_max_length(o.wall_max);
    if (o.wall_resolution) spec->mutable_wall()->set_resolution(o.wall_resolution);
  } else if (o.wall_start || o.wall_max || o.wall_resolution) {
    return UsageError("submit: --wall-start, --wall-max and --wall-resolution need --find-wall");
  }
  if (spec->seq_lengths().empty() && o.lengths.empty() && !spec->find_wall())
    return UsageError("submit: --lengths (or a sweep file with \"seqLengths\") is required");
  if (!models.empty()) {
    auto expanded = ExpandModels(models, catalog ? *catalog : v1::ListModelsResponse());
    if (!expanded.ok()) return UsageError(expanded.status());
    spec->clear_models();
    for (const auto& m : *expanded) spec->add_models(m);
  }
  if (!o.lengths.empty()) {
    auto parsed = ParseLengths(o.lengths);
    if (!parsed.ok()) return UsageError(parsed.status());
    spec->clear_seq_lengths();
    for (int n : *parsed) spec->add_seq_lengths(n);
  }
  if (!o.name.empty()) spec->set_name(o.name);
  if (!o.device.empty()) {
    auto kind = ParseDeviceKind(o.device);
    if (!kind) return UsageError("--device: unknown device kind \"" + o.device + "\" (cpu, cuda, mps)");
    spec->mutable_requirements()->set_device_kind(*kind);
  }
  if (!o.min_device_memory.empty()) {
    auto bytes = ParseByteSize(o.min_device_memory);
    if (!bytes.ok()) return UsageError("--min-device-memory: " + bytes.status().message());
    spec->mutable_requirements()->set_min_device_memory_bytes(*bytes);
  }
  for (const auto& l : o.required_labels) spec->mutable_requirements()->add_labels(l);
  for (const auto& tag : o.tags) {
    const auto eq = tag.find('=');
    if (eq == std::string::npos || eq == 0) return UsageError("--tag: \"" + tag + "\" is not KEY=VALUE");
    (*spec->mutable_labels())[tag.substr(0, eq)] = tag.substr(eq + 1);
  }
  if (!o.batches.empty()) spec->clear_batch_sizes();
  for (int b : o.batches) spec->add_batch_sizes(b);
  for (const auto& d : o.dtypes) {
    auto parsed = ParseDType(d);
    if (!parsed) return UsageError("--dtype: unknown dtype \"" + d + "\" (fp32, bf16, fp16)");
    spec->add_dtypes(*parsed);
  }
  if (!o.attention.empty()) spec->clear_attention();  // the flag's list replaces a preset's or a file's
  for (const auto& a : o.attention) {
    auto parsed = ParseAttention(a);
    if (!parsed)
      return UsageError("--attention: unknown implementation \"" + a + "\" (eager, memory_efficient, fused)");
    spec->add_attention(*parsed);
  }
  if (!o.workloads.empty()) {
    auto parsed = ParseWorkloads(o.workloads);
    if (!parsed.ok()) return UsageError(parsed.status());
    spec->clear_workloads();
    for (v1::Workload w : *parsed) spec->add_workloads(w);
  }
  // On the wire 0 means "the default" (proto3 has no unset int), so an explicit 0 is refused here; the upper
  // bound is the coordinator's (spec.new_tokens).
  if (o.command->count("--new-tokens")) {
    if (o.new_tokens < 1)
      return UsageError("--new-tokens: " + std::to_string(o.new_tokens) + " is not a number of tokens >= 1");
    spec->set_new_tokens(o.new_tokens);
  }
  // Train settings; without a train workload the coordinator refuses them, naming the field.
  if (!o.checkpointing.empty()) {
    auto parsed = ParseCheckpointingList(o.checkpointing);
    if (!parsed.ok()) return UsageError(parsed.status());
    spec->clear_checkpointing();
    for (v1::Checkpointing c : *parsed) spec->add_checkpointing(c);
  }
  if (o.command->count("--loss")) {
    auto parsed = ParseLossFlag(o.loss);
    if (!parsed.ok()) return UsageError(parsed.status());
    spec->set_loss(*parsed);
  }
  if (o.command->count("--repetitions")) spec->set_repetitions(o.repetitions);
  if (o.extend_context) spec->set_extend_context(true);
  auto* m = spec->mutable_measurement();
  if (o.warmup) m->set_warmup_iters(o.warmup);
  if (o.min_iters) m->set_min_iters(o.min_iters);
  if (o.min_time_s) m->set_min_time_s(o.min_time_s);
  if (o.threads) m->set_threads(o.threads);
  if (o.job_timeout_s) m->set_timeout_s(o.job_timeout_s);
  if (o.max_cv == "off") {
    m->set_max_cv(kMaxCvOff);
  } else if (!o.max_cv.empty()) {
    char* end = nullptr;
    const double cv = std::strtod(o.max_cv.c_str(), &end);
    if (end != o.max_cv.c_str() + o.max_cv.size() || !(cv > 0))
      return UsageError("--max-cv: \"" + o.max_cv + "\" is neither a positive number nor \"off\"");
    m->set_max_cv(cv);
  }
  return kExitOk;
}

}  // namespace

Command AddSubmitCommand(CLI::App& app) {
  auto o = std::make_shared<SubmitOptions>();
  CLI::App* c = app.add_subcommand("submit", "submit a sweep: models x lengths x batch sizes x ...");
  o->command = c;
  c->add_option("--file,-f", o->sweep_file, "sweep file: a SweepSpec in JSON (flags given too override it)")
      ->check(CLI::ExistingFile);
  c->add_option("--preset", o->preset,
                "quick (the smallest model of every category at 128,512), paper (every model at "
                "128,512,1024,2048) or crossover (the report's linear-time/transformer pairs at 256..16384, "
                "forward and decode, eager and memory_efficient, --extend-context); other flags refine it");
  c->add_option("--models,-m", o->models, "model ids or aliases, category:NAME, or all")->delimiter(',');
  c->add_option("--category", o->categories, "every catalog model of this category (repeatable)");
  c->add_option("--lengths,-l", o->lengths, "sequence lengths: N or a doubling range FROM..TO (128..2048)")
      ->delimiter(',');
  c->add_option("--batch,-b", o->batches, "batch sizes (default 1)")->delimiter(',');
  c->add_option("--dtype", o->dtypes, "fp32, bf16, fp16 (default fp32)")->delimiter(',');
  c->add_option("--attention", o->attention, "eager, memory_efficient, fused (default eager)")->delimiter(',');
  c->add_option("--workload", o->workloads,
                "forward (one forward over the prompt, the default), decode (prefill, then generate --new-tokens "
                "tokens one by one; encoder-only models are skipped, and the answer says so), train (one training "
                "step: forward, loss, backward, AdamW)")
      ->delimiter(',');
  c->add_option("--new-tokens", o->new_tokens, "decode: tokens generated per job, 1..4096 (default 128)");
  c->add_option("--checkpointing", o->checkpointing,
                "train: none (keep every activation), layers (recompute each block in backward); an axis like "
                "--dtype (default none)")
      ->delimiter(',');
  c->add_option("--loss", o->loss,
                "train: auto (by architecture: decoders next-token, encoders masked-lm, encoder-decoders seq2seq, "
                "the default), next-token, masked-lm, seq2seq (models it does not fit are skipped, and the answer "
                "says so)");
  c->add_option("--repetitions", o->repetitions, "independent runs of every cell")->check(CLI::Range(1, 1000));
  c->add_option("--name", o->name, "a name for the sweep");
  c->add_option("--warmup", o->warmup, "warm-up forwards (default 2)");
  c->add_option("--min-iters", o->min_iters, "minimum timed forwards (default 5)");
  c->add_option("--min-time-s", o->min_time_s, "minimum timed seconds (default 1)");
  c->add_option("--threads", o->threads,
                "runner threads (default: the worker's share of its cores, cores / slots; more is clamped to that)");
  c->add_option("--job-timeout-s", o->job_timeout_s, "execution limit of one job (default 1800)");
  c->add_option("--max-cv", o->max_cv,
                "noise check: a result whose latency coefficient of variation is above this is invalid; "
                "off turns the check off (default: the coordinator's, tscale-server --max-cv)");
  c->add_flag("--extend-context", o->extend_context, "run past the models' position limits");
  c->add_option("--device", o->device, "run only on workers of this device kind: cpu, cuda, mps");
  c->add_option("--min-device-memory", o->min_device_memory, "run only on workers with this much device memory (16G)");
  c->add_option("--require-label", o->required_labels, "run only on workers advertising this label (repeatable)");
  c->add_option("--tag", o->tags, "KEY=VALUE stored with the sweep (repeatable)");
  c->add_flag("--find-wall", o->find_wall,
              "find each model's longest working length: probes double from --wall-start until the first "
              "failure, then bisect to --wall-resolution (no --lengths)");
  c->add_option("--wall-start", o->wall_start, "with --find-wall: the first probe's length (default 128)");
  c->add_option("--wall-max", o->wall_max, "with --find-wall: stop growing here (default: the coordinator's cap)");
  c->add_option("--wall-resolution", o->wall_resolution,
                "with --find-wall: the final bracket's width in tokens (default 64)");
  CLI::Option* wait =
      c->add_flag("--wait", o->wait, "wait until every job has finished (rides out a coordinator restart, like watch)");
  c->add_option("--wait-max-s", o->wait_max_s, "with --wait: give up after this long (0 = never)")
      ->check(CLI::Range(0.0, 365 * 86400.0))
      ->needs(wait);
  c->add_flag("--results", o->show_results, "with --wait: print the results table at the end")->needs(wait);

  return {c, [o](Connection& conn) {
            v1::SweepSpec spec;
            if (int code = BuildSpec(conn, *o, &spec); code != kExitOk) return code;
            v1::SubmitSweepRequest request;
            *request.mutable_spec() = spec;
            v1::SubmitSweepResponse response;
            auto ctx = conn.Context();
            grpc::Status status = conn.stub->SubmitSweep(ctx.get(), request, &response);
            if (!status.ok()) return conn.Fail(status);
            std::cout << "sweep " << response.sweep_id() << " submitted: " << response.job_count() << " jobs";
            // Never silently fewer jobs than the axes multiply to: what was left out, and why.
            if (response.skipped_cells() > 0) {
              std::cout << ", " << response.skipped_cells() << " cells skipped:";
              for (const auto& reason : response.skipped_reasons()) std::cout << "\n  " << reason;
            }
            std::cout << std::endl;
            if (!o->wait) return kExitOk;
            const int code = WaitForSweep(conn, response.sweep_id(), o->wait_max_s);
            if (code != kExitOk || !o->show_results) return code;
            v1::ListResultsRequest list;
            list.set_sweep_id(response.sweep_id());
            return PrintResultsTable(conn, list);
          }};
}

}  // namespace tscale::client
