// How decode figures grow with the prompt (docs/report.md, "Decode scaling"): per decode configuration, the
// medians of TTFT, TPOT, KV cache and decode tokens/s at each prompt length, their log-log exponents, and the
// prefill exponent of the same model's forward rows, so a report can say whether a decode step grows like
// prefill does. Pure functions of the rows, like aggregate.h.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "client/report/aggregate.h"

namespace tscale::report {

// A decode exponent needs this many distinct prompt lengths: with two, one noisy length sets it alone.
constexpr int kMinDecodeFitLengths = 3;

struct DecodePoint {
  int seq_len = 0;
  int ok_jobs = 0;
  // Over the ok jobs at this length: medians of TTFT, TPOT and decode tokens/s; the largest KV cache.
  double ttft_ms = 0, tpot_ms = 0, decode_tokens_per_s = 0;
  int64_t kv_cache_bytes = 0;
};

// One decode configuration: a model, its variant (dtype/attention), batch and new_tokens. Unlike a cell, these
// are never pooled: TPOT at batch 8 and at batch 1 are different curves.
struct DecodeSeries {
  std::string model_id, category, variant;
  int batch = 1, new_tokens = 0;
  std::vector<DecodePoint> points;  // the lengths with an ok job, ascending
  // Fits of log y on log seq_len over `points`; none with fewer than kMinDecodeFitLengths lengths.
  std::optional<PowerFit> ttft_fit, tpot_fit, kv_fit;
  // The forward rows of the same model, variant and batch: ok lengths, and the fit of their median latency
  // (none with fewer than kMinDecodeFitLengths lengths, or without forward rows).
  int prefill_lengths = 0;
  std::optional<PowerFit> prefill_fit;
};
// Sorted by model, variant, batch, new_tokens; configurations without an ok job are left out (the decode
// table shows their failures).
std::vector<DecodeSeries> DecodeScaling(const std::vector<Row>& rows);

// "gpt2", or "gpt2 [fp16/sdpa, batch 4, 64 new tokens]" when `qualified` (the model has several series).
std::string DecodeSeriesLabel(const DecodeSeries& series, bool qualified);
// Per series: whether its label needs the qualifier.
std::vector<bool> QualifiedLabels(const std::vector<DecodeSeries>& series);
// "n^0.21 (4 lengths)", or "no exponent (2 lengths; a fit needs 3)".
std::string PowerText(const std::optional<PowerFit>& fit, int lengths);
// "gpt2: TPOT grows as n^0.21 (4 lengths), prefill as n^1.30 (4 lengths): a decode step grows far more slowly
// than prefill" — the verdict only when both exponents exist (thresholds in docs/report.md).
std::string DecodeComparison(const DecodeSeries& series, bool qualified);

}  // namespace tscale::report
