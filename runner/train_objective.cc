#include "runner/train_objective.h"

#include <stdexcept>
#include <string>

#include "common/outcome.h"

namespace tscale {
namespace {

constexpr double kMaskedShare = 0.15;
constexpr int64_t kIgnore = -100;

}  // namespace

v1::TrainLoss DefaultLoss(const ModelConfig& config) {
  return TrainLossFor(config.arch);
}

TrainBatch MakeTrainBatch(const ModelConfig& config, v1::TrainLoss loss, int batch, int seq_len, int decoder_len,
                          uint64_t seed, const torch::Device& device) {
  if (loss == v1::TRAIN_LOSS_UNSPECIFIED) loss = DefaultLoss(config);
  if (loss != v1::TRAIN_LOSS_NEXT_TOKEN && loss != v1::TRAIN_LOSS_MASKED_LM && loss != v1::TRAIN_LOSS_SEQ2SEQ)
    throw std::invalid_argument("loss: unknown value " + std::to_string(static_cast<int>(loss)));
  if (loss != DefaultLoss(config))
    throw std::invalid_argument("loss: " + TrainLossName(loss) + " does not fit " + config.id +
                                " (its architecture trains with " + TrainLossName(DefaultLoss(config)) + ")");
  const auto ids = torch::TensorOptions().dtype(torch::kLong);
  torch::manual_seed(seed + 1);
  TrainBatch b;
  auto tokens = torch::randint(config.vocab, {batch, seq_len}, ids);
  switch (loss) {
    case v1::TRAIN_LOSS_NEXT_TOKEN:
      if (seq_len < 2) throw std::invalid_argument("seq_len: next-token training needs at least 2 tokens");
      b.input_ids = tokens;
      b.labels = tokens.narrow(1, 1, seq_len - 1).contiguous();
      break;
    case v1::TRAIN_LOSS_MASKED_LM: {
      auto masked = torch::rand({batch, seq_len}) < kMaskedShare;
      masked.select(1, 0).fill_(true);  // at least one position per sequence, so the loss is defined
      b.labels = torch::where(masked, tokens, torch::full_like(tokens, kIgnore));
      b.input_ids = torch::where(masked, torch::full_like(tokens, config.vocab - 1), tokens);
      break;
    }
    default: {  // seq2seq
      const int n = decoder_len > 0 ? decoder_len : seq_len;
      b.input_ids = tokens;
      b.labels = torch::randint(config.vocab, {batch, n}, ids);
      b.decoder_input_ids = torch::cat({torch::zeros({batch, 1}, ids), b.labels.narrow(1, 0, n - 1)}, 1);
      break;
    }
  }
  b.input_ids = b.input_ids.to(device);
  b.labels = b.labels.to(device);
  if (b.decoder_input_ids.defined()) b.decoder_input_ids = b.decoder_input_ids.to(device);
  return b;
}

torch::Tensor LossPositions(const torch::Tensor& hidden, v1::TrainLoss loss) {
  if (loss == v1::TRAIN_LOSS_NEXT_TOKEN) return hidden.narrow(1, 0, hidden.size(1) - 1);
  return hidden;
}

torch::Tensor TrainLossValue(const torch::Tensor& logits, const TrainBatch& batch) {
  const int64_t vocab = logits.size(-1);
  return torch::nn::functional::cross_entropy(logits.reshape({-1, vocab}).to(torch::kFloat), batch.labels.reshape({-1}),
                                              torch::nn::functional::CrossEntropyFuncOptions().ignore_index(kIgnore));
}

}  // namespace tscale
