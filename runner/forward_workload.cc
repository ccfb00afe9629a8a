// The forward workload (prefill): one forward pass over batch x seq_len tokens per step, in inference mode.
#include "runner/workload.h"

namespace tscale {
namespace {

class ForwardWorkload : public Workload {
 public:
  ForwardWorkload(const v1::JobSpec& job, const ModelConfig& config, MeasuredModel* model)
      : config_(config),
        model_(model),
        seed_(job.measurement().seed()),
        batch_(job.batch_size() > 0 ? job.batch_size() : 1),
        seq_len_(job.seq_len()),
        decoder_len_(job.decoder_length() > 0 ? job.decoder_length() : job.seq_len()) {}

  void Prepare(const torch::Device& device) override {
    // Token ids are drawn on the CPU, so a seed gives the same inputs on every device.
    torch::manual_seed(seed_ + 1);
    input_ids_ = torch::randint(config_.vocab, {batch_, seq_len_}, torch::kLong).to(device);
    if (config_.arch == ArchKind::kEncoderDecoder)  // the decoder's own length, default the encoder's
      decoder_input_ids_ = torch::randint(config_.vocab, {batch_, decoder_len_}, torch::kLong).to(device);
  }

  void Step() override { model_->forward(input_ids_, decoder_input_ids_); }

  double TokensPerStep() const override { return static_cast<double>(batch_) * seq_len_; }

  double FlopsPerStep() const override {
    // A TorchScript module's config is the user's description of it, not something measured.
    if (!config_.torchscript.empty()) return 0;
    return ForwardFlops(config_, batch_, seq_len_, decoder_len_);
  }

 private:
  const ModelConfig& config_;
  MeasuredModel* model_;
  const int64_t seed_;
  const int batch_, seq_len_, decoder_len_;
  torch::Tensor input_ids_, decoder_input_ids_;
};

}  // namespace

std::unique_ptr<Workload> MakeForwardWorkload(const v1::JobSpec& job, const ModelConfig& config, MeasuredModel* model) {
  return std::make_unique<ForwardWorkload>(job, config, model);
}

}  // namespace tscale
