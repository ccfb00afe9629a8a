// The training workload: one step is zero grads, the forward in train mode (the config's dropout, seeded), the
// loss (runner/train_objective.h), backward and an AdamW step. The gradients and AdamW's state are allocated in
// Prepare, by one step over zero gradients, so no timed step pays for them and the memory they take can be read
// before the loop. The gradients stay allocated and are zeroed in place (libtorch 1.13's zero_grad, PyTorch's
// set_to_none=False): the step's high-water mark is then the state plus the activations, which is what the
// breakdown splits; setting them to none would save the memset but put part of the gradients inside the
// activations' peak. bf16 jobs train in mixed precision: fp32 weights, gradients and optimizer
// state, the forward under bf16 autocast (runner/autocast.h), backward outside it.
#include <stdexcept>

#include "common/host_info.h"
#include "common/training_analytics.h"
#include "runner/autocast.h"
#include "runner/train_objective.h"
#include "runner/workload.h"

namespace tscale {
namespace {

class TrainWorkload : public Workload {
 public:
  TrainWorkload(const v1::JobSpec& job, const ModelConfig& config, MeasuredModel* model)
      : config_(config),
        model_(model),
        seed_(job.measurement().seed()),
        loss_(job.loss() == v1::TRAIN_LOSS_UNSPECIFIED ? DefaultLoss(config) : job.loss()),
        checkpointing_(job.checkpointing() == v1::CHECKPOINTING_LAYERS),
        mixed_precision_(job.dtype() == v1::DTYPE_BF16) {
    if (!model->transformer)
      throw std::runtime_error(
          "workload train: a TorchScript module cannot be trained (tscale trains the models it builds from a config)");
    shape_.batch = job.batch_size() > 0 ? job.batch_size() : 1;
    shape_.seq_len = job.seq_len();
    shape_.decoder_len = job.decoder_length() > 0 ? job.decoder_length() : job.seq_len();
    shape_.checkpointing = checkpointing_;
    shape_.mixed_precision = mixed_precision_;
    shape_.eager_attention = job.attention() != v1::ATTENTION_IMPL_FUSED;
  }

  void Prepare(const torch::Device& device) override {
    device_ = device;
    // On the CPU dropout keeps a noise tensor of the input's dtype (no fused 1-byte mask kernel there), and SDPA
    // with dropout falls back to its math path, which keeps the probabilities like eager does.
    shape_.dtype_wide_dropout_masks = device.is_cpu();
    if (device.is_cpu() && config_.attention_dropout > 0) shape_.eager_attention = true;
    Transformer& model = model_->transformer;
    model->train();
    batch_ = MakeTrainBatch(config_, loss_, shape_.batch, shape_.seq_len, shape_.decoder_len, seed_, device);
    for (auto& p : model->parameters())
      if (p.requires_grad()) parameters_.push_back(p);
    // PyTorch's AdamW defaults but the learning rate (1e-3 would be a fine-tuning rate too far).
    optimizer_ = std::make_unique<torch::optim::AdamW>(
        parameters_, torch::optim::AdamWOptions(1e-4).betas({0.9, 0.999}).eps(1e-8).weight_decay(0.01));
    // One step over zero gradients allocates the gradients and AdamW's exp_avg and exp_avg_sq; it moves each
    // weight only by its decay (lr x weight_decay, 1e-6 of it).
    for (auto& p : parameters_) p.mutable_grad() = torch::zeros_like(p);
    optimizer_->step();
    state_rss_ = CurrentRssBytes();  // the gradients stay: zeros, as each step starts by making them
  }

  void Step() override {
    Transformer& model = model_->transformer;
    for (auto& p : parameters_) p.mutable_grad().zero_();
    torch::Tensor loss;
    {
      AutocastScope autocast(device_, mixed_precision_);
      auto hidden = model->forward(batch_.input_ids, batch_.decoder_input_ids);
      loss = TrainLossValue(model->Logits(LossPositions(hidden, loss_)), batch_);
    }
    loss.backward();
    optimizer_->step();
    losses_.push_back(loss.item<double>());
  }

  double TokensPerStep() const override { return static_cast<double>(shape_.batch) * shape_.seq_len; }

  double FlopsPerStep() const override { return TrainStepFlops(config_, shape_); }

  void FillResult(v1::Result* result) const override {
    auto* train = result->mutable_train();
    train->set_loss(loss_);
    train->set_checkpointing(checkpointing_ ? v1::CHECKPOINTING_LAYERS : v1::CHECKPOINTING_NONE);
    train->set_mixed_precision(mixed_precision_);
    for (double loss : losses_) train->add_losses(loss);
    int64_t count = 0, parameter_bytes = 0, gradient_bytes = 0, optimizer_bytes = 0;
    for (const auto& p : parameters_) {
      count += p.numel();
      parameter_bytes += p.numel() * static_cast<int64_t>(p.element_size());
      gradient_bytes += p.numel() * static_cast<int64_t>(p.element_size());
    }
    for (const auto& item : optimizer_->state()) {
      const auto& state = static_cast<const torch::optim::AdamWParamState&>(*item.second);
      optimizer_bytes += state.exp_avg().nbytes() + state.exp_avg_sq().nbytes();
      if (state.max_exp_avg_sq().defined()) optimizer_bytes += state.max_exp_avg_sq().nbytes();
    }
    train->set_trainable_parameter_count(count);
    train->set_parameter_bytes(parameter_bytes);
    train->set_gradient_bytes(gradient_bytes);
    train->set_optimizer_state_bytes(optimizer_bytes);
    const auto& memory = result->memory();
    const int64_t state = parameter_bytes + gradient_bytes + optimizer_bytes;
    // On the CPU the runner's RSS holds the model and the step; on an accelerator its allocator's peak does.
    const int64_t peak =
        device_.is_cpu() ? memory.peak_rss_bytes() - memory.baseline_rss_bytes() : memory.device_peak_bytes();
    train->set_activation_bytes(std::max<int64_t>(0, peak - state));
    if (device_.is_cpu()) train->set_measured_state_bytes(state_rss_ - memory.baseline_rss_bytes());
    train->set_analytic_activation_bytes(AnalyticActivationBytes(config_, shape_));
    train->set_torchtitan_flops_per_step(TorchtitanStepFlops(config_, shape_));
    train->set_attention_flops_share(AttentionFlopsShare(config_, shape_));
  }

 private:
  const ModelConfig& config_;
  MeasuredModel* model_;
  const int64_t seed_;
  const v1::TrainLoss loss_;
  const bool checkpointing_, mixed_precision_;
  TrainShape shape_;
  torch::Device device_{torch::kCPU};
  TrainBatch batch_;
  std::vector<torch::Tensor> parameters_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  int64_t state_rss_ = 0;
  std::vector<double> losses_;
};

}  // namespace

std::unique_ptr<Workload> MakeTrainWorkload(const v1::JobSpec& job, const ModelConfig& config, MeasuredModel* model) {
  return std::make_unique<TrainWorkload>(job, config, model);
}

}  // namespace tscale
