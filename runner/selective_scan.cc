#include "runner/selective_scan.h"

#include <ATen/Parallel.h>

#include <exception>
#include <thread>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace tscale {
namespace {

// The kernel's arithmetic is written with GCC/Clang vector extensions: the compiler does not auto-vectorise an exp,
// and libtorch's vectorised exp is not part of its API. Two widths: 4 floats (SSE2/NEON, every x86-64 and arm64
// CPU) and, on x86-64 CPUs that have them, 8 (AVX2), chosen at run time. Everything the loop calls is inlined into
// the one function compiled for the width, so the wide registers never cross a call.
#define TSCALE_INLINE inline __attribute__((always_inline))
#if defined(__GNUC__) && !defined(__clang__)
// The 8-wide helpers are only ever inlined into the AVX2 function, so the ABI of passing them by value never applies.
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
typedef float Floats4 __attribute__((vector_size(16)));
typedef float Floats8 __attribute__((vector_size(32)));

template <typename V>
constexpr int kWidth = sizeof(V) / sizeof(float);

template <typename V, typename Mask>
TSCALE_INLINE V Select(Mask mask, V yes, V no) {  // per lane: mask ? yes : no, by bits (Clang and GCC alike)
  return reinterpret_cast<V>((mask & reinterpret_cast<Mask>(yes)) | (~mask & reinterpret_cast<Mask>(no)));
}

// exp(x) per lane: Cephes' expf (range reduction by ln 2 in two parts, a degree-6 polynomial, the exponent put in
// by integer arithmetic), relative error about 2e-7. The argument is clamped to [-87, 88], where expf neither
// underflows to a denormal nor overflows.
template <typename V>
TSCALE_INLINE V VectorExp(V x) {
  using Mask = decltype(x < x);
  const V lo = V{} - 87.0f, hi = V{} + 88.0f;
  x = Select(x < lo, lo, x);
  x = Select(x > hi, hi, x);
  const V shifted = x * 1.44269504088896341f + 12582912.0f;  // 1.5 * 2^23: rounds x / ln 2 to an integer
  const V n = shifted - 12582912.0f;
  const Mask exponent = reinterpret_cast<Mask>(shifted) - 0x4B400000;
  const V r = x - n * 0.693359375f + n * 2.12194440e-4f;
  V p = V{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  return p * reinterpret_cast<V>((exponent + 127) << 23);
}

template <typename T>
struct ScanArgs {
  const T *u, *delta, *B, *C, *z;
  const float *A, *D;
  T* y;
  float* state;
  int64_t batch, length, channels, n_state;
};

// Channels one task scans together: kVectors independent vectors per state element, for instruction-level
// parallelism across the recurrence's dependency chain.
constexpr int kVectors = 4;

template <typename V, typename T>
TSCALE_INLINE void ScanTasks(const ScanArgs<T>& s, int64_t begin, int64_t end) {
  constexpr int W = kWidth<V>;
  constexpr int64_t kLanes = kVectors * W;
  const int64_t blocks = (s.channels + kLanes - 1) / kLanes, n_state = s.n_state;
  // The block's state and A, [N][kVectors]: a lane past the last channel keeps delta = 0 (its state stays 0).
  // Raw aligned memory rather than std::vector<V>: the vector's code would be compiled outside this width's target.
  const size_t bytes = (static_cast<size_t>(n_state * kVectors) * sizeof(V) + 63) / 64 * 64;
  std::unique_ptr<void, decltype(&std::free)> memory(std::aligned_alloc(64, 2 * bytes), &std::free);
  if (!memory) throw std::bad_alloc();
  V* h = static_cast<V*>(memory.get());
  V* a = h + bytes / sizeof(V);
  for (int64_t task = begin; task < end; ++task) {
    const int64_t b = task / blocks, c0 = (task % blocks) * kLanes, width = std::min(kLanes, s.channels - c0);
    float* block_state = s.state + (b * s.channels + c0) * n_state;  // [width][N] of the [batch, d_inner, N] state
    for (int64_t n = 0; n < n_state; ++n)
      for (int v = 0; v < kVectors; ++v) {
        V hv{}, av{};
        for (int l = 0; l < W; ++l) {
          const int64_t j = v * W + l;
          if (j < width) {
            hv[l] = block_state[j * n_state + n];
            av[l] = s.A[(c0 + j) * n_state + n];
          }
        }
        h[n * kVectors + v] = hv;
        a[n * kVectors + v] = av;
      }
    for (int64_t t = 0; t < s.length; ++t) {
      const int64_t row = b * s.length + t, at = row * s.channels + c0;
      V dt[kVectors] = {}, x[kVectors] = {}, acc[kVectors] = {}, dtx[kVectors];
      for (int64_t j = 0; j < width; ++j) {
        dt[j / W][j % W] = static_cast<float>(s.delta[at + j]);
        x[j / W][j % W] = static_cast<float>(s.u[at + j]);
      }
      for (int v = 0; v < kVectors; ++v) dtx[v] = dt[v] * x[v];
      const T* Bt = s.B + row * n_state;
      const T* Ct = s.C + row * n_state;
      for (int64_t n = 0; n < n_state; ++n) {
        const float bn = static_cast<float>(Bt[n]), cn = static_cast<float>(Ct[n]);
        V* hn = &h[n * kVectors];
        const V* an = &a[n * kVectors];
        for (int v = 0; v < kVectors; ++v) {
          hn[v] = VectorExp(dt[v] * an[v]) * hn[v] + dtx[v] * bn;
          acc[v] += cn * hn[v];
        }
      }
      for (int64_t j = 0; j < width; ++j) {
        const float xj = x[j / W][j % W];
        float out = acc[j / W][j % W] + s.D[c0 + j] * xj;
        if (s.z) {
          const float g = static_cast<float>(s.z[at + j]);
          out *= g / (1.0f + std::exp(-g));
        }
        s.y[at + j] = static_cast<T>(out);
      }
    }
    for (int64_t j = 0; j < width; ++j)
      for (int64_t n = 0; n < n_state; ++n) block_state[j * n_state + n] = h[n * kVectors + j / W][j % W];
  }
}

template <typename T>
void ScanTasks4(const ScanArgs<T>& s, int64_t begin, int64_t end) {
  ScanTasks<Floats4>(s, begin, end);
}

#if defined(__x86_64__)
#define TSCALE_SCAN_AVX2
template <typename T>
__attribute__((target("avx2,fma"))) void ScanTasks8(const ScanArgs<T>& s, int64_t begin, int64_t end) {
  ScanTasks<Floats8>(s, begin, end);
}
#endif

// Runs tasks 0..tasks-1 on at::get_num_threads() std::threads (the job's --threads). Not at::parallel_for: with
// OpenMP that header template parallelises only in files compiled with OpenMP, against whichever OpenMP runtime the
// file links, which need not be libtorch's own. A scan too small to repay starting threads (a decode step) runs here.
template <typename Run>
void RunTasks(int64_t tasks, int64_t work, const Run& run) {
  const int64_t threads = std::min<int64_t>(tasks, std::max(1, at::get_num_threads()));
  if (threads <= 1 || work < (int64_t{1} << 18)) return run(0, tasks);
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(static_cast<size_t>(threads));
  for (int64_t i = 0; i < threads; ++i)
    pool.emplace_back([&, i] {
      try {
        run(tasks * i / threads, tasks * (i + 1) / threads);
      } catch (...) {
        errors[static_cast<size_t>(i)] = std::current_exception();
      }
    });
  for (auto& thread : pool) thread.join();
  for (auto& error : errors)
    if (error) std::rethrow_exception(error);
}

template <typename T>
void FusedScan(const ScanArgs<T>& s) {
  // A task is one batch row's block of kVectors vectors of channels, at the width that runs.
  auto tasks = [&](int64_t lanes) { return s.batch * ((s.channels + lanes - 1) / lanes); };
  const int64_t work = s.batch * s.length * s.channels * s.n_state;
#ifdef TSCALE_SCAN_AVX2
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (avx2) return RunTasks(tasks(kVectors * 8), work, [&](int64_t b, int64_t e) { ScanTasks8(s, b, e); });
#endif
  RunTasks(tasks(kVectors * 4), work, [&](int64_t b, int64_t e) { ScanTasks4(s, b, e); });
}

void CheckShapes(const ScanInputs& in) {
  auto fail = [](const std::string& why) { throw std::invalid_argument("selective scan: " + why); };
  if (in.u.dim() != 3) fail("u must be [batch, length, d_inner]");
  const int64_t b = in.u.size(0), l = in.u.size(1), d = in.u.size(2);
  if (in.delta.sizes() != in.u.sizes()) fail("delta must have u's shape");
  if (in.A.dim() != 2 || in.A.size(0) != d) fail("A must be [d_inner, N]");
  const int64_t n = in.A.size(1);
  for (const torch::Tensor* t : {&in.B, &in.C})
    if (t->dim() != 3 || t->size(0) != b || t->size(1) != l || t->size(2) != n)
      fail("B and C must be [batch, length, N]");
  if (in.D.dim() != 1 || in.D.size(0) != d) fail("D must be [d_inner]");
  if (in.z.defined() && in.z.sizes() != in.u.sizes()) fail("z must have u's shape");
}

void CheckState(const ScanInputs& in, const torch::Tensor* state) {
  if (state && state->defined() && state->sizes() != torch::IntArrayRef({in.u.size(0), in.u.size(2), in.A.size(1)}))
    throw std::invalid_argument("selective scan: state must be [batch, d_inner, N]");
}

bool Records(const ScanInputs& in) {
  if (!torch::GradMode::is_enabled()) return false;
  for (const torch::Tensor* t : {&in.u, &in.delta, &in.A, &in.B, &in.C, &in.D, &in.z})
    if (t->defined() && t->requires_grad()) return true;
  return false;
}

torch::Tensor InitialState(const ScanInputs& in, torch::Tensor* state) {
  const auto options = in.u.options().dtype(torch::kFloat);
  if (state && state->defined()) return state->to(options);
  return torch::zeros({in.u.size(0), in.u.size(2), in.A.size(1)}, options);
}

torch::Tensor Fused(const ScanInputs& in, torch::Tensor* state) {
  if (!in.u.device().is_cpu()) throw std::invalid_argument("selective scan: the fused kernel runs on the CPU only");
  if (Records(in))
    throw std::invalid_argument(
        "selective scan: the fused kernel has no backward; use the chunked scan under autograd");
  const auto dtype = in.u.scalar_type();
  if (dtype != torch::kFloat && dtype != torch::kBFloat16)
    throw std::invalid_argument("selective scan: the fused kernel takes fp32 or bf16 inputs");
  auto same = [&](const torch::Tensor& t) { return t.to(dtype).contiguous(); };
  const torch::Tensor u = same(in.u), delta = same(in.delta), B = same(in.B), C = same(in.C);
  const torch::Tensor z = in.z.defined() ? same(in.z) : torch::Tensor();
  const torch::Tensor A = in.A.to(torch::kFloat).contiguous(), D = in.D.to(torch::kFloat).contiguous();
  // A copy: the kernel writes its state in place, and the caller's tensor is only replaced at the end, as the
  // other kernels do.
  torch::Tensor h = InitialState(in, state).clone(at::MemoryFormat::Contiguous);
  torch::Tensor y = torch::empty_like(u);
  auto args = [&](auto* type) {
    using T = std::remove_pointer_t<decltype(type)>;
    return ScanArgs<T>{u.data_ptr<T>(),
                       delta.data_ptr<T>(),
                       B.data_ptr<T>(),
                       C.data_ptr<T>(),
                       z.defined() ? z.data_ptr<T>() : nullptr,
                       A.data_ptr<float>(),
                       D.data_ptr<float>(),
                       y.data_ptr<T>(),
                       h.data_ptr<float>(),
                       u.size(0),
                       u.size(1),
                       u.size(2),
                       A.size(1)};
  };
  if (dtype == torch::kFloat)
    FusedScan(args(static_cast<float*>(nullptr)));
  else
    FusedScan(args(static_cast<c10::BFloat16*>(nullptr)));
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
    torch::Tensor a = torch::exp(dt.unsqueeze(-1) * A);                                           // [b, T, d, N]
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
  CheckState(in, state);
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

ScanKernel ChooseScanKernel(const torch::Device& device, torch::ScalarType dtype, bool records) {
  const bool fused_dtype = dtype == torch::kFloat || dtype == torch::kBFloat16;
  return device.is_cpu() && !records && fused_dtype ? ScanKernel::kFusedCpu : ScanKernel::kChunked;
}

ScanKernel ChooseScanKernel(const ScanInputs& in) {
  return ChooseScanKernel(in.u.device(), in.u.scalar_type(), Records(in));
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
