// The fused CPU selective scan against the libtorch-ops scans at a Mamba layer's shape: median time of one scan
// over [batch, length, d_inner] with state N, for the fused kernel, the chunked ops scan and the sequential ops
// reference, at each length, and the fused kernel's largest difference from the reference.
//
//   build/bench/tscale_selective_scan_speed [--d-inner 1536] [--state 16] [--lengths 1024,4096,16384]
//                                           [--reps 3] [--threads 2] [--batch 1] [--skip-reference-above 16384]
//
// mamba-130m's layer is d_inner 1536, N 16 (the defaults). Inputs are random fp32, shaped as a layer makes them
// (delta = softplus(.), A = -(1..N)). Each rep runs the kernels in an order that alternates between reps, so
// drift on a shared machine hits all alike; compare ratios within one run. Figures: docs/performance.md.
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "runner/selective_scan.h"

namespace {

using namespace tscale;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fused CPU selective scan vs libtorch-ops scans"};
  int64_t d_inner = 1536, n_state = 16, batch = 1, skip_reference_above = 16384;
  int reps = 3, threads = 2;
  std::vector<int64_t> lengths{1024, 4096, 16384};
  app.add_option("--d-inner", d_inner, "channels (mamba-130m: 1536)");
  app.add_option("--state", n_state, "state width N");
  app.add_option("--lengths", lengths, "sequence lengths")->delimiter(',');
  app.add_option("--reps", reps, "repetitions per kernel and length");
  app.add_option("--threads", threads, "intra-op threads");
  app.add_option("--batch", batch, "batch size");
  app.add_option("--skip-reference-above", skip_reference_above, "longest length the sequential reference runs");
  CLI11_PARSE(app, argc, argv);
  at::set_num_threads(threads);
  c10::InferenceMode guard;
  std::printf("d_inner %lld, N %lld, batch %lld, %d threads, fp32\n", static_cast<long long>(d_inner),
              static_cast<long long>(n_state), static_cast<long long>(batch), threads);
  std::printf("%8s %12s %12s %12s %10s %10s %12s\n", "length", "fused ms", "chunked ms", "reference ms", "ref/fused",
              "chk/fused", "max |diff|");
  for (int64_t length : lengths) {
    torch::manual_seed(1);
    ScanInputs in;
    in.u = torch::randn({batch, length, d_inner});
    in.delta = torch::softplus(torch::randn({batch, length, d_inner}) - 3);
    in.A = -torch::arange(1, n_state + 1, torch::kFloat).expand({d_inner, n_state}).contiguous();
    in.B = torch::randn({batch, length, n_state});
    in.C = torch::randn({batch, length, n_state});
    in.D = torch::ones({d_inner});
    in.z = torch::randn({batch, length, d_inner});
    std::vector<ScanKernel> kernels{ScanKernel::kFusedCpu, ScanKernel::kChunked};
    if (length <= skip_reference_above) kernels.push_back(ScanKernel::kReference);
    std::map<ScanKernel, std::vector<double>> ms;
    std::map<ScanKernel, torch::Tensor> out;
    for (int rep = 0; rep < reps; ++rep) {
      std::vector<ScanKernel> order = kernels;
      if (rep % 2) std::reverse(order.begin(), order.end());
      for (ScanKernel kernel : order) {
        const auto start = std::chrono::steady_clock::now();
        out[kernel] = SelectiveScan(in, kernel);
        ms[kernel].push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
      }
    }
    const double fused = Median(ms[ScanKernel::kFusedCpu]), chunked = Median(ms[ScanKernel::kChunked]);
    const bool ref = out.count(ScanKernel::kReference);
    const double reference = ref ? Median(ms[ScanKernel::kReference]) : 0;
    const double diff = ref ? (out[ScanKernel::kFusedCpu] - out[ScanKernel::kReference]).abs().max().item<double>() : 0;
    std::printf("%8lld %12.1f %12.1f %12s %10s %10.1f %12s\n", static_cast<long long>(length), fused, chunked,
                ref ? std::to_string(reference).substr(0, 9).c_str() : "-",
                ref ? std::to_string(reference / fused).substr(0, 6).c_str() : "-", chunked / fused,
                ref ? std::to_string(diff).substr(0, 10).c_str() : "-");
  }
  return 0;
}
