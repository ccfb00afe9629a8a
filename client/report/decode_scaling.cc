#include "client/report/decode_scaling.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "client/table.h"
#include "common/latency_stats.h"

namespace tscale::report {
namespace {

double Median(std::vector<double> values) {
  return values.empty() ? 0 : Summarize(std::move(values)).median;
}

// The forward rows' key: what must match for a prefill exponent to describe the same computation as a decode
// series (its new_tokens aside).
using ForwardKey = std::tuple<std::string, std::string, int>;  // model, variant, batch

}  // namespace

std::vector<DecodeSeries> DecodeScaling(const std::vector<Row>& rows) {
  using Key = std::tuple<std::string, std::string, int, int>;  // model, variant, batch, new_tokens
  std::map<Key, std::map<int, std::vector<const Row*>>> decode;
  std::map<ForwardKey, std::map<int, std::vector<double>>> forward;  // ok jobs' median latency per length
  for (const auto& row : rows) {
    if (row.outcome != v1::OUTCOME_OK) continue;
    if (row.workload == v1::WORKLOAD_DECODE)
      decode[{row.model_id, row.variant, row.batch, row.new_tokens}][row.seq_len].push_back(&row);
    else if (row.workload == v1::WORKLOAD_FORWARD)
      forward[{row.model_id, row.variant, row.batch}][row.seq_len].push_back(row.median_ms);
  }
  std::vector<DecodeSeries> out;
  for (const auto& [key, by_length] : decode) {
    DecodeSeries s;
    std::tie(s.model_id, s.variant, s.batch, s.new_tokens) = key;
    std::vector<std::pair<double, double>> ttft, tpot, kv;
    for (const auto& [length, jobs] : by_length) {
      DecodePoint p;
      p.seq_len = length;
      std::vector<double> ttfts, tpots, rates;
      for (const Row* r : jobs) {
        s.category = r->category;
        ++p.ok_jobs;
        ttfts.push_back(r->ttft_ms);
        tpots.push_back(r->tpot_ms);
        rates.push_back(r->decode_tokens_per_s);
        p.kv_cache_bytes = std::max(p.kv_cache_bytes, r->kv_cache_bytes);
      }
      p.ttft_ms = Median(ttfts);
      p.tpot_ms = Median(tpots);
      p.decode_tokens_per_s = Median(rates);
      ttft.emplace_back(length, p.ttft_ms);
      tpot.emplace_back(length, p.tpot_ms);
      kv.emplace_back(length, static_cast<double>(p.kv_cache_bytes));
      s.points.push_back(p);
    }
    s.ttft_fit = FitPowerLaw(ttft, kMinDecodeFitLengths);
    s.tpot_fit = FitPowerLaw(tpot, kMinDecodeFitLengths);
    s.kv_fit = FitPowerLaw(kv, kMinDecodeFitLengths);
    auto prefill = forward.find({s.model_id, s.variant, s.batch});
    if (prefill != forward.end()) {
      std::vector<std::pair<double, double>> latency;
      for (const auto& [length, medians] : prefill->second) latency.emplace_back(length, Median(medians));
      s.prefill_lengths = static_cast<int>(latency.size());
      s.prefill_fit = FitPowerLaw(latency, kMinDecodeFitLengths);
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::string DecodeSeriesLabel(const DecodeSeries& s, bool qualified) {
  if (!qualified) return s.model_id;
  return s.model_id + " [" + s.variant + ", batch " + std::to_string(s.batch) + ", " + std::to_string(s.new_tokens) +
         " new tokens]";
}

std::vector<bool> QualifiedLabels(const std::vector<DecodeSeries>& series) {
  std::map<std::string, int> per_model;
  for (const auto& s : series) ++per_model[s.model_id];
  std::vector<bool> out;
  for (const auto& s : series) out.push_back(per_model[s.model_id] > 1);
  return out;
}

std::string PowerText(const std::optional<PowerFit>& fit, int lengths) {
  const std::string counted = std::to_string(lengths) + (lengths == 1 ? " length" : " lengths");
  if (!fit) return "no exponent (" + counted + "; a fit needs " + std::to_string(kMinDecodeFitLengths) + ")";
  return "n^" + FormatFixed(fit->exponent, 2) + " (" + counted + ")";
}

std::string DecodeComparison(const DecodeSeries& s, bool qualified) {
  const int lengths = static_cast<int>(s.points.size());
  const bool both = s.tpot_fit && s.prefill_fit;
  const std::string tpot =
      s.tpot_fit ? "TPOT grows as " + PowerText(s.tpot_fit, lengths) : "TPOT: " + PowerText(s.tpot_fit, lengths);
  std::string prefill;
  if (s.prefill_lengths == 0)
    prefill = "prefill: no forward rows of this model, variant and batch";
  else if (!s.prefill_fit)
    prefill = "prefill: " + PowerText(s.prefill_fit, s.prefill_lengths);
  else
    prefill = std::string(both ? "prefill as " : "prefill grows as ") + PowerText(s.prefill_fit, s.prefill_lengths);
  const std::string out = DecodeSeriesLabel(s, qualified) + ": " + tpot + (both ? ", " : "; ") + prefill;
  if (!both) return out;
  // Prefill's exponent minus TPOT's: attention over a KV cache makes a step linear in the context at most,
  // while a prefill of n tokens is at least linear, so the gap is expected and its size is the finding.
  const double gap = s.prefill_fit->exponent - s.tpot_fit->exponent;
  if (gap >= 0.5) return out + ": a decode step grows far more slowly than prefill";
  if (gap >= 0.15) return out + ": a decode step grows more slowly than prefill";
  if (gap > -0.15) return out + ": a decode step grows about as fast as prefill";
  return out + ": a decode step grows faster than prefill";
}

}  // namespace tscale::report
