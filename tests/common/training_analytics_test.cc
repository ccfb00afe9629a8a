// The training step's analytic counts against independent formulations: Korthikanti et al. 2022's per-layer
// activation count s·b·h·(34 + 5·a·s/h) at 16-bit, which tscale's count reproduces in fp32 with every
// 2-byte value at 4 bytes (their 32 bytes of values + 2 of masks per s·b·h become 64 + 2; their 5 = 2 + 1 + 2
// per score become 4 + 1 + 4), the 3x / 4x step FLOPs and torchtitan's formula by hand.
#include <gtest/gtest.h>

#include "common/training_analytics.h"

namespace tscale {
namespace {

ModelConfig Gpt2Like(int layers) {
  ModelConfig c;
  c.id = "gpt2-like";
  c.arch = ArchKind::kDecoder;
  c.layers = layers;
  c.hidden = 768;
  c.heads = 12;
  c.ffn = 3072;
  c.vocab = 50257;
  c.position = PositionScheme::kLearned;
  c.position_rows = 1024;
  c.max_input_tokens = 1024;
  c.final_norm = true;
  c.dropout = 0.1;
  c.attention_dropout = 0.1;
  return c;
}

TEST(TrainingAnalytics, OneLayerKeepsKorthikantisCountInFp32) {
  TrainShape shape;
  shape.batch = 2;
  shape.seq_len = 512;
  const double s = 512, b = 2, h = 768, a = 12;
  const double per_layer = AnalyticActivationBytes(Gpt2Like(3), shape) - AnalyticActivationBytes(Gpt2Like(2), shape);
  EXPECT_DOUBLE_EQ(per_layer, s * b * h * (66 + 9 * a * s / h));
}

// Under bf16 autocast a layer's products keep 2-byte values, while the norms read the fp32 residual stream and the
// softmax stays fp32: per token 4h + 2·5h + h (attention) + 4h + 2·9h + h (FFN) = 38h; per score and head the
// fp32 softmax output, the 1-byte mask and the dropped bf16 probabilities AV reads, 4 + 1 + 2 = 7 (dropout does not
// keep its input, the bf16 cast).
TEST(TrainingAnalytics, MixedPrecisionHalvesTheProductsButNotTheFp32Parts) {
  TrainShape shape;
  shape.seq_len = 256;
  shape.mixed_precision = true;
  const double s = 256, h = 768, a = 12;
  const double per_layer = AnalyticActivationBytes(Gpt2Like(3), shape) - AnalyticActivationBytes(Gpt2Like(2), shape);
  EXPECT_DOUBLE_EQ(per_layer, s * (38 * h + 7 * a * s));
}

// On the CPU dropout keeps a noise tensor as wide as its input: in fp32 the two hidden masks and the attention mask
// are 4 bytes, s·b·h·(72 + 12·a·s/h) per layer.
TEST(TrainingAnalytics, CpuDropoutMasksAreAsWideAsTheirInput) {
  TrainShape shape;
  shape.seq_len = 256;
  shape.dtype_wide_dropout_masks = true;
  const double s = 256, h = 768, a = 12;
  const double per_layer = AnalyticActivationBytes(Gpt2Like(3), shape) - AnalyticActivationBytes(Gpt2Like(2), shape);
  EXPECT_DOUBLE_EQ(per_layer, s * h * (72 + 12 * a * s / h));
}

TEST(TrainingAnalytics, CheckpointingKeepsBlockInputsAndOneBlock) {
  TrainShape plain, kept;
  plain.seq_len = kept.seq_len = 1024;
  kept.checkpointing = true;
  const ModelConfig c = Gpt2Like(12);
  const double s = 1024, h = 768, a = 12;
  const double block = s * h * (66 + 9 * a * s / h);
  EXPECT_DOUBLE_EQ(AnalyticActivationBytes(c, plain) - AnalyticActivationBytes(c, kept), 11 * block - 12 * 4 * s * h);
}

// The head runs on the 127 positions next-token training has targets for; checkpointing reruns the blocks, not it.
TEST(TrainingAnalytics, StepFlopsAreThreeForwardsAndTheBlocksOnceMoreWithCheckpointing) {
  TrainShape shape;
  shape.seq_len = 128;
  const ModelConfig c = Gpt2Like(12);
  const double head = 2.0 * 127 * 768 * 50257;
  EXPECT_DOUBLE_EQ(TrainForwardFlops(c, shape), ForwardFlops(c, 1, 128) + head);
  EXPECT_DOUBLE_EQ(TrainStepFlops(c, shape), 3 * TrainForwardFlops(c, shape));
  shape.checkpointing = true;
  EXPECT_DOUBLE_EQ(TrainStepFlops(c, shape), 3 * TrainForwardFlops(c, shape) + ForwardFlops(c, 1, 128));
}

TEST(TrainingAnalytics, TorchtitansEstimateByHand) {
  TrainShape shape;
  shape.seq_len = 128;
  const ModelConfig c = Gpt2Like(12);
  const double n = static_cast<double>(AnalyticParameterCount(c)) - 50257.0 * 768 - 1024.0 * 768 + 768.0 * 50257;
  EXPECT_DOUBLE_EQ(TorchtitanStepFlops(c, shape), (6 * n + 12 * 12 * 768 * 128) * 128);
}

TEST(TrainingAnalytics, TheAttentionShareGrowsWithLength) {
  const ModelConfig c = Gpt2Like(12);
  TrainShape short_shape, long_shape;
  short_shape.seq_len = 128;
  long_shape.seq_len = 8192;
  const double short_share = AttentionFlopsShare(c, short_shape), long_share = AttentionFlopsShare(c, long_shape);
  EXPECT_GT(short_share, 0);
  EXPECT_LT(short_share, 0.1);
  EXPECT_GT(long_share, 0.5);
  // By hand at 128: 12 layers x 4 x 128^2 x 768 over the forward.
  EXPECT_DOUBLE_EQ(short_share, 12 * 4.0 * 128 * 128 * 768 / TrainForwardFlops(c, short_shape));
}

}  // namespace
}  // namespace tscale
