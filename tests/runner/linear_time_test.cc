// The linear-time families against independent formulations: the fused CPU selective scan and the chunked
// libtorch-ops scan against the plain sequential reference (outputs, final states, gradients); chunked linear
// attention against its quadratic definition; incremental decode of Mamba and of linear attention against the
// full forward; their decode state flat in the depth and equal to the analytic bytes; parameter counts from the
// built tensors against the analytic ones.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "common/linear_time.h"
#include "common/model_config.h"
#include "runner/kv_cache.h"
#include "runner/linear_attention.h"
#include "runner/selective_scan.h"
#include "runner/transformer.h"

namespace tscale {
namespace {

double MaxAbsDiff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat) - b.to(torch::kFloat)).abs().max().item<double>();
}

// Scan inputs as a Mamba layer produces them: delta positive and small, A negative, B and C of unit scale.
// d_inner 40 is not a multiple of the fused kernel's 16 lanes, length 150 not one of the chunk's 64.
ScanInputs RandomScan(int64_t batch, int64_t length, int64_t channels, int64_t n_state, bool gate) {
  torch::manual_seed(11);
  ScanInputs in;
  in.u = torch::randn({batch, length, channels});
  in.delta = torch::softplus(torch::randn({batch, length, channels}) - 2);
  in.A = -torch::exp(torch::randn({channels, n_state}) * 0.5);
  in.B = torch::randn({batch, length, n_state});
  in.C = torch::randn({batch, length, n_state});
  in.D = torch::randn({channels});
  if (gate) in.z = torch::randn({batch, length, channels});
  return in;
}

TEST(SelectiveScan, FusedAndChunkedEqualTheSequentialReference) {
  c10::InferenceMode guard;
  for (bool gate : {false, true}) {
    SCOPED_TRACE(gate ? "gated" : "no gate");
    ScanInputs in = RandomScan(2, 150, 40, 16, gate);
    const auto initial = torch::randn({2, 40, 16});
    torch::Tensor ref_state = initial.clone(), fused_state = initial.clone(), chunked_state = initial.clone();
    const auto ref = SelectiveScan(in, ScanKernel::kReference, &ref_state);
    const auto fused = SelectiveScan(in, ScanKernel::kFusedCpu, &fused_state);
    const auto chunked = SelectiveScan(in, ScanKernel::kChunked, &chunked_state);
    EXPECT_LT(MaxAbsDiff(fused, ref), 1e-4);
    EXPECT_LT(MaxAbsDiff(chunked, ref), 1e-4);
    EXPECT_LT(MaxAbsDiff(fused_state, ref_state), 1e-4);
    EXPECT_LT(MaxAbsDiff(chunked_state, ref_state), 1e-4);
    EXPECT_GT(ref.abs().max().item<double>(), 0.1);  // not a comparison of zeros
    // A scan split in two, the state carried across, is the whole scan.
    auto half = [](const torch::Tensor& t, int64_t from, int64_t n) { return t.narrow(1, from, n); };
    ScanInputs first = in, second = in;
    for (auto [whole, a, b] : {std::tuple{&in.u, &first.u, &second.u},
                               {&in.delta, &first.delta, &second.delta},
                               {&in.B, &first.B, &second.B},
                               {&in.C, &first.C, &second.C}}) {
      *a = half(*whole, 0, 70);
      *b = half(*whole, 70, 80);
    }
    if (gate) {
      first.z = half(in.z, 0, 70);
      second.z = half(in.z, 70, 80);
    }
    torch::Tensor carried = initial.clone();
    auto y1 = SelectiveScan(first, ScanKernel::kFusedCpu, &carried);
    auto y2 = SelectiveScan(second, ScanKernel::kFusedCpu, &carried);
    EXPECT_LT(MaxAbsDiff(torch::cat({y1, y2}, 1), ref), 1e-4);
  }
}

TEST(SelectiveScan, Bf16InputsAccumulateInFp32) {
  c10::InferenceMode guard;
  ScanInputs in = RandomScan(1, 300, 33, 16, true);
  ScanInputs bf = in;
  for (torch::Tensor* t : {&bf.u, &bf.delta, &bf.B, &bf.C, &bf.z}) *t = t->to(torch::kBFloat16);
  const auto ref = SelectiveScan(bf, ScanKernel::kReference);  // the same rounded inputs, fp32 arithmetic
  const auto fused = SelectiveScan(bf, ScanKernel::kFusedCpu);
  EXPECT_EQ(fused.scalar_type(), torch::kBFloat16);
  // Only the output's rounding to bf16 differs: 2^-8 relative.
  EXPECT_LT(MaxAbsDiff(fused, ref), 1e-2 * ref.abs().max().item<double>());
}

TEST(SelectiveScan, ChunkedGradientsEqualTheReferenceOnesAndFusedRefusesAutograd) {
  ScanInputs in = RandomScan(1, 90, 8, 4, true);
  for (torch::Tensor* t : {&in.u, &in.delta, &in.A, &in.B, &in.C, &in.D, &in.z}) t->requires_grad_(true);
  auto grads = [&](ScanKernel kernel) {
    auto y = SelectiveScan(in, kernel);
    return torch::autograd::grad({(y * y).sum()}, {in.u, in.delta, in.A, in.B, in.C, in.D, in.z});
  };
  const auto ref = grads(ScanKernel::kReference), chunked = grads(ScanKernel::kChunked);
  for (size_t i = 0; i < ref.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_LT(MaxAbsDiff(chunked[i], ref[i]), 1e-3 * (1 + ref[i].abs().max().item<double>()));
  }
  EXPECT_EQ(ChooseScanKernel(in), ScanKernel::kChunked);
  ScanInputs only_c = RandomScan(1, 10, 8, 4, false);
  only_c.C.requires_grad_(true);  // any input autograd would differentiate forbids the fused kernel
  EXPECT_EQ(ChooseScanKernel(only_c), ScanKernel::kChunked);
  EXPECT_THROW(SelectiveScan(only_c, ScanKernel::kFusedCpu), std::invalid_argument);
  torch::Tensor wrong_state = torch::zeros({1, 8, 5});
  EXPECT_THROW(SelectiveScan(RandomScan(1, 10, 8, 4, false), ScanKernel::kFusedCpu, &wrong_state),
               std::invalid_argument);
  EXPECT_THROW(SelectiveScan(in, ScanKernel::kFusedCpu), std::invalid_argument);
  ScanInputs bad = RandomScan(1, 10, 8, 4, false);
  bad.B = bad.B.narrow(2, 0, 3);
  EXPECT_THROW(SelectiveScan(bad, ScanKernel::kReference), std::invalid_argument);
}

TEST(LinearAttention, ChunkedPrefixSumsEqualTheQuadraticDefinition) {
  c10::InferenceMode guard;
  torch::manual_seed(5);
  auto q = torch::randn({2, 3, 150, 16}), k = torch::randn({2, 3, 150, 16}), v = torch::randn({2, 3, 150, 16});
  const auto quadratic = LinearAttendQuadratic(q, k, v);
  EXPECT_LT(MaxAbsDiff(LinearAttend(q, k, v), quadratic), 1e-4);
  // Position by position through the running state: the decode path.
  LinearAttentionState state;
  auto prefix = LinearAttend(q.narrow(2, 0, 100), k.narrow(2, 0, 100), v.narrow(2, 0, 100), &state);
  std::vector<torch::Tensor> parts{prefix};
  for (int64_t i = 100; i < 150; ++i)
    parts.push_back(LinearAttend(q.narrow(2, i, 1), k.narrow(2, i, 1), v.narrow(2, i, 1), &state));
  EXPECT_LT(MaxAbsDiff(torch::cat(parts, 2), quadratic), 1e-4);
  EXPECT_EQ(state.kv.sizes(), (std::vector<int64_t>{2, 3, 16, 16}));
}

ModelConfig TinyMamba() {
  ModelConfig c;
  c.id = "test/tiny-mamba";
  c.arch = ArchKind::kDecoder;
  c.block = BlockKind::kMamba;
  c.layers = 2;
  c.hidden = 32;
  c.vocab = 96;
  c.position = PositionScheme::kNone;
  c.norm = NormType::kRmsNorm;
  c.final_norm = true;
  c.bias = false;
  c.ssm_state = 8;
  c.ssm_conv = 4;
  c.ssm_expand = 2;
  EXPECT_TRUE(Validate(c).ok()) << Validate(c).message();
  return c;
}

ModelConfig TinyLinearAttention() {
  ModelConfig c;
  c.id = "test/tiny-linear-attention";
  c.arch = ArchKind::kDecoder;
  c.attention_kind = AttentionKind::kLinear;
  c.layers = 2;
  c.hidden = 32;
  c.heads = 4;
  c.ffn = 64;
  c.vocab = 96;
  c.position = PositionScheme::kLearned;
  c.position_rows = 128;
  c.max_input_tokens = 128;
  c.final_norm = true;
  c.activation = Activation::kGeluTanh;
  EXPECT_TRUE(Validate(c).ok()) << Validate(c).message();
  return c;
}

// The prompt at once, then one token per step through the constant state, against the full forward over the
// same tokens: the hidden states at every generated position, and the state's bytes at two depths.
void ExpectStepwiseEqualsFull(const ModelConfig& c) {
  c10::InferenceMode guard;
  torch::manual_seed(3);
  BuildOptions options;
  options.lm_head = true;
  Transformer model(c, options);
  model->eval();
  constexpr int64_t kBatch = 2, kPrompt = 70, kSteps = 20;  // the prompt spans two 64-position chunks
  auto tokens = torch::randint(c.vocab, {kBatch, kPrompt + kSteps}, torch::kLong);
  const auto full = model->forward(tokens);
  KvCache cache(c, kBatch, kPrompt + kSteps, torch::TensorOptions().dtype(torch::kFloat));
  const int64_t bytes_before = cache.Bytes();
  std::vector<torch::Tensor> parts{model->ForwardCached(tokens.narrow(1, 0, kPrompt), &cache)};
  for (int64_t i = kPrompt; i < kPrompt + kSteps; ++i)
    parts.push_back(model->ForwardCached(tokens.narrow(1, i, 1), &cache));
  const auto stepwise = torch::cat(parts, 1);
  EXPECT_LT(MaxAbsDiff(stepwise, full), 1e-4);
  EXPECT_GT(full.abs().max().item<double>(), 0.1);
  EXPECT_EQ(cache.Bytes(), bytes_before);  // nothing grew with the depth
  EXPECT_EQ(cache.Bytes(), KvCacheBytes(c, kBatch, kPrompt + kSteps, 4));
  EXPECT_EQ(KvCacheBytes(c, kBatch, 16, 4), KvCacheBytes(c, kBatch, 16384, 4));
  KvCache deep(c, kBatch, 100000, torch::TensorOptions().dtype(torch::kFloat));
  EXPECT_EQ(deep.Bytes(), bytes_before);
}

TEST(Mamba, StepwiseDecodeEqualsTheFullForward) {
  ExpectStepwiseEqualsFull(TinyMamba());
}

TEST(LinearAttention, StepwiseDecodeEqualsTheFullForward) {
  ExpectStepwiseEqualsFull(TinyLinearAttention());
}

TEST(Mamba, TheBuiltTensorsAreTheAnalyticCountAndCarryHfNames) {
  ModelConfig c = TinyMamba();
  EXPECT_EQ(MetaParameterCount(c), AnalyticParameterCount(c));
  // By hand, d 32, d_inner 64, N 8, conv 4, dt_rank ceil(32/16) = 2, per layer: norm 32, in_proj 32*128 = 4096,
  // conv 64*4 + 64 = 320, x_proj (2 + 16)*64 = 1152, dt_proj 64*2 + 64 = 192, A_log 512, D 64, out_proj 2048:
  // 8416; two layers 16832, embedding 96*32 = 3072, final norm 32.
  EXPECT_EQ(MetaParameterCount(c), 16832 + 3072 + 32);
  BuildOptions meta;
  meta.device = torch::kMeta;
  Transformer model(c, meta);
  std::set<std::string> names;
  for (const auto& p : model->named_parameters()) names.insert(p.key());
  for (const char* name :
       {"tokens.weight", "decoder.blocks.1.norm.weight", "decoder.blocks.1.mixer.in_proj.weight",
        "decoder.blocks.1.mixer.conv1d.weight", "decoder.blocks.1.mixer.conv1d.bias",
        "decoder.blocks.1.mixer.x_proj.weight", "decoder.blocks.1.mixer.dt_proj.weight",
        "decoder.blocks.1.mixer.dt_proj.bias", "decoder.blocks.1.mixer.A_log", "decoder.blocks.1.mixer.D",
        "decoder.blocks.1.mixer.out_proj.weight", "decoder.final_norm.weight"})
    EXPECT_TRUE(names.count(name)) << name;
  EXPECT_EQ(names.size(), 2u * 10 + 2);
  ModelConfig linear = TinyLinearAttention();
  ModelConfig softmax = linear;
  softmax.attention_kind = AttentionKind::kSoftmax;
  EXPECT_EQ(MetaParameterCount(linear), MetaParameterCount(softmax));  // the same weights, mixed another way
}

TEST(Mamba, TrainsThroughTheChunkedScan) {
  ModelConfig c = TinyMamba();
  torch::manual_seed(1);
  BuildOptions options;
  options.lm_head = true;
  Transformer model(c, options);
  model->train();
  auto tokens = torch::randint(c.vocab, {2, 33}, torch::kLong);
  auto logits = model->Logits(model->forward(tokens.narrow(1, 0, 32)));
  auto loss = torch::nn::functional::cross_entropy(logits.reshape({-1, c.vocab}), tokens.narrow(1, 1, 32).reshape(-1));
  loss.backward();
  for (const auto& p : model->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0) << p.key();
  }
}

}  // namespace
}  // namespace tscale
