// The attention implementations side by side at a catalog model's attention shape: for eager, memory_efficient and
// (libtorch 2.x) fused, the median time of one Attend call and its peak RSS growth, at each length.
//
//   build/bench/tscale_attention_impls [--model TinyLlama/TinyLlama-1.1B-Chat-v1.0] [--lengths 2048,4096,8192]
//                                      [--reps 3] [--threads 2] [--batch 1] [--max-gib 8]
//
// One layer's attention, standalone, so lengths past a model's position table run too: q [batch, heads, n,
// head_dim], k and v [batch, kv_heads, n, head_dim], random fp32 on the CPU, with the mask the model's layers use
// (causal for decoders; the window and global tokens of a windowed layer; ALiBi; T5 buckets with a random table).
// Each rep runs every implementation once, in an order that alternates between reps, so drift on a shared machine
// hits all alike; compare ratios within one run. Peak RSS growth is VmHWM after a /proc/self/clear_refs reset minus
// VmRSS before the call (Linux; "-" elsewhere), the largest over the reps. An implementation whose estimated extra
// memory is above --max-gib is skipped at that length, with the estimate, instead of taking the machine down.
// Figures and commands: docs/measurement.md, "Fused attention (libtorch 2.x)".
#include <torch/torch.h>
#include <torch/version.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "bench/bench_catalog.h"
#include "common/host_info.h"
#include "common/model_config.h"
#include "runner/attention.h"

namespace {

using namespace tscale;

constexpr double kMiB = 1024.0 * 1024.0;

bool ResetPeak() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

// The mask of the model's (windowed, where some are) self-attention layers.
AttentionMask MaskFor(const ModelConfig& c) {
  AttentionMask m;
  m.causal = c.causal();
  bool windowed = false;
  for (int layer = 0; layer < c.layers; ++layer) windowed = windowed || c.WindowedLayer(layer);
  if (windowed) {
    m.window = c.attention_window;
    m.global_tokens = c.global_tokens;
  }
  if (c.position == PositionScheme::kAlibi) m.alibi_slopes = AlibiSlopes(c.heads);
  if (c.relative_buckets > 0) {
    m.relative_bias = torch::randn({c.relative_buckets, c.heads});
    m.relative_buckets = c.relative_buckets;
    m.relative_max_distance = c.relative_max_distance;
  }
  return m;
}

std::string MaskText(const AttentionMask& m) {
  std::string text = m.causal ? "causal" : "bidirectional";
  if (m.window > 0) text += ", window " + std::to_string(m.window);
  if (m.global_tokens > 0) text += ", " + std::to_string(m.global_tokens) + " global";
  if (m.alibi_slopes.defined()) text += ", ALiBi";
  if (m.relative_bias.defined()) text += ", T5 relative bias";
  return text;
}

const char* Name(v1::AttentionImpl impl) {
  switch (impl) {
    case v1::ATTENTION_IMPL_EAGER:
      return "eager";
    case v1::ATTENTION_IMPL_MEMORY_EFFICIENT:
      return "memory_efficient";
    default:
      return "fused";
  }
}

struct Cell {
  std::vector<double> ms;
  int64_t peak = -1;  // largest peak RSS growth over the reps, bytes
  std::string skipped;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"attention implementations: time and peak memory of one call at a catalog model's shape"};
  std::string model_id = "TinyLlama/TinyLlama-1.1B-Chat-v1.0", catalog_dir = TSCALE_CATALOG_DIR;
  std::vector<int> lengths{2048, 4096, 8192};
  int reps = 3, threads = 2, batch = 1;
  double max_gib = 8;
  app.add_option("--model", model_id, "catalog id");
  app.add_option("--lengths", lengths, "sequence lengths")->delimiter(',');
  app.add_option("--reps", reps, "calls per implementation and length")->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "intra-op threads")->check(CLI::PositiveNumber);
  app.add_option("--batch", batch, "batch size")->check(CLI::PositiveNumber);
  app.add_option("--max-gib", max_gib, "skip an implementation whose estimated extra memory is above this");
  app.add_option("--catalog", catalog_dir, "catalog directory");
  CLI11_PARSE(app, argc, argv);

  const std::optional<ModelConfig> config = LoadBenchModel(catalog_dir, model_id);
  if (!config) return 1;
  at::set_num_threads(threads);
  at::set_num_interop_threads(1);
  c10::InferenceMode guard;
  torch::manual_seed(1);

  const int64_t heads = config->heads, kv_heads = config->EffectiveKvHeads(), head_dim = config->EffectiveHeadDim();
  const AttentionMask mask = MaskFor(*config);
  const bool can_measure_peak = ResetPeak() && PeakRssBytes() > 0;
  std::vector<v1::AttentionImpl> impls{v1::ATTENTION_IMPL_EAGER, v1::ATTENTION_IMPL_MEMORY_EFFICIENT};
  if (FusedAttentionAvailable()) impls.push_back(v1::ATTENTION_IMPL_FUSED);

  std::printf(
      "%s: heads %lld, kv_heads %lld, head_dim %lld, %s; batch %d, fp32, CPU, %d threads, libtorch %s, "
      "%d reps\n",
      config->id.c_str(), static_cast<long long>(heads), static_cast<long long>(kv_heads),
      static_cast<long long>(head_dim), MaskText(mask).c_str(), batch, threads, TORCH_VERSION, reps);

  auto inputs = [&](int64_t n) {
    return std::vector<torch::Tensor>{torch::randn({batch, heads, n, head_dim}),
                                      torch::randn({batch, kv_heads, n, head_dim}),
                                      torch::randn({batch, kv_heads, n, head_dim})};
  };
  // Warm-up at a small length: thread pools and allocator state are not what this measures.
  {
    auto x = inputs(256);
    for (auto impl : impls) Attend(x[0], x[1], x[2], mask, impl);
  }

  std::printf("\n%6s  %-16s  %10s  %10s  %9s  %8s  %8s  %s\n", "n", "impl", "median_ms", "min_ms", "peak_MiB",
              "time/me", "peak/me", "fused path");
  for (int n : lengths) {
    auto x = inputs(n);
    const double scores = static_cast<double>(batch) * heads * n * n * 4;  // one fp32 [batch, heads, n, n]
    FusedPath path = DescribeFusedPath(x[0], x[1], x[2], mask);
    std::vector<Cell> cells(impls.size());
    for (size_t i = 0; i < impls.size(); ++i) {
      // Extra memory beyond q, k, v and the output: eager holds scores and probabilities; fused its mask (and the
      // boolean it is built from), plus the scores again when SDPA takes its math path.
      double estimate = 0;
      if (impls[i] == v1::ATTENTION_IMPL_EAGER) estimate = 2 * scores;
      if (impls[i] == v1::ATTENTION_IMPL_FUSED)
        estimate = 1.25 * static_cast<double>(path.mask_bytes) + (path.backend == "math" ? 2 * scores : 0);
      if (estimate > max_gib * 1024 * kMiB) {
        char text[64];
        std::snprintf(text, sizeof text, "skipped: ~%.1f GiB > --max-gib", estimate / (1024 * kMiB));
        cells[i].skipped = text;
      }
    }
    for (int r = 0; r < reps; ++r) {
      for (size_t step = 0; step < impls.size(); ++step) {
        const size_t i = r % 2 == 0 ? step : impls.size() - 1 - step;
        if (!cells[i].skipped.empty()) continue;
        const bool reset = can_measure_peak && ResetPeak();
        const int64_t before = CurrentRssBytes();
        const auto start = std::chrono::steady_clock::now();
        auto out = Attend(x[0], x[1], x[2], mask, impls[i]);
        const auto stop = std::chrono::steady_clock::now();
        const int64_t peak = PeakRssBytes();
        out.reset();
        cells[i].ms.push_back(std::chrono::duration<double, std::milli>(stop - start).count());
        if (reset && before >= 0 && peak >= 0) cells[i].peak = std::max(cells[i].peak, peak - before);
      }
    }
    const Cell& me = cells[1];
    const double me_ms = me.ms.empty() ? 0 : Median(me.ms);
    for (size_t i = 0; i < impls.size(); ++i) {
      const Cell& c = cells[i];
      const std::string note = impls[i] == v1::ATTENTION_IMPL_FUSED ? path.call + " -> " + path.backend : "";
      if (!c.skipped.empty()) {
        std::printf("%6d  %-16s  %s  %s\n", n, Name(impls[i]), c.skipped.c_str(), note.c_str());
        continue;
      }
      const double ms = Median(c.ms);
      char peak[16] = "-", peak_ratio[16] = "-";
      if (c.peak >= 0) std::snprintf(peak, sizeof peak, "%.1f", static_cast<double>(c.peak) / kMiB);
      if (c.peak >= 0 && me.peak > 0)
        std::snprintf(peak_ratio, sizeof peak_ratio, "%.2f",
                      static_cast<double>(c.peak) / static_cast<double>(me.peak));
      std::printf("%6d  %-16s  %10.1f  %10.1f  %9s  %8.2f  %8s  %s\n", n, Name(impls[i]), ms,
                  *std::min_element(c.ms.begin(), c.ms.end()), peak, me_ms > 0 ? ms / me_ms : 0.0, peak_ratio,
                  note.c_str());
    }
    if (!FusedAttentionAvailable())
      std::printf("%6d  %-16s  n/a (libtorch %s has no SDPA)\n", n, "fused", TORCH_VERSION);
    std::fflush(stdout);
  }
  return 0;
}
