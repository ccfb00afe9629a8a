#include "client/report/train_report.h"

#include <map>

#include "client/report/html_parts.h"
#include "client/report/render_text.h"
#include "client/report/svg_chart.h"
#include "client/table.h"
#include "common/outcome.h"

namespace tscale::report {
namespace {

// A spread of fractions (MFU) as percentages.
Spread Percent(Spread fractions) {
  for (double* v : {&fractions.median, &fractions.q1, &fractions.q3}) *v *= 100;
  return fractions;
}

constexpr double kMiB = 1024.0 * 1024.0;

bool HasTrainRows(const std::vector<Row>& rows) {
  for (const auto& r : rows)
    if (r.workload == v1::WORKLOAD_TRAIN) return true;
  return false;
}

std::string MiB(double bytes) {
  return bytes > 0 ? FormatFixed(bytes / kMiB, 1) : "";
}
std::string Share(double fraction) {
  return fraction > 0 ? FormatFixed(100.0 * fraction, 1) + "%" : "";
}
std::string RatioText(double ratio) {
  return ratio > 0 ? FormatFixed(ratio, 2) : "";
}
// "12.5 (25.0%)": bytes saved, and their share of what the step without checkpointing took.
std::string Saved(int64_t saved, int64_t of) {
  if (of <= 0) return "";
  return FormatFixed(static_cast<double>(saved) / kMiB, 1) + " (" +
         FormatFixed(100.0 * static_cast<double>(saved) / static_cast<double>(of), 1) + "%)";
}
std::string Exponent(const std::optional<PowerFit>& fit) {
  return fit ? FormatFixed(fit->exponent, 2) : "-";
}

// The memory chart's layers, bottom first, and their values at a point, in MiB.
const std::vector<Layer> kMemoryLayers = {{"parameters", "#0072B2"},
                                          {"gradients", "#56B4E9"},
                                          {"optimizer state (AdamW)", "#E69F00"},
                                          {"activations (measured)", "#D55E00"}};
std::vector<double> MemoryLayers(const TrainPoint& p) {
  return {p.parameter_bytes / kMiB, p.gradient_bytes / kMiB, p.optimizer_state_bytes / kMiB, p.activation_bytes / kMiB};
}

std::string CategoryLabel(const TrainCategoryRate& e) {
  return e.category + (e.checkpointing == v1::CHECKPOINTING_LAYERS ? " (checkpointing)" : "");
}

// The column headers of the walls table, per workload column: its max working length and its wall.
std::vector<std::string> WallHeaders(const WorkloadWalls& walls, bool html) {
  std::vector<std::string> headers = {"model", "category"};
  for (const auto& column : walls.columns) {
    headers.push_back(html ? column + ": max working length" : column + " max_len");
    headers.push_back(html ? column + ": wall (cause)" : column + " wall");
  }
  return headers;
}

const char kStepHow[] =
    "Workload train: each timed step is zero grads, a forward in train mode, the loss, backward and an AdamW step. "
    "Per configuration (model, variant, batch, checkpointing) and length, medians over the ok jobs; the exponent k "
    "of step = c n^k is a least-squares fit of log step on log length (two lengths fix it). attn share = the "
    "share of the step's analytic FLOPs in QK^T and AV: where it grows, the quadratic term has arrived. MFU = "
    "achieved FLOP/s over the job's peak; torchtitan/tscale = torchtitan's (6N + 12Lhqt) x tokens over tscale's "
    "count of the step (3 x the forward, plus the blocks once more with checkpointing, so about 0.75-0.8 there).";
const char kMemoryHow[] =
    "The breakdown of the ok job with the highest peak at each length: parameters, gradients and AdamW's two "
    "moments are the tensors' sizes; activations are the peak (the device allocator's on a GPU, else peak RSS) "
    "minus those three and the runner's baseline. analytic = Korthikanti et al.'s per-layer activation count "
    "adapted to tscale's layers (docs/measurement.md); measured/analytic near 1 means the count explains the "
    "memory. state measured/computed: the RSS the three states took (CPU only) over their sizes.";

}  // namespace

std::vector<std::string> TrainScalingRowCells(const TrainSeries& s) {
  return {s.model_id,
          s.variant,
          std::to_string(s.batch),
          CheckpointingName(s.checkpointing),
          s.mixed_precision ? "yes" : "no",
          std::to_string(s.points.size()),
          Exponent(s.step_fit),
          Exponent(s.activation_fit)};
}

std::vector<std::string> TrainStepRowCells(const TrainSeries& s, const TrainPoint& p) {
  return {s.model_id,
          s.variant,
          std::to_string(s.batch),
          CheckpointingName(s.checkpointing),
          std::to_string(p.seq_len),
          std::to_string(p.ok_jobs),
          FormatFixed(p.step_ms, 1),
          Share(p.attention_flops_share),
          p.tokens_per_s > 0 ? FormatFixed(p.tokens_per_s, 1) : "",
          Share(p.mfu),
          p.step_flops > 0 ? FormatFixed(p.step_flops / 1e9, 1) : "",
          RatioText(p.FlopsRatio())};
}

std::vector<std::string> TrainMemoryRowCells(const TrainSeries& s, const TrainPoint& p) {
  return {s.model_id,
          s.variant,
          std::to_string(s.batch),
          CheckpointingName(s.checkpointing),
          std::to_string(p.seq_len),
          MiB(static_cast<double>(p.parameter_bytes)),
          MiB(static_cast<double>(p.gradient_bytes)),
          MiB(static_cast<double>(p.optimizer_state_bytes)),
          MiB(static_cast<double>(p.activation_bytes)),
          MiB(static_cast<double>(p.peak_bytes)),
          MiB(p.analytic_activation_bytes),
          RatioText(p.ActivationRatio()),
          RatioText(p.StateRatio())};
}

std::vector<std::string> CheckpointingRowCells(const CheckpointingSaving& c) {
  return {c.model_id,
          c.variant,
          std::to_string(c.batch),
          std::to_string(c.seq_len),
          MiB(static_cast<double>(c.peak_none)),
          MiB(static_cast<double>(c.peak_layers)),
          Saved(c.PeakSaved(), c.peak_none),
          MiB(static_cast<double>(c.activation_none)),
          MiB(static_cast<double>(c.activation_layers)),
          Saved(c.ActivationSaved(), c.activation_none),
          RatioText(c.StepRatio())};
}

std::vector<std::string> WorkloadWallRowCells(const WorkloadWalls::Model& m) {
  std::vector<std::string> cells = {m.model_id, m.category};
  for (const auto& wall : m.walls) {
    cells.push_back(wall ? MaxWorkingText(*wall) : "");
    cells.push_back(wall ? WallText(*wall) : "");
  }
  return cells;
}

std::string RenderTrain(const std::vector<Row>& rows) {
  if (!HasTrainRows(rows)) return "";
  using A = TextTable::Align;
  auto table = [](const std::vector<std::string>& headers, int left) {
    TextTable t;
    for (size_t i = 0; i < headers.size(); ++i)
      t.AddColumn(headers[i], static_cast<int>(i) < left ? A::kLeft : A::kRight);
    return t;
  };
  const auto series = TrainScaling(rows);
  TextTable scaling = table({"model", "variant", "batch", "ckpt", "mixed", "lengths", "step_exp", "act_exp"}, 2);
  TextTable steps = table({"model", "variant", "batch", "ckpt", "length", "ok", "step_ms", "attn_share", "tok/s", "MFU",
                           "GFLOP/step", "titan/tscale"},
                          2);
  TextTable memory = table({"model", "variant", "batch", "ckpt", "length", "param_MiB", "grad_MiB", "optim_MiB",
                            "act_MiB", "peak_MiB", "act_analytic_MiB", "act/analytic", "state/computed"},
                           2);
  for (const auto& s : series) {
    scaling.AddRow(TrainScalingRowCells(s));
    for (const auto& p : s.points) {
      steps.AddRow(TrainStepRowCells(s, p));
      memory.AddRow(TrainMemoryRowCells(s, p));
    }
  }
  std::string out =
      "Training step scaling (workload train; exponent k of step = c n^k, a least-squares fit of log median step on "
      "log length over the ok lengths, two fix it; act_exp: the same for measured activation bytes)\n" +
      scaling.Render() + "\n";
  out +=
      "Training step by length (medians over the ok jobs; attn_share = QK^T and AV's share of the step's analytic "
      "FLOPs; MFU = achieved / peak FLOP/s; titan/tscale = torchtitan's FLOPs estimate / tscale's)\n" +
      steps.Render() + "\n";
  out +=
      "Training memory by length (the ok job with the highest peak: parameters, gradients, AdamW state, measured "
      "activations = peak - those - baseline; act/analytic = measured / analytic activations)\n" +
      memory.Render() + "\n";
  const auto savings = CheckpointingSavings(series);
  if (!savings.empty()) {
    TextTable t = table({"model", "variant", "batch", "length", "peak_none", "peak_layers", "peak_saved_MiB",
                         "act_none", "act_layers", "act_saved_MiB", "step_x"},
                        2);
    for (const auto& c : savings) t.AddRow(CheckpointingRowCells(c));
    out +=
        "Activation checkpointing (where a model, variant and batch ran both at a length: MiB without and with "
        "it, the saving and its share; step_x = step with / step without)\n" +
        t.Render() + "\n";
  }
  TextTable rates = table({"category", "ckpt", "length", "models", "tok/s", "MFU_%", "titan/tscale"}, 2);
  for (const auto& e : TrainRatesByCategory(rows)) {
    rates.AddRow({e.category, CheckpointingName(e.checkpointing), std::to_string(e.seq_len),
                  std::to_string(e.tokens_per_s.n), SpreadText(e.tokens_per_s, 1), SpreadText(Percent(e.mfu), 1),
                  SpreadText(e.flops_ratio, 2)});
  }
  out += "Training tokens/s and MFU by category and length (median [q1-q3] across the category's models ok there)\n" +
         rates.Render() + "\n";
  const auto walls = WallsByWorkload(rows);
  TextTable wall_table = table(WallHeaders(walls, false), 2);
  for (const auto& m : walls.models) wall_table.AddRow(WorkloadWallRowCells(m));
  out +=
      "Walls by workload (per model and workload: the longest working length before the first failing one, and "
      "that failure's cause; train with checkpointing on its own)\n" +
      wall_table.Render();
  return out;
}

std::string TrainHtmlSection(const std::vector<Row>& rows) {
  if (!HasTrainRows(rows)) return "";
  const auto series = TrainScaling(rows);
  const auto labels = TrainLabels(series);

  // Step time and the attention share, a line per configuration.
  std::vector<Series> step_lines, share_lines;
  HtmlTable scaling({"model", "variant", "batch", "checkpointing", "mixed precision", "lengths", "step exponent",
                     "activation exponent"});
  HtmlTable steps({"model", "variant", "batch", "checkpointing", "length", "ok jobs", "median step ms",
                   "attention FLOPs share", "tokens/s", "MFU", "GFLOP per step", "torchtitan / tscale FLOPs"});
  HtmlTable memory({"model", "variant", "batch", "checkpointing", "length", "parameters MiB", "gradients MiB",
                    "optimizer MiB", "activations MiB", "peak MiB", "analytic activations MiB",
                    "measured / analytic activations", "state measured / computed"});
  std::string memory_charts;
  for (size_t i = 0; i < series.size(); ++i) {
    const TrainSeries& s = series[i];
    Series step{labels[i] + LegendFit(s.step_fit, s.points.size()), {}}, share{labels[i], {}};
    std::vector<StackedBar> bars;
    for (const auto& p : s.points) {
      step.points.emplace_back(p.seq_len, p.step_ms);
      if (p.attention_flops_share > 0) share.points.emplace_back(p.seq_len, 100.0 * p.attention_flops_share);
      bars.push_back({std::to_string(p.seq_len), MemoryLayers(p)});
      steps.Add(TrainStepRowCells(s, p));
      memory.Add(TrainMemoryRowCells(s, p));
    }
    scaling.Add(TrainScalingRowCells(s));
    step_lines.push_back(std::move(step));
    share_lines.push_back(std::move(share));
    memory_charts += StackedBarChart(
        kMemoryLayers, bars,
        {"Training memory by length: " + s.model_id + " (" + TrainConfigText(s) + ")", "sequence length", "MiB"});
  }
  std::string body =
      "<h3>Step time</h3>\n" +
      LineChart(step_lines, {"Training step time vs length", "sequence length", "median step (ms)", true, true}) +
      LineChart(share_lines, {"Attention share of the training step's FLOPs vs length", "sequence length",
                              "QK^T and AV share of the step's FLOPs (%)", true, false}) +
      scaling.Render("num cfg") + steps.Render("num cfg");
  body += "<h3>Memory breakdown</h3>\n<p class=\"how\">" + EscapeHtml(kMemoryHow) + "</p>\n" + memory_charts +
          memory.Render("num cfg");

  // Checkpointing's saving and price.
  const auto savings = CheckpointingSavings(series);
  if (!savings.empty()) {
    HtmlTable t({"model", "variant", "batch", "length", "peak MiB without", "peak MiB with", "peak saved MiB (%)",
                 "activations MiB without", "activations MiB with", "activations saved MiB (%)",
                 "step with / without"});
    for (const auto& c : savings) t.Add(CheckpointingRowCells(c));
    body +=
        "<h3>Activation checkpointing</h3>\n<p class=\"how\">Where a model, variant and batch ran both without "
        "checkpointing and with it (each block keeps only its input and runs its forward again in backward) at a "
        "length: the memory it saves, and what it costs in step time.</p>\n" +
        t.Render("num cat");
  }

  // Throughput and MFU by category.
  const auto rates = TrainRatesByCategory(rows);
  std::vector<CategoryThroughput> by_label;  // the category lines, a setting of its own when checkpointed
  std::vector<Series> mfu_lines;
  std::map<std::string, size_t> mfu_index;
  HtmlTable rate_table({"category", "checkpointing", "length", "models", "tokens/s median [q1–q3]",
                        "MFU % median [q1–q3]", "torchtitan / tscale FLOPs"});
  for (const auto& e : rates) {
    const std::string label = CategoryLabel(e);
    by_label.push_back({label, e.seq_len, e.tokens_per_s});
    if (e.mfu.n > 0) {
      auto [it, added] = mfu_index.emplace(label, mfu_lines.size());
      if (added) mfu_lines.push_back({label, {}});
      mfu_lines[it->second].points.emplace_back(e.seq_len, 100.0 * e.mfu.median);
    }
    rate_table.Add({e.category, CheckpointingName(e.checkpointing), std::to_string(e.seq_len),
                    std::to_string(e.tokens_per_s.n), HtmlSpreadText(e.tokens_per_s, 1),
                    HtmlSpreadText(Percent(e.mfu), 1), HtmlSpreadText(e.flops_ratio, 2)});
  }
  body += "<h3>Throughput and MFU by category</h3>\n" +
          LineChart(CategorySeries(by_label, [](const CategoryThroughput& e) { return e.tokens_per_s.median; }),
                    {"Training tokens/s vs length by category", "sequence length", "tokens/s", true, true});
  if (!mfu_lines.empty())
    body += LineChart(mfu_lines,
                      {"Training MFU vs length by category", "sequence length", "MFU (% of peak FLOP/s)", true, false});
  body += rate_table.Render("num cat");

  // The walls of every workload, side by side.
  const auto walls = WallsByWorkload(rows);
  HtmlTable wall_table(WallHeaders(walls, true));
  for (const auto& m : walls.models) wall_table.Add(WorkloadWallRowCells(m));
  body +=
      "<h3>Walls: inference and training</h3>\n<p class=\"how\">Per model and workload, the per-model table's "
      "wall: the longest working length before the first failing one, and that failure's cause. Training keeps "
      "activations, gradients and optimizer state, so its wall sits below the forward one; checkpointing moves "
      "it back up.</p>\n" +
      wall_table.Render("num cat");
  return Section("train", "Training step: time, memory and walls", kStepHow, body);
}

}  // namespace tscale::report
