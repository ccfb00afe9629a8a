#include "client/report/render_text.h"

#include "client/table.h"
#include "common/outcome.h"

namespace tscale::report {
std::string SpreadText(const Spread& s, int decimals) {
  if (s.n == 0) return "";
  return FormatFixed(s.median, decimals) + " [" + FormatFixed(s.q1, decimals) + "-" + FormatFixed(s.q3, decimals) + "]";
}

namespace {

std::string FitText(const std::optional<PowerFit>& fit) {
  return fit ? FormatFixed(fit->exponent, 2) : "";
}

}  // namespace

std::string RenderText(const std::vector<CellSummary>& cells) {
  using A = TextTable::Align;
  std::string out;

  out += "Success by sequence length (distinct models; a model fails a length when any of its jobs there failed)\n";
  TextTable success;
  for (auto [h, a] : std::vector<std::pair<const char*, A>>{{"length", A::kRight},
                                                            {"models", A::kRight},
                                                            {"working", A::kRight},
                                                            {"success", A::kRight},
                                                            {"context", A::kRight},
                                                            {"memory", A::kRight},
                                                            {"timeout", A::kRight},
                                                            {"crash", A::kRight},
                                                            {"error", A::kRight},
                                                            {"invalid", A::kRight},
                                                            {"other", A::kRight}})
    success.AddColumn(h, a);
  for (const auto& row : SuccessByLength(cells)) {
    auto count = [&](Cause c) { return std::to_string(row.Count(c)); };
    success.AddRow({std::to_string(row.seq_len), std::to_string(row.models), std::to_string(row.working_models),
                    FormatFixed(100.0 * row.success_rate(), 1) + "%", count(Cause::kContext), count(Cause::kMemory),
                    count(Cause::kTimeout), count(Cause::kCrash), count(Cause::kError), count(Cause::kInvalid),
                    count(Cause::kOther)});
  }
  out += success.Render() + "\n";

  out +=
      "Load time and memory by category (per model: median load; peak RSS at its shortest ok length; median "
      "[q1-q3] across models)\n";
  TextTable load;
  load.AddColumn("category");
  load.AddColumn("models", A::kRight);
  load.AddColumn("load_ms", A::kRight);
  load.AddColumn("peak_MiB", A::kRight);
  for (const auto& row : LoadAndMemoryByCategory(cells))
    load.AddRow(
        {row.category, std::to_string(row.models), SpreadText(row.load_ms, 0), SpreadText(row.peak_rss_mib, 0)});
  out += load.Render() + "\n";

  out += "Throughput by category and length (tokens/s, median [q1-q3] across the category's ok models)\n";
  TextTable throughput;
  throughput.AddColumn("category");
  throughput.AddColumn("length", A::kRight);
  throughput.AddColumn("models", A::kRight);
  throughput.AddColumn("tokens/s", A::kRight);
  for (const auto& row : ThroughputByCategoryLength(cells))
    throughput.AddRow({row.category, std::to_string(row.seq_len), std::to_string(row.tokens_per_s.n),
                       SpreadText(row.tokens_per_s, 0)});
  out += throughput.Render() + "\n";

  out += "Peak memory by category and length (MiB, median [q1-q3] across the category's ok models)\n";
  TextTable memory;
  memory.AddColumn("category");
  memory.AddColumn("length", A::kRight);
  memory.AddColumn("models", A::kRight);
  memory.AddColumn("peak_MiB", A::kRight);
  for (const auto& row : MemoryByCategoryLength(cells))
    memory.AddRow({row.category, std::to_string(row.seq_len), std::to_string(row.peak_rss_mib.n),
                   SpreadText(row.peak_rss_mib, 0)});
  out += memory.Render() + "\n";

  out += "Per model: working range, the wall and its cause, scaling (exponents from a log-log fit), efficiency\n";
  TextTable models;
  for (auto [h, a] : std::vector<std::pair<const char*, A>>{{"model", A::kLeft},
                                                            {"category", A::kLeft},
                                                            {"params", A::kRight},
                                                            {"max_len", A::kRight},
                                                            {"class", A::kLeft},
                                                            {"wall", A::kLeft},
                                                            {"mem_x", A::kRight},
                                                            {"lat_exp", A::kRight},
                                                            {"mem_exp", A::kRight},
                                                            {"tok/s/Mparam", A::kRight}})
    models.AddColumn(h, a);
  std::map<std::string, int> classes;
  for (const auto& s : ScalingByModel(cells)) {
    ++classes[s.length_class];
    models.AddRow(ModelRowCells(s));
  }
  out += models.Render() + "\n";

  out +=
      "Parameter efficiency by category (tokens/s per million parameters; per model the median over its ok "
      "cells)\n";
  TextTable efficiency;
  efficiency.AddColumn("category");
  efficiency.AddColumn("models", A::kRight);
  efficiency.AddColumn("tok/s/Mparam", A::kRight);
  for (const auto& row : EfficiencyByCategory(ScalingByModel(cells)))
    efficiency.AddRow(
        {row.category, std::to_string(row.tokens_per_s_per_mparam.n), SpreadText(row.tokens_per_s_per_mparam, 1)});
  out += efficiency.Render() + "\n";

  out += "Max-working-length classes (distinct models): ";
  for (const char* name : {"High", "Medium", "Low", "Failed"})
    out += std::string(name) + " " + std::to_string(classes[name]) + (std::string(name) == "Failed" ? "\n" : ", ");
  return out;
}

std::vector<std::string> DecodeRowCells(const CellSummary& c) {
  const bool measured = c.ok_jobs > 0;
  return {c.model_id,
          c.category,
          std::to_string(c.seq_len),
          c.new_tokens > 0 ? std::to_string(c.new_tokens) : "",
          std::to_string(c.jobs),
          std::to_string(c.ok_jobs),
          c.works && c.cause == Cause::kOk ? "ok" : CauseName(c.cause),
          measured ? FormatFixed(c.ttft_ms, 1) : "",
          measured ? FormatFixed(c.tpot_ms, 2) : "",
          measured ? FormatFixed(c.decode_tokens_per_s, 1) : "",
          measured && c.kv_cache_bytes > 0 ? FormatFixed(c.kv_cache_bytes / 1048576.0, 1) : "",
          measured && c.peak_rss_bytes > 0 ? FormatFixed(c.peak_rss_bytes / 1048576.0, 0) : ""};
}

std::string RenderDecode(const std::vector<CellSummary>& cells) {
  if (cells.empty()) return "";
  using A = TextTable::Align;
  TextTable table;
  for (auto [h, a] : std::vector<std::pair<const char*, A>>{{"model", A::kLeft},
                                                            {"category", A::kLeft},
                                                            {"length", A::kRight},
                                                            {"new_tok", A::kRight},
                                                            {"jobs", A::kRight},
                                                            {"ok", A::kRight},
                                                            {"outcome", A::kLeft},
                                                            {"ttft_ms", A::kRight},
                                                            {"tpot_ms", A::kRight},
                                                            {"dec_tok/s", A::kRight},
                                                            {"kv_MiB", A::kRight},
                                                            {"peak_MiB", A::kRight}})
    table.AddColumn(h, a);
  for (const auto& cell : cells) table.AddRow(DecodeRowCells(cell));
  return "Decode by model and prompt length (workload decode; medians over the cell's ok jobs: time to first "
         "token, time per output token, decode tokens/s = batch / TPOT; KV cache allocated)\n" +
         table.Render() + "\n";
}

std::vector<std::string> DecodeScalingRowCells(const DecodeSeries& s) {
  auto exponent = [](const std::optional<PowerFit>& fit) { return fit ? FormatFixed(fit->exponent, 2) : "-"; };
  return {s.model_id,
          s.variant,
          std::to_string(s.batch),
          std::to_string(s.new_tokens),
          std::to_string(s.points.size()),
          exponent(s.ttft_fit),
          exponent(s.tpot_fit),
          exponent(s.kv_fit),
          std::to_string(s.prefill_lengths),
          s.prefill_lengths > 0 ? exponent(s.prefill_fit) : ""};
}

std::string RenderDecodeScaling(const std::vector<Row>& rows) {
  const auto series = DecodeScaling(rows);
  const auto by_category = DecodeThroughputByCategoryLength(Cells(rows, v1::WORKLOAD_DECODE));
  if (series.empty() && by_category.empty()) return "";
  using A = TextTable::Align;
  TextTable table;
  for (auto [h, a] : std::vector<std::pair<const char*, A>>{{"model", A::kLeft},
                                                            {"variant", A::kLeft},
                                                            {"batch", A::kRight},
                                                            {"new_tok", A::kRight},
                                                            {"lengths", A::kRight},
                                                            {"ttft_exp", A::kRight},
                                                            {"tpot_exp", A::kRight},
                                                            {"kv_exp", A::kRight},
                                                            {"prefill_len", A::kRight},
                                                            {"prefill_exp", A::kRight}})
    table.AddColumn(h, a);
  std::string comparisons;
  const auto qualified = QualifiedLabels(series);
  for (size_t i = 0; i < series.size(); ++i) {
    table.AddRow(DecodeScalingRowCells(series[i]));
    comparisons += "  " + DecodeComparison(series[i], qualified[i]) + "\n";
  }
  std::string out =
      "Decode scaling (exponent k of y = c n^k, a least-squares fit of log y on log prompt length over ok lengths; "
      "- = fewer than " +
      std::to_string(kMinDecodeFitLengths) +
      " lengths; prefill = forward latency of the same model, variant and batch)\n" + table.Render() + comparisons +
      "\n";
  TextTable rates;
  rates.AddColumn("category");
  rates.AddColumn("length", A::kRight);
  rates.AddColumn("models", A::kRight);
  rates.AddColumn("dec_tok/s", A::kRight);
  for (const auto& row : by_category)
    rates.AddRow({row.category, std::to_string(row.seq_len), std::to_string(row.tokens_per_s.n),
                  SpreadText(row.tokens_per_s, 1)});
  return out +
         "Decode tokens/s by category and prompt length (batch / median TPOT, median [q1-q3] across the category's "
         "ok models)\n" +
         rates.Render() + "\n";
}

std::string MaxWorkingText(const ModelScaling& s) {
  return s.max_working_length > 0 ? std::to_string(s.max_working_length) : "-";
}

std::string WallText(const ModelScaling& s) {
  return s.first_failing_length > 0 ? std::to_string(s.first_failing_length) + " (" + CauseName(s.failure_cause) + ")"
                                    : "not reached";
}

std::vector<std::string> ModelRowCells(const ModelScaling& s) {
  return {s.model_id,
          s.category,
          FormatMillions(s.parameters),
          MaxWorkingText(s),
          s.length_class,
          WallText(s),
          s.memory_scaling > 0 ? FormatFixed(s.memory_scaling, 2) : "",
          FitText(s.latency_fit),
          FitText(s.memory_fit),
          s.efficiency > 0 ? FormatFixed(s.efficiency, 1) : ""};
}

std::string WallCauseText(const wall::Answer& answer) {
  return answer.first_failing_length > 0 ? CauseName(CauseOf(answer.cause)) : "(none up to max)";
}

std::string WallStateText(const wall::Answer& answer) {
  if (answer.converged) return "converged";
  return answer.stopped.empty() ? "searching" : "stopped: " + answer.stopped;
}

std::string RenderWalls(const std::vector<WallRow>& walls) {
  if (walls.empty()) return "";
  using A = TextTable::Align;
  TextTable table;
  for (auto [h, a] : std::vector<std::pair<const char*, A>>{{"sweep", A::kRight},
                                                            {"model", A::kLeft},
                                                            {"workload", A::kLeft},
                                                            {"variant", A::kLeft},
                                                            {"batch", A::kRight},
                                                            {"rep", A::kRight},
                                                            {"max_working", A::kRight},
                                                            {"bracket", A::kLeft},
                                                            {"cause", A::kLeft},
                                                            {"peak_MiB", A::kRight},
                                                            {"kv_share", A::kRight},
                                                            {"memory_MiB", A::kRight},
                                                            {"predicted", A::kRight},
                                                            {"diff", A::kRight},
                                                            {"probes", A::kRight},
                                                            {"state", A::kLeft}})
    table.AddColumn(h, a);
  for (const auto& w : walls) {
    const auto& a = w.answer;
    const std::string bracket = "[" + std::to_string(a.max_working_length) + ", " +
                                (a.first_failing_length > 0 ? std::to_string(a.first_failing_length) : "-") + "]";
    table.AddRow({std::to_string(w.sweep_id), w.model_id, WorkloadLabel(w.workload, w.checkpointing), w.variant,
                  std::to_string(w.batch), std::to_string(w.repetition), std::to_string(a.max_working_length), bracket,
                  WallCauseText(a), a.peak_at_max_working > 0 ? FormatFixed(a.peak_at_max_working / 1048576.0, 0) : "",
                  w.kv_cache_at_max_working > 0 && a.peak_at_max_working > 0
                      ? FormatFixed(100.0 * w.kv_cache_at_max_working / a.peak_at_max_working, 0) + "%"
                      : "",
                  w.memory_bytes > 0 ? FormatFixed(w.memory_bytes / 1048576.0, 0) : "",
                  w.predicted ? std::to_string(*w.predicted) : "",
                  w.predicted ? (*w.predicted >= a.max_working_length ? "+" : "") +
                                    std::to_string(*w.predicted - a.max_working_length)
                              : "",
                  std::to_string(a.probes), WallStateText(a)});
  }
  return "Walls (wall finder: the longest working length, the bracket [last ok, first failure] and its cause; "
         "kv_share = a decode wall's KV cache at the longest working length, as a share of its peak; "
         "predicted = where the fitted peak-memory curve of the ok probes meets the memory)\n" +
         table.Render() + "\n";
}

}  // namespace tscale::report
