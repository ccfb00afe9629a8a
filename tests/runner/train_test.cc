// The training step's numerics with real libtorch on every catalog family at test size: the step trains (the
// loss falls over a few steps on a fixed batch), every parameter the loss depends on gets a finite, non-zero
// gradient, and activation checkpointing — the forward rerun in backward — gives the same gradients as keeping
// the activations (fp32, within 1e-6), dropout included (the rerun replays the forward's random state).
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "common/catalog.h"
#include "runner/train_objective.h"
#include "runner/transformer.h"
#include "support/shrunk_model.h"
#include "support/test_paths.h"

namespace tscale {
namespace {

// Long enough that the masked 15 % reach past Longformer's global tokens (whose queries have their own weights).
constexpr int kBatch = 2, kSeq = 32;

// One shrunk model per family of the catalog, with windows cut so they matter at kSeq tokens.
std::vector<ModelConfig> OnePerFamily() {
  Catalog catalog;
  EXPECT_TRUE(catalog.LoadDirectory(testing::kCatalogDir).ok());
  std::vector<ModelConfig> out;
  std::set<std::string> seen;
  for (const ModelConfig& model : catalog.models()) {
    if (!seen.insert(model.family).second) continue;
    ModelConfig c = testing::ShrunkCatalogModel(model.id);
    if (c.attention_window > 0) c.attention_window = 4;
    if (c.global_tokens > 0) c.global_tokens = 2;
    out.push_back(c);
  }
  return out;
}

Transformer Build(const ModelConfig& c, bool checkpoint, uint64_t seed = 7) {
  torch::manual_seed(seed);
  BuildOptions options;
  options.lm_head = true;
  options.checkpoint_layers = checkpoint;
  Transformer model(c, options);
  model->train();
  return model;
}

torch::Tensor Loss(Transformer& model, const TrainBatch& batch, v1::TrainLoss loss) {
  auto hidden = model->forward(batch.input_ids, batch.decoder_input_ids);
  return TrainLossValue(model->Logits(LossPositions(hidden, loss)), batch);
}

// Parameters no loss reaches, by design: the pooler (no objective reads the pooled token), ProphetNet's n-gram
// stream embeddings (only the main stream runs) and its relative projection's weight (only its bias is used: the
// catalog's approximation).
bool UnreachedByDesign(const std::string& name) {
  return name.find("pooler.") == 0 || name.find("ngram_embeddings") != std::string::npos ||
         name.find("relative_projection.weight") != std::string::npos;
}

TEST(Train, TheLossFallsAndEveryReachedParameterGetsAGradientInEveryFamily) {
  std::set<std::string> families;
  for (const ModelConfig& c : OnePerFamily()) {
    SCOPED_TRACE(c.id);
    families.insert(c.family);
    Transformer model = Build(c, false);
    const v1::TrainLoss loss = DefaultLoss(c);
    const TrainBatch batch = MakeTrainBatch(c, loss, kBatch, kSeq, kSeq, 3, torch::kCPU);
    torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(1e-3));
    std::vector<double> losses;
    for (int step = 0; step < 12; ++step) {
      optimizer.zero_grad();
      auto value = Loss(model, batch, loss);
      value.backward();
      if (step == 0) {
        for (const auto& item : model->named_parameters()) {
          const auto& p = item.value();
          if (!p.requires_grad()) continue;  // Pegasus's frozen sinusoids
          SCOPED_TRACE(item.key());
          if (UnreachedByDesign(item.key())) {
            EXPECT_TRUE(!p.grad().defined() || p.grad().abs().sum().item<double>() == 0);
            continue;
          }
          ASSERT_TRUE(p.grad().defined());
          EXPECT_TRUE(torch::isfinite(p.grad()).all().item<bool>());
          EXPECT_GT(p.grad().abs().sum().item<double>(), 0);
        }
      }
      optimizer.step();
      losses.push_back(value.item<double>());
    }
    // From ln(vocab) = 5.7: the narrow factorised embeddings (ALBERT, OPT-350m) learn slowest, 0.2 in 12 steps.
    EXPECT_LT(losses.back(), losses.front() - 0.1) << losses.front() << " -> " << losses.back();
  }
  EXPECT_GE(families.size(), 18u);
}

double MaxGradientDifference(const ModelConfig& c) {
  const v1::TrainLoss loss = DefaultLoss(c);
  const TrainBatch batch = MakeTrainBatch(c, loss, kBatch, kSeq, kSeq, 3, torch::kCPU);
  std::vector<std::vector<torch::Tensor>> grads;
  for (bool checkpoint : {false, true}) {
    Transformer model = Build(c, checkpoint);
    torch::manual_seed(99);  // the same dropout masks in both runs
    Loss(model, batch, loss).backward();
    std::vector<torch::Tensor> g;
    for (const auto& p : model->parameters()) g.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
    grads.push_back(g);
  }
  double worst = 0;
  for (size_t i = 0; i < grads[0].size(); ++i)
    worst = std::max(worst, (grads[0][i] - grads[1][i]).abs().max().item<double>());
  return worst;
}

TEST(Train, CheckpointedGradientsEqualPlainOnesWithDropout) {
  for (const char* id : {"openai-community/gpt2", "google-bert/bert-base-uncased", "Salesforce/codet5-base",
                         "facebook/bart-base", "EleutherAI/pythia-160m", "mistralai/Mistral-7B-v0.1"}) {
    SCOPED_TRACE(id);
    ModelConfig c = testing::ShrunkCatalogModel(id);
    c.dropout = 0.1;  // dropout on, so equality needs the rerun to draw the forward's masks
    c.attention_dropout = 0.1;
    EXPECT_LE(MaxGradientDifference(c), 1e-6);
  }
}

// The check above would say little if dropout drew nothing: two train-mode forwards must differ.
TEST(Train, DropoutIsDrawnInTrainModeOnly) {
  ModelConfig c = testing::ShrunkCatalogModel("openai-community/gpt2");
  c.dropout = 0.1;
  Transformer model = Build(c, false);
  const auto ids = torch::randint(c.vocab, {kBatch, kSeq}, torch::kLong);
  auto a = model->forward(ids), b = model->forward(ids);
  EXPECT_GT((a - b).abs().max().item<double>(), 0);
  model->eval();
  torch::NoGradGuard no_grad;
  EXPECT_EQ((model->forward(ids) - model->forward(ids)).abs().max().item<double>(), 0);
}

TEST(TrainObjective, BatchesFitTheirLoss) {
  const ModelConfig gpt2 = testing::ShrunkCatalogModel("openai-community/gpt2");
  const ModelConfig bert = testing::ShrunkCatalogModel("google-bert/bert-base-uncased");
  const ModelConfig t5 = testing::ShrunkCatalogModel("Salesforce/codet5-base");
  auto next = MakeTrainBatch(gpt2, v1::TRAIN_LOSS_NEXT_TOKEN, 2, 10, 0, 1, torch::kCPU);
  EXPECT_TRUE(next.labels.equal(next.input_ids.narrow(1, 1, 9)));
  auto masked = MakeTrainBatch(bert, v1::TRAIN_LOSS_MASKED_LM, 4, 200, 0, 1, torch::kCPU);
  const double share = (masked.labels != -100).to(torch::kFloat).mean().item<double>();
  EXPECT_NEAR(share, 0.15, 0.05);
  EXPECT_TRUE((masked.input_ids.masked_select(masked.labels != -100) == bert.vocab - 1).all().item<bool>());
  auto seq2seq = MakeTrainBatch(t5, v1::TRAIN_LOSS_SEQ2SEQ, 2, 10, 6, 1, torch::kCPU);
  EXPECT_EQ(seq2seq.decoder_input_ids.size(1), 6);
  EXPECT_TRUE(seq2seq.decoder_input_ids.narrow(1, 1, 5).equal(seq2seq.labels.narrow(1, 0, 5)));
  EXPECT_THROW(MakeTrainBatch(bert, v1::TRAIN_LOSS_NEXT_TOKEN, 2, 10, 0, 1, torch::kCPU), std::invalid_argument);
}

}  // namespace
}  // namespace tscale
