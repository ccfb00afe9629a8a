// Mamba's selective scan (Gu & Dao 2023, Algorithm 2), per channel d of d_inner and state element n of N:
//
//   h_t[d, n] = exp(delta_t[d] * A[d, n]) * h_{t-1}[d, n] + delta_t[d] * B_t[n] * u_t[d]
//   y_t[d]    = sum_n C_t[n] * h_t[d, n] + D[d] * u_t[d],      then   y_t[d] *= silu(z_t[d])   (when z is given)
//
// Three implementations of the same maths:
//   kFusedCpu   a C++ kernel: parallel over batch x blocks of channels, sequential over the length, each block's
//               state (channels x N floats) in registers/L1, fp32 accumulation, fp32 or bf16 inputs. No autograd.
//   kChunked    libtorch ops over chunks of kScanChunk steps (a log-depth scan inside each chunk): runs on any
//               device and under autograd; memory O(batch x chunk x d_inner x N) in inference. Under autograd
//               each chunk's tensors are kept for backward: about 14 x batch x length x d_inner x N floats a layer.
//   kReference  libtorch ops, one step at a time, exactly the two lines above: for the tests and benchmarks.
// None materialises a [batch, d_inner, length, N] tensor at once.
#pragma once

#include <torch/torch.h>

namespace tscale {

constexpr int64_t kScanChunk = 64;

enum class ScanKernel { kFusedCpu, kChunked, kReference };

struct ScanInputs {
  torch::Tensor u;      // [batch, length, d_inner]: the conv's output after SiLU
  torch::Tensor delta;  // [batch, length, d_inner]: softplus(dt_proj(.)), positive
  torch::Tensor A;      // [d_inner, N], negative (-exp(A_log)); fp32
  torch::Tensor B, C;   // [batch, length, N]
  torch::Tensor D;      // [d_inner]
  torch::Tensor z;      // [batch, length, d_inner]: the gate; undefined = no gate
};

// y [batch, length, d_inner] in u's dtype. `state` [batch, d_inner, N] fp32: the state before the first step
// (undefined = zeros); when non-null it receives the state after the last step. Throws std::invalid_argument for
// mismatched shapes (the state's included), and for kFusedCpu on a non-CPU tensor, under autograd, or with a dtype
// other than fp32/bf16.
torch::Tensor SelectiveScan(const ScanInputs& in, ScanKernel kernel, torch::Tensor* state = nullptr);

// The kernel a model's forward uses: the fused one on the CPU when autograd does not record and the dtype is fp32
// or bf16, else the chunked one. `records`: autograd records the scan (grad mode on, an input requiring grad).
ScanKernel ChooseScanKernel(const torch::Device& device, torch::ScalarType dtype, bool records);
ScanKernel ChooseScanKernel(const ScanInputs& in);
const char* ScanKernelName(ScanKernel kernel);

}  // namespace tscale
