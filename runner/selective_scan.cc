#include "runner/selective_scan.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace tscale {
namespace {

// exp(x) for the kernel's inner loop, branch-free so the compiler vectorises it: Cephes' expf (range reduction by
// ln 2 in two parts, a degree-6 polynomial, the exponent put in by bit arithmetic), relative error about 2e-7.
// The argument is clamped to [-87, 88], where expf neither underflows to a denormal nor overflows.
inline float VectorExp(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  const float shifted = x * 1.44269504088896341f + 12582912.0f;  // 1.5 * 2^23: rounds x / ln 2 to an integer
  const float n = shifted - 12582912.0f;
  int32_t bits;
  std::memcpy(&bits, &shifted, sizeof bits);
  const int32_t exponent = bits - 0x4B400000;
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t scale_bits = (exponent + 127) << 23;
  float scale;
  std::memcpy(&scale, &scale_bits, sizeof scale);
  return p * scale;
}

// Channels one task scans together: the lanes of the innermost loop, which the compiler vectorises.
constexpr int64_t kLanes = 16;

template <typename T>
void FusedScan(const T* u, const T* delta, const float* A, const T* B, const T* C, const float* D, const T* z, T* y,
               float* state, int64_t batch, int64_t length, int64_t channels, int64_t n_state) {
  const int64_t blocks = (channels + kLanes - 1) / kLanes;
  at::parallel_for(0, batch * blocks, 1, [&](int64_t begin, int64_t end) {
    // The block's state and A, [N][lanes]: a lane past the last channel keeps delta = 0 (its state stays 0).
    std::vector<float> h(static_cast<size_t>(n_state * kLanes)), a(h.size());
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / blocks, c0 = (task % blocks) * kLanes, width = std::min(kLanes, channels - c0);
      float* block_state = state + (b * channels + c0) * n_state;  // [width][N] in the [batch, d_inner, N] state
      std::fill(h.begin(), h.end(), 0.0f);
      std::fill(a.begin(), a.end(), 0.0f);
      for (int64_t j = 0; j < width; ++j)
        for (int64_t n = 0; n < n_state; ++n) {
          h[n * kLanes + j] = block_state[j * n_state + n];
          a[n * kLanes + j] = A[(c0 + j) * n_state + n];
        }
      for (int64_t t = 0; t < length; ++t) {
        const int64_t row = b * length + t, at = row * channels + c0;
        float dt[kLanes] = {}, x[kLanes] = {}, dtx[kLanes] = {}, acc[kLanes] = {};
        for (int64_t j = 0; j < width; ++j) {
          dt[j] = static_cast<float>(delta[at + j]);
          x[j] = static_cast<float>(u[at + j]);
          dtx[j] = dt[j] * x[j];
        }
        const T* Bt = B + row * n_state;
        const T* Ct = C + row * n_state;
        for (int64_t n = 0; n < n_state; ++n) {
          const float bn = static_cast<float>(Bt[n]), cn = static_cast<float>(Ct[n]);
          float* hn = &h[n * kLanes];
          const float* an = &a[n * kLanes];
          for (int64_t j = 0; j < kLanes; ++j) {
            hn[j] = VectorExp(dt[j] * an[j]) * hn[j] + dtx[j] * bn;
            acc[j] += cn * hn[j];
          }
        }
        for (int64_t j = 0; j < width; ++j) {
          float out = acc[j] + D[c0 + j] * x[j];
          if (z) {
            const float g = static_cast<float>(z[at + j]);
            out *= g / (1.0f + std::exp(-g));
          }
          y[at + j] = static_cast<T>(out);
        }
      }
      for (int64_t j = 0; j < width; ++j)
        for (int64_t n = 0; n < n_state; ++n) block_state[j * n_state + n] = h[n * kLanes + j];
    }
  });
}

void CheckShapes(const ScanInputs& in) {
  auto fail = [](const std::string& why) { throw std::invalid_argument("selective scan: " + why); };
  if (in.u.dim() != 3) fail("u must be [batch, length, d_inner]");
  const int64_t b = in.u.size(0), l = in.u.size(1), d = in.u.size(2);
  if (in.delta.sizes() != in.u.sizes()) fail("delta must have u's shape");
  if (in.A.dim() != 2 || in.A.size(0) != d) fail("A must be [d_inner, N]");
  const int64_t n = in.A.size(1);
  for (const torch::Tensor* t : {&in.B, &in.C})
    if (t->dim() != 3 || t->size(0) != b || t->size(1) != l || t->size(2) != n) fail("B and C must be [batch, length, N]");
  if (in.D.dim() != 1 || in.D.size(0) != d) fail("D must be [d_inner]");
  if (in.z.defined() && in.z.sizes() != in.u.sizes()) fail("z must have u's shape");
}

torch::Tensor InitialState(const ScanInputs& in, torch::Tensor* state) {
  const auto options = in.u.options().dtype(torch::kFloat);
  if (state && state->defined()) return state->to(options);
  return torch::zeros({in.u.size(0), in.u.size(2), in.A.size(1)}, options);
}

torch::Tensor Fused(const ScanInputs& in, torch::Tensor* state) {
  if (!in.u.device().is_cpu()) throw std::invalid_argument("selective scan: the fused kernel runs on the CPU only");
  if (torch::GradMode::is_enabled() && (in.u.requires_grad() || in.delta.requires_grad() || in.B.requires_grad()))
    throw std::invalid_argument("selective scan: the fused kernel has no backward; use the chunked scan under autograd");
  const auto dtype = in.u.scalar_type();
  if (dtype != torch::kFloat && dtype != torch::kBFloat16)
    throw std::invalid_argument("selective scan: the fused kernel takes fp32 or bf16 inputs");
  auto same = [&](const torch::Tensor& t) { return t.to(dtype).contiguous(); };
  const torch::Tensor u = same(in.u), delta = same(in.delta), B = same(in.B), C = same(in.C);
  const torch::Tensor z = in.z.defined() ? same(in.z) : torch::Tensor();
  const torch::Tensor A = in.A.to(torch::kFloat).contiguous(), D = in.D.to(torch::kFloat).contiguous();
  torch::Tensor h = InitialState(in, state).contiguous();
  torch::Tensor y = torch::empty_like(u);
  const int64_t b = u.size(0), l = u.size(1), d = u.size(2), n = A.size(1);
  if (dtype == torch::kFloat) {
    FusedScan<float>(u.data_ptr<float>(), delta.data_ptr<float>(), A.data_ptr<float>(), B.data_ptr<float>(),
                     C.data_ptr<float>(), D.data_ptr<float>(), z.defined() ? z.data_ptr<float>() : nullptr,
                     y.data_ptr<float>(), h.data_ptr<float>(), b, l, d, n);
  } else {
    using Bf = c10::BFloat16;
    FusedScan<Bf>(u.data_ptr<Bf>(), delta.data_ptr<Bf>(), A.data_ptr<float>(), B.data_ptr<Bf>(), C.data_ptr<Bf>(),
                  D.data_ptr<float>(), z.defined() ? z.data_ptr<Bf>() : nullptr, y.data_ptr<Bf>(), h.data_ptr<float>(),
                  b, l, d, n);
  }
  if (state) *state = h;
  return y;
}

// Within a chunk, h_t = a_t * h_{t-1} + s_t is an inclusive scan of the pairs (a_t, s_t) under
// (a2, s2) o (a1, s1) = (a2 a1, a2 s1 + s2); Hillis-Steele's log2(chunk) rounds of it are out-of-place ops, so
// autograd differentiates them. Every product of a's stays in (0, 1]: no exp of a cumulative sum to overflow.
torch::Tensor Chunked(const ScanInputs& in, torch::Tensor* state) {
  const auto f = [](const torch::Tensor& t) { return t.to(torch::kFloat); };
  const torch::Tensor u = f(in.u), delta = f(in.delta), B = f(in.B), C = f(in.C), A = f(in.A);
  torch::Tensor h = InitialState(in, state);
  const int64_t length = u.size(1);
  std::vector<torch::Tensor> ys;
  for (int64_t c0 = 0; c0 < length; c0 += kScanChunk) {
    const int64_t T = std::min(kScanChunk, length - c0);
    const torch::Tensor dt = delta.narrow(1, c0, T);
    torch::Tensor a = torch::exp(dt.unsqueeze(-1) * A);                                             // [b, T, d, N]
    torch::Tensor s = (dt * u.narrow(1, c0, T)).unsqueeze(-1) * B.narrow(1, c0, T).unsqueeze(2);  // [b, T, d, N]
    for (int64_t off = 1; off < T; off *= 2) {
      const torch::Tensor a_late = a.narrow(1, off, T - off);
      s = torch::cat({s.narrow(1, 0, off), a_late * s.narrow(1, 0, T - off) + s.narrow(1, off, T - off)}, 1);
      a = torch::cat({a.narrow(1, 0, off), a_late * a.narrow(1, 0, T - off)}, 1);
    }
    const torch::Tensor hs = a * h.unsqueeze(1) + s;
    ys.push_back((hs * C.narrow(1, c0, T).unsqueeze(2)).sum(-1));
    h = hs.select(1, T - 1);
  }
  torch::Tensor y = torch::cat(ys, 1) + u * f(in.D);
  if (in.z.defined()) y = y * torch::silu(f(in.z));
  if (state) *state = h;
  return y.to(in.u.scalar_type());
}

torch::Tensor Reference(const ScanInputs& in, torch::Tensor* state) {
  const auto f = [](const torch::Tensor& t) { return t.to(torch::kFloat); };
  const torch::Tensor u = f(in.u), delta = f(in.delta), B = f(in.B), C = f(in.C), A = f(in.A), D = f(in.D);
  torch::Tensor h = InitialState(in, state);
  std::vector<torch::Tensor> ys;
  for (int64_t t = 0; t < u.size(1); ++t) {
    const torch::Tensor dt = delta.select(1, t), ut = u.select(1, t);  // [b, d]
    h = torch::exp(dt.unsqueeze(-1) * A) * h + (dt * ut).unsqueeze(-1) * B.select(1, t).unsqueeze(1);
    torch::Tensor yt = (h * C.select(1, t).unsqueeze(1)).sum(-1) + D * ut;
    if (in.z.defined()) yt = yt * torch::silu(f(in.z.select(1, t)));
    ys.push_back(yt);
  }
  if (state) *state = h;
  return torch::stack(ys, 1).to(in.u.scalar_type());
}

}  // namespace

torch::Tensor SelectiveScan(const ScanInputs& in, ScanKernel kernel, torch::Tensor* state) {
  CheckShapes(in);
  switch (kernel) {
    case ScanKernel::kFusedCpu:
      return Fused(in, state);
    case ScanKernel::kChunked:
      return Chunked(in, state);
    case ScanKernel::kReference:
      return Reference(in, state);
  }
  throw std::logic_error("selective scan: unknown kernel");
}

ScanKernel ChooseScanKernel(const torch::Tensor& u) {
  const bool records = torch::GradMode::is_enabled() && u.requires_grad();
  const bool dtype = u.scalar_type() == torch::kFloat || u.scalar_type() == torch::kBFloat16;
  return u.device().is_cpu() && !records && dtype ? ScanKernel::kFusedCpu : ScanKernel::kChunked;
}

const char* ScanKernelName(ScanKernel kernel) {
  switch (kernel) {
    case ScanKernel::kFusedCpu:
      return "fused CPU selective scan";
    case ScanKernel::kChunked:
      return "chunked libtorch-ops selective scan (64 steps)";
    case ScanKernel::kReference:
      return "sequential libtorch-ops selective scan (reference)";
  }
  return "?";
}

}  // namespace tscale
