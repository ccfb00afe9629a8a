// What a training step learns: its seeded batch and its loss, by objective (TrainLoss in the proto):
//   next_token  decoder-only: the hidden state at each position but the last predicts the next token;
//   masked_lm   encoder-only: a seeded 15 % of positions (at least one) get the stand-in mask token (vocab - 1,
//               since tscale's models have no tokenizer), and the loss is the cross-entropy there alone;
//   seq2seq     encoder-decoder: the decoder reads its labels shifted right behind a start token (id 0) and
//               predicts each label.
// The LM head runs only over the positions the loss reads (next_token: all but the last), so the logits never
// take more memory than the loss needs; masked_lm reads every position (HF's BertForMaskedLM does the same).
#pragma once

#include <torch/torch.h>

#include "common/model_config.h"
#include "tscale/v1/tscale.pb.h"

namespace tscale {

struct TrainBatch {
  torch::Tensor input_ids;          // [batch, seq_len]
  torch::Tensor decoder_input_ids;  // seq2seq only: [batch, decoder_len]
  torch::Tensor labels;             // next_token: [batch, seq_len - 1]; masked_lm: [batch, seq_len] with -100 where
                                    // not masked; seq2seq: [batch, decoder_len]
};

// The objective a model trains with when the job leaves it unspecified.
v1::TrainLoss DefaultLoss(const ModelConfig& config);

// The seeded batch for `loss` (token ids drawn on the CPU, so a seed gives the same batch on every device).
// Throws std::invalid_argument for a loss that does not fit the architecture, or a next_token sequence under 2.
TrainBatch MakeTrainBatch(const ModelConfig& config, v1::TrainLoss loss, int batch, int seq_len, int decoder_len,
                          uint64_t seed, const torch::Device& device);

// The hidden states the LM head reads for `loss` ([batch, n, width] from the model's forward).
torch::Tensor LossPositions(const torch::Tensor& hidden, v1::TrainLoss loss);

// Mean cross-entropy of `logits` [batch, n, vocab] (any float type; computed in fp32) against batch.labels.
torch::Tensor TrainLossValue(const torch::Tensor& logits, const TrainBatch& batch);

}  // namespace tscale
